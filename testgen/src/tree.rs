//! The in-memory state of a library's tree at one commit.
//!
//! Each directory caches the id it encoded to, and every change clears the cache on the way down
//! to the changed entry. Encoding a new commit therefore produces (and writes) only the
//! directories that really changed, as Seafile does, and unchanged subtrees keep their ids.

use std::collections::BTreeMap;

use seaf_seafile::{Dirent, FsObject, ObjectId, SeafDir};

/// `S_IFREG | 0644`, the mode Seafile writes for every file.
pub(crate) const FILE_MODE: u32 = 0o100644;
/// `S_IFDIR`, the mode Seafile writes for every directory.
pub(crate) const DIR_MODE: u32 = 0o040000;

/// A file as its parent's dirent and its file object describe it, plus its expected content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileNode {
    /// The file object id; [`ObjectId::ZERO`] for an empty file (no object on disk).
    pub id: ObjectId,
    pub block_ids: Vec<ObjectId>,
    /// The size Seafile records (plaintext size for encrypted libraries).
    pub size: u64,
    /// SHA-1 of the content (of the concatenated stored blocks for encrypted libraries).
    pub sha1: ObjectId,
    pub mtime: i64,
    pub modifier: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    File(FileNode),
    Dir(DirNode),
}

/// A directory: its entries, and the mtime its parent's dirent carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DirNode {
    pub entries: BTreeMap<String, Node>,
    pub mtime: i64,
    /// The id this directory encoded to, while nothing below it has changed.
    cached_id: Option<ObjectId>,
}

/// Splits `/a/b/c` (or `a/b/c`) into its components.
pub(crate) fn components(path: &str) -> Vec<String> {
    path.split('/').filter(|c| !c.is_empty()).map(str::to_owned).collect()
}

/// Joins components into `/a/b/c` (`/` for none).
pub(crate) fn join(components: &[String]) -> String {
    if components.is_empty() {
        return "/".to_owned();
    }
    components.iter().fold(String::new(), |mut s, c| {
        s.push('/');
        s.push_str(c);
        s
    })
}

impl DirNode {
    pub fn new(mtime: i64) -> Self {
        DirNode {
            entries: BTreeMap::new(),
            mtime,
            cached_id: None,
        }
    }

    /// The directory at `path`, opened for a change made at `now`: every directory on the way
    /// gets `now` as its mtime (as Seafile updates the parents' dirents) and forgets its id.
    pub fn dir_mut(&mut self, path: &[String], now: i64) -> Option<&mut DirNode> {
        // Check first, so a failed lookup leaves the tree untouched.
        if !matches!(self.get(path), Some(NodeRef::Dir(_))) {
            return None;
        }
        let mut dir = self;
        dir.touch(now);
        for name in path {
            dir = match dir.entries.get_mut(name) {
                Some(Node::Dir(d)) => d,
                _ => unreachable!("checked above"),
            };
            dir.touch(now);
        }
        Some(dir)
    }

    fn touch(&mut self, now: i64) {
        self.mtime = now;
        self.cached_id = None;
    }

    /// The entry at `path` (`[]` is this directory).
    pub fn get(&self, path: &[String]) -> Option<NodeRef<'_>> {
        let Some((last, parents)) = path.split_last() else {
            return Some(NodeRef::Dir(self));
        };
        let mut dir = self;
        for name in parents {
            dir = match dir.entries.get(name) {
                Some(Node::Dir(d)) => d,
                _ => return None,
            };
        }
        match dir.entries.get(last)? {
            Node::File(f) => Some(NodeRef::File(f)),
            Node::Dir(d) => Some(NodeRef::Dir(d)),
        }
    }

    /// Encodes this directory and every changed one below it. New directory objects are added to
    /// `levels[depth]` (the root is depth 0), so callers can write the deepest level first.
    /// An empty directory is [`ObjectId::ZERO`] and has no object.
    pub fn encode(&mut self, depth: usize, levels: &mut Vec<Vec<(ObjectId, Vec<u8>)>>) -> ObjectId {
        if let Some(id) = self.cached_id {
            return id;
        }
        let mut dirents = Vec::with_capacity(self.entries.len());
        for (name, node) in self.entries.iter_mut() {
            dirents.push(match node {
                Node::File(f) => Dirent {
                    id: f.id,
                    mode: FILE_MODE,
                    modifier: Some(f.modifier.clone()),
                    mtime: f.mtime,
                    name: name.clone(),
                    size: Some(f.size),
                },
                Node::Dir(d) => Dirent {
                    id: d.encode(depth + 1, levels),
                    mode: DIR_MODE,
                    modifier: None,
                    mtime: d.mtime,
                    name: name.clone(),
                    size: None,
                },
            });
        }
        let id = if dirents.is_empty() {
            ObjectId::ZERO
        } else {
            let mut dir = SeafDir { dirents };
            dir.sort_entries();
            let (id, stored) = FsObject::Dir(dir).encode();
            if levels.len() <= depth {
                levels.resize_with(depth + 1, Vec::new);
            }
            levels[depth].push((id, stored));
            id
        };
        self.cached_id = Some(id);
        id
    }

    /// Every file (path, node) and every directory path below this directory, in path order.
    pub fn walk<'a>(
        &'a self,
        prefix: &mut Vec<String>,
        files: &mut Vec<(Vec<String>, &'a FileNode)>,
        dirs: &mut Vec<Vec<String>>,
    ) {
        for (name, node) in &self.entries {
            prefix.push(name.clone());
            match node {
                Node::File(f) => files.push((prefix.clone(), f)),
                Node::Dir(d) => {
                    dirs.push(prefix.clone());
                    d.walk(prefix, files, dirs);
                }
            }
            prefix.pop();
        }
    }
}

/// A borrowed entry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NodeRef<'a> {
    File(&'a FileNode),
    Dir(&'a DirNode),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: u8) -> Node {
        Node::File(FileNode {
            id: ObjectId::hash_of(&[n]),
            block_ids: vec![],
            size: 1,
            sha1: ObjectId::hash_of(&[n]),
            mtime: 1,
            modifier: "a@example.com".into(),
        })
    }

    #[test]
    fn only_changed_dirs_are_re_encoded() {
        let mut root = DirNode::new(0);
        let mut a = DirNode::new(0);
        a.entries.insert("x".into(), file(1));
        let mut b = DirNode::new(0);
        b.entries.insert("y".into(), file(2));
        root.entries.insert("a".into(), Node::Dir(a));
        root.entries.insert("b".into(), Node::Dir(b));
        root.entries.insert("empty".into(), Node::Dir(DirNode::new(0)));

        let mut levels = Vec::new();
        let first = root.encode(0, &mut levels);
        assert_eq!(
            levels.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1, 2],
            "empty dir has no object"
        );

        let mut levels = Vec::new();
        assert_eq!(root.encode(0, &mut levels), first);
        assert!(levels.iter().all(Vec::is_empty));

        root.dir_mut(&components("/a"), 5)
            .unwrap()
            .entries
            .insert("z".into(), file(3));
        let mut levels = Vec::new();
        assert_ne!(root.encode(0, &mut levels), first);
        assert_eq!(
            levels.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1, 1],
            "b is unchanged"
        );
        assert!(root.dir_mut(&components("/a/x"), 6).is_none(), "a file is not a dir");
        assert!(root.dir_mut(&components("/nope"), 6).is_none());
        assert_eq!(join(&components("/a//b/")), "/a/b");
        assert_eq!(join(&[]), "/");
    }
}
