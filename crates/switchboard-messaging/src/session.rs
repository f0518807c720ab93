//! The TwiML session of one inbound message, sans-IO: the driver feeds it what fetches returned
//! and performs the actions it asks for.
//!
//! Drive loop: after `Session::new`, and after every `handle`, drain `poll` until it returns
//! `None`. A `Fetch` is performed through the webhook failover path (the fallback URL is the
//! driver's business) and answered with `Input::Document` or `Input::NoUsableTwiml`; a `Send`
//! with an `action` is answered with `Input::ReplyQueued` before the session goes on.

use std::collections::VecDeque;

use switchboard_core::{ErrorCode, error_code};
use switchboard_twiml::{Document, Method, Verb};

/// Documents one session may fetch (Twilio's 14106 limit).
pub const MAX_DOCUMENTS: u32 = 50;

/// A reply to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub to: String,
    pub from: String,
    pub body: String,
    /// Absolute media URLs.
    pub media: Vec<String>,
    pub status_callback: Option<String>,
    /// Whether the session waits for `Input::ReplyQueued` (the verb had an `action`).
    pub awaits_status: bool,
}

/// What the session wants done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Fetch TwiML (through the fallback path) with these parameters.
    Fetch {
        url: String,
        method: Method,
        params: Vec<(String, String)>,
    },
    Send(Reply),
    /// Record an alert about the session.
    Alert {
        code: ErrorCode,
        message: String,
        url: Option<String>,
    },
    /// The session is over.
    Done,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A runnable document, and the URL it came from (relative URLs resolve against it).
    Document { document: Document, url: String },
    /// A `text/plain` answer that is not TwiML: sent as the reply.
    Text { body: String },
    /// Neither the URL nor its fallback gave usable TwiML: nothing is sent.
    NoUsableTwiml,
    /// The reply sent for a `<Message action>` got its first status.
    ReplyQueued { message_sid: String, status: String },
}

#[derive(Clone, Debug)]
struct PendingAction {
    url: String,
    method: Method,
}

/// One inbound message's session.
#[derive(Debug)]
pub struct Session {
    inbound: Vec<(String, String)>,
    inbound_from: String,
    inbound_to: String,
    documents: u32,
    queue: VecDeque<Action>,
    waiting: Option<PendingAction>,
    done: bool,
}

