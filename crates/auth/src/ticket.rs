//! One-time secrets handed to a client (authorization codes, reset
//! tickets, refresh tokens): 256 random bits, stored only as their SHA-256
//! digest, so a copy of the database opens no session. A plain digest
//! suffices (no salt, no KDF): the secret is random, not a password.

use sha2::{Digest, Sha256};

use crate::keys::KeyError;
use crate::secret::random_token;

/// A fresh secret and its digest.
pub fn new_ticket() -> Result<(String, Vec<u8>), KeyError> {
    let secret = random_token(32)?;
    let digest = digest(&secret);
    Ok((secret, digest))
}

/// What is stored of a secret and what it is looked up by.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_random_and_stored_as_their_digest() {
        let (a, da) = new_ticket().unwrap();
        let (b, db) = new_ticket().unwrap();
        assert_ne!(a, b);
        assert_eq!(da.len(), 32);
        assert_eq!(digest(&a), da);
        assert_ne!(da, db);
        assert!(!da.windows(a.len().min(32)).any(|w| w == a.as_bytes()));
    }
}
