//! What this engine runs of the TwiML language: one table, read by the validator (which lists
//! what a document uses and the engine does not run, for `switchboard twiml check`) and by the
//! interpreter in `switchboard-flow` (which alerts and skips it when a call reaches it), so the
//! two always agree, with the same code and the same message. `twiml check --supported` prints
//! the table.
//!
//! The language itself (what is valid TwiML) is the validator's business; a verb missing here is
//! valid TwiML this engine does not run yet.

use switchboard_core::ErrorCode;
use switchboard_core::error_code::{DIAL_GENERIC, VERB_NOT_SUPPORTED_IN_API_VERSION};

use crate::Context;

/// One element of the language and whether this engine runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub context: Context,
    /// `Say`, or `Dial/Conference` for a noun of `<Dial>`.
    pub element: &'static str,
    pub runs: bool,
}

const fn voice(element: &'static str, runs: bool) -> Entry {
    Entry {
        context: Context::Voice,
        element,
        runs,
    }
}

const fn messaging(element: &'static str, runs: bool) -> Entry {
    Entry {
        context: Context::Messaging,
        element,
        runs,
    }
}

/// Every verb of voice and messaging TwiML, and every noun of `<Dial>`.
pub const TABLE: &[Entry] = &[
    voice("Say", true),
    voice("Play", true),
    voice("Pause", true),
    voice("Gather", true),
    voice("Record", true),
    voice("Dial", true),
    voice("Dial/Number", true),
    voice("Dial/Sip", true),
    voice("Dial/Client", false),
    voice("Dial/Conference", true),
    voice("Dial/Queue", true),
    voice("Dial/Sim", false),
    voice("Dial/Application", false),
    voice("Dial/WhatsApp", false),
    voice("Hangup", true),
    voice("Redirect", true),
    voice("Reject", true),
    voice("Sms", true),
    voice("Enqueue", true),
    voice("Leave", true),
    voice("Connect", false),
    voice("Connect/Stream", true),
    voice("Start", false),
    voice("Start/Stream", true),
    voice("Stop", false),
    voice("Stop/Stream", true),
    voice("Pay", false),
    voice("Prompt", false),
    voice("Refer", false),
    voice("Echo", false),
    messaging("Message", true),
    messaging("Redirect", true),
    messaging("Sms", true),
];

fn runs(context: Context, element: &str) -> bool {
    TABLE
        .iter()
        .find(|entry| entry.context == context && entry.element == element)
        .is_none_or(|entry| entry.runs)
}

/// Whether the engine runs verb `name` in `context`.
pub fn verb_runs(context: Context, name: &str) -> bool {
    runs(context, name)
}

/// Whether the engine dials noun `name` of `<Dial>`.
pub fn dial_noun_runs(name: &str) -> bool {
    match name {
        "Number" | "Sip" => true,
        other => TABLE
            .iter()
            .find(|entry| entry.element.strip_prefix("Dial/") == Some(other))
            .is_none_or(|entry| entry.runs),
    }
}

/// The code and message of a verb the engine does not run (the alert a call raises when it
/// reaches it, and `twiml check`'s error).
pub fn unsupported_verb(name: &str) -> (ErrorCode, String) {
    (
        VERB_NOT_SUPPORTED_IN_API_VERSION,
        format!("<{name}> is not supported by this engine yet; it was skipped"),
    )
}

/// The code and message of a `<Dial>` noun the engine does not dial.
pub fn unsupported_dial_noun(name: &str) -> (ErrorCode, String) {
    (
        DIAL_GENERIC,
        format!(
            "<Dial><{name}> is not supported by this engine yet; only <Number>, <Sip>, <Conference> and <Queue> are dialled"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_voice_verb_of_the_language_has_an_entry() {
        for verb in crate::validate::VOICE_VERBS {
            assert!(
                TABLE
                    .iter()
                    .any(|entry| entry.context == Context::Voice && entry.element == *verb),
                "{verb}"
            );
        }
        // The nouns `<Dial>` takes (the `Noun` enum's variants; `NOUNS` also names their children).
        for noun in [
            "Number",
            "Client",
            "Sip",
            "Conference",
            "Queue",
            "Application",
            "Sim",
            "WhatsApp",
        ] {
            let element = format!("Dial/{noun}");
            assert!(
                TABLE.iter().any(|entry| entry.element == element),
                "{element}"
            );
        }
    }

    #[test]
    fn the_table_answers_for_verbs_and_nouns() {
        assert!(verb_runs(Context::Voice, "Say"));
        assert!(!verb_runs(Context::Voice, "Connect"));
        assert!(verb_runs(Context::Messaging, "Message"));
        assert!(dial_noun_runs("Number") && dial_noun_runs("Sip"));
        assert!(dial_noun_runs("Conference") && !dial_noun_runs("Client"));
    }
}
