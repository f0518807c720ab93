//! Building responses to a request (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq copied,
//! a To tag added for everything but `100`, Record-Route copied on dialog-creating responses.

use crate::header::NameAddr;
use crate::message::{Headers, Method, Request, Response};

/// The standard reason phrase of a status code (`""` for unknown codes).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "",
    }
}

impl Request {
    /// A response to this request with the standard reason phrase. `to_tag` is added to To
    /// unless the status is 100 or To already has a tag (an in-dialog request).
    pub fn response(&self, status: u16, to_tag: &str) -> Response {
        let mut response = Response::new(status, reason_phrase(status));
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for value in self.headers.get_all(name) {
                response.headers.push(name, value);
            }
        }
        if status != 100 {
            add_to_tag(&mut response.headers, to_tag);
        }
        if status == 100 {
            for value in self.headers.get_all("Timestamp") {
                response.headers.push("Timestamp", value);
            }
        }
        let creates_dialog = self.method == Method::Invite && (101..300).contains(&status);
        if creates_dialog {
            for value in self.headers.get_all("Record-Route") {
                response.headers.push("Record-Route", value);
            }
        }
        response
    }
}

/// Adds `;tag=` to the To header when it has none.
pub(crate) fn add_to_tag(headers: &mut Headers, tag: &str) {
    let Some(mut to) = headers.to() else { return };
    if to.tag().is_none() && !tag.is_empty() {
        to.params.set("tag", Some(tag.to_owned()));
        headers.set("To", to.to_string());
    }
}

/// Sets the To tag of a name-addr (used when building requests and responses by hand).
pub fn with_tag(mut address: NameAddr, tag: &str) -> NameAddr {
    address.params.set("tag", Some(tag.to_owned()));
    address
}
