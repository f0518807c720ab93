//! Enumerated attribute values ("keywords") and the shared value types of TwiML attributes.
//!
//! Each keyword enum is declared once with its exact spelling, which gives both parsing and
//! printing; matching is exact (TwiML is case-sensitive) except for HTTP methods and booleans,
//! which Twilio accepts in any case.

use std::fmt;

/// An enum whose values are written as fixed words in TwiML.
pub trait Keyword: Copy + 'static {
    /// Every value with its spelling.
    const ALL: &'static [(&'static str, Self)];

    /// The value spelled exactly `text`.
    fn from_keyword(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(word, _)| *word == text)
            .map(|(_, value)| *value)
    }

    /// The spelling of this value.
    fn keyword(self) -> &'static str;
}

/// Declares a keyword enum with its spellings, `Display` and the [`Keyword`] impl.
macro_rules! keyword {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $crate::keyword::Keyword for $name {
            const ALL: &'static [(&'static str, Self)] = &[$(($text, Self::$variant)),+];

            fn keyword(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::keyword::Keyword::keyword(*self))
            }
        }
    };
}
pub(crate) use keyword;

/// The HTTP method of a webhook (`method`, `statusCallbackMethod`, …): the one type the
/// webhook client and the REST API share.
pub use switchboard_core::Method;

impl Keyword for Method {
    const ALL: &'static [(&'static str, Self)] = &[("GET", Method::Get), ("POST", Method::Post)];

    fn keyword(self) -> &'static str {
        self.as_str()
    }
}

keyword! {
    /// `trim` on `<Record>`, `<Dial>` and `<Conference>`.
    pub enum Trim { TrimSilence = "trim-silence", DoNotTrim = "do-not-trim" }
}

keyword! {
    /// Events of `recordingStatusCallbackEvent`.
    pub enum RecordingEvent { InProgress = "in-progress", Completed = "completed", Absent = "absent" }
}

keyword! {
    /// Events of `statusCallbackEvent` on `<Number>`, `<Client>`, `<Sip>`, `<Application>`, `<WhatsApp>`.
    pub enum CallProgressEvent {
        Initiated = "initiated",
        Ringing = "ringing",
        Answered = "answered",
        Completed = "completed",
    }
}

keyword! {
    /// `machineDetection` on `<Number>` and `<Sip>`.
    pub enum MachineDetection { Enable = "Enable", DetectMessageEnd = "DetectMessageEnd" }
}

/// A space-separated list of keywords, printed back the same way.
pub struct SpaceList<'a, T>(pub &'a [T]);

impl<T: Keyword> fmt::Display for SpaceList<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, value) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            f.write_str(value.keyword())?;
        }
        Ok(())
    }
}
