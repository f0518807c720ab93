//! AvailablePhoneNumbers: the numbers this engine may provision, searched as Twilio's are
//! (product.md "More of Twilio's REST surface"). There is no carrier: the offer comes from an
//! inventory, `--number-inventory FILE` (CSV: E.164 number, type, locality, region, postal
//! code, ISO country) or, by default, the North American numbers reserved for fiction:
//! `+1{area code}55501{00–99}` for `Local` and `Mobile` in the area code asked for (a spread of
//! area codes when none is), and the same range in the toll-free codes for `TollFree`. Numbers
//! already provisioned on this engine are never offered.

use std::sync::Arc;

use axum::Json;
use serde_json::{Value, json};
use switchboard_core::error_code;

use super::ACCOUNTS;
use super::scoped::Scoped;
use crate::error::{ApiError, ApiResult};
use crate::form::{Params, query_params};
use crate::validate;

/// The toll-free codes of the default inventory.
const TOLL_FREE: [&str; 7] = ["800", "833", "844", "855", "866", "877", "888"];
/// Area codes the default inventory offers from when no `AreaCode` is asked for.
const SPREAD: [&str; 10] = [
    "201", "206", "212", "213", "305", "312", "415", "503", "617", "702",
];
/// Twilio's largest page of available numbers.
const MAX_PAGE: usize = 1000;
const DEFAULT_PAGE: usize = 50;

/// One number that may be provisioned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub number: String,
    /// `local`, `mobile` or `toll-free`.
    pub kind: String,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub iso_country: String,
}

/// Where offers come from.
#[derive(Clone, Debug, Default)]
pub enum Inventory {
    /// The fiction range (module documentation).
    #[default]
    Fiction,
    /// A file's numbers, in its order.
    Listed(Arc<Vec<Offer>>),
}

impl Inventory {
    /// Reads `--number-inventory`'s CSV: one number a line (`#` starts a comment), fields
    /// `number,type,locality,region,postal_code,iso_country`; type `local`, `mobile` or
    /// `toll-free`; empty fields are unknown. Any other line is an error naming its line.
    pub fn from_csv(text: &str) -> Result<Inventory, String> {
        let mut offers = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [number, kind, locality, region, postal_code, iso_country] = fields[..] else {
                return Err(format!(
                    "line {}: expected 6 fields (number,type,locality,region,postal_code,iso_country)",
                    index + 1
                ));
            };
            let number = validate::e164(number)
                .ok_or_else(|| format!("line {}: {number:?} is not an E.164 number", index + 1))?;
            if !matches!(kind, "local" | "mobile" | "toll-free") {
                return Err(format!(
                    "line {}: type must be local, mobile or toll-free, not {kind:?}",
                    index + 1
                ));
            }
            if iso_country.len() != 2 || !iso_country.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "line {}: {iso_country:?} is not a two-letter ISO country code",
                    index + 1
                ));
            }
            let known = |text: &str| (!text.is_empty()).then(|| text.to_owned());
            offers.push(Offer {
                number,
                kind: kind.to_owned(),
                locality: known(locality),
                region: known(region),
                postal_code: known(postal_code),
                iso_country: iso_country.to_owned(),
            });
        }
        Ok(Inventory::Listed(Arc::new(offers)))
    }

    /// The countries offers come from, sorted.
    fn countries(&self) -> Vec<String> {
        match self {
            Inventory::Fiction => vec!["US".to_owned()],
            Inventory::Listed(offers) => {
                let mut countries: Vec<String> = offers
                    .iter()
                    .map(|offer| offer.iso_country.clone())
                    .collect();
                countries.sort();
                countries.dedup();
                countries
            }
        }
    }

    /// Offers of `kind` in `country` that `search` admits, in inventory order (provisioned or
    /// not: the caller drops those).
    fn candidates(&self, country: &str, kind: &str, search: &Search) -> Vec<Offer> {
        let offers: Vec<Offer> = match self {
            Inventory::Fiction if country == "US" => fiction(kind, search.area_code.as_deref()),
            Inventory::Fiction => Vec::new(),
            Inventory::Listed(offers) => offers
                .iter()
                .filter(|offer| offer.iso_country == country && offer.kind == kind)
                .cloned()
                .collect(),
        };
        offers
            .into_iter()
            .filter(|offer| search.admits(offer))
            .collect()
    }
}

/// The fiction range for `kind` (in `area` when given).
fn fiction(kind: &str, area: Option<&str>) -> Vec<Offer> {
    let areas: Vec<&str> = match (kind, area) {
        ("toll-free", Some(area)) => TOLL_FREE
            .iter()
            .copied()
            .filter(|code| *code == area)
            .collect(),
        ("toll-free", None) => TOLL_FREE.to_vec(),
        (_, Some(area)) => vec![area],
        (_, None) => SPREAD.to_vec(),
    };
    let mut offers = Vec::new();
    for line in 0..100 {
        for area in &areas {
            offers.push(Offer {
                number: format!("+1{area}55501{line:02}"),
                kind: kind.to_owned(),
                locality: None,
                region: None,
                postal_code: None,
                iso_country: "US".to_owned(),
            });
        }
    }
    offers
}

