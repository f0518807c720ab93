//! Caller geography as webhooks carry it, for numbers of the kinds callers have.

use switchboard_geo::{Place, locate};

fn place(country: &str, state: &'static str) -> Place {
    Place {
        country: country.to_owned(),
        state,
    }
}

#[test]
fn north_american_numbers_have_country_and_state() {
    assert_eq!(locate("+14155550123"), place("US", "CA"));
    assert_eq!(locate("+12125550123"), place("US", "NY"));
    assert_eq!(locate("+19075550123"), place("US", "AK"));
    assert_eq!(locate("+14165550123"), place("CA", "ON"));
    assert_eq!(locate("+16045550123"), place("CA", "BC"));
    assert_eq!(locate("+15145550123"), place("CA", "QC"));
}

#[test]
fn other_north_american_countries_and_non_geographic_codes() {
    assert_eq!(locate("+18095550123"), place("DO", ""));
    assert_eq!(locate("+18765550123"), place("JM", ""));
    assert_eq!(locate("+17875550123"), place("PR", ""));
    assert_eq!(locate("+18005550123"), place("US", ""));
    assert_eq!(locate("+15005550006"), place("US", ""));
}

#[test]
fn countries_outside_north_america_come_from_the_calling_code() {
    assert_eq!(locate("+442071234567"), place("GB", ""));
    assert_eq!(locate("+33142685300"), place("FR", ""));
    assert_eq!(locate("+4930123456"), place("DE", ""));
    assert_eq!(locate("+61293744000"), place("AU", ""));
    assert_eq!(locate("+81312345678"), place("JP", ""));
    assert_eq!(locate("+77012345678"), place("KZ", ""));
    assert_eq!(locate("+74951234567"), place("RU", ""));
}

#[test]
fn what_is_not_an_e164_number_has_no_place() {
    for number in [
        "",
        "+",
        "+1",
        "+1415555012",
        "+141555501234",
        "+1abc5550123",
        "14155550123",
        "client:alice",
        "sip:alice@example.com",
        "+0123456",
        "+9999999999999999999",
        "+٤١٥٥٥٥٠١٢٣",
        "12345",
    ] {
        assert_eq!(locate(number), Place::default(), "{number:?}");
    }
}
