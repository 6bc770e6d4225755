//! Whole numbers written as decimals (`2.0`, `1e3`) are integers to JSON Schema, and so
//! to the OpenAPI document; serde's integer types refuse them (`invalid type: floating
//! point 2.0, expected u64`). [`WholeNumbers`] rewrites each such number of a JSON text
//! to its integer form as the body streams in (`2.0` → `2`, `-1.50e2` → `-150`,
//! `1e3` → `1000`), so `{"max_active": 2.0}` means what the schema says it means. A
//! number with a fraction is left as it is: `2.5` for an integer field is still refused,
//! and a field documented as a decimal number reads `2` as well as `2.0`. Strings are
//! never touched, escapes included; a number split across chunks is held until it ends.

/// The longest integer this rewrite writes (digits); longer ones are left to serde,
/// which refuses them for every integer type of the API anyway.
const MAX_DIGITS: usize = 19;

/// A streaming rewrite of whole decimal numbers into integers (see the module's docs).
#[derive(Debug, Default)]
pub struct WholeNumbers {
    in_string: bool,
    escaped: bool,
    /// The bytes of a number not yet ended (a chunk may end inside one).
    number: Vec<u8>,
}

impl WholeNumbers {
    /// Rewrites `chunk`, appending to `out`; a number still open at its end is kept for
    /// the next chunk or [`WholeNumbers::finish`].
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &b in chunk {
            if !self.number.is_empty() {
                if matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    self.number.push(b);
                    continue;
                }
                self.flush(out);
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                out.push(b);
            } else if b == b'"' {
                self.in_string = true;
                out.push(b);
            } else if matches!(b, b'0'..=b'9' | b'-') {
                self.number.push(b);
            } else {
                out.push(b);
            }
        }
    }

    /// Writes a number the text ended with.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.flush(out);
    }

    fn flush(&mut self, out: &mut Vec<u8>) {
        match integer_form(&self.number) {
            Some(int) => out.extend_from_slice(int.as_bytes()),
            None => out.extend_from_slice(&self.number),
        }
        self.number.clear();
    }
}

/// The integer a JSON number token writes as a decimal, when it is whole (`None` when it
/// is already an integer, has a fraction, is malformed, or is too long to rewrite).
fn integer_form(token: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(token).ok()?;
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None if exponent.is_some() => (mantissa, ""),
        None => return None, // an integer already
    };
    let well_formed = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && (int == "0" || !int.starts_with('0'))
        && (exponent.is_some() || !frac.is_empty())
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    let exp: i64 = match exponent {
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            e.strip_prefix('+').unwrap_or(e).parse().ok()?
        }
        None => 0,
    };
    // value = (int frac as one digit string) × 10^(exp − len(frac))
    let mut digits = format!("{int}{frac}");
    let shift = exp - i64::try_from(frac.len()).ok()?;
    if shift >= 0 {
        let zeros = usize::try_from(shift).ok()?;
        if digits.len() + zeros > MAX_DIGITS + 40 {
            return None;
        }
        digits.extend(std::iter::repeat_n('0', zeros));
    } else {
        let cut = usize::try_from(-shift).ok()?;
        if cut > digits.len() {
            // Every digit is after the point: whole only when all are zero.
            if !digits.bytes().all(|b| b == b'0') {
                return None;
            }
            digits = "0".to_owned();
        } else {
            let (kept, dropped) = digits.split_at(digits.len() - cut);
            if !dropped.bytes().all(|b| b == b'0') {
                return None;
            }
            digits = kept.to_owned();
        }
    }
    let trimmed = digits.trim_start_matches('0');
    let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
    if trimmed.len() > MAX_DIGITS {
        return None;
    }
    Some(if negative {
        format!("-{trimmed}")
    } else {
        trimmed.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(text: &str) -> String {
        let mut w = WholeNumbers::default();
        let mut out = Vec::new();
        w.feed(text.as_bytes(), &mut out);
        w.finish(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn whole_decimals_become_integers_and_fractions_stay() {
        let cases = [
            ("2.0", "2"),
            ("2.000", "2"),
            ("-3.0", "-3"),
            ("0.0", "0"),
            ("-0.0", "-0"),
            ("1e3", "1000"),
            ("1E+3", "1000"),
            ("-1.50e2", "-150"),
            ("15186.0", "15186"),
            ("1500e-2", "15"),
            ("0e5", "0"),
            ("2.5", "2.5"),
            ("1.5e0", "1.5e0"),
            ("15e-1", "15e-1"),
            ("671076.0292975939", "671076.0292975939"),
            ("7", "7"),
            ("-7", "-7"),
            ("1e400", "1e400"),
            ("1e99", "1e99"),
            ("01.0", "01.0"),
            ("1.", "1."),
            ("-", "-"),
            ("1e", "1e"),
        ];
        for (input, want) in cases {
            assert_eq!(rewrite(input), want, "{input}");
        }
    }

    #[test]
    fn strings_and_escapes_are_left_alone() {
        let text = r#"{"name":"2.0 \"3.0\" \\","max_active": 2.0,"k":["1.0",1.0]}"#;
        assert_eq!(
            rewrite(text),
            r#"{"name":"2.0 \"3.0\" \\","max_active": 2,"k":["1.0",1]}"#
        );
    }

    #[test]
    fn a_body_split_at_any_byte_rewrites_the_same() {
        let text = r#"{"paused": true, "admit_per_seat": 671076.0292975939, "max_active": 2.0, "active_ttl_seconds": 15186.0, "name": "a\"1.0", "pow_difficulty": 12.0}"#;
        let whole = rewrite(text);
        assert!(whole.contains(r#""max_active": 2,"#), "{whole}");
        assert!(whole.contains(r#""name": "a\"1.0""#), "{whole}");
        for cut in 0..=text.len() {
            let mut w = WholeNumbers::default();
            let mut out = Vec::new();
            w.feed(&text.as_bytes()[..cut], &mut out);
            w.feed(&text.as_bytes()[cut..], &mut out);
            w.finish(&mut out);
            assert_eq!(
                String::from_utf8(out).unwrap_or_default(),
                whole,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn the_rewritten_body_reads_as_the_integers_the_schema_allows() {
        #[derive(serde::Deserialize)]
        struct Policy {
            max_active: u64,
            admit_per_seat: f64,
        }
        let p: Policy =
            serde_json::from_str(&rewrite(r#"{"max_active": 2.0e1, "admit_per_seat": 1.0}"#))
                .unwrap_or(Policy {
                    max_active: 0,
                    admit_per_seat: 0.0,
                });
        assert_eq!(p.max_active, 20);
        assert!((p.admit_per_seat - 1.0).abs() < f64::EPSILON);
    }
}
