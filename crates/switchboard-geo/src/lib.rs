//! Caller geography (`FromCountry`, `FromState`, …) from the number alone, with no lookup
//! service: what Twilio's webhooks carry for the parties of a call or message.
//!
//! - North American numbers (`+1`): the country and the state, province or territory of the
//!   area code, from a table generated from libphonenumber's metadata and geocoding data
//!   (`area_codes.rs`, written by `scripts/gen-area-codes.py`, its source and date in its
//!   header). A binary search: this runs for both parties of every call and message.
//! - Every other E.164 number: the ISO country that the `phonenumber` crate (libphonenumber's
//!   metadata) finds for its country calling code and leading digits (`+44 20…` is `GB`,
//!   `+7 7…` is `KZ`), with no state.
//! - Anything else (`client:…`, `sip:…`, short codes, garbage): nothing known.
//!
//! City and postal code are not derived: they need a rate-centre database this engine does not
//! ship, and Twilio sends them empty where it does not know them.

mod area_codes;

use area_codes::AREA_CODES;

/// What is known of where a number is. Empty strings where nothing is known, as Twilio sends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// The ISO 3166-1 alpha-2 country (`US`, `GB`), or empty.
    pub country: String,
    /// The two-letter state, province or territory (`CA`, `ON`), or empty.
    pub state: &'static str,
}

/// Where `number` is, as far as its digits tell.
pub fn locate(number: &str) -> Place {
    let Some(digits) = number.strip_prefix('+') else {
        return Place::default();
    };
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Place::default();
    }
    if let Some(national) = digits.strip_prefix('1') {
        return north_american(national);
    }
    match phonenumber::parse(None, number) {
        Ok(parsed) => Place {
            country: parsed
                .country()
                .id()
                .map_or_else(String::new, |id| id.as_ref().to_owned()),
            state: "",
        },
        Err(_) => Place::default(),
    }
}

/// A `+1` number's ten national digits: its area code's row.
fn north_american(national: &str) -> Place {
    if national.len() != 10 {
        return Place::default();
    }
    let Ok(area) = national[..3].parse::<u16>() else {
        return Place::default();
    };
    match AREA_CODES.binary_search_by_key(&area, |(code, _, _)| *code) {
        Ok(index) => {
            let (_, country, state) = &AREA_CODES[index];
            Place {
                country: String::from_utf8_lossy(country).into_owned(),
                state,
            }
        }
        Err(_) => Place::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_area_code_table_is_sorted_and_complete_in_shape() {
        assert!(AREA_CODES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(AREA_CODES.len() > 400);
        for (code, country, state) in AREA_CODES {
            assert!((200..1000).contains(code));
            assert!(country.iter().all(u8::is_ascii_uppercase));
            assert!(state.is_empty() || state.len() == 2);
        }
    }
}
