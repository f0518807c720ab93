//! The connection edge of the executor: the engine's own DNS resolver hook, the shared TLS
//! configuration, and the mapping of reqwest's error chain onto [`TransportError`].
//!
//! The resolver answers every name under the `.invalid` TLD (RFC 6761) as "not found" locally,
//! without asking any server, so 11210 can be tested and configured hosts like `x.invalid` never
//! leak a query; other names go to the system resolver. Its failures carry a [`HostNotFound`]
//! marker that the classifier finds in the error chain.

use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use rustls::CertificateError;
use switchboard_core::error_code as codes;

use crate::executor::ClientBuildError;
use crate::outcome::TransportError;

/// A name that did not resolve.
#[derive(Debug, thiserror::Error)]
#[error("host name {0:?} could not be resolved")]
pub struct HostNotFound(pub String);

/// The engine's resolver: `.invalid` never resolves; everything else uses the system resolver.
#[derive(Debug, Default, Clone, Copy)]
pub struct EngineResolver;

/// Whether `host` is under the reserved `.invalid` TLD.
pub fn is_reserved_invalid(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "invalid" || host.ends_with(".invalid")
}

impl Resolve for EngineResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            if is_reserved_invalid(&host) {
                return Err(Box::new(HostNotFound(host)) as Box<dyn StdError + Send + Sync>);
            }
            let found: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(addrs) => addrs.collect(),
                Err(_) => Vec::new(),
            };
            if found.is_empty() {
                return Err(Box::new(HostNotFound(host)) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// Maps a reqwest error from sending a request or reading its headers.
pub fn classify_send_error(error: &reqwest::Error) -> TransportError {
    let causes = chain(error);
    if causes.iter().any(|cause| cause.is::<HostNotFound>()) {
        return TransportError::BadHostName;
    }
    if let Some(tls) = causes
        .iter()
        .find_map(|cause| cause.downcast_ref::<rustls::Error>())
    {
        return TransportError::Tls(tls_code(tls));
    }
    if error.is_connect() {
        if error.is_timeout() {
            return TransportError::ConnectTimeout;
        }
        let refused = causes.iter().any(|cause| {
            cause
                .downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::ConnectionRefused)
        });
        return if refused {
            TransportError::ConnectionRefused
        } else {
            TransportError::ConnectFailed
        };
    }
    if error.is_timeout() {
        return TransportError::ReadTimeout {
            response_started: false,
        };
    }
    classify_broken_exchange(&causes)
}

/// Maps a reqwest error while reading the body (the response had started).
pub fn classify_body_error(error: &reqwest::Error) -> TransportError {
    if error.is_timeout() {
        return TransportError::ReadTimeout {
            response_started: true,
        };
    }
    classify_broken_exchange(&chain(error))
}

fn classify_broken_exchange(causes: &[&(dyn StdError + 'static)]) -> TransportError {
    let parse_error = causes.iter().any(|cause| {
        cause
            .downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_parse())
    });
    if parse_error {
        TransportError::ProtocolViolation
    } else {
        TransportError::ConnectionLost
    }
}

/// Certificate problems get their own codes; any other TLS failure is a handshake error.
pub fn tls_code(error: &rustls::Error) -> switchboard_core::ErrorCode {
    match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                codes::CERTIFICATE_DOMAIN_MISMATCH
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                codes::CERTIFICATE_EXPIRED
            }
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::BadEncoding
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. }
            | CertificateError::Revoked
            | CertificateError::InvalidPurpose => codes::CERTIFICATE_PATH_NOT_FOUND,
            _ => codes::CERTIFICATE_PATH_NOT_FOUND,
        },
        _ => codes::TLS_HANDSHAKE_ERROR,
    }
}

/// Every error in the chain, including the ones an `io::Error` wraps (its `source()` skips them).
fn chain<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut causes = Vec::new();
    let mut next: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(cause) = next {
        causes.push(cause);
        // `io::Error::source` skips the error it wraps: unwrap nested io::Errors by hand.
        let mut wrapped = cause;
        while let Some(inner) = wrapped
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
        {
            let inner: &(dyn StdError + 'static) = inner;
            causes.push(inner);
            wrapped = inner;
            if causes.len() > 32 {
                break;
            }
        }
        next = cause.source();
        if causes.len() > 32 {
            break; // Defensive bound against a cyclic chain.
        }
    }
    causes
}

/// The shared TLS configuration: the process's crypto provider (aws-lc-rs by default), the
/// platform verifier with any extra roots, and HTTP/1.1 ALPN (webhooks are HTTP/1.1).
pub fn tls_config(extra_roots_pem: &[Vec<u8>]) -> Result<rustls::ClientConfig, ClientBuildError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let error = |e: &dyn std::fmt::Display| ClientBuildError(e.to_string());
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let mut roots = Vec::new();
    for pem in extra_roots_pem {
        for certificate in CertificateDer::pem_slice_iter(pem) {
            roots.push(certificate.map_err(|e| error(&e))?);
        }
    }
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone())
            .map_err(|e| error(&e))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| error(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Starting one handshake here pays the crypto library's one-time set-up (tens of
    // milliseconds) at start-up instead of inside the first HTTPS webhook's `ct` budget.
    let warm_up_name =
        rustls::pki_types::ServerName::try_from("localhost").map_err(|e| error(&e))?;
    let _ = rustls::ClientConnection::new(Arc::new(config.clone()), warm_up_name);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names() {
        for host in ["x.invalid", "X.INVALID.", "invalid", "a.b.invalid"] {
            assert!(is_reserved_invalid(host), "{host}");
        }
        for host in ["invalid.example.com", "localhost", "127.0.0.1"] {
            assert!(!is_reserved_invalid(host), "{host}");
        }
    }

    #[test]
    fn certificate_codes() {
        let cases = [
            (
                rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
                11235,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::Expired),
                11236,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
                11237,
            ),
            (rustls::Error::HandshakeNotComplete, 11220),
            (
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
                11220,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(tls_code(&error).code, code, "{error:?}");
        }
    }

    #[tokio::test]
    async fn invalid_tld_never_resolves() {
        let name: Name = "x.invalid".parse().expect("name");
        let result = EngineResolver.resolve(name).await;
        assert!(result.is_err_and(|e| e.is::<HostNotFound>()));
    }
}
