//! Integration tests of the SIP user agent over real sockets on 127.0.0.1: sipp as caller and
//! callee (`sipp_inbound`, `sipp_outbound`), and hand-made datagrams for the edge cases that
//! need exact bytes (`raw`).

mod raw;
mod sipp_inbound;
mod sipp_outbound;
mod support;
