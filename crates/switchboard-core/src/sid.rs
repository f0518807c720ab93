//! Twilio SIDs: two upper-case letters naming the resource kind and 32 lower-case hex digits.
//!
//! One `Sid` type tagged with a `SidKind` was chosen over one newtype per resource: the store and
//! the API handle many kinds generically (paging tokens, alerts' `resource_sid`), and `parse`
//! with an expected kind gives the same safety at the boundaries where it matters.

use std::fmt;

/// The resource a SID names, by its two-letter prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SidKind {
    Account,
    ApiKey,
    PhoneNumber,
    Application,
    Call,
    Message,
    MediaMessage,
    Media,
    Recording,
    /// A `<Record transcribe>` transcription.
    Transcription,
    Notification,
    /// A status callback or debugger webhook in the outbox (beyond Twilio).
    Delivery,
    /// A Messaging Service (Messaging v1).
    MessagingService,
    Conference,
    Queue,
    /// A media stream of a call (`<Stream>`).
    Stream,
}

impl SidKind {
    /// The two-letter prefix Twilio uses for this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            SidKind::Account => "AC",
            SidKind::ApiKey => "SK",
            SidKind::PhoneNumber => "PN",
            SidKind::Application => "AP",
            SidKind::Call => "CA",
            SidKind::Message => "SM",
            SidKind::MediaMessage => "MM",
            SidKind::Media => "ME",
            SidKind::Recording => "RE",
            SidKind::Transcription => "TR",
            SidKind::Notification => "NO",
            SidKind::Delivery => "DL",
            SidKind::MessagingService => "MG",
            SidKind::Conference => "CF",
            SidKind::Queue => "QU",
            SidKind::Stream => "MZ",
        }
    }
}

/// A validated SID.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid(String);

impl Sid {
    /// A new random SID of `kind` from 128 bits of the thread's CSPRNG.
    pub fn generate(kind: SidKind) -> Sid {
        let bits: u128 = rand::random();
        Sid(format!("{}{:032x}", kind.prefix(), bits))
    }

    /// Parses `text` as a SID of `kind`. Upper-case hex is accepted (Twilio's patterns accept it)
    /// and normalised to lower case, so lookups never miss on case.
    pub fn parse(kind: SidKind, text: &str) -> Option<Sid> {
        let (prefix, hex) = text.split_at_checked(2)?;
        if prefix != kind.prefix() || hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        Some(Sid(format!("{prefix}{}", hex.to_ascii_lowercase())))
    }

    /// Wraps a SID read back from the store, where it was validated when written.
    pub fn from_trusted(text: String) -> Sid {
        Sid(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_sids_parse_back() {
        let sid = Sid::generate(SidKind::Call);
        assert_eq!(sid.as_str().len(), 34);
        assert_eq!(Sid::parse(SidKind::Call, sid.as_str()), Some(sid.clone()));
        assert_eq!(Sid::parse(SidKind::Account, sid.as_str()), None);
    }

    #[test]
    fn parse_rejects_malformed_text_and_normalises_case() {
        let cases = [
            ("PN", None),
            ("PNabc", None),
            ("PN0123456789abcdef0123456789abcdeg", None),
            ("PN0123456789abcdef0123456789abcdef0", None),
            ("pn0123456789abcdef0123456789abcdef", None),
            (
                "PN0123456789ABCDEF0123456789abcdef",
                Some("PN0123456789abcdef0123456789abcdef"),
            ),
            ("PNé123456789abcdef0123456789abcde", None),
        ];
        for (input, expected) in cases {
            let got = Sid::parse(SidKind::PhoneNumber, input);
            assert_eq!(got.as_ref().map(Sid::as_str), expected, "{input}");
        }
    }
}
