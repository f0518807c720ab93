//! `<Sms>` in a call (§7.10, legacy): send a text message and carry on.
//!
//! `to` defaults to the party on the far end and `from` to our number. Without `action` the next
//! verb runs at once; with it, the interpreter waits for `SmsSent` and requests the action with
//! `SmsSid` and `SmsStatus`, whose answer replaces the document.

use switchboard_core::Sid;
use switchboard_twiml::Method;
use switchboard_twiml::verb::Sms;

use crate::action::{Action, Callback, FetchPurpose, SendSms};
use crate::call::{Call, Step};
use crate::params::push;

/// An `<Sms action>` waiting for its message to be handed over.
#[derive(Debug)]
pub(crate) struct SmsRun {
    action: String,
    method: Method,
}

impl Call {
    pub(crate) fn send_sms(&mut self, sms: Sms) {
        let status_callback = self
            .resolve_callback(sms.status_callback.as_deref())
            .map(|url| Callback {
                url,
                method: Method::Post,
                events: Vec::new(),
            });
        let to = sms
            .to
            .unwrap_or_else(|| self.setup.remote_party().to_owned());
        let from = sms
            .from
            .unwrap_or_else(|| self.setup.own_number().to_owned());
        self.emit(Action::SendSms(SendSms {
            to,
            from,
            body: sms.body,
            status_callback,
            wants_result: sms.action.is_some(),
        }));
        if let Some(action) = sms.action {
            self.step = Step::Sms(Box::new(SmsRun {
                action,
                method: sms.method,
            }));
        }
    }

    pub(crate) fn on_sms_sent(&mut self, sms_sid: Sid, status: String) {
        let run = match std::mem::replace(&mut self.step, Step::Idle) {
            Step::Sms(run) => run,
            other => return self.step = other,
        };
        let mut params = self.params();
        push(&mut params, "SmsSid", sms_sid.into_string());
        push(&mut params, "SmsStatus", status);
        let purpose = FetchPurpose::SmsAction;
        self.request_action(Some(&run.action), run.method, params, purpose, "Sms");
    }
}
