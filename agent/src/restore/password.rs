//! An encrypted library's password: read from its file, checked against the library's commits,
//! turned into the key of its blocks — all before anything is written.

use std::path::Path;

use anyhow::Context;
use seaf_seafile::{ObjectId, ObjectKind};

use super::crypt::{BlockKey, CryptError, EncInfo};
use super::Library;

/// The password in `path`: its first line, without the line break. A file keeps it out of the
/// shell's history and the process list.
pub fn read_password_file(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading the password file {}", path.display()))?;
    let first = text.split('\n').next().unwrap_or("");
    let password = first.strip_suffix('\r').unwrap_or(first);
    anyhow::ensure!(
        !password.is_empty(),
        "the password file {} is empty: put the library's password on its first line",
        path.display()
    );
    Ok(password.to_string())
}

/// The encryption fields of a commit of `lib`; `None` for a plain library.
pub fn enc_info(lib: &Library, commit: &ObjectId) -> anyhow::Result<Option<EncInfo>> {
    let bytes = lib.store.read(ObjectKind::Commit, &lib.stores.repo, commit)?;
    EncInfo::from_commit(&bytes).with_context(|| format!("commit {commit} of library {}", lib.stores.repo))
}

/// The key to `lib`'s blocks as of `commit`, or `None` when the library is not encrypted.
///
/// The password is checked against that commit's fields and, if it fails there, against the
/// head's: a password changed since then re-wraps the same secret, so either one opens it.
pub fn library_key(lib: &Library, commit: &ObjectId, password: Option<&str>) -> anyhow::Result<Option<BlockKey>> {
    let Some(info) = enc_info(lib, commit)? else {
        return Ok(None);
    };
    let repo = lib.stores.repo.to_string();
    let Some(password) = password else {
        anyhow::bail!(
            "library {repo} is encrypted (enc_version {}): give its password with --password-file FILE \
             (a file whose first line is the password)",
            info.enc_version
        );
    };
    let mut tried = vec![info];
    if lib.head != *commit {
        if let Some(head) = enc_info(lib, &lib.head)? {
            if head != tried[0] {
                tried.push(head);
            }
        }
    }
    let mut errors = Vec::new();
    for info in &tried {
        match info.unlock(&repo, password) {
            Ok(key) => return Ok(Some(key)),
            Err(e) => errors.push(e),
        }
    }
    // A field this tool cannot read says more than "wrong password" would.
    let error = errors
        .into_iter()
        .find(|e| *e != CryptError::WrongPassword)
        .unwrap_or(CryptError::WrongPassword);
    match error {
        CryptError::WrongPassword => anyhow::bail!(
            "wrong password for library {repo} (checked against its {}); nothing was written",
            match tried[0].pwd_hash_algo.as_deref() {
                Some(algo) => format!("{algo} pwd_hash"),
                None => "magic".into(),
            }
        ),
        e @ (CryptError::UnsupportedVersion(_) | CryptError::UnsupportedAlgorithm(_)) => anyhow::bail!(
            "library {repo}: {e}; restore it by starting a Seafile server on the backup \
             (docs/operations.md, Failover)"
        ),
        other => Err(other).with_context(|| format!("library {repo} cannot be decrypted")),
    }
}
