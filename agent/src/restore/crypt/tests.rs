//! Known vectors for Seafile's encryption.
//!
//! - `FIXTURE_*`: written by the real Seafile server (the "Secret (encrypted)" library of
//!   shared/fixtures/real-seafile-v1.tar.gz, enc_version 2): its head commit's `magic` and `key`
//!   and the stored block 967a64d5…, whose plaintext is the uploaded secret.txt.
//! - `V3_*`, `V4_*`, `PWD_*`: computed independently with Python 3.11's `hashlib.pbkdf2_hmac`
//!   and the `cryptography` 48 package (AES-128-ECB, AES-256-CBC with PKCS#7, Argon2id), from
//!   Seafile's format as described in `crypt.rs`. The script:
//!
//! ```text
//! FIXED = bytes.fromhex("da9045c306c7cc26")
//! REPO = b"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"; PW = b"correct horse"
//! SALT = bytes(range(32)); RK = bytes(range(0x40, 0x60))
//! PLAIN = b"Seafile block plaintext, forty-one bytes\n"
//! def derive(d, s):
//!     k = hashlib.pbkdf2_hmac("sha256", d, s, 1000, 32)
//!     return k, hashlib.pbkdf2_hmac("sha256", k, s, 10, 16)
//! def enc(v, k, iv, p):  # PKCS7-padded; v3: AES(k[:16]) ECB, else AES(k) CBC(iv)
//! magic = derive(REPO + PW, SALT)[0]; key = enc(v, *derive(PW, SALT), RK)
//! block = enc(v, *derive(RK, SALT), PLAIN)
//! pbkdf2 '2000' = hashlib.pbkdf2_hmac("sha256", REPO + PW, SALT, 2000, 32)
//! pbkdf2 v2 '5000' = hashlib.pbkdf2_hmac("sha256", REPO + PW, FIXED + bytes(24), 5000, 32)
//! argon2id '2,64,1' = Argon2id(salt=SALT, length=32, iterations=2, lanes=1, memory_cost=64).derive(REPO + PW)
//! argon2id v2 '3,256,4' = Argon2id(salt=FIXED + bytes(24), length=32, iterations=3, lanes=4,
//!                                  memory_cost=256).derive(REPO + PW)
//! ```

use super::seal::{self, Check};
use super::*;

const FIXTURE_REPO: &str = "93db6fa3-9640-4451-b106-e53ed56de966";
const FIXTURE_PASSWORD: &str = "fixture-secret-pw";
const FIXTURE_MAGIC: &str = "4f5461a93893e4f3c4d653054a846303ffabb5dbaff88b1c004c254722cb34fd";
const FIXTURE_KEY: &str =
    "4c89a987573237b1850fc65a971a46b48cea47c58143013200ac0c9af4b7e78c68c350ccb47cda30ca51ad642faf8cee";
const FIXTURE_BLOCK: &str = "1312fe845effc69cd8a34b4b55abb95dec41e27e4ff3107298e908ccb070b290";
const FIXTURE_PLAIN: &[u8] = b"top secret v2 (modified)\n";

const REPO: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const PASSWORD: &str = "correct horse";
const PLAIN: &[u8] = b"Seafile block plaintext, forty-one bytes\n";
const MAGIC: &str = "fe6526ab4139ec51d96fa9124d48c083208036986d8c82f49b45bc195be9d1bb";
const BLOCK_KEY: &str = "f998a3167987eebd2de513c77c804a72e29095c2450dbc7659a6ab284b645b43";
const BLOCK_IV: &str = "d1ca2c86be42ce1d05616d58f25cef17";
const V3_KEY: &str = "fe9bbe91749c3a73157c801469bc2cbffe9f432d3b7359115f936e6db5b5d33988a2c6a05e996e3452ae51b8475d3985";
const V3_BLOCK: &str =
    "da3885ab2c6b272554faa7184f6bdb89e7ac7b51d830d1a4ed516380aa25e6ea29c37acc0a33a6bf79aed0fbc75bbd36";
