//! Table-driven tests of the typed header views.

use super::*;

#[test]
fn via_cases() {
    // (input, transport, host, port, branch, received, rport)
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        Option<u16>,
        Option<&'static str>,
        Option<&'static str>,
        Option<Option<u16>>,
    );
    let cases: [Case; 4] = [
        (
            "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-0",
            "UDP",
            "127.0.0.1",
            Some(5070),
            Some("z9hG4bK-1-0"),
            None,
            None,
        ),
        (
            "SIP/2.0/tcp pc.example.com;rport;branch=z9hG4bKx",
            "TCP",
            "pc.example.com",
            None,
            Some("z9hG4bKx"),
            None,
            Some(None),
        ),
        (
            "SIP/2.0/UDP 10.0.0.1:5060;received=192.0.2.4;rport=4000",
            "UDP",
            "10.0.0.1",
            Some(5060),
            None,
            Some("192.0.2.4"),
            Some(Some(4000)),
        ),
        (
            "SIP/2.0/UDP [2001:db8::9]:5060 ;branch=z9hG4bKv6",
            "UDP",
            "[2001:db8::9]",
            Some(5060),
            Some("z9hG4bKv6"),
            None,
            None,
        ),
    ];
    for (input, transport, host, port, branch, received, rport) in cases {
        let via = Via::parse(input).unwrap_or_else(|| panic!("{input}"));
        assert_eq!(
            (via.transport.as_str(), via.host.as_str(), via.port),
            (transport, host, port),
            "{input}"
        );
        assert_eq!(
            (via.branch(), via.received(), via.rport()),
            (branch, received, rport),
            "{input}"
        );
        assert_eq!(Via::parse(&via.to_string()), Some(via), "{input} reprints");
    }
    for bad in [
        "SIP/2.0/UDP",
        "SIP/3.0/UDP host",
        "SIP/2.0/UDP host:port",
        "SIP/2.0/UDP host;=x",
        "SIP/2.0/UDP ho st",
    ] {
        assert_eq!(Via::parse(bad), None, "{bad}");
    }
}

#[test]
fn via_source_stamping_and_response_address() {
    let cases = [
        (
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport",
            "192.0.2.4",
            4000,
            ("192.0.2.4", 4000),
        ),
        (
            "SIP/2.0/UDP 192.0.2.4:5062;branch=z9hG4bK1",
            "192.0.2.4",
            4000,
            ("192.0.2.4", 5062),
        ),
        (
            "SIP/2.0/UDP host.example;branch=z9hG4bK1",
            "192.0.2.4",
            4000,
            ("192.0.2.4", 5060),
        ),
    ];
    for (input, ip, port, expected) in cases {
        let mut via = Via::parse(input).expect("valid");
        via.stamp_source(ip, port);
        assert_eq!(via.response_address(), expected, "{input}");
    }
}

#[test]
fn name_addr_cases() {
    // (input, display name, uri, tag)
    let cases = [
        (
            "<sip:alice@example.com>;tag=1928301774",
            None,
            "sip:alice@example.com",
            Some("1928301774"),
        ),
        (
            "\"Alice \\\"A\\\"\" <sip:alice@example.com>",
            Some("Alice \"A\""),
            "sip:alice@example.com",
            None,
        ),
        (
            "Bob <sip:bob@example.com;transport=tcp>;tag=x",
            Some("Bob"),
            "sip:bob@example.com;transport=tcp",
            Some("x"),
        ),
        (
            "sip:carol@example.com;tag=abc",
            None,
            "sip:carol@example.com",
            Some("abc"),
        ),
        (
            "<sip:proxy.example.com;lr>",
            None,
            "sip:proxy.example.com;lr",
            None,
        ),
    ];
    for (input, display, uri, tag) in cases {
        let parsed = NameAddr::parse(input).unwrap_or_else(|| panic!("{input}"));
        assert_eq!(parsed.display_name.as_deref(), display, "{input}");
        assert_eq!((parsed.uri.as_str(), parsed.tag()), (uri, tag), "{input}");
        assert_eq!(
            NameAddr::parse(&parsed.to_string()),
            Some(parsed),
            "{input} reprints"
        );
    }
    for bad in [
        "",
        "Bob sip:bob@x",
        "<sip:a@b",
        "\"unterminated <sip:a@b>",
        "<nocolon>",
        "<sip:a@b>;tag=\"x",
    ] {
        assert_eq!(NameAddr::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn cseq_and_list_cases() {
    assert_eq!(
        CSeq::parse("314159 INVITE"),
        Some(CSeq {
            sequence: 314_159,
            method: Method::Invite
        })
    );
    for bad in [
        "INVITE",
        "1",
        "-1 INVITE",
        "2147483648 BYE",
        "1 IN VITE",
        "99999999999 ACK",
    ] {
        assert_eq!(CSeq::parse(bad), None, "{bad}");
    }
    let list = split_list("<sip:a@x;lr>, \"b, c\" <sip:b@y>,sip:c@z");
    assert_eq!(list, ["<sip:a@x;lr>", "\"b, c\" <sip:b@y>", "sip:c@z"]);
}
