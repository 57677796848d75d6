//! Writing a folder or file of a library as plain files, as Seafile would serve them: every
//! block checked against its id on the way, sizes checked, mtimes set from the tree.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use seaf_seafile::{FsObject, ObjectId, ObjectKind};
use sha1::{Digest, Sha1};

use super::crypt::BlockKey;
use super::tree::{read_dir, read_fs, Found};
use super::Library;

/// What `export` wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Exported {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
}

/// How to export.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// Replace files that exist at the destination (otherwise refuse them).
    pub overwrite: bool,
    /// The key of an encrypted library's blocks ([`super::password::library_key`]).
    pub key: Option<&'a BlockKey>,
}

/// Writes `found` (named `name` in its folder) under `to`: a folder's contents into `to`, a
/// file into `to/name` when `to` is a folder, else to `to` itself. `progress` gets bytes written.
pub fn export(
    lib: &Library,
    found: &Found,
    name: &str,
    to: &Path,
    options: Options<'_>,
    progress: &dyn Fn(u64),
) -> anyhow::Result<Exported> {
    let mut out = Exported::default();
    match found {
        Found::Dir { id, .. } => {
            fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
            write_dir(lib, *id, to, options, progress, &mut out)?;
        }
        Found::File(item) => {
            let dest = if to.is_dir() { to.join(name) } else { to.to_path_buf() };
            let file = FileRef {
                id: item.id,
                mtime: item.mtime,
                listed: Some(item.size),
            };
            write_file(lib, &file, &dest, options, progress, &mut out)?;
        }
    }
    Ok(out)
}

/// The bytes under `found` (for a progress bar).
pub fn total_bytes(lib: &Library, found: &Found) -> anyhow::Result<u64> {
    match found {
        Found::File(item) => Ok(item.size),
        Found::Dir { id, .. } => {
            let mut total = 0;
            let mut stack = vec![*id];
            while let Some(dir) = stack.pop() {
                for d in read_dir(lib, dir)?.dirents {
                    match (d.is_dir(), d.size) {
                        (true, _) => stack.push(d.id),
                        (false, Some(s)) => total += s,
                        (false, None) => total += file_size(lib, d.id)?,
                    }
                }
            }
            Ok(total)
        }
    }
}

fn file_size(lib: &Library, id: ObjectId) -> anyhow::Result<u64> {
    if id.is_zero() {
        return Ok(0);
    }
    match read_fs(lib, id)? {
        FsObject::File(f) => Ok(f.size),
        FsObject::Dir(_) => Ok(0),
    }
}

fn write_dir(
    lib: &Library,
    id: ObjectId,
    to: &Path,
    options: Options<'_>,
    progress: &dyn Fn(u64),
    out: &mut Exported,
) -> anyhow::Result<()> {
    for d in read_dir(lib, id)?.dirents {
        let dest = to.join(safe_name(&d.name)?);
        if d.is_dir() {
            fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
            write_dir(lib, d.id, &dest, options, progress, out)?;
            set_mtime(&dest, d.mtime)?;
            out.dirs += 1;
        } else {
            let file = FileRef {
                id: d.id,
                mtime: d.mtime,
                listed: d.size,
            };
            write_file(lib, &file, &dest, options, progress, out)?;
        }
    }
    Ok(())
}

/// A name from the tree as one path component: a hostile or broken tree must not write
/// outside the destination.
fn safe_name(name: &str) -> anyhow::Result<&str> {
    let bad = name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0');
    anyhow::ensure!(
        !bad,
        "the tree holds the name {name:?}, which cannot be exported safely"
    );
    Ok(name)
}

/// A file as its folder lists it.
struct FileRef {
    id: ObjectId,
    mtime: i64,
    /// The size in the folder entry (the plaintext size, for encrypted libraries).
    listed: Option<u64>,
}

