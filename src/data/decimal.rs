//! Plain decimals (`-12.345`) read fast, bit for bit as `str::parse` reads them: the CSV reader's
//! hot path. Anything else is left to `str::parse`.

/// A plain decimal (`-12.345`: an optional sign, at most 15 digits, an optional point, no
/// exponent) as f64, exactly as `str::parse` reads it, faster: its digits make an integer below
/// 2^53 and the power of ten is exact, so one division rounds correctly (Clinger's fast path).
/// None for anything else, which `str::parse` then reads.
pub(super) fn plain_decimal(b: &[u8]) -> Option<f64> {
    scan_decimal(b, 0)
        .filter(|&(_, end)| end == b.len())
        .map(|(v, _)| v)
}

/// The plain decimal (as [`plain_decimal`] reads it) that is the whole field starting at byte
/// `start` of `line`, where fields end at a comma or the line's end, and where the field ends;
/// None for anything else.
#[inline]
pub(super) fn scan_decimal(line: &[u8], start: usize) -> Option<(f64, usize)> {
    let (neg, m, frac, end) = scan_parts(line, start)?;
    let v = m as i64 as f64 / POW10[frac];
    Some((if neg { -v } else { v }, end))
}

/// [`scan_decimal`]'s value as f32, bit for bit what `as f32` makes of it, mostly without its
/// division: the digits times the nearest f64 to 10^-frac is within 2.5 f64 units in the last
/// place of the correctly rounded quotient (two roundings of at most one unit each, and the
/// quotient's own half), so where it is further than that from the midway point between two f32s
/// (the low 29 bits of its f64 significand, 2^28 at the midway point) both round to the same f32;
/// near a midway point (a few in 10^8 values) the quotient is computed as before. The CSV fast
/// path reads a line's fields with it as it scans them.
#[inline]
pub(super) fn scan_decimal_f32(line: &[u8], start: usize) -> Option<(f32, usize)> {
    const INV10: [f64; 16] = [
        1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13,
        1e-14, 1e-15,
    ];
    let (neg, m, frac, end) = scan_parts(line, start)?;
    // Below 10^15: converted as a signed integer, in one instruction.
    let (m, frac) = (m as i64 as f64, frac.min(15));
    let y = m * INV10[frac];
    let low = y.to_bits() & ((1 << 29) - 1);
    let v = match low.abs_diff(1 << 28) > 8 {
        true => y as f32,
        false => (m / POW10[frac]) as f32,
    };
    Some((if neg { -v } else { v }, end))
}

const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A plain decimal field's parts: its sign, its digits as an integer (below 10^15), the digits
/// after the point, and where the field ends (at a comma or the line's end).
#[inline(always)]
fn scan_parts(line: &[u8], start: usize) -> Option<(bool, u64, usize, usize)> {
    let mut i = start;
    let neg = match line.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    // Digits beyond 15 wrap the integer harmlessly: the field is refused below.
    let mut m = 0u64;
    let digits = |i: &mut usize, m: &mut u64| {
        let from = *i;
        // Eight bytes at a time where the line has them.
        while let Some(chunk) = line.get(*i..*i + 8) {
            let (n, value) = leading_digits(u64::from_le_bytes(chunk.try_into().unwrap()));
            if n == 0 {
                return *i - from;
            }
            *m = m.wrapping_mul(POW10_INT[n]).wrapping_add(value);
            *i += n;
            if n < 8 {
                return *i - from;
            }
        }
        while let Some(&c) = line.get(*i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            *m = m.wrapping_mul(10).wrapping_add(d as u64);
            *i += 1;
        }
        *i - from
    };
    let whole = digits(&mut i, &mut m);
    let mut frac = 0;
    if line.get(i) == Some(&b'.') {
        i += 1;
        frac = digits(&mut i, &mut m);
    }
    let n = whole + frac;
    if n == 0 || n > 15 || !matches!(line.get(i), None | Some(b',')) {
        return None;
    }
    Some((neg, m, frac, i))
}

