//! Passwords: bcrypt through the crate's non-truncating functions, so a
//! password over bcrypt's 72-byte input limit is refused, never silently cut.

use crate::error::{ApiError, FieldError, OrInternal};

pub const MIN_BYTES: usize = 10;
/// bcrypt reads at most 72 bytes, including its terminating NUL.
pub const MAX_BYTES: usize = 71;

/// Checks a new password's length in bytes.
pub fn check_new(field: &str, password: &str) -> Result<(), FieldError> {
    let n = password.len();
    if n < MIN_BYTES {
        Err(FieldError::new(
            field,
            format!("must be at least {MIN_BYTES} bytes long"),
        ))
    } else if n > MAX_BYTES {
        Err(FieldError::new(
            field,
            format!("must be at most {MAX_BYTES} bytes long"),
        ))
    } else {
        Ok(())
    }
}

/// Hashes off the async threads (bcrypt is deliberately slow).
pub async fn hash(password: String, cost: u32) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || bcrypt::non_truncating_hash(password, cost))
        .await
        .internal("hash task")?
        .internal("bcrypt")
}

/// True when `password` matches `hash`. A malformed hash or an over-long
/// password is a mismatch.
pub async fn verify(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        bcrypt::non_truncating_verify(password, &hash).unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// The cost a stored hash was made with.
pub fn cost_of(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

/// A bcrypt hash of a random password at the configured cost, made once
/// per instance: an unknown email is verified against it, so it takes as
/// long as a wrong password.
pub async fn dummy_hash(state: &crate::state::State) -> Result<String, ApiError> {
    state
        .dummy_hash
        .get_or_try_init(|| async {
            let mut bytes = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            let random = crate::hex::hex(&bytes);
            hash(random, state.config.bcrypt_cost).await
        })
        .await
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_of_72_bytes_is_refused_not_truncated() {
        assert!(check_new("password", &"a".repeat(72)).is_err());
        assert!(check_new("password", &"a".repeat(71)).is_ok());
    }

    #[test]
    fn a_password_under_10_bytes_is_refused() {
        assert!(check_new("password", "123456789").is_err());
        assert!(check_new("password", "1234567890").is_ok());
    }

    #[test]
    fn multibyte_characters_count_as_bytes() {
        // 24 three-byte characters: 72 bytes.
        assert!(check_new("password", &"€".repeat(24)).is_err());
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_records_its_cost() {
        let h = hash("correct horse battery".into(), 4).await.unwrap();
        assert!(verify("correct horse battery".into(), h.clone()).await);
        assert!(!verify("wrong horse battery".into(), h.clone()).await);
        assert_eq!(cost_of(&h), Some(4));
    }
}
