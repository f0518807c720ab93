//! `<Queue>` inside `<Dial>` (§7.7): dequeue the first caller waiting in a queue.

use switchboard_core::error_code::DIAL_GENERIC;

use crate::attributes::WARN;
use crate::keyword::Method;
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// Bridge with the caller at the front of a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queue {
    pub name: String,
    /// TwiML played to the dequeued caller before bridging.
    pub url: Option<String>,
    pub method: Method,
    pub reservation_sid: Option<String>,
    pub post_work_activity_sid: Option<String>,
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Queue {
    let element = validator.element(index);
    let mut a = validator.attributes(element);
    let url = a.string("url");
    let method = a.method("method", WARN);
    let reservation_sid = a.string("reservationSid");
    let post_work_activity_sid = a.string("postWorkActivitySid");
    a.finish();
    let name = validator.text(element);
    if name.is_empty() || name.chars().count() > 64 {
        validator.findings.error(
            DIAL_GENERIC,
            element.offset,
            "<Queue> needs a queue name of 1 to 64 characters",
        );
    }
    Queue {
        name,
        url,
        method,
        reservation_sid,
        post_work_activity_sid,
    }
}

impl WriteXml for Queue {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Queue");
        e.opt("url", self.url.as_deref())
            .attr("method", self.method);
        e.opt("reservationSid", self.reservation_sid.as_deref());
        e.opt(
            "postWorkActivitySid",
            self.post_work_activity_sid.as_deref(),
        );
        e.text(&self.name);
    }
}
