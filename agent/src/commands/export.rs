//! `seaf-backup export LIBRARY [PATH] [--at …] --to DIR`: a folder or file of a library, as of
//! a commit or time, written as plain files with every block verified.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::restore::export::{export, total_bytes, Options};
use crate::restore::password::{library_key, read_password_file};
use crate::restore::tree::{at_path, time};
use crate::restore::{open, Point, Source};

/// What to export, and where.
pub struct Request {
    pub point: Point,
    pub to: PathBuf,
    pub overwrite: bool,
    /// The password of an encrypted library, on the first line of this file.
    pub password_file: Option<PathBuf>,
}

pub async fn command(source: Source, request: Request) -> anyhow::Result<ExitCode> {
    let at = request.point.at()?;
    let password = request.password_file.as_deref().map(read_password_file).transpose()?;
    let lib = open(source, &request.point.library).await?;
    let done = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let (commit, found) = at_path(&lib, &at, &request.point.path)?;
        // Checked before anything is written: a wrong password leaves the destination alone.
        let key = library_key(&lib, &commit.id, password.as_deref())?;
        if key.is_none() && password.is_some() {
            eprintln!(
                "note: library {} is not encrypted; --password-file is not needed",
                request.point.library
            );
        }
        let name = request
            .point
            .path
            .rsplit('/')
            .find(|p| !p.is_empty())
            .unwrap_or("")
            .to_string();
        let bar = progress_bar(total_bytes(&lib, &found)?);
        let options = Options {
            overwrite: request.overwrite,
            key: key.as_ref(),
        };
        let exported = export(&lib, &found, &name, &request.to, options, &|n| bar.inc(n))?;
        bar.finish_and_clear();
        Ok((commit, exported, request, key.is_some()))
    })
    .await??;
    let (commit, exported, request, decrypted) = done;
    println!(
        "exported {} files, {} folders, {} bytes of {}{} as of commit {} ({}) to {}; every block verified{}",
        exported.files,
        exported.dirs,
        exported.bytes,
        request.point.library,
        if request.point.path == "/" {
            String::new()
        } else {
            format!(" {}", request.point.path)
        },
        commit.id.short(),
        time(commit.ctime),
        request.to.display(),
        if decrypted { " and decrypted" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
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
