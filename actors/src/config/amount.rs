//! [`PinAmount`]: a token amount written in whole PIN (an integer, or a decimal string with at
//! most 18 fractional digits), held exactly in base units.

use std::fmt;

use pinpoint_chain::PIN;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Fractional digits of one PIN (18 decimals).
pub const PIN_DECIMALS: usize = 18;

/// An amount of PIN in base units (10⁻¹⁸ PIN). In TOML: `1000` or `"0.25"` (whole PIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PinAmount(pub u128);

impl PinAmount {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// `n` whole PIN (saturating at `u128::MAX` base units).
    pub fn whole(n: u64) -> Self {
        Self(u128::from(n).saturating_mul(PIN))
    }

    /// Base units.
    pub fn base_units(self) -> u128 {
        self.0
    }

    /// Parses whole PIN written as `123`, `123.5` or `0.000000000000000001`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || (s.contains('.') && frac.is_empty()) {
            return Err(format!(
                "{s:?} is not an amount of PIN (write e.g. 1000 or \"0.25\")"
            ));
        }
        if frac.len() > PIN_DECIMALS {
            return Err(format!(
                "{s:?} has more than {PIN_DECIMALS} decimals (the token's precision)"
            ));
        }
        let too_large = || format!("{s:?} is too large an amount of PIN");
        let whole: u128 = int.parse().map_err(|_| too_large())?;
        let mut frac_units: u128 = 0;
        for (i, b) in frac.bytes().enumerate() {
            let place = 10u128.pow((PIN_DECIMALS - 1 - i) as u32);
            frac_units += u128::from(b - b'0') * place;
        }
        whole
            .checked_mul(PIN)
            .and_then(|w| w.checked_add(frac_units))
            .map(Self)
            .ok_or_else(too_large)
    }
}

impl fmt::Display for PinAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / PIN;
        let frac = self.0 % PIN;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let frac = format!("{frac:018}");
        write!(f, "{whole}.{}", frac.trim_end_matches('0'))
    }
}

impl Serialize for PinAmount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PinAmount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PinAmount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount of PIN: an integer or a decimal string such as \"0.25\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PinAmount, E> {
                u64::try_from(v)
                    .map(PinAmount::whole)
                    .map_err(|_| E::custom(format!("{v} is negative")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PinAmount, E> {
                Ok(PinAmount::whole(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PinAmount, E> {
                PinAmount::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_exactly() {
        assert_eq!(PinAmount::parse("1000"), Ok(PinAmount::whole(1000)));
        assert_eq!(PinAmount::parse("0.25").map(|a| a.0), Ok(PIN / 4));
        assert_eq!(PinAmount::parse("0.000000000000000001").map(|a| a.0), Ok(1));
        assert_eq!(PinAmount(PIN / 4).to_string(), "0.25");
        assert_eq!(PinAmount::whole(7).to_string(), "7");
        for bad in ["", "-1", "1.", ".5", "1e3", "0.0000000000000000001", "abc"] {
            assert!(PinAmount::parse(bad).is_err(), "{bad:?}");
        }
        assert!(PinAmount::parse(&"9".repeat(40)).is_err());
    }
}