const POW10_INT: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// How many of the eight bytes `v` (the first in its lowest byte) are ASCII digits before the
/// first that is not, and the number they make. A byte below `0` sets its high bit when `0` is
/// subtracted, one above `9` when 0x46 is added; a borrow or a carry moves only to later bytes.
#[inline(always)]
fn leading_digits(v: u64) -> (usize, u64) {
    let digits = v.wrapping_sub(0x3030_3030_3030_3030);
    let other = (digits | v.wrapping_add(0x4646_4646_4646_4646)) & 0x8080_8080_8080_8080;
    let n = (other.trailing_zeros() / 8) as usize;
    if n == 0 {
        return (0, 0);
    }
    // The n digits in the top bytes, zeros (leading zeros) below them.
    let d = digits << (64 - 8 * n);
    // Pairs, then fours, then the eight (fast_float's eight-digit step).
    let d = d.wrapping_mul(10).wrapping_add(d >> 8);
    let d = ((d & 0x0000_00ff_0000_00ff)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((d >> 16) & 0x0000_00ff_0000_00ff).wrapping_mul(1 + (10_000 << 32))))
        >> 32;
    (n, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimals_read_as_str_parse_reads_them() {
        let mut rng = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "+1",
            "5.",
            ".5",
            "0.1",
            "-0.123457",
            "999999999999999",
            "1.00000000000001",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..200_000 {
            let digits = 1 + next() % 15;
            let m = next() % 10u64.pow(digits as u32);
            let s = format!("{m:0width$}", width = digits as usize);
            let at = (next() % (digits + 1)) as usize;
            let sign = ["", "-", "+"][(next() % 3) as usize];
            texts.push(format!("{sign}{}.{}", &s[..at], &s[at..]));
        }
        for t in &texts {
            let want: f64 = t.parse().unwrap();
            assert_eq!(
                plain_decimal(t.as_bytes()).map(f64::to_bits),
                Some(want.to_bits()),
                "{t}"
            );
        }
        for t in &texts {
            let want = t.parse::<f64>().unwrap() as f32;
            assert_eq!(
                scan_decimal_f32(t.as_bytes(), 0).map(|(v, _)| v.to_bits()),
                Some(want.to_bits()),
                "{t}"
            );
        }
        for t in [
            "",
            "-",
            ".",
            "1e5",
            "1.2.3",
            "1234567890123456",
            "NaN",
            "inf",
            "0x1",
            " 1",
        ] {
            assert_eq!(plain_decimal(t.as_bytes()), None, "{t}");
        }
    }

    /// The f32 reader against `str::parse` then `as f32`, bit for bit, on random decimals and on
    /// decimals next to the midway points between f32s (where the double rounding of the
    /// quotient, first to f64, decides).
    #[test]
    fn plain_decimals_as_f32_round_as_str_parse_then_as_f32() {
        let mut rng = 0x2545f4914f6cdd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut texts = Vec::new();
        for _ in 0..1_000_000 {
            let digits = 1 + next() % 15;
            let m = next() % 10u64.pow(digits as u32);
            let s = format!("{m:0width$}", width = digits as usize);
            let at = (next() % (digits + 1)) as usize;
            let sign = ["", "-"][(next() % 2) as usize];
            texts.push(format!("{sign}{}.{}", &s[..at], &s[at..]));
        }
        // Midway between an f32 and the next, written with `frac` digits after the point: the
        // nearest such decimal, and its neighbours.
        for _ in 0..1_000_000 {
            let a = f32::from_bits((next() % 0x4e00_0000) as u32 + 0x2000_0000);
            let mid = (a as f64 + f32::from_bits(a.to_bits() + 1) as f64) / 2.0;
            let frac = (next() % 15) as i32;
            let m = (mid * 10f64.powi(frac)).round();
            if !(1.0..1e15).contains(&m) {
                continue;
            }
            for m in [m as u64 - 1, m as u64, m as u64 + 1] {
                let s = format!("{m:0width$}", width = frac as usize + 1);
                let at = s.len() - frac as usize;
                texts.push(format!("{}.{}", &s[..at], &s[at..]));
            }
        }
        let mut slow = 0;
        for t in &texts {
            let want = t.parse::<f64>().unwrap() as f32;
            let got = scan_decimal_f32(t.as_bytes(), 0).map(|(v, _)| v);
            assert_eq!(got.map(f32::to_bits), Some(want.to_bits()), "{t}");
            let y = t.parse::<f64>().unwrap();
            slow += ((y.to_bits() & ((1 << 29) - 1)).abs_diff(1 << 28) <= 8) as usize;
        }
        assert!(slow > 1000, "only {slow} decimals near a midway point");
    }

    #[test]
    fn leading_digits_stop_at_any_other_byte() {
        for p in 0..8 {
            for b in 0..=255u8 {
                let mut bytes = *b"31415926";
                bytes[p] = b;
                let (n, v) = leading_digits(u64::from_le_bytes(bytes));
                let want = bytes.iter().take_while(|c| c.is_ascii_digit()).count();
                assert_eq!(n, want, "{bytes:?}");
                let text = std::str::from_utf8(&bytes[..n]).unwrap();
                assert_eq!(v, text.parse::<u64>().unwrap_or(0), "{bytes:?}");
            }
        }
    }
}
