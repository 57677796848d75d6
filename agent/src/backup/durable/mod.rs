//! PLACEHOLDER until the group-commit module lands: the same API over `ObjectStore::write_batch`.

use std::collections::HashSet;
use std::path::PathBuf;

use seaf_seafile::{NewObject, ObjectId, ObjectKind, ObjectStore, RepoId, StoreError};

#[derive(Clone)]
pub struct GroupCommit {
    store: ObjectStore,
}

enum Data {
    Mem(Vec<u8>),
    File(PathBuf),
}

pub struct Batch {
    store: ObjectStore,
    objects: Vec<(ObjectKind, RepoId, ObjectId, Data)>,
    ids: HashSet<(ObjectKind, ObjectId)>,
    bytes: u64,
}

impl GroupCommit {
    pub fn open(store: ObjectStore) -> Result<GroupCommit, StoreError> {
        Ok(GroupCommit { store })
    }
    pub fn batch(&self) -> Batch {
        Batch {
            store: self.store.clone(),
            objects: Vec::new(),
            ids: HashSet::new(),
            bytes: 0,
        }
    }
    pub fn stop(&self) {}
}

impl Batch {
    pub fn stage(&mut self, kind: ObjectKind, store: RepoId, id: ObjectId, data: Vec<u8>) {
        self.bytes += data.len() as u64;
        self.ids.insert((kind, id));
        self.objects.push((kind, store, id, Data::Mem(data)));
    }
    pub fn staging_file(&self) -> Result<(PathBuf, std::fs::File), StoreError> {
        let dir = self.store.data_dir().join("seaf-backup").join("staging");
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io("creating", &dir, e))?;
        let path = dir.join(uuid::Uuid::new_v4().to_string());
        let file = std::fs::File::create(&path).map_err(|e| StoreError::io("creating", &path, e))?;
        Ok((path, file))
    }
    pub fn stage_file(&mut self, kind: ObjectKind, store: RepoId, id: ObjectId, path: PathBuf, len: u64) {
        self.bytes += len;
        self.ids.insert((kind, id));
        self.objects.push((kind, store, id, Data::File(path)));
    }
    pub fn contains(&self, kind: ObjectKind, id: &ObjectId) -> bool {
        self.ids.contains(&(kind, *id))
    }
    pub fn len(&self) -> usize {
        self.objects.len()
    }
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
    pub async fn commit(self) -> Result<(), StoreError> {
        let store = self.store.clone();
        let objects = self.objects;
        tokio::task::spawn_blocking(move || {
            let mut files = Vec::new();
            for (kind, s, id, data) in &objects {
                if let Data::File(p) = data {
                    files.push((
                        *kind,
                        *s,
                        *id,
                        std::fs::read(p).map_err(|e| StoreError::io("reading", p, e))?,
                    ));
                }
            }
            let mut batch: Vec<NewObject> = files
                .iter()
                .map(|(kind, s, id, d)| NewObject {
                    kind: *kind,
                    store: *s,
                    id: *id,
                    data: d,
                })
                .collect();
            batch.extend(objects.iter().filter_map(|(kind, s, id, data)| match data {
                Data::Mem(d) => Some(NewObject {
                    kind: *kind,
                    store: *s,
                    id: *id,
                    data: d,
                }),
                Data::File(_) => None,
            }));
            store.write_batch(&batch)
        })
        .await
        .expect("commit task")
    }
}
