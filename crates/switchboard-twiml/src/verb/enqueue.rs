//! `<Enqueue>` (§7.9): put the caller in a named queue, optionally with a TaskRouter `<Task>`.

use crate::attributes::WARN;
use crate::keyword::Method;
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// Wait in a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enqueue {
    /// The queue name (at most 64 characters); may be empty with `workflow_sid`.
    pub name: String,
    pub action: Option<String>,
    pub method: Method,
    pub wait_url: Option<String>,
    pub wait_url_method: Method,
    pub workflow_sid: Option<String>,
    pub max_queue_size: Option<u32>,
    pub task: Option<Task>,
}

/// `<Task priority timeout>JSON</Task>` for TaskRouter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub body: String,
    pub priority: Option<u32>,
    pub timeout: Option<u32>,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Enqueue {
    let element = validator.element(index);
    let mut a = validator.attributes(element);
    let mut enqueue = Enqueue {
        name: String::new(),
        action: a.string("action"),
        method: a.method("method", WARN),
        wait_url: a.string("waitUrl"),
        wait_url_method: a.method("waitUrlMethod", WARN),
        workflow_sid: a.string("workflowSid"),
        max_queue_size: a.optional_integer("maxQueueSize", 1..=u32::MAX, WARN),
        task: None,
    };
    a.finish();
    let mut name = String::new();
    for child in element.children() {
        match child {
            crate::tree::Node::Text { text, .. } => name.push_str(text),
            crate::tree::Node::Element(child)
                if validator.element(child).name == "Task" && enqueue.task.is_none() =>
            {
                enqueue.task = Some(task(validator, child));
            }
            crate::tree::Node::Element(child) => validator.unexpected(element, child),
        }
    }
    enqueue.name = name.trim_ascii().to_owned();
    if enqueue.name.chars().count() > 64 {
        let message = "<Enqueue> queue names are at most 64 characters";
        validator.findings.warning(WARN, element.offset, message);
    }
    enqueue
}

fn task(validator: &mut Validator<'_, '_>, index: usize) -> Task {
    let element = validator.element(index);
    let mut a = validator.attributes(element);
    let priority = a.optional_integer("priority", 0..=u32::MAX, WARN);
    let timeout = a.optional_integer("timeout", 0..=u32::MAX, WARN);
    a.finish();
    Task {
        body: validator.text(element),
        priority,
        timeout,
    }
}

impl WriteXml for Enqueue {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Enqueue");
        e.opt("action", self.action.as_deref())
            .attr("method", self.method);
        e.opt("waitUrl", self.wait_url.as_deref())
            .attr("waitUrlMethod", self.wait_url_method);
        e.opt("workflowSid", self.workflow_sid.as_deref())
            .opt("maxQueueSize", self.max_queue_size);
        let Some(task) = &self.task else {
            return e.text(&self.name);
        };
        e.children(|writer| {
            writer.text(&self.name);
            let mut t = writer.element("Task");
            t.opt("priority", task.priority)
                .opt("timeout", task.timeout)
                .text(&task.body);
        });
    }
}
