//! Writing a folder or file of a library as plain files, as Seafile would serve them: every
//! block checked against its id on the way, sizes checked, mtimes set from the tree.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use seaf_seafile::{FsObject, ObjectId, ObjectKind};
use sha1::{Digest, Sha1};

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
pub struct Options {
    /// Replace files that exist at the destination (otherwise refuse them).
    pub overwrite: bool,
}

/// Writes `found` (named `name` in its folder) under `to`: a folder's contents into `to`, a
/// file into `to/name` when `to` is a folder, else to `to` itself. `progress` gets bytes written.
pub fn export(
    lib: &Library,
    found: &Found,
    name: &str,
    to: &Path,
    options: Options,
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
            write_file(lib, item.id, item.mtime, &dest, options, progress, &mut out)?;
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
    options: Options,
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
            write_file(lib, d.id, d.mtime, &dest, options, progress, out)?;
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

fn write_file(
    lib: &Library,
    id: ObjectId,
    mtime: i64,
    dest: &Path,
    options: Options,
    progress: &dyn Fn(u64),
    out: &mut Exported,
) -> anyhow::Result<()> {
    if dest.exists() && !options.overwrite {
        anyhow::bail!("{} exists; pass --overwrite to replace it", dest.display());
    }
    let (blocks, size) = match id.is_zero() {
        true => (Vec::new(), 0),
        false => match read_fs(lib, id)? {
            FsObject::File(f) => (f.block_ids, f.size),
            FsObject::Dir(_) => anyhow::bail!("fs object {id} is a folder where a file was expected"),
        },
    };
    let tmp = temp_beside(dest);
    let written = copy_blocks(lib, &blocks, &tmp, progress).inspect_err(|_| {
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

/// Concatenates the blocks into `path`, each checked against its id; returns the bytes.
fn copy_blocks(lib: &Library, blocks: &[ObjectId], path: &Path, progress: &dyn Fn(u64)) -> anyhow::Result<u64> {
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut total = 0;
    let mut buf = vec![0u8; 256 << 10];
    for block in blocks {
        let mut src = lib.store.open(ObjectKind::Block, &lib.stores.objects, block)?;
        let mut hasher = Sha1::new();
        loop {
            let n = match src.read(&mut buf) {
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
        let actual = ObjectId::from_digest(hasher.finalize().into());
        anyhow::ensure!(
            actual == *block,
            "block {block} is corrupt in the store (its content hashes to {actual}); run `seaf-backup verify`"
        );
    }
    file.sync_all()
        .with_context(|| format!("flushing {}", path.display()))?;
    Ok(total)
}

fn set_mtime(path: &Path, mtime: i64) -> anyhow::Result<()> {
    let when = UNIX_EPOCH + Duration::from_secs(mtime.max(0) as u64);
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    file.set_modified(when)
        .with_context(|| format!("setting the mtime of {}", path.display()))
}
