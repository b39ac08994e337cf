//! Lower-case hexadecimal of bytes: token digests, idempotency and request
//! ids, random suffixes. One line of hand code, kept over the `hex` crate
//! since encoding is all the project needs of it.

/// `bytes` as lower-case hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_become_two_lower_case_digits_each() {
        assert_eq!(super::hex(&[0, 15, 171, 255]), "000fabff");
        assert_eq!(super::hex(&[]), "");
    }
}
