//! The user agent's error type: what `SipEndpoint::invite` can refuse before a call exists.
//! Everything that happens to a call afterwards is an event (`OutgoingEvent::Failed`), not an
//! error, because it is an answer from the network rather than a fault of ours.

/// Why an outbound INVITE could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SipUaError {
    /// The target is not a `sip:` URI with a host.
    #[error("invalid SIP target {0:?}")]
    InvalidTarget(String),
    /// The target's host did not resolve to an address.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// `max_calls` calls are already in progress.
    #[error("at capacity: {0} concurrent calls")]
    AtCapacity(usize),
    /// The endpoint was shut down.
    #[error("the SIP endpoint is shut down")]
    Shutdown,
}