/// A search's filters.
#[derive(Debug, Default)]
struct Search {
    area_code: Option<String>,
    /// `Contains`: digits, with `*` for any one digit (letters are not mapped).
    contains: Option<Vec<u8>>,
    region: Option<String>,
    postal_code: Option<String>,
    locality: Option<String>,
}

impl Search {
    fn from_params(params: &Params) -> ApiResult<Search> {
        let invalid =
            |message: String| ApiError::bad_request(error_code::INVALID_PARAMETER, message);
        let given = |name: &str| params.get(name).filter(|value| !value.is_empty());
        let area_code = match given("AreaCode") {
            Some(area) if area.len() == 3 && area.bytes().all(|b| b.is_ascii_digit()) => {
                Some(area.to_owned())
            }
            Some(area) => return Err(invalid(format!("AreaCode must be 3 digits, not {area:?}"))),
            None => None,
        };
        let contains = match given("Contains") {
            Some(pattern)
                if pattern.len() >= 2
                    && pattern
                        .bytes()
                        .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'+')) =>
            {
                Some(pattern.trim_start_matches('+').bytes().collect())
            }
            Some(pattern) => {
                return Err(invalid(format!(
                    "Contains must be at least 2 of 0-9 and * (any digit), not {pattern:?}"
                )));
            }
            None => None,
        };
        Ok(Search {
            area_code,
            contains,
            region: given("InRegion").map(str::to_owned),
            postal_code: given("InPostalCode").map(str::to_owned),
            locality: given("InLocality").map(str::to_owned),
        })
    }

    fn admits(&self, offer: &Offer) -> bool {
        let same = |wanted: &Option<String>, have: &Option<String>| match wanted {
            None => true,
            Some(wanted) => have
                .as_deref()
                .is_some_and(|have| have.eq_ignore_ascii_case(wanted)),
        };
        let area = match &self.area_code {
            None => true,
            Some(area) => offer
                .number
                .strip_prefix("+1")
                .is_some_and(|rest| rest.starts_with(area.as_str())),
        };
        area && same(&self.region, &offer.region)
            && same(&self.postal_code, &offer.postal_code)
            && same(&self.locality, &offer.locality)
            && self
                .contains
                .as_ref()
                .is_none_or(|pattern| contains(offer.number.as_bytes(), pattern))
    }
}

/// Whether `number` holds `pattern` somewhere, `*` matching any one digit.
fn contains(number: &[u8], pattern: &[u8]) -> bool {
    number.windows(pattern.len()).any(|window| {
        window
            .iter()
            .zip(pattern)
            .all(|(have, want)| *want == b'*' || have == want)
    })
}

fn country_json(account: &str, country: &str) -> Value {
    let base = format!("{ACCOUNTS}/{account}/AvailablePhoneNumbers/{country}");
    json!({
        "country_code": country,
        "country": country_name(country),
        "uri": format!("{base}.json"),
        "beta": false,
        "subresource_uris": {
            "local": format!("{base}/Local.json"),
            "toll_free": format!("{base}/TollFree.json"),
            "mobile": format!("{base}/Mobile.json"),
        },
    })
}

fn country_name(code: &str) -> &str {
    match code {
        "US" => "United States",
        "CA" => "Canada",
        "GB" => "United Kingdom",
        other => other,
    }
}

/// `AvailablePhoneNumbers.json`: the countries this engine can provision.
pub(crate) async fn countries(scoped: Scoped) -> ApiResult<Json<Value>> {
    let account = &scoped.account.sid;
    let countries: Vec<Value> = scoped
        .state
        .inventory
        .countries()
        .iter()
        .map(|country| country_json(account, country))
        .collect();
    let uri = format!("{ACCOUNTS}/{account}/AvailablePhoneNumbers.json");
    Ok(Json(json!({
        "countries": countries,
        "uri": uri,
        "first_page_uri": uri,
        "next_page_uri": null,
        "previous_page_uri": null,
        "page": 0,
        "page_size": countries.len(),
        "start": 0,
        "end": countries.len().saturating_sub(1),
    })))
}

