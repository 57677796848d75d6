//! What the scrub has found, kept in `<seafile_data_dir>/seaf-backup/scrub.json` so that
//! `seaf-backup status` (another process) can show it: the last full pass, and the damaged
//! objects and head mismatches not yet resolved.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One damaged object, as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Damaged {
    pub kind: String,
    /// The library whose store holds it.
    pub store: String,
    pub id: String,
    pub path: PathBuf,
    pub error: String,
    /// Replaced by a good copy from the primary.
    pub repaired: bool,
}

/// The scrub's findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubReport {
    /// Unix seconds of the end of the last full pass over the store.
    pub last_full_pass: Option<u64>,
    /// Objects and bytes of that pass.
    pub objects: u64,
    pub bytes: u64,
    /// Damaged objects found since the scrub started on this store, newest last (at most
    /// [`KEPT`]).
    pub damaged: Vec<Damaged>,
    /// Libraries whose head was found behind the primary's, newest last (at most [`KEPT`]).
    pub head_mismatches: Vec<String>,
}

/// Findings kept in the file.
pub const KEPT: usize = 100;

impl ScrubReport {
    /// The file of the store at `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("seaf-backup").join("scrub.json")
    }

    /// The report at `data_dir`; empty when the scrub has not written one (or it is unreadable:
    /// the scrub writes a new one).
    pub fn load(data_dir: &Path) -> ScrubReport {
        std::fs::read(Self::path(data_dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes it (to a temp file renamed into place: a reader never sees half of it).
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        let path = Self::path(data_dir);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(tmp, path)
    }

    pub fn add_damaged(&mut self, d: Damaged) {
        self.damaged.retain(|o| o.id != d.id || o.store != d.store);
        self.damaged.push(d);
        trim(&mut self.damaged);
    }

    pub fn add_mismatch(&mut self, repo: String) {
        self.head_mismatches.retain(|r| *r != repo);
        self.head_mismatches.push(repo);
        trim(&mut self.head_mismatches);
    }

    /// The line (and the damaged objects) `seaf-backup status` prints.
    pub fn to_text(&self) -> String {
        let unrepaired: Vec<&Damaged> = self.damaged.iter().filter(|d| !d.repaired).collect();
        let pass = match self.last_full_pass {
            Some(t) => format!(
                "last full pass {} ({} objects, {} bytes)",
                humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t)),
                self.objects,
                self.bytes
            ),
            None => "no full pass yet".to_string(),
        };
        let mut out = format!(
            "\nScrub: {pass}; {} damaged objects ({} repaired from the primary), {} head mismatches\n",
            self.damaged.len(),
            self.damaged.len() - unrepaired.len(),
            self.head_mismatches.len()
        );
        for d in unrepaired {
            out.push_str(&format!(
                "damaged {} {} of library {} at {}: {}\n",
                d.kind,
                d.id,
                d.store,
                d.path.display(),
                d.error
            ));
        }
        out
    }
}

fn trim<T>(v: &mut Vec<T>) {
    if v.len() > KEPT {
        v.drain(..v.len() - KEPT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn damaged(id: &str, repaired: bool) -> Damaged {
        Damaged {
            kind: "block".into(),
            store: "00000001-0000-4000-8000-000000000000".into(),
            id: id.into(),
            path: PathBuf::from(format!("/data/storage/blocks/x/{id}")),
            error: "content hashes to b, not to its id a".into(),
            repaired,
        }
    }

    #[test]
    fn round_trips_and_names_what_is_still_damaged() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ScrubReport::load(dir.path()), ScrubReport::default());
        let mut r = ScrubReport {
            last_full_pass: Some(1_700_000_000),
            objects: 10,
            bytes: 2048,
            ..ScrubReport::default()
        };
        r.add_damaged(damaged("aa", true));
        r.add_damaged(damaged("bb", false));
        r.add_damaged(damaged("bb", false));
        r.add_mismatch("00000002-0000-4000-8000-000000000000".into());
        r.save(dir.path()).unwrap();
        let back = ScrubReport::load(dir.path());
        assert_eq!(back, r);
        let text = back.to_text();
        assert!(
            text.contains("last full pass 2023-11-14T22:13:20Z (10 objects, 2048 bytes)"),
            "{text}"
        );
        assert!(
            text.contains("2 damaged objects (1 repaired from the primary), 1 head mismatches"),
            "{text}"
        );
        assert!(text.contains("damaged block bb of library"), "{text}");
        assert!(!text.contains("block aa"), "{text}");
    }

    #[test]
    fn keeps_the_newest_findings() {
        let mut r = ScrubReport::default();
        for i in 0..KEPT + 5 {
            r.add_mismatch(format!("{i}"));
        }
        assert_eq!(r.head_mismatches.len(), KEPT);
        assert_eq!(r.head_mismatches.last().unwrap(), &format!("{}", KEPT + 4));
    }
}
