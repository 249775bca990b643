//! Known answers from independent implementations: Python 3.11 `hashlib`
//! (PBKDF2, scrypt), the `bcrypt` 5.0.0 package, `argon2-cffi` 25.1.0 (the
//! reference C argon2). The `$2y$` vector is a `$2b$` hash with PHP's
//! prefix, which names the same algorithm. Every vector hashes
//! [`PASSWORD`] except the `$2a$` one, which hashes [`UNICODE_PASSWORD`].

use super::*;

const PASSWORD: &str = "correct horse battery staple";
const UNICODE_PASSWORD: &str = "pässwörd-ünïcode";

const BCRYPT_2B: &str = "$2b$04$W8tgpHnS3WUjt.g8Qgypp.JaLG4nSXh04w4Ps7Qtr/oB8vwhsaYq.";
const BCRYPT_2A_UNICODE: &str = "$2a$05$54eHQq37u/07a4MWlkqZke7arG.5haPWs24d.Qafo4axZOVqzVJVe";
const BCRYPT_2Y: &str = "$2y$04$ZgVZDdJF/f02MgUt.UPI.ubwuRN86zlYXfVZManKSxB346.lJZ3aq";
const PBKDF2_SHA256: &str =
    "$pbkdf2-sha256$i=1000,l=32$AAECAwQFBgcICQoLDA0ODw$ppsXnjrdPB4KryJ6DrOqKqhkWrhv7PbKAMF1Eml8cZ4";
const PBKDF2_SHA512: &str = "$pbkdf2-sha512$i=1000,l=64$AAECAwQFBgcICQoLDA0ODw$A6AmFIti7CKlYdoPiV9jf1d9llp37o27Wms8Zx8fwMJGCOigJzAthOW3Pg+XF5PnNiYnsQsIz1N5NtynrEm78w";
const SCRYPT: &str =
    "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU";
const ARGON2I: &str = "$argon2i$v=19$m=19456,t=2,p=1$AAECAwQFBgcICQoLDA0ODw$dYFSDMHe7r6j8bNX+Py4zNJ4v3iefrxU8sJcdB2oaAY";
const ARGON2D: &str = "$argon2d$v=19$m=19456,t=2,p=1$AAECAwQFBgcICQoLDA0ODw$TCaBtCxbgZYiqIhxXq+PsUVzIRAYPAlRckuiWVqaH94";
const ARGON2ID_OTHER_COSTS: &str = "$argon2id$v=19$m=4096,t=1,p=2$AAECAwQFBgcICQoLDA0ODw$tl7WjwDWSIKRbexUZCI5W/HOThCHET+e5in57yVpeEY";
const ARGON2ID_DEFAULT: &str = "$argon2id$v=19$m=19456,t=2,p=1$AAECAwQFBgcICQoLDA0ODw$gYJZtjEAJqjg26xdLmknq8/bB7MiWPrE9hsYuA+SkIU";

fn verify(phc: &str, candidate: &str) -> Verified {
    verify_password(Argon2Params::default(), phc, candidate)
}

fn assert_imported_format(phc: &str, password: &str) {
    assert_eq!(
        verify(phc, password),
        Verified {
            matches: true,
            needs_rehash: true
        },
        "{phc}"
    );
    assert!(!verify(phc, "wrong").matches, "{phc}");
    assert!(!verify(phc, "").matches, "{phc}");
}

#[test]
fn bcrypt_hashes_verify_and_ask_for_a_rehash() {
    assert_imported_format(BCRYPT_2B, PASSWORD);
    assert_imported_format(BCRYPT_2Y, PASSWORD);
    assert_imported_format(BCRYPT_2A_UNICODE, UNICODE_PASSWORD);
}

#[test]
fn crypt_blowfish_2x_is_not_taken_for_bcrypt() {
    let as_2x = format!("$2x${}", &BCRYPT_2B[4..]);
    assert_eq!(verify(&as_2x, PASSWORD), Verified::NO);
}

#[test]
fn pbkdf2_phc_hashes_verify_with_their_own_digest() {
    assert_imported_format(PBKDF2_SHA256, PASSWORD);
    assert_imported_format(PBKDF2_SHA512, PASSWORD);
    // The same salt and output under the other digest's name is wrong.
    let renamed = PBKDF2_SHA256.replace("pbkdf2-sha256", "pbkdf2-sha512");
    assert!(!verify(&renamed, PASSWORD).matches);
}

#[test]
fn scrypt_phc_hashes_verify() {
    assert_imported_format(SCRYPT, PASSWORD);
}

#[test]
fn argon2i_and_argon2d_verify_and_ask_for_a_rehash() {
    assert_imported_format(ARGON2I, PASSWORD);
    assert_imported_format(ARGON2D, PASSWORD);
}

