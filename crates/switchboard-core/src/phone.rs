//! Phone number presentation shared by every stored resource that carries a number.

/// The national format Twilio shows in `*_formatted` fields for North American numbers
/// (`+14155551212` → `(415) 555-1212`); any other number is shown as given.
pub fn formatted_number(e164: &str) -> String {
    match e164.strip_prefix("+1") {
        Some(rest) if rest.len() == 10 && rest.is_ascii() => {
            format!("({}) {}-{}", &rest[..3], &rest[3..6], &rest[6..])
        }
        _ => e164.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn north_american_numbers_are_formatted_and_others_kept() {
        assert_eq!(formatted_number("+14155551212"), "(415) 555-1212");
        assert_eq!(formatted_number("+447700900123"), "+447700900123");
        // Ten bytes after `+1` with a character across byte 3: kept as given, never sliced.
        assert_eq!(formatted_number("+144é555512"), "+144é555512");
    }
}
