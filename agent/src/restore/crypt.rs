//! Seafile's library encryption, for reading encrypted libraries with their password.
//!
//! An encrypted library's commits carry its encryption fields (`enc_version`, `magic` or Seafile
//! 12's `pwd_hash`, `key`, `salt`); the database holds only `RepoInfo.is_encrypted`. Its fs
//! objects are plain; each block is encrypted on its own, PKCS#7-padded, and named by the SHA-1
//! of its ciphertext. From the password:
//!
//! - key and iv derivation: PBKDF2-HMAC-SHA256, 1000 rounds for the key (32 bytes), then 10
//!   rounds over that key for the iv (16 bytes), both salted with the library's salt
//!   (enc_version 3 and 4: the commit's 32-byte `salt`; enc_version 2: Seafile's fixed 8 bytes);
//! - the password is checked against `magic` (the key derived from `repo_id + password`, in hex)
//!   or, when the commit has a `pwd_hash_algo`, against `pwd_hash` (pbkdf2_sha256 or argon2id
//!   of `repo_id + password`, see [`pwd_hash`]);
//! - `key` is the library's random 32-byte secret, encrypted with the password's key and iv; the
//!   blocks' key and iv are derived from that secret the same way;
//! - the cipher: AES-256-CBC for enc_version 2 and 4, AES-128-ECB (the first 16 key bytes, no iv)
//!   for enc_version 3.
//!
//! These are facts of Seafile's format (its `common/seafile-crypt.c` and `password-hash.c`);
//! the primitives are RustCrypto's.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyInit, KeyIvInit};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

pub mod pwd_hash;
#[cfg(test)]
pub(crate) mod seal;
#[cfg(test)]
mod tests;

/// The salt of enc_version 1 and 2 libraries, the same for every library.
pub const FIXED_SALT: [u8; 8] = [0xda, 0x90, 0x45, 0xc3, 0x06, 0xc7, 0xcc, 0x26];
const KEY_ROUNDS: u32 = 1000;
const IV_ROUNDS: u32 = 10;

/// The encryption fields of a commit, as Seafile writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncInfo {
    pub enc_version: i64,
    /// Hex of the key derived from `repo_id + password` (absent when `pwd_hash` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub magic: Option<String>,
    /// Hex of the encrypted random secret (48 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Hex of the library's salt (32 bytes; enc_version 3 and 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwd_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwd_hash_algo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwd_hash_params: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptError {
    #[error("wrong password")]
    WrongPassword,
    #[error("enc_version {0} is not supported (2, 3 and 4 are)")]
    UnsupportedVersion(i64),
    #[error("password hash algorithm {0:?} is not supported (pbkdf2_sha256 and argon2id are)")]
    UnsupportedAlgorithm(String),
    #[error("the commit's encryption field {0} is missing or malformed")]
    Malformed(&'static str),
    #[error("the ciphertext does not decrypt (a corrupt block, or not this library's)")]
    BadCiphertext,
}

