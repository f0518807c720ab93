//! SMS segmentation: GSM-7 when every character is in the GSM 03.38 default alphabet or its
//! extension table (extension characters take two septets), UCS-2 otherwise.
//!
//! A single message holds 160 septets (GSM-7) or 70 UTF-16 code units (UCS-2); a concatenated
//! one loses its user-data header to every part: 153 septets or 67 code units per segment.
//! An extension character's escape pair is never split across segments, nor is a UTF-16
//! surrogate pair, as handsets do.

/// The encoding a body is sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "\u{c}^{}\\[~]|€";

fn septets(c: char) -> Option<usize> {
    if c != '\u{1b}' && GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The encoding and number of segments `body` needs (0 for an empty body).
pub fn segments(body: &str) -> (Encoding, usize) {
    let gsm: Option<Vec<usize>> = body.chars().map(septets).collect();
    match gsm {
        Some(units) => (Encoding::Gsm7, count(&units, 160, 153)),
        None => {
            let units: Vec<usize> = body.chars().map(char::len_utf16).collect();
            (Encoding::Ucs2, count(&units, 70, 67))
        }
    }
}

/// Segments for characters of the given unit widths, never splitting one character.
fn count(units: &[usize], single: usize, part: usize) -> usize {
    let total: usize = units.iter().sum();
    if total == 0 {
        return 0;
    }
    if total <= single {
        return 1;
    }
    let mut segments = 1;
    let mut used = 0;
    for width in units {
        if used + width > part {
            segments += 1;
            used = 0;
        }
        used += width;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_examples() {
        let cases: &[(&str, Encoding, usize)] = &[
            ("", Encoding::Gsm7, 0),
            ("Hello", Encoding::Gsm7, 1),
            (&"a".repeat(160), Encoding::Gsm7, 1),
            (&"a".repeat(161), Encoding::Gsm7, 2),
            (&"a".repeat(306), Encoding::Gsm7, 2),
            (&"a".repeat(307), Encoding::Gsm7, 3),
            // Extension characters count twice: 80 euro signs fill one message exactly.
            (&"€".repeat(80), Encoding::Gsm7, 1),
            (&"€".repeat(81), Encoding::Gsm7, 2),
            // 152 septets then an escape pair: the pair moves whole to the next segment.
            (
                &format!("{}€{}", "a".repeat(152), "a".repeat(10)),
                Encoding::Gsm7,
                2,
            ),
            ("Ça coûte 5€", Encoding::Ucs2, 1),
            (&"é".repeat(200), Encoding::Gsm7, 2),
            (&"ж".repeat(70), Encoding::Ucs2, 1),
            (&"ж".repeat(71), Encoding::Ucs2, 2),
            (&"ж".repeat(134), Encoding::Ucs2, 2),
            (&"ж".repeat(135), Encoding::Ucs2, 3),
            // Emoji are surrogate pairs (two code units): 35 fill one message.
            (&"😀".repeat(35), Encoding::Ucs2, 1),
            (&"😀".repeat(36), Encoding::Ucs2, 2),
            // 66 units then a pair: the pair is not split.
            (&format!("{}😀", "ж".repeat(66)), Encoding::Ucs2, 1),
            (&format!("{}😀😀", "ж".repeat(66)), Encoding::Ucs2, 1),
            (&format!("{}😀😀😀", "ж".repeat(66)), Encoding::Ucs2, 2),
        ];
        for (body, encoding, expected) in cases {
            assert_eq!(segments(body), (*encoding, *expected), "{body:?}");
        }
    }
}
