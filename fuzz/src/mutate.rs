//! How a case changes between rounds: byte-level edits that parsers of headers, keys and JSON
//! trip on, applied to one or two fields at a time.

use rand::Rng;
use rand::rngs::StdRng;

use crate::engine::{Case, Target};

/// Bytes that delimit or end something in the formats under test.
const INTERESTING_BYTES: &[u8] = b",=; \t\r\n\"\\{}[]:0179aAzZ+/-_%\x00\x7f\xff";

/// Numbers at the edges of what the parsers read (u64, u32, i64, signs, leading zeros).
const INTERESTING_NUMBERS: &[&[u8]] = &[
    b"0",
    b"1",
    b"-1",
    b"+1",
    b"00",
    b"299",
    b"300",
    b"301",
    b"4294967295",
    b"4294967296",
    b"9223372036854775807",
    b"18446744073709551615",
    b"18446744073709551616",
    b"1e400",
    b"-0.0",
    b"1.7976931348623157e308",
];

/// Edits `case` in place: one to four edits spread over one or two of its fields.
pub fn mutate(rng: &mut StdRng, case: &mut Case, donor: &Case, target: &Target) {
    if case.fields.len() < target.fields.len() {
        case.fields.resize(target.fields.len(), Vec::new());
    }
    let fields = rng.gen_range(1..=2);
    for _ in 0..fields {
        let index = rng.gen_range(0..case.fields.len());
        let donor_field = donor.field(index).to_vec();
        let edits = rng.gen_range(1..=4);
        for _ in 0..edits {
            edit(
                rng,
                &mut case.fields[index],
                &donor_field,
                target.dictionary,
            );
        }
        case.fields[index].truncate(target.max_field_len);
    }
}

fn edit(rng: &mut StdRng, field: &mut Vec<u8>, donor: &[u8], dictionary: &[&[u8]]) {
    let len = field.len();
    let at = |rng: &mut StdRng, len: usize| if len == 0 { 0 } else { rng.gen_range(0..len) };
    let at_or_end = |rng: &mut StdRng, len: usize| rng.gen_range(0..=len);
    match rng.gen_range(0..13) {
        // Flip one bit.
        0 if len > 0 => {
            let i = at(rng, len);
            field[i] ^= 1 << rng.gen_range(0..8);
        }
        // Overwrite a byte with one that delimits something.
        1 if len > 0 => {
            let i = at(rng, len);
            field[i] = INTERESTING_BYTES[rng.gen_range(0..INTERESTING_BYTES.len())];
        }
        // Overwrite a byte with any byte.
        2 if len > 0 => {
            let i = at(rng, len);
            field[i] = rng.r#gen();
        }
        // Insert a few random bytes.
        3 => {
            let i = at_or_end(rng, len);
            let n = rng.gen_range(1..=8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.r#gen()).collect();
            field.splice(i..i, bytes);
        }
        // Delete a range.
        4 if len > 0 => {
            let i = at(rng, len);
            let n = rng.gen_range(1..=(len - i).min(16));
            field.drain(i..i + n);
        }
        // Duplicate a range in place.
        5 if len > 0 => {
            let i = at(rng, len);
            let n = rng.gen_range(1..=(len - i).min(32));
            let copy = field[i..i + n].to_vec();
            field.splice(i..i, copy);
        }
        // Insert one of the target's tokens.
        6 if !dictionary.is_empty() => {
            let i = at_or_end(rng, len);
            let token = dictionary[rng.gen_range(0..dictionary.len())];
            field.splice(i..i, token.iter().copied());
        }
        // Replace a run of digits (or insert) with a number at an edge.
        7 => {
            let number = INTERESTING_NUMBERS[rng.gen_range(0..INTERESTING_NUMBERS.len())];
            let start = field.iter().position(u8::is_ascii_digit);
            match start {
                Some(start) if rng.gen_bool(0.8) => {
                    let end = field[start..]
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .map_or(field.len(), |n| start + n);
                    field.splice(start..end, number.iter().copied());
                }
                _ => {
                    let i = at_or_end(rng, len);
                    field.splice(i..i, number.iter().copied());
                }
            }
        }
        // Cut the tail.
        8 if len > 0 => field.truncate(at(rng, len)),
        // Change the case of an ASCII letter (hex, base64, key bodies care).
        9 if len > 0 => {
            let i = at(rng, len);
            if field[i].is_ascii_alphabetic() {
                field[i] ^= 0x20;
            }
        }
        // Splice in a piece of the same field of another case.
        10 if !donor.is_empty() => {
            let from = at(rng, donor.len());
            let n = rng.gen_range(1..=(donor.len() - from).min(64));
            let i = at_or_end(rng, len);
            field.splice(i..i, donor[from..from + n].iter().copied());
        }
        // Take the other case's field whole.
        11 => *field = donor.to_vec(),
        // Swap two bytes.
        _ if len > 1 => {
            let (i, j) = (at(rng, len), at(rng, len));
            field.swap(i, j);
        }
        _ => field.push(rng.r#gen()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn target() -> Target {
        Target {
            name: "t",
            fields: &["a", "b"],
            dictionary: &[b"t="],
            seeds: || vec![Case::new([b"abc", b"123"])],
            check: |_| "ok",
            max_field_len: 64,
        }
    }

    #[test]
    fn the_same_seed_makes_the_same_mutations() {
        let target = target();
        let seed = Case::new([b"t=1764000000,v1=00ff", b"hello"]);
        let run = |s| {
            let mut rng = StdRng::seed_from_u64(s);
            (0..200)
                .map(|_| {
                    let mut case = seed.clone();
                    mutate(&mut rng, &mut case, &seed, &target);
                    case
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn fields_stay_within_the_target_limit() {
        let target = target();
        let mut rng = StdRng::seed_from_u64(1);
        let mut case = Case::new([b"x", b""]);
        for _ in 0..2000 {
            let donor = case.clone();
            mutate(&mut rng, &mut case, &donor, &target);
            assert!(case.fields.iter().all(|f| f.len() <= 64));
        }
    }
}
