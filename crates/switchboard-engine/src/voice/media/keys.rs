//! The caller's keys (and the sandbox's speech), the same for every far end: whatever listens
//! (`<Gather>`, `<Record>`, `<Dial>`) gets them, and keys arriving while nothing listens are
//! kept for the next one that does ("type-ahead").
//!
//! Every far end delivers keys the same way, as `CallInput::Digits` (the sandbox caller's
//! `Digits`, an RFC 4733 event or SIP INFO on a real call), so listening is the driver's, not an
//! operation of `MediaEnd`. A real line would lose early keys; the sandbox keeps them so a test
//! can send input right after placing the call (which is also what makes `Clock=fast` usable
//! with input), and a SIP call keeps them too.

use switchboard_flow::Input;

use crate::voice::driver::Driver;
use crate::voice::timers::Due;

/// What is collecting the caller's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listening {
    Nothing,
    Gather { speech: bool },
    Record,
    Dial,
}

/// Who listens for the caller's input, and what arrived before anything did.
#[derive(Debug)]
pub(crate) struct Keys {
    listening: Listening,
    typeahead: String,
    speech_ahead: Option<(String, f64)>,
}

impl Default for Keys {
    fn default() -> Keys {
        Keys {
            listening: Listening::Nothing,
            typeahead: String::new(),
            speech_ahead: None,
        }
    }
}

impl Driver {
    /// The caller presses `digits`, paced by its `w`s (each delays the keys after it by
    /// 500 ms).
    pub(crate) fn press(&mut self, digits: &str) {
        let now = self.clock.now_ms();
        for (index, chunk) in digits.split('w').enumerate() {
            if chunk.is_empty() {
                continue;
            }
            let chunk: String = chunk.chars().filter(|c| !c.is_whitespace()).collect();
            if index == 0 {
                self.deliver_digits(chunk);
            } else {
                let at = now + index as u64 * 500;
                self.timers.add(at, Due::Input(Input::Digits(chunk)));
            }
        }
    }

    /// Keys reach whatever listens, or wait for it; a bridged engine leg hears them too.
    pub(crate) fn deliver_digits(&mut self, digits: String) {
        if let Some(dial) = &self.dial {
            dial.forward_digits(&self.state.live, &digits);
        }
        if self.keys.listening == Listening::Nothing {
            self.keys.typeahead.push_str(&digits);
        } else {
            self.feed(Input::Digits(digits));
        }
    }

    pub(crate) fn deliver_speech(&mut self, result: String, confidence: f64) {
        if self.keys.listening == (Listening::Gather { speech: true }) {
            self.feed(Input::Speech { result, confidence });
        } else {
            self.keys.speech_ahead = Some((result, confidence));
        }
    }

    /// A sandbox caller says `Text`: a speech `<Gather>` listening now hears it when the words
    /// end; while nothing listens it is kept for the next speech `<Gather>`, as `Speech` is.
    /// Returns whether a speech `<Gather>` took it (else the media model hears it too: a
    /// `<Record>` running or the next one).
    pub(crate) fn hear_said(&mut self, clip: &crate::voice::recording::Clip) -> bool {
        let Some(said) = &clip.said else {
            return false;
        };
        match self.keys.listening {
            Listening::Gather { speech: true } => {
                let at = self.clock.now_ms().saturating_add(clip.ms);
                self.timers.add(at, Due::Said(said.clone()));
                true
            }
            Listening::Nothing => {
                self.keys.speech_ahead = Some((said.text.to_string(), said.confidence));
                false
            }
            Listening::Gather { speech: false } | Listening::Record | Listening::Dial => false,
        }
    }

    /// Starts listening, handing over what the caller typed (or said) ahead.
    pub(crate) fn listen(&mut self, listening: Listening) {
        self.keys.listening = listening;
        let typed = std::mem::take(&mut self.keys.typeahead);
        if !typed.is_empty() {
            self.deliver_digits(typed);
        }
        if let (Listening::Gather { speech: true }, Some((result, confidence))) =
            (listening, self.keys.speech_ahead.take())
        {
            self.feed(Input::Speech { result, confidence });
        }
    }

    /// The `<Gather>`, `<Record>` or `<Dial>` that listened has its result: keys wait again.
    pub(crate) fn stop_listening(&mut self) {
        self.keys.listening = Listening::Nothing;
    }
}
