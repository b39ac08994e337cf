//! The vehicle's words as field kinds (`shared::fields::Kind::Custom`):
//! a VIN, a licence plate and a model year, each with its check, a sample
//! and its schema. The platform knows none of them.

use bson::Bson;
use serde_json::{json, Value};
use shared::error::FieldError;
use shared::fields::{string, whole, Custom};

/// A vehicle identification number, stored upper-cased (see [`vin`]).
pub static VIN: Custom = Custom {
    parse: |name, v| Ok(Bson::String(vin(name, string(name, v)?)?)),
    sample: || Value::from("1M8GDM9AXKP042788"),
    schema: || json!({ "type": "string", "minLength": 11, "maxLength": 17, "description": "A vehicle identification number (17 characters since 1981; the North American check digit is verified)." }),
    json_type: "string",
};

/// A licence plate, stored as it is compared: upper-cased, without spaces
/// and dashes (see [`plate`]).
pub static PLATE: Custom = Custom {
    parse: |name, v| Ok(Bson::String(plate(name, string(name, v)?)?)),
    sample: || Value::from("B-SA 123"),
    schema: || json!({ "type": "string", "minLength": 1, "maxLength": 20 }),
    json_type: "string",
};

/// A vehicle's model year: 1886 (the first car) to next year.
pub static MODEL_YEAR: Custom = Custom {
    parse: |name, v| {
        let max = shared::validate::current_year() + 1;
        let n = whole(v).filter(|n| (1886..=max).contains(n));
        Ok(Bson::Int64(n.ok_or_else(|| {
            FieldError::new(name, format!("must be a year from 1886 to {max}"))
        })?))
    },
    sample: || Value::from(2020),
    schema: || json!({ "type": "integer", "minimum": 1886 }),
    json_type: "integer",
};

/// A vehicle identification number: 17 characters of `A-Z` and `0-9`
/// without I, O and Q (never valid, as they read like 1 and 0), upper-cased.
/// North American VINs (first character 1 to 5) must carry the ISO 3779 /
/// 49 CFR 565 check digit in position 9; elsewhere position 9 is free.
pub fn vin(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim().to_ascii_uppercase();
    let allowed = |c: char| c.is_ascii_digit() || (c.is_ascii_uppercase() && !"IOQ".contains(c));
    if v.chars().count() != 17 || !v.chars().all(allowed) {
        return Err(FieldError::new(
            field,
            "must be 17 letters and digits (never I, O or Q)",
        ));
    }
    if v.starts_with(['1', '2', '3', '4', '5']) && v.as_bytes()[8] != vin_check_digit(&v) {
        return Err(FieldError::new(
            field,
            "has a wrong check digit (position 9) for a North American VIN",
        ));
    }
    Ok(v)
}

/// The check digit position 9 of a VIN must hold: the weighted sum of the
/// transliterated characters modulo 11, `X` for 10.
fn vin_check_digit(vin: &str) -> u8 {
    const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    let value = |c: u8| -> u32 {
        match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'H' => u32::from(c - b'A') + 1,
            b'J'..=b'N' => u32::from(c - b'J') + 1,
            b'P' => 7,
            b'R' => 9,
            b'S'..=b'Z' => u32::from(c - b'S') + 2,
            _ => 0,
        }
    };
    let sum: u32 = vin.bytes().zip(WEIGHTS).map(|(c, w)| value(c) * w).sum();
    match sum % 11 {
        10 => b'X',
        n => b'0' + n as u8,
    }
}

/// A licence plate as it is compared: upper-cased, spaces and dashes
/// removed, 1 to 15 letters and digits (any script: `MÜ AB 12` is
/// `MÜAB12`).
pub fn plate(field: &str, value: &str) -> Result<String, FieldError> {
    let p: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    let n = p.chars().count();
    if !(1..=15).contains(&n) || !p.chars().all(char::is_alphanumeric) {
        return Err(FieldError::new(
            field,
            "must be 1 to 15 letters and digits (spaces and dashes are ignored)",
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_north_american_vin_needs_its_check_digit() {
        assert_eq!(
            vin("vin", " 1m8gdm9axkp042788 ").unwrap(),
            "1M8GDM9AXKP042788"
        );
        assert!(vin("vin", "1HGCM82633A004352").is_ok());
        assert!(vin("vin", "11111111111111111").is_ok());
        // One character changed: the check digit no longer holds.
        assert!(vin("vin", "1HGCM82633A004353").is_err());
        assert!(vin("vin", "1M8GDM9A1KP042788").is_err());
        // Outside North America position 9 is free.
        assert!(vin("vin", "WVWZZZ1JZXW000001").is_ok());
        // I, O and Q are never valid; 17 characters exactly.
        assert!(vin("vin", "WVWZZZ1JZXW00000I").is_err());
        assert!(vin("vin", "WVWZZZ1JZXW00000").is_err());
        assert!(vin("vin", "WVWZZZ1JZXW0000001").is_err());
    }

    #[test]
    fn a_plate_is_compared_without_case_spaces_and_dashes() {
        assert_eq!(plate("plate", " b-sa 123 ").unwrap(), "BSA123");
        assert_eq!(plate("plate", "mü ab 12").unwrap(), "MÜAB12");
        assert!(plate("plate", " - ").is_err());
        assert!(plate("plate", "AB.12").is_err());
        assert!(plate("plate", &"A".repeat(16)).is_err());
    }
}
