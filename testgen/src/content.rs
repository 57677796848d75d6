//! Names, file contents and commit descriptions that look like what real users and Seafile write.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

/// File name stems: mostly ASCII, some with spaces, accents, CJK and Cyrillic, because real
/// libraries have them and paths must survive every layer byte for byte.
const STEMS: &[&str] = &[
    "report",
    "notes",
    "budget 2024",
    "photo",
    "Übersicht",
    "résumé",
    "文件",
    "данные",
    "plan",
    "todo",
    "draft",
    "scan",
    "invoice",
    "meeting-notes",
    "données",
    "slides",
    "README",
    "backup",
];

const EXTENSIONS: &[&str] = &[".txt", ".md", ".pdf", ".jpg", ".bin", ".docx", ".csv", ""];

const DIR_NAMES: &[&str] = &[
    "docs",
    "photos",
    "projects",
    "Archiv",
    "2023",
    "2024",
    "shared",
    "Büro",
    "照片",
    "misc",
    "clients",
    "Q3 review",
];

/// Words for text content; a few are multi-byte so text files are real UTF-8.
const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "seafile",
    "backup",
    "library",
    "commit",
    "block",
    "budget",
    "meeting",
    "Übersicht",
    "café",
    "naïve",
    "文件",
    "данные",
    "2024",
    "draft",
    "final",
    "review",
    "the",
    "and",
    "of",
];

/// Files up to this size get readable text; larger ones get random bytes.
pub(crate) const TEXT_LIMIT: u64 = 64 << 10;

pub(crate) fn file_name(rng: &mut StdRng) -> String {
    let stem = STEMS.choose(rng).expect("non-empty");
    let ext = EXTENSIONS.choose(rng).expect("non-empty");
    format!("{stem}{ext}")
}

pub(crate) fn dir_name(rng: &mut StdRng) -> String {
    (*DIR_NAMES.choose(rng).expect("non-empty")).to_owned()
}

/// `name`, or Seafile's way of avoiding a clash: `name (1).ext`, `name (2).ext`, …
pub(crate) fn unique_name(name: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(name) {
        return name.to_owned();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    (1..)
        .map(|n| format!("{stem} ({n}){ext}"))
        .find(|candidate| !taken(candidate))
        .expect("some suffix is free")
}

/// `len` bytes of text lines (the last character may be cut: only the bytes matter).
pub(crate) fn text(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(WORDS.choose(rng).expect("non-empty").as_bytes());
        out.push(if rng.gen_ratio(1, 12) { b'\n' } else { b' ' });
    }
    out.truncate(len);
    out
}

pub(crate) fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    rng.fill_bytes(&mut out);
    out
}

/// Lowercase hex of `bytes` random bytes (encryption magic and key).
pub(crate) fn random_hex(rng: &mut StdRng, bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rng.fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// A lowercase UUID v4 from the seeded generator, so repo ids are reproducible.
pub(crate) fn uuid_v4(rng: &mut StdRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// One change in a commit, named by the changed entry's base name (as Seafile's descriptions
/// name it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Added(String),
    Modified(String),
    Deleted(String),
    Renamed(String),
    Moved(String),
    AddedDir(String),
    RemovedDir(String),
}

/// The commit description Seafile writes: a single web operation reads `Added "x"`; a commit
/// with several changes gets the diff summary of `diff_results_to_description` (one line per
/// kind, each ending in a newline), which puts newlines into commit JSON.
pub(crate) fn describe(changes: &[Change]) -> String {
    if let [single] = changes {
        return match single {
            Change::Added(n) => format!("Added \"{n}\""),
            Change::Modified(n) => format!("Modified \"{n}\""),
            Change::Deleted(n) => format!("Deleted \"{n}\""),
            Change::Renamed(n) => format!("Renamed \"{n}\""),
            Change::Moved(n) => format!("Moved \"{n}\""),
            Change::AddedDir(n) => format!("Added directory \"{n}\""),
            Change::RemovedDir(n) => format!("Removed directory \"{n}\""),
        };
    }
    let pick = |f: fn(&Change) -> Option<&String>| -> Vec<&String> { changes.iter().filter_map(f).collect() };
    let add_mod = pick(|c| match c {
        Change::Added(n) | Change::Modified(n) => Some(n),
        _ => None,
    });
    let removed = pick(|c| match c {
        Change::Deleted(n) => Some(n),
        _ => None,
    });
    let renamed = pick(|c| match c {
        Change::Renamed(n) | Change::Moved(n) => Some(n),
        _ => None,
    });
    let new_dirs = pick(|c| match c {
        Change::AddedDir(n) => Some(n),
        _ => None,
    });
    let removed_dirs = pick(|c| match c {
        Change::RemovedDir(n) => Some(n),
        _ => None,
    });
    let mut desc = String::new();
    let mut line = |names: &[&String], one: &str, many: &str, what: &str| match names {
        [] => {}
        [n] => desc.push_str(&format!("{one} \"{n}\".\n")),
        [n, rest @ ..] => desc.push_str(&format!("{many} \"{n}\" and {} more {what}.\n", rest.len())),
    };
    line(&add_mod, "Added or modified", "Added or modified", "files");
    line(&removed, "Deleted", "Deleted", "files");
    line(&renamed, "Renamed", "Renamed", "files");
    line(&new_dirs, "Added directory", "Added", "directories");
    line(&removed_dirs, "Removed directory", "Removed", "directories");
    desc
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn descriptions_follow_seafile() {
        assert_eq!(describe(&[Change::Added("a.txt".into())]), "Added \"a.txt\"");
        assert_eq!(
            describe(&[
                Change::Added("a".into()),
                Change::Modified("b".into()),
                Change::Deleted("c".into()),
                Change::AddedDir("d".into()),
                Change::AddedDir("e".into()),
            ]),
            "Added or modified \"a\" and 1 more files.\nDeleted \"c\".\nAdded \"d\" and 1 more directories.\n"
        );
    }

    #[test]
    fn unique_names_use_seafile_suffixes() {
        let taken = ["a.txt", "a (1).txt", "dir"];
        assert_eq!(unique_name("a.txt", |n| taken.contains(&n)), "a (2).txt");
        assert_eq!(unique_name("dir", |n| taken.contains(&n)), "dir (1)");
        assert_eq!(unique_name("b", |n| taken.contains(&n)), "b");
    }

    #[test]
    fn uuids_are_canonical() {
        let mut rng = StdRng::seed_from_u64(1);
        let id = uuid_v4(&mut rng);
        seaf_seafile::RepoId::parse(&id).unwrap();
        assert_eq!(&id[14..15], "4");
        assert_eq!(text(&mut rng, 100).len(), 100);
    }
}