impl Session {
    /// Starts a session for the inbound message whose webhook parameters are `inbound`
    /// (they must include `From` and `To`), first fetching `url` with `method`.
    pub fn new(inbound: Vec<(String, String)>, url: String, method: Method) -> Session {
        let value = |name: &str| {
            inbound
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut session = Session {
            inbound_from: value("From"),
            inbound_to: value("To"),
            inbound,
            documents: 0,
            queue: VecDeque::new(),
            waiting: None,
            done: false,
        };
        session.fetch(url, method, Vec::new());
        session
    }

    pub fn poll(&mut self) -> Option<Action> {
        self.queue.pop_front()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn handle(&mut self, input: Input) {
        if self.done {
            return;
        }
        match input {
            Input::Document { document, url } => self.run(&document, &url),
            Input::Text { body } => {
                let reply = self.reply(body, Vec::new(), None, None, None, false);
                self.queue.push_back(Action::Send(reply));
                self.finish();
            }
            Input::NoUsableTwiml => self.finish(),
            Input::ReplyQueued {
                message_sid,
                status,
            } => {
                if let Some(pending) = self.waiting.take() {
                    let extra = vec![
                        ("MessageSid".to_owned(), message_sid.clone()),
                        ("SmsSid".to_owned(), message_sid),
                        ("MessageStatus".to_owned(), status.clone()),
                        ("SmsStatus".to_owned(), status),
                    ];
                    self.fetch(pending.url, pending.method, extra);
                }
            }
        }
    }

    fn fetch(&mut self, url: String, method: Method, extra: Vec<(String, String)>) {
        if self.documents >= MAX_DOCUMENTS {
            self.queue.push_back(Action::Alert {
                code: error_code::DOCUMENT_RETRIEVAL_LIMIT,
                message: format!(
                    "More than {MAX_DOCUMENTS} TwiML documents were fetched for one message"
                ),
                url: Some(url),
            });
            self.finish();
            return;
        }
        self.documents += 1;
        let mut params: Vec<(String, String)> = self
            .inbound
            .iter()
            .filter(|(name, _)| !extra.iter().any(|(key, _)| key == name))
            .cloned()
            .collect();
        params.extend(extra);
        self.queue.push_back(Action::Fetch {
            url,
            method,
            params,
        });
    }

    fn run(&mut self, document: &Document, base: &str) {
        for verb in &document.verbs {
            let (body, media, to, from, action, method, callback) = match verb {
                Verb::Message(message) => (
                    message.body.clone(),
                    message.media.clone(),
                    message.to.clone(),
                    message.from.clone(),
                    message.action.clone(),
                    message.method,
                    message.status_callback.clone(),
                ),
                Verb::Sms(sms) => (
                    sms.body.clone(),
                    Vec::new(),
                    sms.to.clone(),
                    sms.from.clone(),
                    sms.action.clone(),
                    sms.method,
                    sms.status_callback.clone(),
                ),
                Verb::Redirect(redirect) => {
                    match resolve(base, &redirect.url) {
                        Some(url) => self.fetch(url, redirect.method, Vec::new()),
                        None => self.invalid_url(&redirect.url),
                    }
                    return;
                }
                // The parser refuses voice verbs in a messaging document (14110).
                _ => continue,
            };
            let media = media
                .iter()
                .filter_map(|item| resolve(base, item))
                .collect();
            let callback = callback.and_then(|url| resolve(base, &url));
            let action = action.and_then(|url| resolve(base, &url));
            let reply = self.reply(body, media, to, from, callback, action.is_some());
            self.queue.push_back(Action::Send(reply));
            if let Some(url) = action {
                // Control passes to the action's TwiML once the reply has its status.
                self.waiting = Some(PendingAction { url, method });
                return;
            }
        }
        self.finish();
    }

    fn reply(
        &self,
        body: String,
        media: Vec<String>,
        to: Option<String>,
        from: Option<String>,
        status_callback: Option<String>,
        awaits_status: bool,
    ) -> Reply {
        Reply {
            to: to.unwrap_or_else(|| self.inbound_from.clone()),
            from: from.unwrap_or_else(|| self.inbound_to.clone()),
            body,
            media,
            status_callback,
            awaits_status,
        }
    }

    fn invalid_url(&mut self, url: &str) {
        self.queue.push_back(Action::Alert {
            code: error_code::INVALID_URL_FORMAT,
            message: format!("{url:?} is not a valid URL"),
            url: None,
        });
        self.finish();
    }

    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.queue.push_back(Action::Done);
        }
    }
}