const V4_KEY: &str = "98ae499d09eb406f973e38a1354e0d604a164ca1f7d64c509cd9af439dd208cccdcaa5d3e6e2596a4f6df9bd037c6cca";
const V4_BLOCK: &str =
    "a6cde3ba2fdbb2c6268c23aac57e1e2bba90bdce0c765289562bd0ffaca9be692ec48567ef53a88fcb5b6572565eaaf1";
const V2_DERIVED_KEY: &str = "1e0400e1c4dcbf5c1eaa51465d065781b3fea7effd2b00398c40ee797ae3941d";
const V2_DERIVED_IV: &str = "c862e08b2a18110393a674ce92d945d7";
const PWD_PBKDF2_2000: &str = "626e9dca891f32cc01429570d542bd3c486b49cfdf355f7917cafd68a8752780";
const PWD_PBKDF2_V2_5000: &str = "99377002e451004564c37fe9c956e501783d9cbf711a6fc64d6fdc64ddc694cf";
const PWD_ARGON2_2_64_1: &str = "f019a934ece842fa12b8f97ff43667b7ad15b353186696880721de5958f45013";
const PWD_ARGON2_V2_3_256_4: &str = "7d0b5b1a4f4e104e82b5ec97edb0bc8901971b9b5274e624fae044be5fb706c1";

fn salt() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

fn secret() -> [u8; 32] {
    std::array::from_fn(|i| 0x40 + i as u8)
}

fn info(enc_version: i64, magic: Option<&str>, key: &str) -> EncInfo {
    EncInfo {
        enc_version,
        magic: magic.map(Into::into),
        key: Some(key.into()),
        salt: (enc_version >= 3).then(|| hex::encode(salt())),
        pwd_hash: None,
        pwd_hash_algo: None,
        pwd_hash_params: None,
    }
}

fn decrypted(key: &BlockKey, hex_block: &str) -> Vec<u8> {
    let mut buf = hex::decode(hex_block).unwrap();
    key.decrypt_in_place(&mut buf).unwrap();
    buf
}

#[test]
fn the_real_fixture_library_unlocks_and_its_block_decrypts() {
    let info = info(2, Some(FIXTURE_MAGIC), FIXTURE_KEY);
    let key = info.unlock(FIXTURE_REPO, FIXTURE_PASSWORD).unwrap();
    assert_eq!(decrypted(&key, FIXTURE_BLOCK), FIXTURE_PLAIN);
    let wrong = info.unlock(FIXTURE_REPO, "fixture-secret-pw ").unwrap_err();
    assert_eq!(wrong, CryptError::WrongPassword);
}

#[test]
fn enc_version_2_derivation_matches_pbkdf2_sha256() {
    let (key, iv) = derive(PASSWORD.as_bytes(), &FIXED_SALT);
    assert_eq!(
        (hex::encode(key), hex::encode(iv)),
        (V2_DERIVED_KEY.into(), V2_DERIVED_IV.into())
    );
}

#[test]
fn enc_version_3_is_aes_128_ecb_with_the_repo_salt() {
    let info = info(3, Some(MAGIC), V3_KEY);
    let key = info.unlock(REPO, PASSWORD).unwrap();
    assert_eq!(hex::encode(key.parts().0), BLOCK_KEY);
    assert_eq!(decrypted(&key, V3_BLOCK), PLAIN);
    assert_eq!(info.verify(REPO, "Correct horse"), Err(CryptError::WrongPassword));
}

#[test]
fn enc_version_4_is_aes_256_cbc_with_the_repo_salt() {
    let info = info(4, Some(MAGIC), V4_KEY);
    let key = info.unlock(REPO, PASSWORD).unwrap();
    let (k, iv) = key.parts();
    assert_eq!((hex::encode(k), hex::encode(iv)), (BLOCK_KEY.into(), BLOCK_IV.into()));
    assert_eq!(decrypted(&key, V4_BLOCK), PLAIN);
}

