//! Parameter validation shared by the resources, each failure carrying Twilio's code.

use switchboard_core::{ErrorCode, error_code};

use crate::error::{ApiError, ApiResult};

/// A webhook URL: empty (clears it) or an absolute http(s) URL. Connection-override fragments
/// (`#ct=…`) are kept as written.
pub fn webhook_url(name: &str, value: &str, code: ErrorCode) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    match url::Url::parse(value) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(value.to_owned())
        }
        _ => Err(ApiError::bad_request(
            code,
            format!("{name} is not a valid URL: {value}"),
        )),
    }
}

/// `GET` or `POST`, in any case, written back upper-case.
pub fn method(name: &str, value: &str, code: ErrorCode) -> ApiResult<String> {
    let upper = value.trim().to_ascii_uppercase();
    if upper == "GET" || upper == "POST" {
        Ok(upper)
    } else {
        Err(ApiError::bad_request(
            code,
            format!("{name} must be GET or POST, not {value:?}"),
        ))
    }
}

/// `true` or `false`, in any case.
pub fn boolean(name: &str, value: &str) -> ApiResult<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            format!("{name} must be true or false"),
        )),
    }
}

/// A friendly name: at most 64 characters.
pub fn friendly_name(value: &str) -> ApiResult<String> {
    if value.chars().count() > 64 {
        return Err(ApiError::bad_request(
            error_code::INVALID_PARAMETER,
            "FriendlyName must be 64 characters or fewer",
        ));
    }
    Ok(value.to_owned())
}

/// An E.164 number, with the spaces, dashes, dots and parentheses people type removed.
pub fn e164(value: &str) -> Option<String> {
    let compact: String = value
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+')?;
    let valid = (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then_some(compact)
}

pub use switchboard_core::phone::formatted_number;

/// Whether a number is a North American toll-free number.
pub fn is_toll_free(e164: &str) -> bool {
    [
        "+1800", "+1833", "+1844", "+1855", "+1866", "+1877", "+1888",
    ]
    .iter()
    .any(|prefix| e164.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(e164("+1 (415) 555-1212").as_deref(), Some("+14155551212"));
        for bad in [
            "4155551212",
            "+",
            "+0123",
            "+1415555121212345",
            "+1415abc",
            "",
            "++1415",
        ] {
            assert_eq!(e164(bad), None, "{bad}");
        }
        assert_eq!(formatted_number("+14155551212"), "(415) 555-1212");
        assert_eq!(formatted_number("+447700900123"), "+447700900123");
        assert!(is_toll_free("+18005550100") && !is_toll_free("+14155550100"));
    }

    #[test]
    fn urls_and_methods() {
        let code = error_code::INVALID_URL;
        assert_eq!(
            webhook_url("VoiceUrl", " https://a.example/x?y=1#ct=100 ", code).unwrap(),
            "https://a.example/x?y=1#ct=100"
        );
        assert_eq!(webhook_url("VoiceUrl", "", code).unwrap(), "");
        for bad in [
            "ftp://a/b",
            "example.com/voice",
            "http://",
            "javascript:alert(1)",
        ] {
            assert_eq!(
                webhook_url("VoiceUrl", bad, code).unwrap_err().code,
                code,
                "{bad}"
            );
        }
        assert_eq!(
            method("VoiceMethod", "get", error_code::INVALID_METHOD).unwrap(),
            "GET"
        );
        assert!(method("VoiceMethod", "PUT", error_code::INVALID_METHOD).is_err());
    }
}
