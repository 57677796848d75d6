//! `seaf-backup export LIBRARY [PATH] [--at …] --to DIR`: a folder or file of a library, as of
//! a commit or time, written as plain files with every block verified.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use seaf_seafile::{Commit, ObjectKind};

use crate::restore::export::{export, total_bytes, Options};
use crate::restore::tree::{lookup, resolve, time, At};
use crate::restore::{open, Library, Source};

/// What to export, and where.
pub struct Request {
    pub library: String,
    pub path: String,
    pub at: Option<String>,
    pub to: PathBuf,
    pub overwrite: bool,
}

pub async fn command(source: Source, request: Request) -> anyhow::Result<ExitCode> {
    let at = request.at.as_deref().map(At::parse).transpose()?.unwrap_or(At::Head);
    let lib = open(source, &request.library).await?;
    let done = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let commit = resolve(&lib, &at)?;
        refuse_encrypted(&lib, &commit.id)?;
        let found = lookup(&lib, commit.root, &request.path)?;
        let name = request
            .path
            .rsplit('/')
            .find(|p| !p.is_empty())
            .unwrap_or("")
            .to_string();
        let bar = progress_bar(total_bytes(&lib, &found)?);
        let options = Options {
            overwrite: request.overwrite,
        };
        let exported = export(&lib, &found, &name, &request.to, options, &|n| bar.inc(n))?;
        bar.finish_and_clear();
        Ok((commit, exported, request))
    })
    .await??;
    let (commit, exported, request) = done;
    println!(
        "exported {} files, {} folders, {} bytes of {}{} as of commit {} ({}) to {}; every block verified",
        exported.files,
        exported.dirs,
        exported.bytes,
        request.library,
        if request.path == "/" {
            String::new()
        } else {
            format!(" {}", request.path)
        },
        commit.id.short(),
        time(commit.ctime),
        request.to.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Encrypted libraries' blocks are ciphertext: exporting them needs the library's password.
fn refuse_encrypted(lib: &Library, commit: &seaf_seafile::ObjectId) -> anyhow::Result<()> {
    let bytes = lib.store.read(ObjectKind::Commit, &lib.stores.repo, commit)?;
    let c = Commit::parse(&bytes)?;
    let encrypted = c.encrypted.as_deref().is_some_and(|e| e == "true" || e == "1");
    anyhow::ensure!(
        !encrypted,
        "library {} is encrypted (enc_version {}): this release cannot decrypt it; restore it with a Seafile server started on the backup",
        lib.stores.repo,
        c.enc_version.unwrap_or(0)
    );
    Ok(())
}

/// A bar of bytes on a terminal; hidden otherwise (a log or a pipe).
fn progress_bar(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        .expect("a valid template");
    bar.set_style(style);
    bar
}