#[test]
fn argon2id_with_other_costs_asks_for_a_rehash() {
    assert_imported_format(ARGON2ID_OTHER_COSTS, PASSWORD);
}

#[test]
fn argon2id_with_the_configured_costs_needs_no_rehash() {
    assert_eq!(
        verify(ARGON2ID_DEFAULT, PASSWORD),
        Verified {
            matches: true,
            needs_rehash: false
        }
    );
    assert_eq!(
        verify(ARGON2ID_DEFAULT, "Correct horse battery staple"),
        Verified::NO
    );
    // Configured otherwise, the same hash is outdated.
    let stronger = Argon2Params {
        iterations: 3,
        ..Argon2Params::default()
    };
    assert_eq!(
        verify_password(stronger, ARGON2ID_DEFAULT, PASSWORD),
        Verified {
            matches: true,
            needs_rehash: true
        }
    );
}

#[test]
fn a_new_hash_is_argon2id_v19_with_the_given_costs_and_a_fresh_salt() {
    let params = Argon2Params {
        memory_kib: 8192,
        iterations: 1,
        parallelism: 2,
    };
    let phc = hash_password(params, PASSWORD);
    assert!(phc.starts_with("$argon2id$v=19$m=8192,t=1,p=2$"), "{phc}");
    assert!(!phc.contains(PASSWORD));
    assert_ne!(phc, hash_password(params, PASSWORD), "salted");
    assert_eq!(
        verify_password(params, &phc, PASSWORD),
        Verified {
            matches: true,
            needs_rehash: false
        }
    );
    assert!(
        verify(&phc, PASSWORD).needs_rehash,
        "outdated for the defaults"
    );
    assert_eq!(verify_password(params, &phc, "wrong"), Verified::NO);
}

#[test]
fn the_default_hash_has_owasp_costs() {
    let phc = hash_password(Argon2Params::default(), "x");
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
}

#[test]
fn malformed_and_unknown_hashes_match_nothing() {
    let truncated_bcrypt = &BCRYPT_2B[..50];
    let non_ascii_bcrypt = format!("$2b$04${}", "é".repeat(26));
    let bad_cost = BCRYPT_2B.replacen("$04$", "$xx$", 1);
    let bad_salt = ARGON2ID_DEFAULT.replace("AAECAwQFBgcICQoLDA0ODw", "!!");
    let no_hash = "$argon2id$v=19$m=19456,t=2,p=1$AAECAwQFBgcICQoLDA0ODw";
    let bad_params = ARGON2ID_DEFAULT.replace("m=19456", "m=banana");
    let versioned_scrypt = SCRYPT.replace("$scrypt$", "$scrypt$v=1$");
    for phc in [
        "",
        "$",
        "plaintext-password",
        PASSWORD,
        "$1$saltsalt$hash",
        "$md5$rounds=1000$salt$hash",
        "$unknown$v=1$AAECAwQFBgcICQoLDA0ODw$AAECAwQFBgcICQoLDA0ODw",
        truncated_bcrypt,
        &non_ascii_bcrypt,
        &bad_cost,
        &bad_salt,
        no_hash,
        &bad_params,
        &versioned_scrypt,
    ] {
        assert_eq!(verify(phc, PASSWORD), Verified::NO, "{phc:?}");
    }
}

#[test]
fn argon2_limits_are_refused_with_a_reason() {
    assert_eq!(Argon2Params::default().validate(), Ok(()));
    for (m, t, p) in [(0, 2, 1), (15, 1, 2), (19_456, 0, 1), (19_456, 2, 0)] {
        let e = Argon2Params {
            memory_kib: m,
            iterations: t,
            parallelism: p,
        }
        .validate()
        .unwrap_err();
        assert!(e.contains(&format!("m={m} KiB, t={t}, p={p}")), "{e}");
    }
}

#[test]
fn only_hashes_a_verifier_runs_count_as_verifiable() {
    for phc in [
        BCRYPT_2B,
        BCRYPT_2Y,
        PBKDF2_SHA256,
        PBKDF2_SHA512,
        SCRYPT,
        ARGON2I,
        ARGON2D,
        ARGON2ID_DEFAULT,
    ] {
        assert!(verifiable(phc), "{phc}");
    }
    let as_2x = format!("$2x${}", &BCRYPT_2B[4..]);
    for phc in [
        as_2x.as_str(),
        "$1$saltsalt$hashhashhashhashhash",
        "$md5$rounds=1000$salt$hash",
        "not a hash",
        "",
    ] {
        assert!(!verifiable(phc), "{phc}");
    }
}
