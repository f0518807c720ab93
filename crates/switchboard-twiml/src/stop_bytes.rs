//! Finding the first byte of a run that needs a closer look, eight bytes at a time.
//!
//! Attribute values are short runs of ordinary bytes ended by one of a few special ones.
//! Testing them one by one through a table cost several instructions a byte; reading them as
//! one `u64` and testing all eight lanes with a few word operations (the SWAR bit tricks
//! `memchr`'s own portable fallback uses) costs well under one. `memchr::memchr3` was the
//! alternative, but it finds exact bytes only (this search also needs "any byte below `(`"),
//! and its set-up costs more than a value takes to scan. (Tried for `<Say>` text too, where it
//! lost: single spaces stop it every few bytes.)

/// Eight copies of `byte`.
const fn splat(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

const HIGH_BITS: u64 = splat(0x80);

/// The high bit of each lane of `word` that is below `limit` (`limit` at most 0x80). Lanes
/// above the lowest flagged one can be flagged wrongly (a borrow carries into them), but the
/// lowest flagged lane is always right, and that is the only one [`find_below_or`] uses.
const fn below(word: u64, limit: u8) -> u64 {
    word.wrapping_sub(splat(limit)) & !word & HIGH_BITS
}

/// The high bit of each lane of `word` equal to `byte`, with the same caveat as [`below`]:
/// the lanes equal to `byte` are the zero lanes of `word ^ splat(byte)`.
const fn equal(word: u64, byte: u8) -> u64 {
    below(word ^ splat(byte), 1)
}

/// The index of the first byte of `bytes`, at or after `from`, that is below `limit` or equal
/// to `byte`. `limit` is at most 0x80, so the bytes of non-ASCII characters never match and
/// the index is always a character boundary. Inlined so that the constants fold.
#[inline(always)]
pub(crate) fn find_below_or(bytes: &[u8], from: usize, limit: u8, byte: u8) -> Option<usize> {
    debug_assert!(limit <= 0x80);
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        // Little-endian, so the first byte of the chunk is the lowest lane on every target.
        // `chunk` is 8 bytes long, so the conversion cannot fail.
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let found = below(word, limit) | equal(word, byte);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = bytes.get(at..).unwrap_or_default();
    tail.iter()
        .position(|&b| b < limit || b == byte)
        .map(|found| at + found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every position of every kind of match, against a byte-by-byte search, including a second
    /// match right after the first (where a borrow lands) and runs shorter than a word.
    #[test]
    fn finds_the_first_match_like_a_byte_by_byte_search() {
        let fillers: &[u8] = b"a (\x7f\x80\xff~";
        let specials: &[u8] = b"\"<&'\t\n\r \x00\x27";
        for (limit, byte) in [(b'(', b'<'), (b'!', b' '), (0x80, b'\xff'), (1, 0)] {
            let is_match = |b: u8| b < limit || b == byte;
            for length in 0..20 {
                for &filler in fillers {
                    for position in 0..=length {
                        for &special in specials {
                            let mut bytes = vec![filler; length];
                            if position < length {
                                bytes[position] = special;
                                if position + 1 < length {
                                    bytes[position + 1] = 0;
                                }
                            }
                            for from in 0..=length {
                                let expected = (from..length).find(|&i| is_match(bytes[i]));
                                let found = find_below_or(&bytes, from, limit, byte);
                                assert_eq!(found, expected, "{bytes:?} from {from}");
                            }
                        }
                    }
                }
            }
        }
    }
}
