//! `X-Twilio-Signature`: HMAC-SHA1 over the requested URL plus the sorted form parameters.
//!
//! The signer signs exactly the URL it requests (fragment already stripped, no port
//! normalisation): the official validators try the URL both with and without the default port,
//! so this is accepted either way (twilio-behaviour.md §5.2). Names and values are sorted by
//! UTF-8 bytes and identical values of one name are signed once, as both official libraries do.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The string that is signed: the URL, then every name followed by each of its distinct values.
pub fn signing_string(url: &str, params: &[(String, String)]) -> String {
    let mut signed = String::from(url);
    for_each_signed_pair(params, |name, value| {
        signed.push_str(name);
        signed.push_str(value);
    });
    signed
}

/// Calls `visit` with each (name, value) in signing order: sorted by bytes, equal pairs once.
/// Sorting the pairs and dropping duplicates gives the same order as grouping by sorted name
/// and then sorting and de-duplicating each name's values.
fn for_each_signed_pair<'a>(
    params: &'a [(String, String)],
    mut visit: impl FnMut(&'a str, &'a str),
) {
    let already_sorted = params.windows(2).all(|pair| pair[0] < pair[1]);
    if already_sorted {
        params.iter().for_each(|(name, value)| visit(name, value));
        return;
    }
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
        .into_iter()
        .for_each(|(name, value)| visit(name, value));
}

/// `X-Twilio-Signature` for a form-encoded POST (params in the body) or a GET (params empty,
/// already in `url`). The signing string is streamed into the MAC, never built.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut mac = match Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) {
        Ok(mac) => mac,
        // HMAC accepts keys of any length; this arm cannot be reached.
        Err(_) => return String::new(),
    };
    mac.update(url.as_bytes());
    for_each_signed_pair(params, |name, value| {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    });
    // Encoded on the stack: `Engine::encode` zero-fills a heap buffer with `calloc`, which
    // glibc serves from the shared arena under its lock rather than the per-thread cache.
    let mut encoded = [0u8; 28];
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(mac.finalize().into_bytes(), &mut encoded)
        .unwrap_or(0); // A SHA-1 MAC (20 bytes) is always 28 base64 characters.
    String::from_utf8_lossy(&encoded[..written]).into_owned()
}

/// Lowercase hex SHA-256 of a JSON body, the value of the `bodySHA256` query parameter.
pub fn body_sha256(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// The URL a JSON webhook is sent to and signed over: `url` plus `bodySHA256=<hex>`.
pub fn url_with_body_hash(url: &str, body: &[u8]) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}bodySHA256={}", body_sha256(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const CALL: &[(&str, &str)] = &[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ];

    #[test]
    fn spec_vectors() {
        type Vector<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Vector] = &[
            (
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                CALL,
                "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            ),
            (
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                CALL,
                "kvajT1Ptam85bY51eRf/AJRuM3w=",
            ),
            (
                "http://mycompany.com:80/myapp.php?foo=1&bar=2",
                CALL,
                "0ZXoZLH/DfblKGATFgpif+LLRf4=",
            ),
            (
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &[
                    ("Sid", "CA123"),
                    ("SidAccount", "AC123"),
                    ("Digits", "5678"),
                    ("Digits", "1234"),
                    ("Digits", "1234"),
                ],
                "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
            ),
        ];
        for (url, params, expected) in cases {
            assert_eq!(sign("12345", url, &owned(params)), *expected, "{url}");
        }
    }

    #[test]
    fn json_body_vector() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = body_sha256(body);
        assert_eq!(
            hash,
            "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
        let url = url_with_body_hash("https://mycompany.com/myapp.php?foo=1&bar=2", body);
        assert_eq!(sign("12345", &url, &[]), "a9nBmqA0ju/hNViExpshrM61xv4=");
    }

    #[test]
    fn names_sort_by_bytes_and_values_dedupe() {
        let params = owned(&[("a", "2"), ("Z", "1"), ("a", "1"), ("a", "2")]);
        assert_eq!(signing_string("u", &params), "uZ1a1a2");
    }
}
