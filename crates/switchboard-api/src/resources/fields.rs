//! Table-driven handler settings shared by IncomingPhoneNumbers and Applications: each entry maps
//! a PascalCase parameter to its snake_case field, its validation (with Twilio's code) and its
//! default. Resources keep these fields in their JSON document as they are rendered.

use serde_json::{Map, Value, json};
use switchboard_core::{ErrorCode, error_code};

use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::validate;

/// How a parameter is validated.
#[derive(Clone, Copy, Debug)]
pub enum Rule {
    /// An absolute http(s) URL; empty clears it (stored as null).
    Url,
    /// `GET` or `POST`.
    Method,
    Bool,
    /// The SID of a resource of the kind its two-letter prefix names (`AD…`): two letters and 32
    /// hex digits; empty clears it (null). Twilio's description types these fields so.
    Sid(&'static str),
    FriendlyName,
    /// One of a fixed set of values.
    OneOf(&'static [&'static str]),
    /// A voice TwiML document, checked like `switchboard twiml check` does: the first ERROR
    /// finding refuses it (400 with the finding's code and message); empty clears it (null).
    Twiml,
}

/// One settable field.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub param: &'static str,
    pub field: &'static str,
    pub rule: Rule,
    /// The value a new resource starts with.
    pub default: Default,
}

