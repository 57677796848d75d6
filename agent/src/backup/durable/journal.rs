//! The journal of one group: every object the group may make visible, batch by batch, each
//! batch in closure order. It is durable before the first of those names exists, so after a
//! power loss it names every object whose content may be torn.
//!
//! Text, one object a line, batches opened by a `batch` line:
//!
//! ```text
//! seaf-backup group journal 1
//! batch
//! block 300ca0c9-310b-4344-8289-441bcd1e031c 0a1b…
//! fs 300ca0c9-310b-4344-8289-441bcd1e031c 7c2d…
//! commit 300ca0c9-310b-4344-8289-441bcd1e031c 9e8f…
//! ```
//!
//! Parsing is lenient: a line that does not parse is skipped. A journal can only be partial or
//! garbled when power failed before it was durable, and then none of its objects was renamed
//! into place yet, so what it lists does not matter.

use seaf_seafile::{ObjectId, ObjectKind, RepoId};

const HEADER: &str = "seaf-backup group journal 1";

/// One listed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    pub kind: ObjectKind,
    pub store: RepoId,
    pub id: ObjectId,
}

/// A group's objects, batch by batch.
pub type Batches = Vec<Vec<Entry>>;

/// The journal's bytes.
pub fn encode<'a>(batches: impl IntoIterator<Item = &'a [Entry]>) -> Vec<u8> {
    let mut out = String::with_capacity(4096);
    out.push_str(HEADER);
    out.push('\n');
    for batch in batches {
        out.push_str("batch\n");
        for e in batch {
            out.push_str(&format!("{} {} {}\n", e.kind.name(), e.store, e.id));
        }
    }
    out.into_bytes()
}

/// The batches a journal lists, and how many of its lines did not parse.
pub fn parse(bytes: &[u8]) -> (Batches, usize) {
    let text = String::from_utf8_lossy(bytes);
    let mut batches: Batches = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        match line {
            HEADER => {}
            "batch" => batches.push(Vec::new()),
            _ => match (parse_entry(line), batches.last_mut()) {
                (Some(e), Some(batch)) => batch.push(e),
                _ => bad += 1,
            },
        }
    }
    (batches, bad)
}

fn parse_entry(line: &str) -> Option<Entry> {
    let mut fields = line.split(' ');
    let kind = kind_named(fields.next()?)?;
    let store = RepoId::parse(fields.next()?).ok()?;
    let id = ObjectId::parse(fields.next()?).ok()?;
    fields.next().is_none().then_some(Entry { kind, store, id })
}

fn kind_named(name: &str) -> Option<ObjectKind> {
    ObjectKind::ALL.into_iter().find(|k| k.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: ObjectKind, n: u8) -> Entry {
        Entry {
            kind,
            store: RepoId::parse("300ca0c9-310b-4344-8289-441bcd1e031c").unwrap(),
            id: ObjectId::hash_of(&[n]),
        }
    }

    #[test]
    fn round_trips_and_survives_a_torn_tail() {
        let a = vec![entry(ObjectKind::Block, 1), entry(ObjectKind::Fs, 2)];
        let b = vec![entry(ObjectKind::Commit, 3)];
        let bytes = encode([a.as_slice(), b.as_slice()]);
        assert_eq!(parse(&bytes), (vec![a.clone(), b], 0));
        // Power lost while the journal was written: a line cut short is skipped.
        let torn = &bytes[..bytes.len() - 10];
        assert_eq!(parse(torn), (vec![a, vec![]], 1));
        assert_eq!(parse(&[0u8; 64]).0, Batches::new());
    }
}
