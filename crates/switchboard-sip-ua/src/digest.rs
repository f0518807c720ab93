//! HTTP Digest authentication for our outbound INVITEs (RFC 2617 as used by RFC 3261 §22):
//! parse a `WWW-Authenticate`/`Proxy-Authenticate` challenge and compute the credentials line.
//! Only MD5 is supported, with `qop=auth` or without qop (the RFC 2069 form); a challenge
//! asking for anything else yields `None` and the call fails with the challenge's status.

use md5::{Digest, Md5};

/// A parsed `Digest` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// True when the server offered `qop=auth`.
    pub qop_auth: bool,
}

impl Challenge {
    /// Parses a challenge header value; `None` unless it is an MD5 digest we can answer.
    pub fn parse(value: &str) -> Option<Challenge> {
        let (scheme, rest) = value.trim().split_once([' ', '\t'])?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let params = parse_params(rest)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if let Some(algorithm) = get("algorithm")
            && !algorithm.eq_ignore_ascii_case("MD5")
        {
            return None;
        }
        let qop = get("qop");
        let qop_auth = qop
            .as_deref()
            .is_some_and(|q| q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")));
        if qop.is_some() && !qop_auth {
            return None;
        }
        Some(Challenge {
            realm: get("realm")?,
            nonce: get("nonce")?,
            opaque: get("opaque"),
            qop_auth,
        })
    }

    /// The `Authorization`/`Proxy-Authorization` value for `method` on `uri`. `cnonce` is the
    /// caller's random client nonce (used only with qop); the nonce count is always 1, since
    /// every challenge is answered once.
    pub fn credentials(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        let ha1 = md5_hex(&format!("{username}:{}:{password}", self.realm));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let mut value = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\"",
            quote(username),
            quote(&self.realm),
            quote(&self.nonce)
        );
        let response = if self.qop_auth {
            let nc = "00000001";
            let response = md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce));
            value.push_str(&format!(
                ", response=\"{response}\", algorithm=MD5, cnonce=\"{cnonce}\", qop=auth, nc={nc}"
            ));
            response
        } else {
            let response = md5_hex(&format!("{ha1}:{}:{ha2}", self.nonce));
            value.push_str(&format!(", response=\"{response}\", algorithm=MD5"));
            response
        };
        debug_assert_eq!(response.len(), 32);
        if let Some(opaque) = &self.opaque {
            value.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
        }
        value
    }
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Splits `name=value, name="quoted, value"` into pairs; `None` on unbalanced quotes.
fn parse_params(text: &str) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let name = name.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut escaped = false;
            let mut end = None;
            for (i, c) in quoted.char_indices() {
                match c {
                    _ if escaped => {
                        value.push(c);
                        escaped = false;
                    }
                    '\\' => escaped = true,
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.push((name, value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example_with_qop() {
        let challenge = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .expect("challenge parses");
        assert!(challenge.qop_auth);
        let value = challenge.credentials(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
        );
        assert!(
            value.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{value}"
        );
        assert!(value.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
        assert!(value.contains("nc=00000001") && value.contains("qop=auth"));
    }

    #[test]
    fn no_qop_form() {
        let challenge = Challenge::parse("Digest realm=\"r\",nonce=\"n\",algorithm=MD5")
            .expect("challenge parses");
        assert!(!challenge.qop_auth);
        let value = challenge.credentials("u", "p", "INVITE", "sip:x@y", "c");
        // MD5(MD5("u:r:p") ":n:" MD5("INVITE:sip:x@y")), computed independently with Python.
        assert!(
            value.contains("response=\"d15c26d1f9dbc965980a7b6cff61f746\""),
            "{value}"
        );
        assert!(!value.contains("qop"));
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        for value in [
            "Basic realm=\"r\"",
            "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256",
            "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"",
            "Digest realm=\"r\"",
            "Digest realm=\"unterminated, nonce=\"n\"",
        ] {
            assert_eq!(Challenge::parse(value), None, "{value}");
        }
    }
}
