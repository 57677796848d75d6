//! An in-memory [`Disk`] that can lose power.
//!
//! It keeps what is durable (the state at the last barrier) and every operation since. A
//! power loss keeps any chosen subset of those operations, applied in order to the durable
//! state; a kept write may keep its name without its data (the file empty, cut in half, or
//! zeroed), which is what a file system that journals metadata but not data can leave, renames
//! included. Nothing is assumed about the order in which the kernel writes things back: any
//! subset is a possible outcome, a strictly harsher model than any real file system.
//!
//! It can also be told to lose power after a number of operations: every later operation
//! fails and changes nothing, as if the process had died there.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::super::disk::Disk;

/// One operation since the last barrier.
#[derive(Debug, Clone)]
pub enum Op {
    Write { path: PathBuf, data: Vec<u8> },
    Rename { from: PathBuf, to: PathBuf },
    Remove { path: PathBuf },
}

/// What a power loss keeps of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Lost,
    Whole,
    /// A write whose name survived but not its data.
    Empty,
    Half,
    Zeroed,
}

impl Keep {
    /// The outcomes possible for `op`.
    pub fn choices(op: &Op) -> &'static [Keep] {
        match op {
            Op::Write { .. } => &[Keep::Lost, Keep::Whole, Keep::Empty, Keep::Half, Keep::Zeroed],
            _ => &[Keep::Lost, Keep::Whole],
        }
    }
}

pub type Files = BTreeMap<PathBuf, Vec<u8>>;

#[derive(Debug, Clone, Default)]
struct State {
    live: Files,
    durable: Files,
    log: Vec<Op>,
    /// Operations left before the power goes (`None`: it never does).
    budget: Option<usize>,
    /// Operations done (writes, renames, removes, barriers).
    ops: usize,
}

#[derive(Debug, Default)]
pub struct SimDisk {
    state: Mutex<State>,
}

fn power_lost() -> io::Error {
    io::Error::other("power lost")
}

impl SimDisk {
    /// A disk holding `files`, all durable.
    pub fn with(files: Files) -> SimDisk {
        SimDisk {
            state: Mutex::new(State {
                live: files.clone(),
                durable: files,
                ..State::default()
            }),
        }
    }

    /// Loses power after `ops` more operations.
    pub fn fail_after(&self, ops: usize) {
        self.state.lock().unwrap().budget = Some(ops);
    }

    pub fn ops(&self) -> usize {
        self.state.lock().unwrap().ops
    }

    /// The operations since the last barrier.
    pub fn log(&self) -> Vec<Op> {
        self.state.lock().unwrap().log.clone()
    }

    /// What the process sees now.
    pub fn live(&self) -> Files {
        self.state.lock().unwrap().live.clone()
    }

    /// The disk after a power loss that kept `keep[i]` of the i-th operation since the last
    /// barrier.
    pub fn power_loss(&self, keep: &[Keep]) -> SimDisk {
        let state = self.state.lock().unwrap();
        let mut files = state.durable.clone();
        for (op, k) in state.log.iter().zip(keep) {
            apply(&mut files, op, *k);
        }
        SimDisk::with(files)
    }

    /// Runs one mutating operation, unless the power is gone.
    fn mutate(&self, op: Op) -> io::Result<()> {
        let mut s = self.state.lock().unwrap();
        s.spend()?;
        if let Op::Rename { from, .. } = &op {
            if !s.live.contains_key(from) {
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
        }
        apply(&mut s.live, &op, Keep::Whole);
        s.log.push(op);
        Ok(())
    }
}

impl State {
    fn spend(&mut self) -> io::Result<()> {
        match &mut self.budget {
            Some(0) => return Err(power_lost()),
            Some(n) => *n -= 1,
            None => {}
        }
        self.ops += 1;
        Ok(())
    }
}

/// `op` applied to `files`, as much of it as `keep` says.
fn apply(files: &mut Files, op: &Op, keep: Keep) {
    if keep == Keep::Lost {
        return;
    }
    match op {
        Op::Write { path, data } => {
            let data = match keep {
                Keep::Empty => Vec::new(),
                Keep::Half => data[..data.len() / 2].to_vec(),
                Keep::Zeroed => vec![0; data.len()],
                _ => data.clone(),
            };
            files.insert(path.clone(), data);
        }
        Op::Rename { from, to } => {
            if let Some(data) = files.remove(from) {
                files.insert(to.clone(), data);
            }
        }
        Op::Remove { path } => {
            files.remove(path);
        }
    }
}

impl Disk for SimDisk {
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.mutate(Op::Write {
            path: path.to_path_buf(),
            data: data.to_vec(),
        })
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.mutate(Op::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
        })
    }

    fn remove(&self, path: &Path) -> io::Result<bool> {
        if !self.exists(path)? {
            return Ok(false);
        }
        self.mutate(Op::Remove {
            path: path.to_path_buf(),
        })
        .map(|()| true)
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        Ok(self.state.lock().unwrap().live.get(path).cloned())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        Ok(self.state.lock().unwrap().live.contains_key(path))
    }

    /// Folders are implicit: a file's folder exists once the file does.
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.state.lock().unwrap();
        Ok(s.live
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn syncfs(&self) -> io::Result<()> {
        let mut s = self.state.lock().unwrap();
        s.spend()?;
        s.durable = s.live.clone();
        s.log.clear();
        Ok(())
    }
}
