//! A minimal dialog (RFC 3261 §12): the identifiers, sequence numbers, remote target and
//! route set needed to recognise in-dialog requests and to build BYE, re-INVITE-free requests
//! and the ACK for a 2xx, both as UAS (inbound calls) and as UAC (`<Dial>`, outbound calls).
//!
//! The route set comes from Record-Route: in order on the UAS, reversed on the UAC. Requests
//! follow §12.2.1.1: with loose routers (`;lr`) the Request-URI is the remote target and the
//! route set goes into Route; with a strict router first, its URI becomes the Request-URI and
//! the remote target is appended to Route. The caller supplies Via (with a fresh branch).

use thiserror::Error;

use crate::header::{NameAddr, Via};
use crate::message::{Method, Request, Response};
use crate::uri::SipUri;

/// Why a dialog cannot be created or a request does not fit it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A header needed for the dialog is missing or malformed.
    #[error("missing or malformed {0} header")]
    BadHeader(&'static str),
    /// The remote side did not put a tag where it must.
    #[error("missing remote tag")]
    MissingRemoteTag,
    /// The request's CSeq is not above the last one seen (answer `500`, §12.2.2).
    #[error("cseq {received} not above {last}")]
    CseqOutOfOrder {
        /// The CSeq received.
        received: u32,
        /// The highest CSeq seen before.
        last: u32,
    },
}

/// One dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
    /// Our address (From of our requests), without tag.
    pub local_address: NameAddr,
    /// The peer's address (To of our requests), without tag.
    pub remote_address: NameAddr,
    /// The peer's Contact URI: the Request-URI of our requests.
    pub remote_target: String,
    /// Route set, first hop first.
    pub route_set: Vec<NameAddr>,
    local_sequence: u32,
    remote_sequence: Option<u32>,
}

fn without_tag(mut address: NameAddr) -> NameAddr {
    address
        .params
        .0
        .retain(|(name, _)| !name.eq_ignore_ascii_case("tag"));
    address
}

fn contact_uri(headers: &crate::message::Headers) -> Result<String, DialogError> {
    headers
        .contact()
        .map(|c| c.uri)
        .ok_or(DialogError::BadHeader("Contact"))
}

impl Dialog {
    /// The dialog an inbound INVITE creates once we answer it with `local_tag` in To.
    pub fn uas(invite: &Request, local_tag: &str) -> Result<Dialog, DialogError> {
        let headers = &invite.headers;
        let from = headers.from().ok_or(DialogError::BadHeader("From"))?;
        let to = headers.to().ok_or(DialogError::BadHeader("To"))?;
        let cseq = headers.cseq().ok_or(DialogError::BadHeader("CSeq"))?;
        Ok(Dialog {
            call_id: headers
                .call_id()
                .ok_or(DialogError::BadHeader("Call-ID"))?
                .to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: from.tag().ok_or(DialogError::MissingRemoteTag)?.to_owned(),
            local_address: without_tag(to),
            remote_address: without_tag(from),
            remote_target: contact_uri(headers)?,
            route_set: headers
                .record_route()
                .ok_or(DialogError::BadHeader("Record-Route"))?,
            local_sequence: 0,
            remote_sequence: Some(cseq.sequence),
        })
    }

    /// The dialog a 2xx (or a tagged 1xx) to our INVITE creates.
    pub fn uac(invite: &Request, response: &Response) -> Result<Dialog, DialogError> {
        let from = invite
            .headers
            .from()
            .ok_or(DialogError::BadHeader("From"))?;
        let to = response.headers.to().ok_or(DialogError::BadHeader("To"))?;
        let cseq = invite
            .headers
            .cseq()
            .ok_or(DialogError::BadHeader("CSeq"))?;
        let mut route_set = response
            .headers
            .record_route()
            .ok_or(DialogError::BadHeader("Record-Route"))?;
        route_set.reverse();
        Ok(Dialog {
            call_id: invite
                .headers
                .call_id()
                .ok_or(DialogError::BadHeader("Call-ID"))?
                .to_owned(),
            local_tag: from.tag().ok_or(DialogError::BadHeader("From"))?.to_owned(),
            remote_tag: to.tag().ok_or(DialogError::MissingRemoteTag)?.to_owned(),
            local_address: without_tag(from),
            remote_address: without_tag(to),
            remote_target: contact_uri(&response.headers)?,
            route_set,
            local_sequence: cseq.sequence,
            remote_sequence: None,
        })
    }

