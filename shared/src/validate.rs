//! Parse, don't validate: each input kind has a `parse` that returns the clean
//! value or a [`FieldError`] naming the field, and [`Errors`] collects them so
//! one response lists every invalid field.

use bson::oid::ObjectId;

use crate::error::Code;
use crate::error::{ApiError, FieldError};

/// Collects field errors across a whole input.
#[derive(Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value, or records its error and returns `None`.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many errors are recorded so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `Ok` when nothing was recorded, else a 422 listing every field.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation { errors: self.0 })
        }
    }
}

/// Trimmed text of `min..=max` characters without control characters
/// (newlines and tabs are allowed only when `multiline`).
pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<String, FieldError> {
    bounded(field, value, min, max, false)
}

pub fn multiline(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    bounded(field, value, 0, max, true)
}

fn bounded(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
    lines: bool,
) -> Result<String, FieldError> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min {
        return Err(FieldError::new(
            field,
            if min == 1 {
                "must not be empty".to_string()
            } else {
                format!("must be at least {min} characters")
            },
        ));
    }
    if n > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && !(lines && (c == '\n' || c == '\t' || c == '\r')))
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_string())
}

/// An email address, lower-cased. Deliberately simple: one `@`, a non-empty
/// local part, a dotted domain, no spaces, at most 254 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, value: &str) -> Result<Email, FieldError> {
        let v = value.trim().to_lowercase();
        let bad = || FieldError::new(field, "must be a valid email address");
        if v.is_empty()
            || v.chars().count() > 254
            || v.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad());
        }
        let (local, domain) = v.split_once('@').ok_or_else(bad)?;
        // An address only (RFC 5322's dot-atom on both sides), never a
        // mailbox with a display name (`x<victim@example.test>`) or a
        // route, so the stored address is exactly where mail goes.
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
        let dot_atom = |s: &str, ok: &dyn Fn(char) -> bool| {
            !s.is_empty()
                && s.split('.')
                    .all(|atom| !atom.is_empty() && atom.chars().all(ok))
        };
        let label = |l: &str| {
            l.chars().count() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if local.len() > 64
            || !dot_atom(local, &atext)
            || !domain.contains('.')
            || !dot_atom(domain, &|c| c.is_alphanumeric() || c == '-')
            || !domain.split('.').all(label)
        {
            return Err(bad());
        }
        Ok(Email(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An `http` or `https` URL with a host, at most 2,048 characters.
/// A web origin: `http` or `https`, a host, an optional port, nothing
/// after (browsers send exactly this in `Origin`); lower-cased.
pub fn origin(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim().to_ascii_lowercase();
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"));
    let ok = rest.is_some_and(|host| {
        let (h, port) = host.split_once(':').unwrap_or((host, "1"));
        !h.is_empty()
            && h.len() <= 253
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && port.parse::<u16>().is_ok_and(|p| p > 0)
    });
    if !ok {
        return Err(FieldError::new(
            field,
            "must be origins such as https://www.example.com (scheme, host, optional port; no path)",
        ));
    }
    Ok(v)
}

pub fn url(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    let bad = || FieldError::new(field, "must be an http:// or https:// URL");
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || v.len() > 2048 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    Ok(v.to_string())
}

/// This year (UTC).
pub fn current_year() -> i64 {
    bson::DateTime::now()
        .try_to_rfc3339_string()
        .ok()
        .and_then(|s| s.get(..4).and_then(|y| y.parse().ok()))
        .unwrap_or(2026)
}

/// A phone number as people write it: digits, spaces and `+ - ( ) .`, with
/// 3 to 20 digits.
pub fn phone(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    let digits = v.chars().filter(char::is_ascii_digit).count();
    let allowed = v
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !allowed || !(3..=20).contains(&digits) || v.len() > 32 {
        return Err(FieldError::new(
            field,
            "must be a phone number (digits, spaces and + - ( ) .)",
        ));
    }
    Ok(v.to_string())
}

/// A percentage as people write it (`10`, `12.5`, `7.25`): a JSON number
/// greater than 0 and at most 100, with at most two decimals, read exactly
/// from its digits (never through a float) into basis points (`12.5` is
/// 1250).
pub fn percent_bps(field: &str, value: &serde_json::Value) -> Result<i64, FieldError> {
    let bad = || {
        FieldError::new(
            field,
            "must be a number greater than 0 and at most 100, with at most two decimals",
        )
    };
    let serde_json::Value::Number(n) = value else {
        return Err(bad());
    };
    let text = n.to_string();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let digits = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    let fraction = fraction.trim_end_matches('0');
    if !digits(whole) || fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let hundredths: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
    let bps = whole * 100 + hundredths;
    if !(1..=10_000).contains(&bps) {
        return Err(bad());
    }
    Ok(bps)
}

/// A 24-hex ObjectId from a path or query parameter; anything else is a 400.
pub fn object_id(field: &str, value: &str) -> Result<ObjectId, ApiError> {
    if value.len() != 24 {
        return Err(ApiError::bad_field(
            Code::InvalidId,
            field,
            "must be a 24-character hex id",
        ));
    }
    ObjectId::parse_str(value)
        .map_err(|_| ApiError::bad_field(Code::InvalidId, field, "must be a 24-character hex id"))
}

/// A PATCH field: absent (leave as is), `null` (clear) or a value (set).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Patch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(d).map(|o| o.map_or(Patch::Null, Patch::Value))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_percentage_is_read_exactly_into_basis_points() {
        let bps = |v: serde_json::Value| percent_bps("percent", &v).ok();
        assert_eq!(bps(serde_json::json!(10)), Some(1_000));
        assert_eq!(bps(serde_json::json!(12.5)), Some(1_250));
        assert_eq!(bps(serde_json::json!(0.07)), Some(7));
        assert_eq!(bps(serde_json::json!(100)), Some(10_000));
        assert_eq!(bps(serde_json::json!(7.125)), None);
        assert_eq!(bps(serde_json::json!(0)), None);
        assert_eq!(bps(serde_json::json!(100.01)), None);
        assert_eq!(bps(serde_json::json!(-5)), None);
        assert_eq!(bps(serde_json::json!(1e300)), None);
        assert_eq!(bps(serde_json::json!("10")), None);
    }

    use super::*;

    #[test]
    fn a_patch_field_tells_absent_from_null_from_a_value() {
        #[derive(serde::Deserialize)]
        struct P {
            #[serde(default)]
            a: Patch<String>,
        }
        let p = |s: &str| serde_json::from_str::<P>(s).unwrap().a;
        assert_eq!(p("{}"), Patch::Absent);
        assert_eq!(p(r#"{"a": null}"#), Patch::Null);
        assert_eq!(p(r#"{"a": "x"}"#), Patch::Value("x".into()));
    }

    #[test]
    fn an_email_is_lowercased_and_trimmed() {
        assert_eq!(
            Email::parse("e", " Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
    }

    #[test]
    fn an_email_without_a_dotted_domain_is_rejected() {
        for bad in [
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "a@b@c.com",
            "ann@.com",
            "ann@example..com",
            "x<victim@example.test>",
            "Victim <victim@example.test>",
            "\"quoted\"@example.test",
            "a(comment)@example.test",
            "victim@example.test>",
            "victim@[127.0.0.1]",
            "@route:victim@example.test",
            ".ann@example.com",
            "ann.@example.com",
            "a..b@example.com",
            "ann@-example.com",
            "ann@example.com,other@example.com",
            "ann@exa_mple.com",
        ] {
            assert!(Email::parse("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ordinary_addresses_are_accepted() {
        for good in [
            "ann@example.com",
            "ann.lee+crm@mail.example.co.uk",
            "o'brien@example.ie",
            "x_y-z@sub-domain.example.test",
            "user@bücher.example",
        ] {
            assert!(Email::parse("e", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn text_is_trimmed_and_counted_in_characters() {
        assert_eq!(text("n", "  Garage  ", 1, 200).unwrap(), "Garage");
        assert!(text("n", "   ", 1, 200).is_err());
        assert!(text("n", &"é".repeat(200), 1, 200).is_ok());
        assert!(text("n", &"é".repeat(201), 1, 200).is_err());
    }

    #[test]
    fn text_with_control_characters_is_rejected_unless_multiline() {
        assert!(text("n", "a\u{0}b", 0, 10).is_err());
        assert!(text("n", "a\nb", 0, 10).is_err());
        assert!(multiline("n", "a\nb", 10).is_ok());
    }

    #[test]
    fn a_url_needs_an_http_scheme_and_a_host() {
        assert!(url("w", "https://garage.example/about").is_ok());
        assert!(url("w", "javascript:alert(1)").is_err());
        assert!(url("w", "https://").is_err());
        assert!(url("w", "ftp://x.example").is_err());
    }

    #[test]
    fn a_phone_number_allows_common_punctuation_only() {
        assert!(phone("p", "+49 (30) 1234-567").is_ok());
        assert!(phone("p", "12").is_err());
        assert!(phone("p", "call me").is_err());
    }

    #[test]
    fn an_id_that_is_not_24_hex_characters_is_a_400() {
        assert!(object_id("id", "65a1b2c3d4e5f60718293a4b").is_ok());
        let e = object_id("id", "not-an-id").unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
        assert!(object_id("id", "zza1b2c3d4e5f60718293a4b").is_err());
    }
}