fn write_file(
    lib: &Library,
    file: &FileRef,
    dest: &Path,
    options: Options<'_>,
    progress: &dyn Fn(u64),
    out: &mut Exported,
) -> anyhow::Result<()> {
    if dest.exists() && !options.overwrite {
        anyhow::bail!("{} exists; pass --overwrite to replace it", dest.display());
    }
    let (id, mtime) = (file.id, file.mtime);
    let (blocks, size) = match id.is_zero() {
        true => (Vec::new(), 0),
        false => match read_fs(lib, id)? {
            FsObject::File(f) => (f.block_ids, f.size),
            FsObject::Dir(_) => anyhow::bail!("fs object {id} is a folder where a file was expected"),
        },
    };
    if let Some(listed) = file.listed.filter(|l| *l != size) {
        anyhow::bail!(
            "{}: its folder lists {listed} bytes, its file object {id} says {size}; the tree is inconsistent",
            dest.display()
        );
    }
    let tmp = temp_beside(dest);
    let written = copy_blocks(lib, &blocks, &tmp, options.key, progress).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })?;
    if written != size {
        let _ = fs::remove_file(&tmp);
        anyhow::bail!(
            "{}: its blocks hold {written} bytes, its file object says {size}",
            dest.display()
        );
    }
    set_mtime(&tmp, mtime)?;
    fs::rename(&tmp, dest).with_context(|| format!("renaming into {}", dest.display()))?;
    out.files += 1;
    out.bytes += written;
    Ok(())
}

fn temp_beside(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.seaf-export-tmp"))
}

/// Concatenates the blocks into `path`, each checked against its id (and decrypted with `key`
/// when given); returns the bytes written.
fn copy_blocks(
    lib: &Library,
    blocks: &[ObjectId],
    path: &Path,
    key: Option<&BlockKey>,
    progress: &dyn Fn(u64),
) -> anyhow::Result<u64> {
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut total = 0;
    let mut buf = vec![0u8; 256 << 10];
    for block in blocks {
        let n = match key {
            None => copy_block(lib, block, &mut buf, (&mut file, path), progress)?,
            Some(key) => decrypt_block(lib, block, key, (&mut file, path))?,
        };
        total += n;
        if key.is_some() {
            progress(n);
        }
    }
    file.sync_all()
        .with_context(|| format!("flushing {}", path.display()))?;
    Ok(total)
}

/// One plain block, streamed.
fn copy_block(
    lib: &Library,
    block: &ObjectId,
    buf: &mut [u8],
    (file, path): (&mut File, &Path),
    progress: &dyn Fn(u64),
) -> anyhow::Result<u64> {
    let mut src = lib.store.open(ObjectKind::Block, &lib.stores.objects, block)?;
    let mut hasher = Sha1::new();
    let mut total = 0;
    loop {
        let n = match src.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context(format!("reading block {block}")),
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .with_context(|| format!("writing {}", path.display()))?;
        total += n as u64;
        progress(n as u64);
    }
    check_id(block, hasher.finalize().into())?;
    Ok(total)
}

/// One block of an encrypted library: its id is the hash of the ciphertext, checked before it
/// is decrypted whole (blocks are at most 8 MiB).
fn decrypt_block(
    lib: &Library,
    block: &ObjectId,
    key: &BlockKey,
    (file, path): (&mut File, &Path),
) -> anyhow::Result<u64> {
    let mut data = lib.store.read(ObjectKind::Block, &lib.stores.objects, block)?;
    check_id(block, Sha1::digest(&data).into())?;
    key.decrypt_in_place(&mut data)
        .with_context(|| format!("block {block} does not decrypt with this library's key"))?;
    file.write_all(&data)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(data.len() as u64)
}

fn check_id(block: &ObjectId, digest: [u8; 20]) -> anyhow::Result<()> {
    let actual = ObjectId::from_digest(digest);
    anyhow::ensure!(
        actual == *block,
        "block {block} is corrupt in the store (its content hashes to {actual}); run `seaf-backup verify`"
    );
    Ok(())
}

fn set_mtime(path: &Path, mtime: i64) -> anyhow::Result<()> {
    let when = UNIX_EPOCH + Duration::from_secs(mtime.max(0) as u64);
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    file.set_modified(when)
        .with_context(|| format!("setting the mtime of {}", path.display()))
}
