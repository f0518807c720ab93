//! Hard bounds that make hostile input cheap to refuse.
//!
//! The body cap is Twilio's (11750); the others are ours and sit far above what real TwiML needs
//! (verbs nest at most four deep, SSML adds a few levels) while keeping work and memory linear.

/// Largest body accepted, checked before any parsing (Twilio: 64 kB, error 11750).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Deepest element nesting, `<Response>` counting as level 1.
pub const MAX_DEPTH: usize = 32;
/// Most attributes on one element.
pub const MAX_ATTRIBUTES: usize = 64;
/// Most elements in one document.
pub const MAX_ELEMENTS: usize = 10_000;
/// Most findings kept for one document; past it only the first error is still recorded.
pub const MAX_FINDINGS: usize = 200;
/// Longest `<Say>` text in characters (13521).
pub const MAX_SAY_CHARS: usize = 4096;
/// Longest `<Message>` body in characters (14103).
pub const MAX_MESSAGE_BODY_CHARS: usize = 1600;
/// Most `<Media>` in one `<Message>`.
pub const MAX_MESSAGE_MEDIA: usize = 10;
/// Most `<Message>` verbs in one messaging response (14109).
pub const MAX_MESSAGES: usize = 10;
/// Most simultaneously rung nouns in one `<Dial>`.
pub const MAX_DIAL_TARGETS: usize = 10;