/// A field's starting value.
#[derive(Clone, Copy, Debug)]
pub enum Default {
    Null,
    Text(&'static str),
    Bool(bool),
}

impl Field {
    pub const fn url(param: &'static str, field: &'static str) -> Field {
        Field {
            param,
            field,
            rule: Rule::Url,
            default: Default::Null,
        }
    }
    pub const fn method(param: &'static str, field: &'static str) -> Field {
        Field {
            param,
            field,
            rule: Rule::Method,
            default: Default::Text("POST"),
        }
    }
    pub const fn boolean(param: &'static str, field: &'static str) -> Field {
        Field {
            param,
            field,
            rule: Rule::Bool,
            default: Default::Bool(false),
        }
    }
    pub const fn sid(param: &'static str, field: &'static str, prefix: &'static str) -> Field {
        Field {
            param,
            field,
            rule: Rule::Sid(prefix),
            default: Default::Null,
        }
    }
}

/// What numbers and applications both set: name, API version, voice and SMS handler URLs and
/// methods, caller-ID lookup and the status callback.
pub const HANDLERS: &[Field] = &[
    Field {
        param: "FriendlyName",
        field: "friendly_name",
        rule: Rule::FriendlyName,
        default: Default::Null,
    },
    Field {
        param: "ApiVersion",
        field: "api_version",
        rule: Rule::OneOf(&["2010-04-01", "2008-08-01"]),
        default: Default::Text("2010-04-01"),
    },
    Field::url("VoiceUrl", "voice_url"),
    Field::method("VoiceMethod", "voice_method"),
    Field::url("VoiceFallbackUrl", "voice_fallback_url"),
    Field::method("VoiceFallbackMethod", "voice_fallback_method"),
    Field::url("StatusCallback", "status_callback"),
    Field::method("StatusCallbackMethod", "status_callback_method"),
    Field::boolean("VoiceCallerIdLookup", "voice_caller_id_lookup"),
    Field::url("SmsUrl", "sms_url"),
    Field::method("SmsMethod", "sms_method"),
    Field::url("SmsFallbackUrl", "sms_fallback_url"),
    Field::method("SmsFallbackMethod", "sms_fallback_method"),
];

/// The starting values of every field of `tables`.
pub fn defaults(tables: &[&[Field]]) -> Map<String, Value> {
    tables
        .iter()
        .flat_map(|fields| fields.iter())
        .map(|field| {
            let value = match field.default {
                Default::Null => Value::Null,
                Default::Text(text) => json!(text),
                Default::Bool(flag) => json!(flag),
            };
            (field.field.to_owned(), value)
        })
        .collect()
}

/// Applies the parameters present in `params` to `doc`, validating each.
pub fn apply(tables: &[&[Field]], params: &Params, doc: &mut Map<String, Value>) -> ApiResult<()> {
    for field in tables.iter().flat_map(|fields| fields.iter()) {
        let Some(raw) = params.get(field.param) else {
            continue;
        };
        let value = match field.rule {
            Rule::Url => match validate::webhook_url(field.param, raw, error_code::INVALID_URL)? {
                url if url.is_empty() => Value::Null,
                url => json!(url),
            },
            Rule::Method => json!(validate::method(
                field.param,
                raw,
                error_code::INVALID_METHOD
            )?),
            Rule::Bool => json!(validate::boolean(field.param, raw)?),
            Rule::Sid(prefix) => match raw {
                "" => Value::Null,
                sid => json!(sid_param(field.param, prefix, sid)?),
            },
            Rule::Twiml => match raw {
                "" => Value::Null,
                document => json!(validate_twiml(document)?),
            },
            Rule::FriendlyName => json!(validate::friendly_name(raw)?),
            Rule::OneOf(allowed) => {
                if !allowed.contains(&raw) {
                    let message = format!(
                        "{} must be one of {}, not {raw:?}",
                        field.param,
                        allowed.join(", ")
                    );
                    return Err(ApiError::bad_request(
                        error_code::INVALID_PARAMETER,
                        message,
                    ));
                }
                json!(raw)
            }
        };
        doc.insert(field.field.to_owned(), value);
    }
    Ok(())
}

/// A voice document with no ERROR finding, or the first ERROR finding as a `400` (12100 when
/// it is malformed, else its 12xxx/13xxx/14xxx code, with the finding's own message).
fn validate_twiml(document: &str) -> ApiResult<&str> {
    match switchboard_twiml::parse(document.as_bytes(), switchboard_twiml::Context::Voice) {
        // What this engine would skip is refused too, as `twiml check` reports it: a
        // last-resort document must run when it is needed.
        Ok(parsed) => match parsed
            .unsupported
            .iter()
            .find(|finding| finding.level == switchboard_twiml::Level::Error)
        {
            Some(finding) => Err(ApiError::bad_request(finding.code, finding.message.clone())),
            None => Ok(document),
        },
        Err(rejected) => Err(ApiError::bad_request(
            rejected.error.code,
            rejected.error.message,
        )),
    }
}

fn is_set(doc: &Map<String, Value>, field: &str) -> bool {
    doc.get(field)
        .and_then(Value::as_str)
        .is_some_and(|text| !text.is_empty())
}

/// Twilio's rule that a fallback URL needs its primary (21405 voice, 21406 SMS), checked on the
/// resulting document so an update that clears the primary is caught too.
pub fn check_fallbacks(doc: &Map<String, Value>) -> ApiResult<()> {
    let pairs: [(&str, &str, ErrorCode); 2] = [
        (
            "voice_url",
            "voice_fallback_url",
            error_code::VOICE_FALLBACK_WITHOUT_URL,
        ),
        (
            "sms_url",
            "sms_fallback_url",
            error_code::SMS_FALLBACK_WITHOUT_URL,
        ),
    ];
    for (primary, fallback, code) in pairs {
        if is_set(doc, fallback) && !is_set(doc, primary) {
            return Err(ApiError::bad_request(
                code,
                format!("{} requires {}", fallback, primary),
            ));
        }
    }
    Ok(())
}

/// `sid` if it is a SID of the kind `prefix` names (two letters, 32 hex digits), else 400
/// (20422) naming the parameter.
pub(crate) fn sid_param(param: &str, prefix: &str, sid: &str) -> ApiResult<String> {
    let shaped = sid.len() == 34
        && sid.starts_with(prefix)
        && sid.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit);
    if shaped {
        Ok(sid.to_owned())
    } else {
        Err(ApiError::bad_request(
            switchboard_core::error_code::INVALID_PARAMETER,
            format!("{param} must be a {prefix} SID ({prefix} and 32 hex digits), not {sid:?}"),
        ))
    }
}
