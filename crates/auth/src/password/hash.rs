//! Password hashes: argon2id in PHC format for every new hash, and
//! verification of the formats other systems export (bcrypt, PBKDF2 and
//! scrypt PHC, argon2i and argon2d), so imported users can log in once and
//! be rehashed. The KDFs are RustCrypto's (bcrypt: the `bcrypt` crate);
//! none is written here.

use std::cell::RefCell;

use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;

/// argon2id's cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    /// Whether argon2 accepts these (memory at least 8 KiB per lane, at
    /// least one pass and one lane, at most 2^24 - 1 lanes); the refusal
    /// reads as a configuration error.
    pub fn validate(&self) -> Result<(), String> {
        self.argon2_params().map(|_| ()).map_err(|e| {
            format!(
                "argon2 refuses m={} KiB, t={}, p={}: {e} (memory must be at least 8 KiB per \
                 lane, iterations and parallelism at least 1)",
                self.memory_kib, self.iterations, self.parallelism
            )
        })
    }

    fn argon2_params(&self) -> Result<Params, argon2::Error> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
    }

    fn argon2(&self) -> Argon2<'static> {
        let params = self
            .argon2_params()
            .expect("argon2 parameters are validated with the configuration");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Whether `hash` is argon2id v=19 with exactly these costs.
    fn produced(&self, hash: &PasswordHash) -> bool {
        hash.algorithm.as_str() == Algorithm::Argon2id.as_str()
            && hash.version == Some(Version::V0x13.into())
            && Params::try_from(hash).is_ok_and(|p| {
                (p.m_cost(), p.t_cost(), p.p_cost())
                    == (self.memory_kib, self.iterations, self.parallelism)
            })
    }
}

/// What checking a candidate password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub matches: bool,
    /// The password matched a hash this configuration would not produce
    /// (another algorithm, or other costs): store a fresh one.
    pub needs_rehash: bool,
}

impl Verified {
    const NO: Self = Self {
        matches: false,
        needs_rehash: false,
    };

    fn matched(rehash: bool) -> Self {
        Self {
            matches: true,
            needs_rehash: rehash,
        }
    }
}

thread_local! {
    /// This thread's argon2 memory, kept from one hash to the next: a
    /// hash worker fills the same 19 MiB every time rather than allocating
    /// (and faulting in, and zeroing) a fresh buffer per hash, and the
    /// process holds one buffer per worker instead of whatever the
    /// allocator's arenas keep of freed ones.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// The most memory a thread keeps between hashes, in 1 KiB blocks: an
/// imported hash with larger costs gets a buffer of its own, freed after.
const KEPT_BLOCKS: usize = 64 * 1024;

/// argon2 of `password` and `salt` into `out`, in this thread's memory.
fn argon2_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let blocks = argon.params().block_count();
    if blocks > KEPT_BLOCKS {
        let mut own = vec![Block::new(); blocks];
        return argon.hash_password_into_with_memory(password, salt, out, &mut own[..]);
    }
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

/// A new argon2id (v=19) PHC string with a random 16-byte salt and a
/// 32-byte output, as the `argon2` crate's own hasher makes them.
pub fn hash_password(params: Argon2Params, password: &str) -> String {
    let argon = params.argon2();
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's randomness");
    let mut out = [0u8; 32];
    argon2_into(&argon, password.as_bytes(), &salt, &mut out)
        .expect("argon2id hashing with validated parameters");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).expect("argon2 parameters as PHC"),
        salt: Some(Salt::new(&salt).expect("a 16-byte salt")),
        hash: Some(Output::new(&out).expect("a 32-byte output")),
    }
    .to_string()
}

/// An argon2 hash (any variant and version, its own costs) checked in this
/// thread's memory; the outputs are compared in constant time.
fn verify_argon2(hash: &PasswordHash, password: &[u8]) -> bool {
    let (Ok(algorithm), Some(salt), Some(expected)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        hash.salt.as_ref(),
        hash.hash.as_ref(),
    ) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or(Version::V0x13),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.as_ref().len()];
    argon2_into(&argon, password, salt.as_ref(), &mut out).is_ok()
        && bool::from(out.ct_eq(expected.as_ref()))
}

/// Checks `candidate` against `phc`. Only the right password matches; a
/// malformed or unknown hash matches nothing.
pub fn verify_password(params: Argon2Params, phc: &str, candidate: &str) -> Verified {
    if is_bcrypt(phc) {
        return match bcrypt::verify(candidate.as_bytes(), phc) {
            Ok(true) => Verified::matched(true),
            _ => Verified::NO,
        };
    }
    let Ok(hash) = PasswordHash::new(phc) else {
        return Verified::NO;
    };
    let password = candidate.as_bytes();
    // Each verifier runs the algorithm the hash names (the variant, the
    // digest), with the hash's own costs.
    let checked = match hash.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => {
            if verify_argon2(&hash, password) {
                Ok(())
            } else {
                Err(argon2::password_hash::Error::PasswordInvalid)
            }
        }
        "pbkdf2-sha256" | "pbkdf2-sha512" => {
            pbkdf2::Pbkdf2::SHA256.verify_password(password, &hash)
        }
        "scrypt" => scrypt::Scrypt::new().verify_password(password, &hash),
        _ => return Verified::NO,
    };
    match checked {
        Ok(()) => Verified::matched(!params.produced(&hash)),
        Err(_) => Verified::NO,
    }
}

/// Whether `phc` names an algorithm [`verify_password`] runs: a login
/// verifies a hash that is not against the dummy instead, so that such a
/// user costs as much as an unknown one.
pub fn verifiable(phc: &str) -> bool {
    is_bcrypt(phc)
        || PasswordHash::new(phc).is_ok_and(|hash| {
            matches!(
                hash.algorithm.as_str(),
                "argon2id" | "argon2i" | "argon2d" | "pbkdf2-sha256" | "pbkdf2-sha512" | "scrypt"
            )
        })
}

/// `$2a$`, `$2b$` and `$2y$` are bcrypt as OpenBSD defines it; `$2x$`
/// (crypt_blowfish's buggy 8-bit variant) is not, and is refused.
fn is_bcrypt(phc: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| phc.starts_with(p))
}

#[cfg(test)]
mod tests;