impl EncInfo {
    /// The encryption fields of a stored commit; `None` for a plain library's.
    pub fn from_commit(stored: &[u8]) -> Result<Option<EncInfo>, CryptError> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(default)]
            encrypted: Option<serde_json::Value>,
            #[serde(flatten)]
            info: serde_json::Value,
        }
        let fields: Fields = serde_json::from_slice(stored).map_err(|_| CryptError::Malformed("(the JSON)"))?;
        // Seafile writes the string "true"; other writers have used 1 and true.
        let encrypted = matches!(&fields.encrypted, Some(serde_json::Value::String(s)) if s == "true")
            || matches!(&fields.encrypted, Some(serde_json::Value::Bool(true)))
            || matches!(&fields.encrypted, Some(v) if v.as_i64() == Some(1));
        if !encrypted {
            return Ok(None);
        }
        let info = serde_json::from_value(fields.info).map_err(|_| CryptError::Malformed("enc_version"))?;
        Ok(Some(info))
    }

    /// The salt of key derivation.
    fn repo_salt(&self) -> Result<Vec<u8>, CryptError> {
        match self.enc_version {
            2 => Ok(FIXED_SALT.to_vec()),
            3 | 4 => hex_bytes::<32>(self.salt.as_deref(), "salt").map(|s| s.to_vec()),
            v => Err(CryptError::UnsupportedVersion(v)),
        }
    }

    /// Checks `password` against `pwd_hash` or `magic`.
    pub fn verify(&self, repo_id: &str, password: &str) -> Result<(), CryptError> {
        let salt = self.repo_salt()?;
        let input = format!("{repo_id}{password}");
        let (want, mut got) = match &self.pwd_hash_algo {
            Some(algo) => {
                let want = hex_bytes::<32>(self.pwd_hash.as_deref(), "pwd_hash")?;
                let params = self.pwd_hash_params.as_deref();
                (
                    want,
                    pwd_hash::derive(input.as_bytes(), self.enc_version, &salt, algo, params)?,
                )
            }
            None => {
                let want = hex_bytes::<32>(self.magic.as_deref(), "magic")?;
                (want, derive(input.as_bytes(), &salt).0)
            }
        };
        let same = bool::from(want.ct_eq(&got));
        got.zeroize();
        same.then_some(()).ok_or(CryptError::WrongPassword)
    }

    /// Checks the password and returns the key of the library's blocks.
    pub fn unlock(&self, repo_id: &str, password: &str) -> Result<BlockKey, CryptError> {
        self.verify(repo_id, password)?;
        let salt = self.repo_salt()?;
        let (key, iv) = derive(password.as_bytes(), &salt);
        let by_password = BlockKey::new(self.enc_version, key, iv);
        let mut secret = hex_bytes::<48>(self.key.as_deref(), "key")?.to_vec();
        // The password is right, so a secret that does not decrypt is a damaged commit.
        by_password
            .decrypt_in_place(&mut secret)
            .map_err(|_| CryptError::Malformed("key"))?;
        if secret.len() != 32 {
            return Err(CryptError::Malformed("key"));
        }
        let (key, iv) = derive(&secret, &salt);
        secret.zeroize();
        Ok(BlockKey::new(self.enc_version, key, iv))
    }
}

/// Seafile's key and iv from `data` (enc_version 2 to 4).
pub fn derive(data: &[u8], salt: &[u8]) -> ([u8; 32], [u8; 16]) {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(data, salt, KEY_ROUNDS, &mut key);
    let mut iv = [0u8; 16];
    pbkdf2::pbkdf2_hmac::<Sha256>(&key, salt, IV_ROUNDS, &mut iv);
    (key, iv)
}

/// What decrypts a library's blocks. Wiped when dropped.
pub struct BlockKey {
    enc_version: i64,
    key: [u8; 32],
    iv: [u8; 16],
}

impl std::fmt::Debug for BlockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockKey(enc_version {})", self.enc_version)
    }
}

impl Drop for BlockKey {
    fn drop(&mut self) {
        self.key.zeroize();
        self.iv.zeroize();
    }
}

impl BlockKey {
    pub fn new(enc_version: i64, key: [u8; 32], iv: [u8; 16]) -> Self {
        BlockKey { enc_version, key, iv }
    }

    /// The key and iv, for checking derivations against known values.
    pub fn parts(&self) -> (&[u8; 32], &[u8; 16]) {
        (&self.key, &self.iv)
    }

    /// Decrypts one whole block (or the random secret) in place, dropping the padding.
    pub fn decrypt_in_place(&self, buf: &mut Vec<u8>) -> Result<(), CryptError> {
        if buf.is_empty() || !buf.len().is_multiple_of(16) {
            return Err(CryptError::BadCiphertext);
        }
        let plain = match self.enc_version {
            3 => ecb::Decryptor::<aes::Aes128>::new(self.key[..16].into()).decrypt_padded_mut::<Pkcs7>(buf),
            _ => cbc::Decryptor::<aes::Aes256>::new(&self.key.into(), &self.iv.into()).decrypt_padded_mut::<Pkcs7>(buf),
        }
        .map_err(|_| CryptError::BadCiphertext)?
        .len();
        buf.truncate(plain);
        Ok(())
    }

    /// The library's enc_version, which picks the cipher.
    pub fn enc_version(&self) -> i64 {
        self.enc_version
    }
}

/// `N` bytes from a hex field.
fn hex_bytes<const N: usize>(field: Option<&str>, name: &'static str) -> Result<[u8; N], CryptError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(field.ok_or(CryptError::Malformed(name))?, &mut out)
        .map_err(|_| CryptError::Malformed(name))?;
    Ok(out)
}
