//! The one registry of Twilio error and warning codes the engine raises.
//!
//! Every error that reaches a user (REST error JSON, alerts, `ErrorCode` on fallback requests,
//! TwiML findings) names one of these constants; no code is written as a bare number elsewhere.
//! Messages are paraphrased from Twilio's error dictionary (`twilio-behaviour.md` §2).

use std::fmt;

/// A Twilio error code with its short meaning.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode {
    pub code: u32,
    pub message: &'static str,
}

impl ErrorCode {
    /// The documentation link Twilio puts in `more_info`.
    pub fn more_info(self) -> String {
        format!("https://www.twilio.com/docs/errors/{}", self.code)
    }

    /// Looks a numeric code up in the registry.
    pub fn lookup(code: u32) -> Option<ErrorCode> {
        ALL.iter().copied().find(|known| known.code == code)
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code, self.message)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)
    }
}

macro_rules! registry {
    ($($name:ident = $code:literal, $message:literal;)*) => {
        $(pub const $name: ErrorCode = ErrorCode { code: $code, message: $message };)*
        /// Every code in the registry, in numeric order.
        pub const ALL: &[ErrorCode] = &[$($name),*];
    };
}

registry! {
    // Webhook transport (11xxx).
    INVALID_URL_FORMAT = 11100, "Invalid URL format";
    HTTP_RETRIEVAL_FAILURE = 11200, "HTTP retrieval failure";
    TCP_CONNECTION_TIMED_OUT = 11201, "TCP connection timed out";
    TCP_CONNECTION_REFUSED = 11202, "TCP connection refused";
    HTTP_TOTAL_TIMEOUT = 11203, "HTTP communication total time out triggered";
    HTTP_CONNECTION_FAILURE = 11205, "HTTP connection failure";
    HTTP_PROTOCOL_VIOLATION = 11206, "HTTP protocol violation";
    HTTP_BAD_HOST_NAME = 11210, "HTTP bad host name";
    TOO_MANY_REDIRECTS = 11215, "HTTP too many redirects";
    INVALID_REDIRECT = 11216, "HTTP invalid redirect";
    HTTP_ERROR_RESPONSE_CODE = 11217, "HTTP error response code";
    TLS_HANDSHAKE_ERROR = 11220, "SSL/TLS handshake error";
    CERTIFICATE_DOMAIN_MISMATCH = 11235, "Certificate invalid - domain mismatch";
    CERTIFICATE_EXPIRED = 11236, "Certificate invalid - certificate expired";
    CERTIFICATE_PATH_NOT_FOUND = 11237, "Certificate invalid - could not find path to certificate";
    EDGE_LOCATION_INVALID = 11240, "Edge location invalid";
    EDGE_LOCATION_NOT_SUPPORTED = 11241, "Edge location not supported";
    INTERCONNECT_NOT_ALLOWED = 11242, "Interconnect not allowed";
    RETRY_POLICY_INVALID = 11243, "Retry policy invalid";
    FATAL_PROTOCOL_VIOLATION = 11251, "Fatal protocol violation";
    RESPONSE_BODY_TOO_LARGE = 11750, "TwiML response body too large";
    MEDIA_MESSAGE_TOO_LARGE = 11751, "Media message too large";
    EMPTY_RESPONSE_BODY = 11770, "Empty response body";
    // Documents (12xxx).
    DOCUMENT_PARSE_FAILURE = 12100, "Document parse failure";
    INVALID_TWIML_VERSION = 12101, "Invalid TwiML version";
    ROOT_ELEMENT_MUST_BE_RESPONSE = 12102, "Root element must be Response";
    SCHEMA_VALIDATION_WARNING = 12200, "Schema validation warning";
    INVALID_CONTENT_TYPE = 12300, "Invalid Content-Type";
    INVALID_MEDIA_CONTENT_TYPE = 12301, "Invalid Content-Type for media";
    INTERNAL_FAILURE = 12400, "Internal failure";
    // Voice TwiML (13xxx).
    DIAL_GENERIC = 13000, "Dial: generic problem";
    DIAL_FROM_DIAL_SEGMENT = 13201, "Dial: cannot Dial out from a Dial call segment";
    DIAL_INVALID_METHOD = 13210, "Dial: invalid method value";
    DIAL_INVALID_IF_MACHINE = 13211, "Dial: invalid ifMachine value";
    DIAL_INVALID_TIMEOUT = 13212, "Dial: invalid timeout value";
    DIAL_INVALID_HANGUP_ON_STAR = 13213, "Dial: invalid hangupOnStar value";
    DIAL_INVALID_CALLER_ID = 13214, "Dial: invalid callerId value";
    DIAL_INVALID_NESTED_ELEMENT = 13215, "Dial: invalid nested element";
    DIAL_INVALID_TIME_LIMIT = 13216, "Dial: invalid timeLimit value";
    DIAL_INVALID_RECORD = 13217, "Dial: invalid record value";
    NUMBER_INVALID_METHOD = 13221, "Dial->Number: invalid method value";
    NUMBER_INVALID_SEND_DIGITS = 13222, "Dial->Number: invalid sendDigits value";
    NUMBER_INVALID_FORMAT = 13223, "Dial->Number: invalid phone number format";
    NUMBER_INVALID = 13224, "Dial->Number: invalid phone number";
    NUMBER_BLOCKED = 13225, "Dial->Number: number blocked";
    NUMBER_INVALID_COUNTRY_CODE = 13226, "Dial->Number: invalid country code";
    NUMBER_NO_PERMISSION = 13227, "Dial->Number: no international or geographic permission";
    CONFERENCE_INVALID_ATTRIBUTE = 13230, "Dial->Conference: invalid attribute";
    CONFERENCE_INVALID_SID = 13236, "Dial->Conference: invalid conference SID";
    CONFERENCE_INVALID_NAME = 13237, "Dial->Conference: name must be 1 to 128 characters";
    CONFERENCE_INVALID_WAIT_URL_TWIML = 13238, "Dial->Conference: waitUrl TwiML uses disallowed verbs";
    CONFERENCE_INVALID_TRIM = 13239, "Dial->Conference: invalid trim value";
    CONFERENCE_INVALID_COACH = 13240, "Dial->Conference: invalid coach SID";
    SIP_INVALID_ATTRIBUTE = 13241, "Dial->Sip: invalid attribute";
    GATHER_INVALID_FINISH_ON_KEY = 13310, "Gather: invalid finishOnKey value";
    GATHER_INVALID_FINISH_ON_KEY_CHARACTER = 13311, "Gather: invalid finishOnKey character";
    GATHER_INVALID_METHOD = 13312, "Gather: invalid method value";
    GATHER_INVALID_TIMEOUT = 13313, "Gather: invalid timeout value";
    GATHER_INVALID_NUM_DIGITS = 13314, "Gather: invalid numDigits value";
    GATHER_INVALID_NESTED_VERB = 13320, "Gather: invalid nested verb";
    GATHER_SAY_INVALID_TEXT = 13321, "Gather->Say: invalid text";
    GATHER_SAY_INVALID_LOOP = 13322, "Gather->Say: invalid loop value";
    GATHER_PLAY_INVALID_CONTENT_TYPE = 13325, "Gather->Play: invalid content type";
    GATHER_INVALID_INPUT = 13326, "Gather: invalid input value";
    GATHER_INVALID_SPEECH_TIMEOUT = 13327, "Gather: invalid speechTimeout value";
    GATHER_INVALID_MAX_SPEECH_TIME = 13328, "Gather: invalid maxSpeechTime value";
    GATHER_INVALID_PARTIAL_RESULT_CALLBACK = 13329, "Gather: invalid partialResultCallback value";
    GATHER_INVALID_HINTS = 13330, "Gather: invalid hints value";
    GATHER_INVALID_LANGUAGE = 13331, "Gather: invalid language value";
    GATHER_INVALID_BARGE_IN = 13332, "Gather: invalid bargeIn value";
    GATHER_INVALID_PROFANITY_FILTER = 13333, "Gather: invalid profanityFilter value";
    GATHER_INVALID_SPEECH_MODEL = 13334, "Gather: invalid speechModel value";
    GATHER_AUTO_SPEECH_TIMEOUT_NOT_ALLOWED = 13335, "Gather: speechTimeout auto not allowed with this speechModel";
    PLAY_INVALID_LOOP = 13410, "Play: invalid loop value";
    PLAY_UNSUPPORTED_CONTENT_TYPE = 13420, "Play: audio URL returned an unsupported Content-Type";
    SAY_INVALID_LOOP = 13510, "Say: invalid loop value";
    SAY_INVALID_VOICE = 13511, "Say: invalid voice value";
    SAY_INVALID_TEXT = 13520, "Say: invalid text";
    SAY_TEXT_TOO_LONG = 13521, "Say: text longer than 4096 characters";
    RECORD_INVALID_METHOD = 13610, "Record: invalid method value";
    RECORD_INVALID_TIMEOUT = 13611, "Record: invalid timeout value";
    RECORD_INVALID_MAX_LENGTH = 13612, "Record: invalid maxLength value";
    RECORD_INVALID_FINISH_ON_KEY = 13613, "Record: invalid finishOnKey value";
    RECORD_INVALID_TRANSCRIBE = 13614, "Record: invalid transcribe value";
    RECORD_INVALID_TRANSCRIBE_CALLBACK = 13615, "Record: invalid transcribeCallback value";
    RECORD_INVALID_PLAY_BEEP = 13616, "Record: invalid playBeep value";
    RECORD_LENGTH_OUT_OF_RANGE_FOR_TRANSCRIPTION = 13617, "Record: recording length out of range for transcription";
    RECORD_INVALID_ATTRIBUTE = 13618, "Record: invalid attribute value";
    RECORD_INVALID_STATUS_CALLBACK_EVENT = 13621, "Record: invalid recordingStatusCallbackEvent value";
    REDIRECT_INVALID_METHOD = 13710, "Redirect: invalid method value";
    VERB_NOT_SUPPORTED_IN_API_VERSION = 13750, "Verb not supported in this API version";
    PAUSE_INVALID_LENGTH = 13910, "Pause: invalid length value";
    // Messaging TwiML (14xxx).
    MESSAGE_INVALID_TO = 14101, "Message: invalid To attribute";
    MESSAGE_INVALID_FROM = 14102, "Message: invalid From attribute";
    MESSAGE_INVALID_BODY = 14103, "Message: invalid body";
    MESSAGE_INVALID_METHOD = 14104, "Message: invalid method value";
    MESSAGE_INVALID_STATUS_CALLBACK = 14105, "Message: invalid statusCallback value";
    DOCUMENT_RETRIEVAL_LIMIT = 14106, "Document retrieval limit reached";
    REPLY_RATE_LIMIT = 14107, "Reply rate limit hit";
    FROM_NOT_SMS_CAPABLE = 14108, "From phone number not SMS capable";
    REPLY_LIMIT_EXCEEDED = 14109, "SMS reply message limit exceeded";
    INVALID_VERB_FOR_SMS_REPLY = 14110, "Invalid verb for SMS reply";
    INVALID_TO_FOR_TRIAL = 14111, "Invalid To phone number for trial reply";
    // REST API (2xxxx) and others.
    UNKNOWN_PARAMETER = 20001, "Unknown parameter";
    AUTHENTICATION_FAILED = 20003, "Authenticate";
    METHOD_NOT_ALLOWED = 20004, "Method not allowed";
    ACCOUNT_NOT_ACTIVE = 20005, "Account not active";
    FORBIDDEN = 20403, "Forbidden";
    NOT_FOUND = 20404, "The requested resource was not found";
    PAYLOAD_TOO_LARGE = 20413, "Payload too large";
    INVALID_PARAMETER = 20422, "Invalid parameter";
    TOO_MANY_REQUESTS = 20429, "Too many requests";
    INTERNAL_SERVER_ERROR = 20500, "Internal server error";
    SERVICE_UNAVAILABLE = 20503, "Service unavailable";
    CALL_TO_REQUIRED = 21201, "No 'To' number is specified";
    CALL_INVALID_URL = 21205, "Url is not a valid URL";
    CALL_INVALID_SEND_DIGITS = 21206, "SendDigits contains invalid characters";
    CALL_INVALID_TIMEOUT = 21208, "Timeout is invalid";
    CALL_INVALID_METHOD = 21209, "Method is invalid";
    CALL_FROM_NOT_VERIFIED = 21210, "Caller phone number not verified";
    CALL_INVALID_TO = 21211, "Invalid 'To' Phone Number";
    CALL_INVALID_FROM = 21212, "Invalid 'From' Phone Number";
    CALL_FROM_REQUIRED = 21213, "Caller phone number is required";
    INVALID_APPLICATION_SID = 21218, "Invalid ApplicationSid";
    CALL_NOT_IN_PROGRESS = 21220, "Call is not in-progress. Cannot redirect.";
    INVALID_URL = 21402, "Invalid URL";
    INVALID_METHOD = 21403, "Invalid method";
    VOICE_FALLBACK_WITHOUT_URL = 21405, "VoiceFallbackUrl set without VoiceUrl";
    SMS_FALLBACK_WITHOUT_URL = 21406, "SmsFallbackUrl set without SmsUrl";
    INVALID_PHONE_NUMBER = 21421, "PhoneNumber is invalid";
    PHONE_NUMBER_NOT_AVAILABLE = 21422, "PhoneNumber is not available";
    CALLER_ID_ALREADY_VERIFIED = 21450, "Phone number already verified for your account";
    NO_NUMBER_IN_AREA_CODE = 21452, "No phone numbers found in area code";
    INVALID_PAGE_TOKEN = 21481, "Invalid PageToken";
    MESSAGE_BODY_REQUIRED = 21602, "Message body is required";
    MESSAGE_FROM_REQUIRED = 21603, "A 'From' phone number is required";
    MESSAGE_TO_REQUIRED = 21604, "A 'To' phone number is required";
    MESSAGE_FROM_NOT_OWNED = 21606, "The From phone number is not a valid, SMS-capable inbound phone number or short code for your account";
    INVALID_STATUS_CALLBACK = 21609, "Invalid StatusCallback";
    MESSAGE_BODY_TOO_LONG = 21617, "The concatenated message body exceeds the 1600 character limit";
    INVALID_MEDIA_URL = 21620, "Invalid media URL(s)";
    TOO_MANY_MEDIA_URLS = 21623, "Number of media files exceeds allowed limit";
    MESSAGING_SERVICE_NOT_FOUND = 21701, "The Messaging Service does not exist";
    MESSAGING_SERVICE_NO_NUMBERS = 21704, "The Messaging Service contains no phone numbers";
    NUMBER_ALREADY_IN_SERVICE = 21710, "Phone Number is already in the Messaging Service";
    NUMBER_IN_ANOTHER_SERVICE = 21712, "Phone Number is already associated with another Messaging Service";
    UNREACHABLE_DESTINATION_HANDSET = 30003, "Unreachable destination handset";
    MESSAGE_DELIVERY_UNKNOWN_ERROR = 30008, "Message delivery - Unknown error";
    MESSAGING_SERVICE_FALLBACK_INVALID = 30122, "Messaging Service: fallback URL invalid";
    STREAM_CONNECTION_TIMEOUT = 31901, "Stream: WebSocket connection timeout";
    STREAM_CONNECTION_REFUSED = 31902, "Stream: WebSocket connection refused";
    STREAM_TLS_FAILED = 31910, "Stream: TLS handshake failed";
    STREAM_HANDSHAKE_FAILED = 31920, "Stream: WebSocket handshake error (answer other than 101)";
    STREAM_URL_SCHEME = 31922, "Stream: URL scheme not supported";
    STREAM_URL_MALFORMED = 31923, "Stream: malformed URL";
    STREAM_PROTOCOL_ERROR = 31924, "Stream: WebSocket protocol error";
    STREAM_INVALID_TRACK = 31941, "Stream: invalid track";
    TWIML_PARAMETER_TOO_LONG = 32018, "Twiml parameter is longer than 4000 characters";
    SIP_SOURCE_NOT_ALLOWED = 32201, "SIP: Source IP address not in ACL";
    SCHEDULE_INVALID = 35111, "Invalid scheduling parameters: ScheduleType must be fixed, with SendAt";
    SCHEDULE_SEND_AT_INVALID = 35114, "Scheduling does not support this timestamp";
    SCHEDULE_NEEDS_MESSAGING_SERVICE = 35118, "MessagingServiceSid is required to schedule a message";
    SIGNATURE_INVALID = 57012, "Webhook signature invalid";
    // The engine's own codes (99xxx), where Twilio has none for what it reports.
    PARAMETER_IGNORED = 99001, "Parameter not supported by this engine and ignored";
    SIP_SESSION_EXPIRED = 99002, "SIP session expired: the other side stopped refreshing it (RFC 4028)";
    SIP_INVITE_REFUSED = 99003, "SIP INVITE refused";
    TRANSCRIPTION_FAILED = 99023, "Transcription failed: no recogniser, a full backlog or a recogniser error";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_sorted_and_unique() {
        for pair in ALL.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{:?} before {:?}",
                pair[0],
                pair[1]
            );
        }
        assert_eq!(ErrorCode::lookup(11200), Some(HTTP_RETRIEVAL_FAILURE));
        assert_eq!(ErrorCode::lookup(1), None);
        assert_eq!(
            NOT_FOUND.more_info(),
            "https://www.twilio.com/docs/errors/20404"
        );
    }
}
