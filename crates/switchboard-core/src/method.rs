//! The HTTP method of a webhook, the one type TwiML attributes, REST parameters and the webhook
//! client share (Twilio accepts only these two).

use serde::{Deserialize, Serialize};

/// `GET` or `POST`; `POST` is Twilio's default for every webhook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    #[serde(rename = "GET")]
    Get,
    #[default]
    #[serde(rename = "POST")]
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }

    /// Parses `GET`/`POST` in any case, as TwiML and the REST API accept them.
    pub fn parse(value: &str) -> Option<Method> {
        if value.eq_ignore_ascii_case("GET") {
            Some(Method::Get)
        } else if value.eq_ignore_ascii_case("POST") {
            Some(Method::Post)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_in_any_case_and_print_upper_case() {
        for (text, method) in [
            ("GET", Some(Method::Get)),
            ("get", Some(Method::Get)),
            ("Post", Some(Method::Post)),
            ("PUT", None),
            ("", None),
        ] {
            assert_eq!(Method::parse(text), method, "{text}");
        }
        assert_eq!(Method::Get.to_string(), "GET");
        assert_eq!(Method::default(), Method::Post);
    }
}
