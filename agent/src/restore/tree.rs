//! A library's tree as of a commit: which commit `--at` means, and what is at a path.

use seaf_seafile::{FsObject, ObjectId, ObjectKind, SeafDir};
use serde::Serialize;

use super::history::{history, Entry};
use super::Library;

/// A point in a library's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Head,
    /// A commit id or a unique prefix of one (at least 6 hex digits).
    Commit(String),
    /// The newest commit at or before this time (seconds since the epoch).
    Time(i64),
}

impl At {
    /// `COMMIT` (id or prefix) or an RFC 3339 time (`2026-11-30T12:00:00Z`).
    pub fn parse(s: &str) -> anyhow::Result<At> {
        let hex = s.len() >= 6 && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if hex {
            return Ok(At::Commit(s.to_ascii_lowercase()));
        }
        let time = humantime::parse_rfc3339_weak(s).map_err(|_| {
            anyhow::anyhow!("--at {s:?}: neither a commit id nor an RFC 3339 time (e.g. 2026-11-30T12:00:00Z)")
        })?;
        let secs = time
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| anyhow::anyhow!("--at {s:?}: before 1970"))?
            .as_secs();
        Ok(At::Time(secs as i64))
    }
}

/// The commit `at` names.
pub fn resolve(lib: &Library, at: &At) -> anyhow::Result<Entry> {
    let all = history(
        lib,
        match at {
            At::Head => Some(1),
            _ => None,
        },
    )?;
    let found: Vec<&Entry> = match at {
        At::Head => all.iter().take(1).collect(),
        At::Commit(prefix) => all.iter().filter(|e| e.id.to_hex().starts_with(prefix)).collect(),
        At::Time(t) => all.iter().find(|e| e.ctime <= *t).into_iter().collect(),
    };
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => match at {
            At::Time(_) => anyhow::bail!(
                "the library has no commit that old (its first is from {})",
                time(all.last().map_or(0, |e| e.ctime))
            ),
            _ => anyhow::bail!("no commit of the library matches {at:?}"),
        },
        many => anyhow::bail!("{} commits start with that prefix: give more digits", many.len()),
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    pub is_dir: bool,
    /// Bytes (files; 0 for folders).
    pub size: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
    pub id: ObjectId,
}

/// What a path names.
#[derive(Debug, Clone)]
pub enum Found {
    Dir { id: ObjectId, items: Vec<Item> },
    File(Item),
}

/// The commit `at` names and what is at `path` in its tree: what `ls` and `export` read.
pub fn at_path(lib: &Library, at: &At, path: &str) -> anyhow::Result<(Entry, Found)> {
    let commit = resolve(lib, at)?;
    let found = lookup(lib, commit.root, path)?;
    Ok((commit, found))
}

/// What is at `path` (`/`, `/a/b`) in the tree rooted at `root`.
pub fn lookup(lib: &Library, root: ObjectId, path: &str) -> anyhow::Result<Found> {
    let mut dir_id = root;
    let mut walked = String::new();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let dir = read_dir(lib, dir_id)?;
        let Some(d) = dir.dirents.iter().find(|d| d.name == *part) else {
            anyhow::bail!("{walked}/{part}: no such file or folder");
        };
        walked.push('/');
        walked.push_str(part);
        if !d.is_dir() {
            anyhow::ensure!(i + 1 == parts.len(), "{walked} is a file, not a folder");
            return Ok(Found::File(item(lib, d)?));
        }
        dir_id = d.id;
    }
    let dir = read_dir(lib, dir_id)?;
    let items = dir
        .dirents
        .iter()
        .map(|d| item(lib, d))
        .collect::<anyhow::Result<_>>()?;
    Ok(Found::Dir { id: dir_id, items })
}

/// A directory (the zero id is Seafile's empty directory).
pub fn read_dir(lib: &Library, id: ObjectId) -> anyhow::Result<SeafDir> {
    if id.is_zero() {
        return Ok(SeafDir { dirents: Vec::new() });
    }
    match read_fs(lib, id)? {
        FsObject::Dir(d) => Ok(d),
        FsObject::File(_) => anyhow::bail!("fs object {id} is a file where a folder was expected"),
    }
}

/// An fs object, verified.
pub fn read_fs(lib: &Library, id: ObjectId) -> anyhow::Result<FsObject> {
    let bytes = lib.store.read(ObjectKind::Fs, &lib.stores.objects, &id)?;
    Ok(FsObject::parse_verified(&id, &bytes)?)
}

fn item(lib: &Library, d: &seaf_seafile::Dirent) -> anyhow::Result<Item> {
    let size = match (d.is_dir(), d.size) {
        (true, _) => 0,
        (false, Some(s)) => s,
        (false, None) if d.id.is_zero() => 0,
        (false, None) => match read_fs(lib, d.id)? {
            FsObject::File(f) => f.size,
            FsObject::Dir(_) => 0,
        },
    };
    Ok(Item {
        name: d.name.clone(),
        is_dir: d.is_dir(),
        size,
        mtime: d.mtime,
        id: d.id,
    })
}

/// A time for people: RFC 3339 in UTC.
pub fn time(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
