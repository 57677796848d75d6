//! Test code only: an encryptor that writes Seafile's format, so tests can build encrypted
//! libraries of every enc_version and password-check variant. Its output is checked against
//! values computed independently (see `tests.rs`) before anything relies on it.

use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyInit, KeyIvInit};

use super::{derive, pwd_hash, BlockKey, EncInfo, FIXED_SALT};

/// How the password is checked.
#[derive(Debug, Clone, Copy)]
pub enum Check<'a> {
    Magic,
    /// `pwd_hash` with an algorithm and its parameters.
    PwdHash(&'a str, &'a str),
}

/// The salt key derivation uses: the fixed one for enc_version 2.
fn salt_for(enc_version: i64, salt: &[u8; 32]) -> Vec<u8> {
    match enc_version {
        2 => FIXED_SALT.to_vec(),
        _ => salt.to_vec(),
    }
}

/// The encryption fields of a library with this secret, salt and password.
pub fn enc_info(
    enc_version: i64,
    repo_id: &str,
    password: &str,
    secret: &[u8; 32],
    salt: &[u8; 32],
    check: Check<'_>,
) -> EncInfo {
    let s = salt_for(enc_version, salt);
    let (key, iv) = derive(password.as_bytes(), &s);
    let wrapped = encrypt(&BlockKey::new(enc_version, key, iv), secret);
    let input = format!("{repo_id}{password}");
    let mut info = EncInfo {
        enc_version,
        magic: None,
        key: Some(hex::encode(wrapped)),
        salt: (enc_version >= 3).then(|| hex::encode(salt)),
        pwd_hash: None,
        pwd_hash_algo: None,
        pwd_hash_params: None,
    };
    match check {
        Check::Magic => info.magic = Some(hex::encode(derive(input.as_bytes(), &s).0)),
        Check::PwdHash(algo, params) => {
            let hash = pwd_hash::derive(input.as_bytes(), enc_version, &s, algo, Some(params)).unwrap();
            info.pwd_hash = Some(hex::encode(hash));
            info.pwd_hash_algo = Some(algo.into());
            info.pwd_hash_params = Some(params.into());
        }
    }
    info
}

/// The key of the blocks of a library with this secret.
pub fn block_key(enc_version: i64, secret: &[u8; 32], salt: &[u8; 32]) -> BlockKey {
    let (key, iv) = derive(secret, &salt_for(enc_version, salt));
    BlockKey::new(enc_version, key, iv)
}

/// One block (or the secret) encrypted as Seafile does: padded, whole.
pub fn encrypt(key: &BlockKey, plain: &[u8]) -> Vec<u8> {
    let (k, iv) = key.parts();
    match key.enc_version() {
        3 => ecb::Encryptor::<aes::Aes128>::new(k[..16].into()).encrypt_padded_vec_mut::<Pkcs7>(plain),
        _ => cbc::Encryptor::<aes::Aes256>::new(k.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plain),
    }
}
