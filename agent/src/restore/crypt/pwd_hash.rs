//! Seafile 12's `pwd_hash`: the password check that replaces `magic` in libraries created with
//! a `pwd_hash_algo`. The hash is 32 bytes of pbkdf2_sha256 or argon2id over `repo_id + password`.
//!
//! Seafile reads the salt as 32 bytes from hex: the library's salt for enc_version 3 and 4, and
//! for enc_version 2 the fixed 8-byte salt followed by 24 zero bytes (its hex is only 16
//! characters and the rest of the buffer stays zero). Parameters come as a string: pbkdf2's
//! iteration count (`"1000"`), argon2id's `"time_cost,memory_cost_kib,parallelism"`
//! (`"2,102400,8"`); a missing or non-positive value takes those defaults, as Seafile does.

use sha2::Sha256;

use super::CryptError;

pub const PBKDF2_SHA256: &str = "pbkdf2_sha256";
pub const ARGON2ID: &str = "argon2id";
const PBKDF2_DEFAULT_ROUNDS: u32 = 1000;
const ARGON2_DEFAULTS: [u32; 3] = [2, 102_400, 8];

/// The 32-byte hash of `input` (`repo_id + password`) for a library of `enc_version` whose
/// key-derivation salt is `repo_salt`.
pub fn derive(
    input: &[u8],
    enc_version: i64,
    repo_salt: &[u8],
    algo: &str,
    params: Option<&str>,
) -> Result<[u8; 32], CryptError> {
    let mut salt = [0u8; 32];
    let n = repo_salt.len().min(32);
    salt[..n].copy_from_slice(&repo_salt[..n]);
    if enc_version > 2 && n != 32 {
        return Err(CryptError::Malformed("salt"));
    }
    let mut out = [0u8; 32];
    match algo {
        PBKDF2_SHA256 => {
            let rounds = params.map_or(0, leading_int).try_into().unwrap_or(0);
            let rounds = if rounds == 0 { PBKDF2_DEFAULT_ROUNDS } else { rounds };
            pbkdf2::pbkdf2_hmac::<Sha256>(input, &salt, rounds, &mut out);
        }
        ARGON2ID => {
            let [t, m, p] = argon2_params(params);
            let params =
                argon2::Params::new(m, t, p, Some(32)).map_err(|_| CryptError::Malformed("pwd_hash_params"))?;
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                .hash_password_into(input, &salt, &mut out)
                .map_err(|_| CryptError::Malformed("pwd_hash_params"))?;
        }
        other => return Err(CryptError::UnsupportedAlgorithm(other.to_string())),
    }
    Ok(out)
}

/// `time_cost, memory_cost, parallelism`, each defaulted when not positive; all three defaulted
/// unless there are exactly three.
fn argon2_params(params: Option<&str>) -> [u32; 3] {
    let parts: Vec<&str> = params.map(|p| p.split(',').collect()).unwrap_or_default();
    if parts.len() != 3 {
        return ARGON2_DEFAULTS;
    }
    let mut out = ARGON2_DEFAULTS;
    for (slot, part) in out.iter_mut().zip(parts) {
        if let Ok(v @ 1..) = u32::try_from(leading_int(part.trim())) {
            *slot = v;
        }
    }
    out
}

/// The integer a string starts with, as C's `atoi` reads it (0 when there is none).
fn leading_int(s: &str) -> i64 {
    let s = s.trim_start();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse::<i64>().map_or(0, |v| sign * v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_read_as_seafile_reads_them() {
        assert_eq!(argon2_params(Some("3, 256 ,4")), [3, 256, 4]);
        assert_eq!(argon2_params(Some("3,256")), ARGON2_DEFAULTS);
        assert_eq!(argon2_params(None), ARGON2_DEFAULTS);
        assert_eq!(argon2_params(Some("0,-5,x")), ARGON2_DEFAULTS);
        assert_eq!(leading_int("2000abc"), 2000);
        assert_eq!(leading_int(""), 0);
        assert_eq!(leading_int("-3"), -3);
    }

    #[test]
    fn an_unknown_algorithm_is_named() {
        let err = derive(b"x", 4, &[0; 32], "scrypt", None).unwrap_err();
        assert_eq!(err, CryptError::UnsupportedAlgorithm("scrypt".into()));
    }
}
