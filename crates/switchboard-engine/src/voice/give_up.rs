//! The end of a call's failover, beyond Twilio: what a leg runs when neither URL gave usable
//! TwiML (the number's last-known-good document, its last-resort document, or the platform
//! prompt, in that order; the choice is `last_resort::choose`), and remembering the primary's
//! answers to first fetches as the number's last-known-good document.

use serde_json::json;
use switchboard_flow::Input;
use switchboard_twiml::{Context, Parsed};
use switchboard_webhook::{Reply, TwimlOutcome};

use crate::last_resort::{self, Choice};
use crate::now_ms;
use crate::voice::driver::Driver;

impl Driver {
    /// The primary answered the session's first fetch: with `SwitchboardLastKnownGood` on, its
    /// document (printed canonically) becomes the number's last-known-good one.
    pub(crate) async fn remember_first_document(
        &mut self,
        outcome: &TwimlOutcome<Parsed>,
        primary_url: &str,
    ) {
        let Some(number) = self.resilience.as_ref().filter(|r| r.last_known_good) else {
            return;
        };
        if let TwimlOutcome::Answer {
            reply: Reply::Document(parsed),
            from_fallback: false,
        } = outcome
        {
            let document = parsed.document.to_string();
            self.state
                .last_known_good
                .remember(&self.state, number, primary_url, document, now_ms())
                .await;
        }
    }

    /// What the flow gets instead of `NoUsableTwiml` when the session gives up; `first` when
    /// it gave up on the session's first fetch (the only one a last-known-good document
    /// replaces).
    pub(crate) async fn instead_of_giving_up(&mut self, first: bool) -> Input {
        let Some(number) = self.resilience.clone() else {
            return Input::NoUsableTwiml;
        };
        let lkg = match first && number.last_known_good {
            true => {
                self.state
                    .last_known_good
                    .lookup(&self.state, &number.number_sid)
                    .await
            }
            false => None,
        };
        let now = now_ms();
        let last_resort_left = number.last_resort_twiml.is_some() && !self.last_resort_used;
        let choice = last_resort::choose(
            lkg.as_ref().map(|entry| entry.seen_ms),
            now,
            self.state.lkg_max_age_ms,
            last_resort_left,
        );
        match (choice, lkg, number.last_resort_twiml) {
            (Choice::LastKnownGood, Some(entry), _) => {
                match switchboard_twiml::parse(entry.document.as_bytes(), Context::Voice) {
                    Ok(parsed) => {
                        self.log.push(
                            "webhook",
                            json!({"url": entry.url, "source": "last-known-good",
                                   "http_status": null, "error_code": null, "fallback": false,
                                   "duration_ms": 0, "attempts": 0,
                                   "age_ms": now.saturating_sub(entry.seen_ms).max(0)}),
                        );
                        Input::Document {
                            document: parsed.document,
                            url: Some(entry.url.clone()),
                            from_fallback: false,
                            warnings: Vec::new(),
                        }
                    }
                    // It parsed when it was stored; a row changed by hand is not run.
                    Err(_) => Input::NoUsableTwiml,
                }
            }
            (Choice::LastResort, _, Some(text)) => {
                self.last_resort_used = true;
                match switchboard_twiml::parse(text.as_bytes(), Context::Voice) {
                    Ok(parsed) => Input::LastResort(parsed.document),
                    // Validated when it was stored; a document that no longer parses (a
                    // stricter parser) falls through to the platform prompt.
                    Err(_) => Input::NoUsableTwiml,
                }
            }
            _ => Input::NoUsableTwiml,
        }
    }
}
