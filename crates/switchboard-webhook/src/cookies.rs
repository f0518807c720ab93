//! A small per-session cookie jar: the caller keeps one per call (or per From/To pair for
//! messaging) and passes it to every request of that session, as Twilio's browser-like client does.
//!
//! Chosen over reqwest's `cookies` feature because reqwest ties a jar to a `Client`, and clients
//! here are shared across sessions (cached per connect/read timeout). Only what webhooks need is
//! implemented: host-only and `Domain` cookies, `Path` prefix matching, `Secure`, and deletion by
//! `Max-Age<=0`. Expiry dates are not tracked: a session lives minutes, not days.

use url::Url;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Cookie {
    name: String,
    value: String,
    /// Lowercase host (host-only) or domain (with `domain_match`).
    domain: String,
    domain_match: bool,
    path: String,
    secure: bool,
}

/// Cookies set by a webhook server during one session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

impl CookieJar {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of cookies held.
    pub fn len(&self) -> usize {
        self.cookies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// Records one `Set-Cookie` header value received from `url`. Malformed values are ignored.
    pub fn store(&mut self, url: &Url, set_cookie: &str) {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return;
        };
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let mut cookie = Cookie {
            name: name.to_string(),
            value: value.trim().trim_matches('"').to_string(),
            domain: host.clone(),
            domain_match: false,
            path: default_path(url),
            secure: false,
        };
        let mut delete = false;
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "domain" => {
                    let domain = val.trim().trim_start_matches('.').to_ascii_lowercase();
                    if !domain.is_empty() && domain_matches(&host, &domain) {
                        cookie.domain = domain;
                        cookie.domain_match = true;
                    } else if !domain.is_empty() {
                        return; // A server may not set cookies for another domain.
                    }
                }
                "path" if val.trim().starts_with('/') => cookie.path = val.trim().to_string(),
                "secure" => cookie.secure = true,
                "max-age" => delete = val.trim().parse::<i64>().is_ok_and(|age| age <= 0),
                _ => {}
            }
        }
        self.cookies.retain(|c| {
            !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path)
        });
        if !delete {
            self.cookies.push(cookie);
        }
    }

    /// The `Cookie` header value for a request to `url`, if any cookie applies.
    pub fn header_for(&self, url: &Url) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let path = url.path();
        let https = url.scheme() == "https";
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|c| {
                if c.domain_match {
                    domain_matches(&host, &c.domain)
                } else {
                    c.domain == host
                }
            })
            .filter(|c| path_matches(path, &c.path) && (https || !c.secure))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || request_path[cookie_path.len()..].starts_with('/')))
}

/// RFC 6265 §5.1.4: the directory of the request path.
fn default_path(url: &Url) -> String {
    match url.path().rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(index) => url.path()[..index].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    #[test]
    fn host_path_and_deletion() {
        let mut jar = CookieJar::new();
        jar.store(&url("http://a.example/app/voice"), "session=1; Path=/app");
        jar.store(&url("http://a.example/app/voice"), "other=2");
        assert_eq!(
            jar.header_for(&url("http://a.example/app/gather"))
                .as_deref(),
            Some("session=1; other=2")
        );
        assert_eq!(jar.header_for(&url("http://a.example/elsewhere")), None);
        assert_eq!(jar.header_for(&url("http://b.example/app/x")), None);
        jar.store(&url("http://a.example/app/voice"), "session=3; Path=/app");
        assert_eq!(
            jar.header_for(&url("http://a.example/app/x")).as_deref(),
            Some("other=2; session=3")
        );
        jar.store(
            &url("http://a.example/app/voice"),
            "session=; Path=/app; Max-Age=0",
        );
        assert_eq!(jar.len(), 1);
    }

    #[test]
    fn domain_and_secure() {
        let mut jar = CookieJar::new();
        jar.store(
            &url("https://www.example.com/"),
            "d=1; Domain=.example.com; Secure",
        );
        jar.store(&url("https://www.example.com/"), "evil=1; Domain=other.com");
        jar.store(&url("https://www.example.com/"), "garbage");
        assert_eq!(
            jar.header_for(&url("https://api.example.com/x")).as_deref(),
            Some("d=1")
        );
        assert_eq!(jar.header_for(&url("http://api.example.com/x")), None);
        assert_eq!(jar.len(), 1);
    }
}
