//! The cryptography of accounts: argon2id password hashes and session tokens.
//!
//! Hashing is deliberately slow and memory-hard, so it runs on tokio's blocking pool behind a
//! semaphore ([`Hasher`]): a crowd of password logins waits its turn instead of taking every
//! thread and `MAX_CONCURRENT_HASHES` × 19 MiB of memory at most. Passwords are never logged
//! and never kept: they are dropped once hashed or checked.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::Semaphore;

/// argon2id memory per hash, in KiB: 19 MiB, OWASP's recommended minimum for argon2id
/// (Password Storage Cheat Sheet: m=19 MiB, t=2, p=1), which puts an attacker's GPU at a few
/// thousand guesses a second per card instead of billions.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;

/// argon2id passes over that memory (OWASP's pairing for 19 MiB).
pub const ARGON2_PASSES: u32 = 2;

/// argon2id lanes: one, as the hash runs on one blocking thread (the server's parallelism is
/// across logins, not inside one).
pub const ARGON2_LANES: u32 = 1;

/// Hashes running at once. Two cores hash two passwords at a time; more would only queue
/// inside the CPU and add 19 MiB each. Logins beyond wait for a permit.
pub const MAX_CONCURRENT_HASHES: usize = 2;

/// Random bytes in a session token: 256 bits, far beyond guessing (the floor is 128).
pub const TOKEN_BYTES: usize = 32;

/// Why hashing failed (never because of the password's content: the length is checked
/// before).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// argon2 refused its input or parameters.
    #[error("password hashing failed: {0}")]
    Argon2(String),
    /// The blocking task did not finish.
    #[error("password hashing was interrupted: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The server is stopping.
    #[error("the server is stopping")]
    Closed,
}

fn argon2() -> Argon2<'static> {
    // The parameters are constants known to be valid.
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .unwrap_or_else(|_| Params::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `password` with a fresh random salt (blocking: tens of milliseconds).
pub fn hash_password(password: &str) -> Result<String, HashError> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

/// Whether `password` matches the PHC string `phc` (blocking; the comparison of the
/// outputs is constant-time inside argon2's verifier).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Runs hashes on the blocking pool, [`MAX_CONCURRENT_HASHES`] at a time.
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher { permits: Arc::new(Semaphore::new(MAX_CONCURRENT_HASHES)) }
    }
}

impl Hasher {
    /// Hashes a new password.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Closed)?;
        tokio::task::spawn_blocking(move || hash_password(&password)).await?
    }

    /// Checks a password against a stored hash.
    pub async fn verify(&self, password: String, phc: Arc<str>) -> Result<bool, HashError> {
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Closed)?;
        Ok(tokio::task::spawn_blocking(move || verify_password(&password, &phc)).await?)
    }
}

/// A new session token and the hash it is stored under.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; TOKEN_BYTES];
    // The system's random source does not fail on a working system; if it did, a token of
    // zeros must not be handed out, so the process stops.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        panic!("the system's random number generator failed");
    }
    let token = base64url(&bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// The stored form of a token: hex SHA-256. A token carries 256 random bits, so a fast hash
/// is enough (nothing to guess from it), and the database never holds a usable token.
pub fn token_hash(token: &str) -> String {
    hex(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

/// `bytes` as lower-case hex digits.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// Base64url without padding (RFC 4648 §5): tokens travel in JSON and URLs unescaped.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash_password("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct hors", &phc));
        assert!(!verify_password("correct horse", "not a phc string"));
        assert_ne!(phc, hash_password("correct horse").expect("hash"), "salted");
    }

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(ha, token_hash(&a));
        assert_eq!(ha.len(), 64);
        assert_ne!(ha, a);
    }

    #[test]
    fn base64url_matches_the_rfc_vectors() {
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }
}