/// `AvailablePhoneNumbers/{CountryCode}.json` and `…/{CountryCode}/{Local|TollFree|Mobile}.json`.
pub(crate) async fn country_or_search(scoped: Scoped<(String, String)>) -> ApiResult<Json<Value>> {
    let (country, file) = &scoped.rest;
    let path = scoped.uri.path();
    // A list Twilio has and this engine does not (`National`, `Voip`, …) is a path it does not
    // have, whatever the country.
    let kind = match file.as_str() {
        "Local.json" => "local",
        "TollFree.json" => "toll-free",
        "Mobile.json" => "mobile",
        _ => return Err(ApiError::no_such_path(path)),
    };
    if !scoped.state.inventory.countries().contains(country) {
        return Err(ApiError::not_found(path));
    }
    let params = query_params(scoped.uri.query())?;
    let search = Search::from_params(&params)?;
    let page_size = match params.get("PageSize") {
        None => DEFAULT_PAGE,
        Some(size) => size
            .parse::<usize>()
            .ok()
            .filter(|size| *size >= 1)
            .map(|size| size.min(MAX_PAGE))
            .ok_or_else(|| {
                ApiError::bad_request(
                    error_code::INVALID_PARAMETER,
                    format!("PageSize must be a positive number, not {size:?}"),
                )
            })?,
    };
    let mut offered = Vec::new();
    for offer in scoped.state.inventory.candidates(country, kind, &search) {
        if offered.len() == page_size {
            break;
        }
        if scoped
            .state
            .engine
            .find_number(&offer.number)
            .await?
            .is_none()
        {
            offered.push(render(&offer));
        }
    }
    let uri = match scoped.uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    Ok(Json(json!({
        "available_phone_numbers": offered,
        "uri": uri,
        "first_page_uri": uri,
        "next_page_uri": null,
        "previous_page_uri": null,
        "page": 0,
        "page_size": page_size,
        "start": 0,
        "end": offered.len().saturating_sub(1),
    })))
}

fn render(offer: &Offer) -> Value {
    json!({
        "friendly_name": validate::formatted_number(&offer.number),
        "phone_number": offer.number,
        "lata": null,
        "locality": offer.locality,
        "rate_center": null,
        "latitude": null,
        "longitude": null,
        "region": offer.region,
        "postal_code": offer.postal_code,
        "iso_country": offer.iso_country,
        "address_requirements": "none",
        "beta": false,
        "capabilities": {"voice": true, "sms": true, "mms": true, "fax": false},
    })
}

/// `AvailablePhoneNumbers/{CountryCode}.json`: one country this engine can provision.
pub(crate) async fn country(scoped: Scoped<String>) -> ApiResult<Json<Value>> {
    let path = scoped.uri.path();
    let country = scoped
        .rest
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::no_such_path(path))?;
    if !scoped
        .state
        .inventory
        .countries()
        .iter()
        .any(|known| known == country)
    {
        return Err(ApiError::not_found(path));
    }
    Ok(Json(country_json(&scoped.account.sid, country)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(query: &str) -> Search {
        Search::from_params(&Params::parse(query.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn the_fiction_range_is_offered_by_area_code_and_pattern() {
        let inventory = Inventory::Fiction;
        let offers = inventory.candidates("US", "local", &search("AreaCode=415"));
        assert_eq!(offers.len(), 100);
        assert_eq!(offers[0].number, "+14155550100");
        assert!(
            offers
                .iter()
                .all(|offer| offer.number.starts_with("+1415555"))
        );
        let offers = inventory.candidates("US", "local", &search("AreaCode=415&Contains=01*9"));
        let numbers: Vec<&str> = offers.iter().map(|offer| offer.number.as_str()).collect();
        assert!(numbers.contains(&"+14155550109"), "{numbers:?}");
        assert!(
            numbers
                .iter()
                .all(|number| contains(number.as_bytes(), b"01*9"))
        );
        let toll_free = inventory.candidates("US", "toll-free", &search(""));
        assert_eq!(toll_free.len(), 700);
        assert!(
            inventory
                .candidates("US", "toll-free", &search("AreaCode=415"))
                .is_empty()
        );
        assert!(inventory.candidates("GB", "local", &search("")).is_empty());
    }

    #[test]
    fn a_listed_inventory_is_read_and_searched_by_place() {
        let csv = "# number,type,locality,region,postal code,country\n\
                   +14155550123,local,San Francisco,CA,94105,US\n\
                   +442079460000,local,London,,EC1A,GB\n\
                   +18005550199,toll-free,,,,US\n";
        let inventory = Inventory::from_csv(csv).unwrap();
        assert_eq!(inventory.countries(), vec!["GB", "US"]);
        let found = inventory.candidates("US", "local", &search("InRegion=ca&InPostalCode=94105"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].locality.as_deref(), Some("San Francisco"));
        assert!(
            inventory
                .candidates("US", "local", &search("InLocality=Oakland"))
                .is_empty()
        );
        assert_eq!(inventory.candidates("GB", "local", &search("")).len(), 1);
        for bad in [
            "415-555-0123x,local,,,,US",
            "+14155550123,landline,,,,US",
            "+14155550123,local,,,,usa",
            "+14155550123,local",
        ] {
            assert!(Inventory::from_csv(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_filters_are_refused() {
        for query in ["AreaCode=41", "AreaCode=abc", "Contains=4", "Contains=ab"] {
            let params = Params::parse(query.as_bytes()).unwrap();
            assert!(Search::from_params(&params).is_err(), "{query}");
        }
    }
}
