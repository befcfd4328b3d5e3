//! Kubernetes resource quantities (`100m`, `1.5`, `512Mi`, `1e3`, `2k`) parsed exactly.
//!
//! Scheduling compares integers the way kube-scheduler does: CPU in millicores
//! (`Quantity.MilliValue()`, rounded up) and everything else in whole units
//! (`Quantity.Value()`, rounded up). Floats would make `0.1 + 0.2` CPUs not fit
//! in `300m`, so the arithmetic here is decimal on `i128`.

/// Why a quantity string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {0:?}")]
pub struct QuantityError(pub String);

/// `q` in millis (`MilliValue()`), rounded up.
pub fn parse_milli(q: &str) -> Result<i64, QuantityError> {
    parse_scaled(q, 3)
}

/// `q` in whole units (`Value()`), rounded up.
pub fn parse_value(q: &str) -> Result<i64, QuantityError> {
    parse_scaled(q, 0)
}

/// `ceil(q * 10^out_scale)`, saturating at `i64::MAX` as Kubernetes does for huge values.
fn parse_scaled(q: &str, out_scale: i32) -> Result<i64, QuantityError> {
    let err = || QuantityError(q.to_string());
    let s = q.trim();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(num_end);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
        return Err(err());
    }
    // Kubernetes keeps at most 18 significant digits; more than ~36 cannot be exact in i128.
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 36 {
        return Err(err());
    }
    let mantissa: i128 = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| err())? };
    let mut exp10 = out_scale - frac_part.len() as i32;
    let mut mantissa = mantissa;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = match suffix {
                "Ki" => 10,
                "Mi" => 20,
                "Gi" => 30,
                "Ti" => 40,
                "Pi" => 50,
                _ => 60,
            };
            mantissa = mantissa.checked_mul(1i128 << power).ok_or_else(err)?;
        }
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..].parse().map_err(|_| err())?;
            exp10 = exp10.checked_add(exp).ok_or_else(err)?;
        }
        _ => return Err(err()),
    }
    if negative && mantissa != 0 {
        // Requests and capacities are never negative; the API server rejects them too.
        return Err(err());
    }
    Ok(scale_ceil(mantissa, exp10))
}

fn scale_ceil(mantissa: i128, exp10: i32) -> i64 {
    if mantissa == 0 {
        return 0;
    }
    let value = if exp10 >= 0 {
        let mut v = mantissa;
        for _ in 0..exp10 {
            match v.checked_mul(10) {
                Some(n) if n <= i64::MAX as i128 => v = n,
                _ => return i64::MAX,
            }
        }
        v
    } else if -exp10 > 38 {
        1 // any positive amount below one unit rounds up to one
    } else {
        let div = 10i128.pow((-exp10) as u32);
        (mantissa + div - 1) / div
    };
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_in_millis_rounds_up() {
        assert_eq!(parse_milli("100m"), Ok(100));
        assert_eq!(parse_milli("1"), Ok(1000));
        assert_eq!(parse_milli("0.5"), Ok(500));
        assert_eq!(parse_milli("1.0005"), Ok(1001));
        assert_eq!(parse_milli("250000u"), Ok(250));
        assert_eq!(parse_milli("1n"), Ok(1));
        assert_eq!(parse_milli("2k"), Ok(2_000_000));
        assert_eq!(parse_milli("0"), Ok(0));
    }

    #[test]
    fn memory_in_bytes_with_binary_and_decimal_suffixes() {
        assert_eq!(parse_value("1Ki"), Ok(1024));
        assert_eq!(parse_value("512Mi"), Ok(512 << 20));
        assert_eq!(parse_value("1.5Gi"), Ok(3 << 29));
        assert_eq!(parse_value("1G"), Ok(1_000_000_000));
        assert_eq!(parse_value("129e6"), Ok(129_000_000));
        assert_eq!(parse_value("1E3"), Ok(1000));
        assert_eq!(parse_value("100m"), Ok(1), "a fraction of a unit rounds up");
        assert_eq!(parse_value("10E"), Ok(i64::MAX), "saturates like resource.Quantity");
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in ["", "abc", "1.2.3", "1Qi", "-1", "1e", "."] {
            assert!(parse_value(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
