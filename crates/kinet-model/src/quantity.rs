//! `resource.Quantity` (k8s.io/apimachinery/pkg/api/resource): parsing, the
//! canonical form `Quantity.String()` prints, and the milli-value.
//!
//! A quantity is kept as its value in nano-units, rounded away from zero as
//! upstream rounds what is below a nano, with the format it was written in
//! (which decides how it prints).

use std::fmt;

use serde_json::Value;

/// The suffix family a quantity was written with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    /// `m`, `k`, `M`, `G`… or no suffix.
    DecimalSI,
    /// `Ki`, `Mi`, `Gi`…
    BinarySI,
    /// `e3`, `E-2`…
    DecimalExponent,
}

/// A parsed quantity.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

const NANO: i128 = 1_000_000_000;

/// `value / d` rounded away from zero.
fn div_away(value: i128, d: i128) -> i128 {
    let q = value.abs() / d + i128::from(value.abs() % d != 0);
    if value < 0 { -q } else { q }
}

impl Quantity {
    /// `resource.ParseQuantity` (leading and trailing blanks allowed). None when
    /// the text is not a quantity or its value does not fit.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (neg, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, suffix) = rest.split_at(num_end);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        let digits = format!("{int_part}{frac_part}");
        let trimmed = digits.trim_start_matches('0');
        let mantissa: i128 = if trimmed.is_empty() {
            0
        } else {
            trimmed.parse().ok()?
        };
        let scale = i32::try_from(frac_part.len()).ok()?;
        // value = mantissa * 10^(-scale) * 10^dec_exp * 2^bin_exp
        let (format, dec_exp, bin_exp): (Format, i32, u32) = match suffix {
            "" => (Format::DecimalSI, 0, 0),
            "n" => (Format::DecimalSI, -9, 0),
            "u" => (Format::DecimalSI, -6, 0),
            "m" => (Format::DecimalSI, -3, 0),
            "k" => (Format::DecimalSI, 3, 0),
            "M" => (Format::DecimalSI, 6, 0),
            "G" => (Format::DecimalSI, 9, 0),
            "T" => (Format::DecimalSI, 12, 0),
            "P" => (Format::DecimalSI, 15, 0),
            "E" => (Format::DecimalSI, 18, 0),
            "Ki" => (Format::BinarySI, 0, 10),
            "Mi" => (Format::BinarySI, 0, 20),
            "Gi" => (Format::BinarySI, 0, 30),
            "Ti" => (Format::BinarySI, 0, 40),
            "Pi" => (Format::BinarySI, 0, 50),
            "Ei" => (Format::BinarySI, 0, 60),
            other => {
                let exp = other.strip_prefix(['e', 'E'])?;
                let e: i32 = exp.parse().ok()?;
                if !(-40..=40).contains(&e) {
                    return None;
                }
                (Format::DecimalExponent, e, 0)
            }
        };
        // nanos = mantissa * 2^bin * 10^(9 + dec_exp - scale)
        let mut v = mantissa.checked_mul(2i128.checked_pow(bin_exp)?)?;
        let shift = 9i32.checked_add(dec_exp)?.checked_sub(scale)?;
        if shift >= 0 {
            v = v.checked_mul(10i128.checked_pow(shift.unsigned_abs())?)?;
        } else {
            v = div_away(v, 10i128.checked_pow(shift.unsigned_abs())?);
        }
        Some(Quantity {
            nanos: if neg { -v } else { v },
            format,
        })
    }

    /// A quantity in JSON: a string, or a number (as `resources: {cpu: 1}` sends).
    pub fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Self::parse(s),
            Value::Number(n) => Self::parse(&n.to_string()),
            _ => None,
        }
    }

    /// The value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The format it was written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// `Quantity.MilliValue()`: the value in thousandths, rounded away from zero.
    pub fn milli(&self) -> i128 {
        div_away(self.nanos, NANO / 1000)
    }

    /// Whether the value is a whole number of units.
    pub fn is_integer(&self) -> bool {
        self.nanos % NANO == 0
    }

    /// `Quantity.String()` in canonical form (`1000m` → `1`, `1024Mi` → `1Gi`).
    pub fn canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".to_string();
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.abs();
        if self.format == Format::BinarySI && abs >= 1024 * NANO && abs % NANO == 0 {
            let units = abs / NANO;
            let suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
            let mut k = 0u32;
            while (k as usize) + 1 < suffixes.len() && units % 1024i128.pow(k + 1) == 0 {
                k += 1;
            }
            return format!("{sign}{}{}", units / 1024i128.pow(k), suffixes[k as usize]);
        }
        // Largest multiple-of-3 exponent that leaves an integer mantissa.
        let mut e: i32 = -9;
        while e < 18 && abs % 10i128.pow((e + 12).unsigned_abs()) == 0 {
            e += 3;
        }
        let mantissa = abs / 10i128.pow((e + 9).unsigned_abs());
        let suffix = match (self.format, e) {
            (Format::DecimalExponent, 0) => String::new(),
            (Format::DecimalExponent, e) => format!("e{e}"),
            (_, -9) => "n".into(),
            (_, -6) => "u".into(),
            (_, -3) => "m".into(),
            (_, 0) => String::new(),
            (_, 3) => "k".into(),
            (_, 6) => "M".into(),
            (_, 9) => "G".into(),
            (_, 12) => "T".into(),
            (_, 15) => "P".into(),
            _ => "E".into(),
        };
        format!("{sign}{mantissa}{suffix}")
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// The quantity `q` in thousandths (`500m` → 500, `1` → 1000, `1Ki` → 1 024 000),
/// rounded away from zero; None when `q` is not a quantity.
pub fn milli_value(q: &str) -> Option<i128> {
    Quantity::parse(q).map(|q| q.milli())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(s: &str) -> Option<String> {
        Quantity::parse(s).map(|q| q.canonical())
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canon("1000m").as_deref(), Some("1"));
        assert_eq!(canon("0.5").as_deref(), Some("500m"));
        assert_eq!(canon("1500m").as_deref(), Some("1500m"));
        assert_eq!(canon("1000").as_deref(), Some("1k"));
        assert_eq!(canon("1200").as_deref(), Some("1200"));
        assert_eq!(canon("1024Mi").as_deref(), Some("1Gi"));
        assert_eq!(canon("1.5Gi").as_deref(), Some("1536Mi"));
        assert_eq!(canon("512").as_deref(), Some("512"));
        assert_eq!(canon("0.5Ki").as_deref(), Some("512"));
        assert_eq!(canon("1e3").as_deref(), Some("1e3"));
        assert_eq!(canon("-1Mi").as_deref(), Some("-1Mi"));
        assert_eq!(canon("0").as_deref(), Some("0"));
        assert_eq!(canon("1E").as_deref(), Some("1E"));
        assert_eq!(canon(" 2 ").as_deref(), Some("2"));
        assert_eq!(canon("+3k").as_deref(), Some("3k"));
        assert_eq!(canon("1n").as_deref(), Some("1n"));
        assert_eq!(canon("0.0000000001").as_deref(), Some("1n"));
        let two = Quantity::parse("2").map(|q| q.nanos());
        let almost = Quantity::parse("1999m").map(|q| q.nanos());
        assert!(two > almost);
        assert_eq!(
            Quantity::parse("64Mi").map(|q| q.to_string()).as_deref(),
            Some("64Mi")
        );
    }

    #[test]
    fn refuses_what_is_not_a_quantity() {
        for bad in [
            "", "abc", "1x", ".", "1..2", "m", "-", "1e41", "1e", "1 k", "1-2",
        ] {
            assert!(Quantity::parse(bad).is_none(), "{bad:?}");
        }
        // Too big for the nano-unit integer.
        assert!(Quantity::parse("999999999999999999999999999999Ei").is_none());
    }

    #[test]
    fn json_quantities_and_formats() {
        assert_eq!(
            Quantity::from_json(&json!(2)).map(|q| q.canonical()),
            Some("2".into())
        );
        assert_eq!(
            Quantity::from_json(&json!(0.5)).map(|q| q.canonical()),
            Some("500m".into())
        );
        assert_eq!(
            Quantity::from_json(&json!("1Gi")).map(|q| q.format()),
            Some(Format::BinarySI)
        );
        assert!(Quantity::from_json(&json!(null)).is_none());
        assert!(Quantity::from_json(&json!({"a": 1})).is_none());
        assert_eq!(Quantity::parse("3").map(|q| q.is_integer()), Some(true));
        assert_eq!(Quantity::parse("500m").map(|q| q.is_integer()), Some(false));
    }

    #[test]
    fn milli_values_as_the_node_reads_them() {
        assert_eq!(milli_value("250m"), Some(250));
        assert_eq!(milli_value("2"), Some(2000));
        assert_eq!(milli_value("0.5"), Some(500));
        assert_eq!(milli_value("1Ki"), Some(1_024_000));
        assert_eq!(milli_value("64Mi"), Some(64 * 1024 * 1024 * 1000));
        assert_eq!(milli_value("1G"), Some(1_000_000_000_000));
        assert_eq!(milli_value("1e3"), Some(1_000_000));
        assert_eq!(milli_value("1.5e3"), Some(1_500_000));
        assert_eq!(milli_value("128974848"), Some(128_974_848_000));
        assert_eq!(milli_value("129e6"), Some(129_000_000_000));
        assert_eq!(milli_value("123Mi"), Some(123 * 1024 * 1024 * 1000));
        assert_eq!(milli_value(" 1 "), Some(1000));
        assert_eq!(milli_value("x"), None);
        // Below a thousandth rounds away from zero, as upstream's MilliValue.
        assert_eq!(milli_value("0.0001"), Some(1));
        assert_eq!(milli_value("1u"), Some(1));
        assert_eq!(milli_value("-0.5m"), Some(-1));
        assert_eq!(milli_value("-2"), Some(-2000));
        assert_eq!(milli_value("1Ei"), Some((1i128 << 60) * 1000));
    }
}