/// `reference` resolved against the document URL `base` (absolute references stand as written).
fn resolve(base: &str, reference: &str) -> Option<String> {
    let base = url::Url::parse(base).ok();
    let resolved = match base {
        Some(base) => base.join(reference.trim()).ok()?,
        None => url::Url::parse(reference.trim()).ok()?,
    };
    matches!(resolved.scheme(), "http" | "https").then(|| resolved.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(xml: &str) -> Document {
        switchboard_twiml::parse(xml.as_bytes(), switchboard_twiml::Context::Messaging)
            .expect("valid twiml")
            .document
    }

    fn inbound() -> Vec<(String, String)> {
        vec![
            ("From".into(), "+15550001111".into()),
            ("To".into(), "+15550002222".into()),
            ("Body".into(), "hi".into()),
        ]
    }

    fn drain(session: &mut Session) -> Vec<Action> {
        std::iter::from_fn(|| session.poll()).collect()
    }

    #[test]
    fn replies_default_to_the_conversation_and_resolve_relative_urls() {
        let mut session =
            Session::new(inbound(), "https://app.example/sms/in".into(), Method::Post);
        assert!(
            matches!(&drain(&mut session)[..], [Action::Fetch { url, .. }] if url == "https://app.example/sms/in")
        );
        let xml = r#"<Response><Message>one</Message><Message to="+15553334444" statusCallback="cb"><Body>two</Body><Media>/m.png</Media></Message></Response>"#;
        session.handle(Input::Document {
            document: document(xml),
            url: "https://app.example/sms/in".into(),
        });
        let actions = drain(&mut session);
        let [Action::Send(first), Action::Send(second), Action::Done] = &actions[..] else {
            panic!("{actions:?}")
        };
        assert_eq!(
            (first.to.as_str(), first.from.as_str(), first.body.as_str()),
            ("+15550001111", "+15550002222", "one")
        );
        assert_eq!(second.to, "+15553334444");
        assert_eq!(second.media, vec!["https://app.example/m.png"]);
        assert_eq!(
            second.status_callback.as_deref(),
            Some("https://app.example/sms/cb")
        );
        assert!(session.is_done());
    }

    #[test]
    fn redirects_transfer_control_and_stop_at_the_document_limit() {
        let mut session = Session::new(inbound(), "https://app.example/a".into(), Method::Post);
        drain(&mut session);
        let redirect = document(
            r#"<Response><Redirect method="GET">b</Redirect><Message>never</Message></Response>"#,
        );
        for n in 1..MAX_DOCUMENTS {
            session.handle(Input::Document {
                document: redirect.clone(),
                url: "https://app.example/a".into(),
            });
            let actions = drain(&mut session);
            let [
                Action::Fetch {
                    url,
                    method,
                    params,
                },
            ] = &actions[..]
            else {
                panic!("{n}: {actions:?}")
            };
            assert_eq!(
                (url.as_str(), *method),
                ("https://app.example/b", Method::Get)
            );
            assert!(
                params.contains(&("Body".into(), "hi".into())),
                "the inbound parameters are sent again"
            );
        }
        session.handle(Input::Document {
            document: redirect,
            url: "https://app.example/a".into(),
        });
        let actions = drain(&mut session);
        assert!(
            matches!(&actions[..], [Action::Alert { code, .. }, Action::Done] if *code == error_code::DOCUMENT_RETRIEVAL_LIMIT),
            "{actions:?}"
        );
    }

    #[test]
    fn message_action_waits_for_the_reply_status_then_fetches() {
        let mut session = Session::new(inbound(), "https://app.example/a".into(), Method::Post);
        drain(&mut session);
        let xml = r#"<Response><Message action="/status" method="GET">one</Message><Message>skipped</Message></Response>"#;
        session.handle(Input::Document {
            document: document(xml),
            url: "https://app.example/a".into(),
        });
        let actions = drain(&mut session);
        assert!(
            matches!(&actions[..], [Action::Send(reply)] if reply.awaits_status),
            "{actions:?}"
        );
        session.handle(Input::ReplyQueued {
            message_sid: "SM1".into(),
            status: "sent".into(),
        });
        let actions = drain(&mut session);
        let [Action::Fetch { url, params, .. }] = &actions[..] else {
            panic!("{actions:?}")
        };
        assert_eq!(url, "https://app.example/status");
        assert!(
            params.contains(&("MessageStatus".into(), "sent".into()))
                && params.contains(&("MessageSid".into(), "SM1".into()))
        );
    }

    #[test]
    fn no_usable_twiml_sends_nothing_and_text_is_the_reply() {
        let mut session = Session::new(inbound(), "https://app.example/a".into(), Method::Post);
        drain(&mut session);
        session.handle(Input::NoUsableTwiml);
        assert_eq!(drain(&mut session), vec![Action::Done]);
        let mut session = Session::new(inbound(), "https://app.example/a".into(), Method::Post);
        drain(&mut session);
        session.handle(Input::Text {
            body: "plain answer".into(),
        });
        let actions = drain(&mut session);
        assert!(
            matches!(&actions[..], [Action::Send(reply), Action::Done] if reply.body == "plain answer")
        );
    }
}
