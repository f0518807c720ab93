//! G.711 µ-law (PCMU) and A-law (PCMA), written here rather than taken from a crate (one
//! published encoder produced non-standard codes; ours is checked against the reference tables).
//!
//! The algorithms are those of Sun Microsystems' public-domain `g711.c`, the usual reference
//! implementation of ITU-T G.711: decoding is exact (one value per code); encoding picks the
//! segment by comparison against the segment end points and truncates within the segment.

#[cfg(test)]
mod reference;

/// The two G.711 companding laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law, RTP payload type 0 (PCMU).
    Mu,
    /// A-law, RTP payload type 8 (PCMA).
    A,
}

impl Law {
    /// The static RTP payload type of this law.
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Mu => 0,
            Law::A => 8,
        }
    }

    /// The code that decodes to (near) zero, used to fill gaps with silence.
    pub fn silence_code(self) -> u8 {
        match self {
            Law::Mu => 0xFF,
            Law::A => 0xD5,
        }
    }

    /// Encodes one linear 16-bit sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mu => ulaw_encode(sample),
            Law::A => alaw_encode(sample),
        }
    }

    /// Decodes one code to a linear 16-bit sample.
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Law::Mu => ulaw_decode(code),
            Law::A => alaw_decode(code),
        }
    }

    /// Encodes a run of samples, appending to `out`.
    pub fn encode_into(self, samples: &[i16], out: &mut Vec<u8>) {
        out.extend(samples.iter().map(|&s| self.encode(s)));
    }

    /// Decodes a run of codes, appending to `out`.
    pub fn decode_into(self, codes: &[u8], out: &mut Vec<i16>) {
        out.extend(codes.iter().map(|&c| self.decode(c)));
    }
}

const BIAS: i32 = 0x84;
const CLIP: i32 = 8159;
const ULAW_SEGMENT_ENDS: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const ALAW_SEGMENT_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

fn segment(value: i32, ends: &[i32; 8]) -> Option<i32> {
    ends.iter().position(|&end| value <= end).map(|s| s as i32)
}

/// Encodes a linear 16-bit sample to µ-law (14-bit magnitude, biased by 33).
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut value = i32::from(sample) >> 2;
    let mask = if value < 0 {
        value = -value;
        0x7F
    } else {
        0xFF
    };
    value = value.min(CLIP) + (BIAS >> 2);
    match segment(value, &ULAW_SEGMENT_ENDS) {
        Some(seg) => (((seg << 4) | ((value >> (seg + 1)) & 0xF)) ^ mask) as u8,
        None => (0x7F ^ mask) as u8,
    }
}

/// Decodes a µ-law code to a linear 16-bit sample (range ±32124).
pub fn ulaw_decode(code: u8) -> i16 {
    let code = i32::from(!code);
    let magnitude = (((code & 0x0F) << 3) + BIAS) << ((code & 0x70) >> 4);
    let value = if code & 0x80 != 0 {
        BIAS - magnitude
    } else {
        magnitude - BIAS
    };
    // The largest magnitude is (0x78 + 0x84) << 7 - 0x84 = 32124, which fits an i16.
    value as i16
}

/// Encodes a linear 16-bit sample to A-law (13-bit magnitude).
pub fn alaw_encode(sample: i16) -> u8 {
    let mut value = i32::from(sample) >> 3;
    let mask = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    match segment(value, &ALAW_SEGMENT_ENDS) {
        Some(seg) => {
            let shift = if seg < 2 { 1 } else { seg };
            (((seg << 4) | ((value >> shift) & 0xF)) ^ mask) as u8
        }
        None => (0x7F ^ mask) as u8,
    }
}

/// Decodes an A-law code to a linear 16-bit sample (range ±32256).
pub fn alaw_decode(code: u8) -> i16 {
    let code = i32::from(code ^ 0x55);
    let mut magnitude = (code & 0x0F) << 4;
    let seg = (code & 0x70) >> 4;
    magnitude = match seg {
        0 => magnitude + 8,
        1 => magnitude + 0x108,
        _ => (magnitude + 0x108) << (seg - 1),
    };
    // The largest magnitude is (0xF0 + 0x108) << 6 = 32256, which fits an i16.
    if code & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

#[cfg(test)]
mod tests {
    use super::reference::{ALAW_DECODE, ENCODE_VECTORS, ULAW_DECODE};
    use super::*;

    #[test]
    fn decode_tables_match_the_reference_for_all_256_codes() {
        for code in 0..=255u8 {
            let i = usize::from(code);
            assert_eq!(ulaw_decode(code), ULAW_DECODE[i], "µ-law code {code:#04x}");
            assert_eq!(alaw_decode(code), ALAW_DECODE[i], "A-law code {code:#04x}");
        }
    }

    #[test]
    fn itu_t_spot_values() {
        // (law, code, linear): end points and zeros from ITU-T G.711 Tables 1a/2a scaled to 16 bits.
        let cases = [
            (Law::Mu, 0x80, 32124),
            (Law::Mu, 0x00, -32124),
            (Law::Mu, 0xFF, 0),
            (Law::Mu, 0x7F, 0),
            (Law::Mu, 0xFE, 8),
            (Law::Mu, 0x7E, -8),
            (Law::A, 0xD5, 8),
            (Law::A, 0x55, -8),
            (Law::A, 0xAA, 32256),
            (Law::A, 0x2A, -32256),
        ];
        for (law, code, linear) in cases {
            assert_eq!(law.decode(code), linear, "{law:?} {code:#04x}");
        }
    }

    #[test]
    fn encoder_matches_reference_vectors() {
        for (input, mu, a) in ENCODE_VECTORS {
            assert_eq!(ulaw_encode(input), mu, "µ-law encode {input}");
            assert_eq!(alaw_encode(input), a, "A-law encode {input}");
        }
    }

    #[test]
    fn encode_of_decode_is_identity() {
        for code in 0..=255u8 {
            // µ-law has two zeros (0x7F is "negative zero"); both decode to 0, which encodes to 0xFF.
            let expected_mu = if code == 0x7F { 0xFF } else { code };
            assert_eq!(
                ulaw_encode(ulaw_decode(code)),
                expected_mu,
                "µ-law {code:#04x}"
            );
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    proptest::proptest! {
        #[test]
        fn quantisation_error_is_bounded_by_the_segment_step(sample in proptest::num::i16::ANY) {
            for law in [Law::Mu, Law::A] {
                let code = law.encode(sample);
                let decoded = i32::from(law.decode(code));
                let error = (decoded - i32::from(sample)).abs();
                // The step at a code is the distance to its neighbour in the same segment.
                let neighbour = i32::from(law.decode(code ^ 1));
                let step = (decoded - neighbour).abs().max(16);
                let clip = match law { Law::Mu => 32124, Law::A => 32256 };
                let overflow = (i32::from(sample).abs() - clip).max(0);
                proptest::prop_assert!(error <= step + overflow, "{law:?} {sample} -> {code:#04x} -> {decoded}");
            }
        }
    }
}