    /// True when a request belongs to this dialog (Call-ID, and tags seen from our side).
    pub fn matches_request(&self, request: &Request) -> bool {
        let headers = &request.headers;
        let tag_of = |address: Option<NameAddr>| address.and_then(|a| a.tag().map(str::to_owned));
        headers.call_id() == Some(self.call_id.as_str())
            && tag_of(headers.to()).as_deref() == Some(self.local_tag.as_str())
            && tag_of(headers.from()).as_deref() == Some(self.remote_tag.as_str())
    }

    /// Checks an in-dialog request's CSeq (ACK and CANCEL reuse theirs) and records it.
    pub fn handle_request(&mut self, request: &Request) -> Result<(), DialogError> {
        let cseq = request
            .headers
            .cseq()
            .ok_or(DialogError::BadHeader("CSeq"))?;
        if matches!(request.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if let Some(last) = self.remote_sequence
            && cseq.sequence <= last
        {
            return Err(DialogError::CseqOutOfOrder {
                received: cseq.sequence,
                last,
            });
        }
        self.remote_sequence = Some(cseq.sequence);
        if matches!(request.method, Method::Invite | Method::Update)
            && let Ok(target) = contact_uri(&request.headers)
        {
            self.remote_target = target;
        }
        Ok(())
    }

    /// A new in-dialog request (BYE, INFO, …) with the next local CSeq.
    pub fn build_request(&mut self, method: Method, via: &Via) -> Request {
        self.local_sequence = self.local_sequence.wrapping_add(1) & 0x7FFF_FFFF;
        self.request(method, self.local_sequence, via)
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_sequence` (§13.2.2.4): a new
    /// transaction (the caller's fresh branch) with the INVITE's sequence number.
    pub fn build_ack(&self, invite_sequence: u32, via: &Via) -> Request {
        self.request(Method::Ack, invite_sequence, via)
    }

    /// Where the next request goes: the first route, else the remote target.
    pub fn next_hop(&self) -> Option<SipUri> {
        match self.route_set.first() {
            Some(route) => SipUri::parse(&route.uri),
            None => SipUri::parse(&self.remote_target),
        }
    }

    fn request(&self, method: Method, sequence: u32, via: &Via) -> Request {
        let strict_first = self
            .route_set
            .first()
            .filter(|route| !SipUri::parse(&route.uri).is_some_and(|uri| uri.is_loose_router()));
        let (uri, routes) = match strict_first {
            Some(first) => {
                let mut routes: Vec<String> = self.route_set[1..]
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                routes.push(format!("<{}>", self.remote_target));
                (first.uri.clone(), routes)
            }
            None => (
                self.remote_target.clone(),
                self.route_set.iter().map(ToString::to_string).collect(),
            ),
        };
        let mut request = Request::new(method.clone(), uri);
        request.headers.push("Via", via.to_string());
        for route in routes {
            request.headers.push("Route", route);
        }
        request.headers.push("Max-Forwards", "70");
        request.headers.push(
            "From",
            crate::response::with_tag(self.local_address.clone(), &self.local_tag).to_string(),
        );
        request.headers.push(
            "To",
            crate::response::with_tag(self.remote_address.clone(), &self.remote_tag).to_string(),
        );
        request.headers.push("Call-ID", self.call_id.clone());
        request.headers.push("CSeq", format!("{sequence} {method}"));
        request
    }
}

#[cfg(test)]
mod tests;