#[test]
fn pwd_hash_variants_match_independent_values() {
    let cases = [
        (3, pwd_hash::PBKDF2_SHA256, "2000", PWD_PBKDF2_2000),
        (2, pwd_hash::PBKDF2_SHA256, "5000", PWD_PBKDF2_V2_5000),
        (4, pwd_hash::ARGON2ID, "2,64,1", PWD_ARGON2_2_64_1),
        (2, pwd_hash::ARGON2ID, "3,256,4", PWD_ARGON2_V2_3_256_4),
    ];
    for (v, algo, params, want) in cases {
        let mut info = info(v, None, if v == 3 { V3_KEY } else { V4_KEY });
        if v == 2 {
            // The fixed salt's key: wrap the same secret for it.
            info.key = seal::enc_info(2, REPO, PASSWORD, &secret(), &salt(), Check::Magic).key;
        }
        info.pwd_hash = Some(want.into());
        info.pwd_hash_algo = Some(algo.into());
        info.pwd_hash_params = Some(params.into());
        info.verify(REPO, PASSWORD)
            .unwrap_or_else(|e| panic!("{algo} {params} v{v}: {e}"));
        assert_eq!(info.verify(REPO, "wrong"), Err(CryptError::WrongPassword), "{algo}");
        // magic is not consulted once pwd_hash is there.
        info.magic = Some("00".repeat(32));
        info.unlock(REPO, PASSWORD).unwrap();
    }
}

#[test]
fn the_test_encryptor_writes_what_seafile_writes() {
    for (v, key_field, block) in [(3, V3_KEY, V3_BLOCK), (4, V4_KEY, V4_BLOCK)] {
        let info = seal::enc_info(v, REPO, PASSWORD, &secret(), &salt(), Check::Magic);
        assert_eq!(info.magic.as_deref(), Some(MAGIC));
        assert_eq!(info.key.as_deref(), Some(key_field));
        assert_eq!(
            hex::encode(seal::encrypt(&seal::block_key(v, &secret(), &salt()), PLAIN)),
            block
        );
    }
    let fixture_key = seal::block_key(2, &hex_bytes::<32>(Some(&fixture_secret()), "key").unwrap(), &[0; 32]);
    assert_eq!(hex::encode(seal::encrypt(&fixture_key, FIXTURE_PLAIN)), FIXTURE_BLOCK);
}

/// The fixture library's random secret, as its password unwraps it.
fn fixture_secret() -> String {
    let (key, iv) = derive(FIXTURE_PASSWORD.as_bytes(), &FIXED_SALT);
    let mut buf = hex::decode(FIXTURE_KEY).unwrap();
    BlockKey::new(2, key, iv).decrypt_in_place(&mut buf).unwrap();
    hex::encode(buf)
}

#[test]
fn commits_fields_are_read_and_plain_commits_are_not_encrypted() {
    let plain = br#"{"commit_id": "x", "version": 1}"#;
    assert_eq!(EncInfo::from_commit(plain).unwrap(), None);
    let enc = format!(
        r#"{{"commit_id": "x", "encrypted": "true", "enc_version": 2, "magic": "{FIXTURE_MAGIC}", "key": "{FIXTURE_KEY}", "version": 1}}"#
    );
    let info = EncInfo::from_commit(enc.as_bytes()).unwrap().unwrap();
    assert_eq!(info, self::info(2, Some(FIXTURE_MAGIC), FIXTURE_KEY));
    let v1 = r#"{"encrypted": "true", "enc_version": 1, "magic": "00"}"#;
    let err = EncInfo::from_commit(v1.as_bytes())
        .unwrap()
        .unwrap()
        .unlock(REPO, PASSWORD)
        .unwrap_err();
    assert_eq!(err, CryptError::UnsupportedVersion(1));
}

#[test]
fn damaged_ciphertext_is_refused() {
    let key = seal::block_key(4, &secret(), &salt());
    let mut block = hex::decode(V4_BLOCK).unwrap();
    *block.last_mut().unwrap() ^= 1;
    assert_eq!(key.decrypt_in_place(&mut block), Err(CryptError::BadCiphertext));
    assert_eq!(key.decrypt_in_place(&mut vec![0; 15]), Err(CryptError::BadCiphertext));
}
