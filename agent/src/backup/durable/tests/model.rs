//! The power-loss model: the committer's group steps and recovery, the production code, run
//! over the simulated disk. For every generated history, every crash point (after each disk
//! operation) and every outcome of a power loss there (every subset of the operations since the
//! last barrier, each kept write whole, empty, cut in half or zeroed — all of them where there
//! are at most [`EXHAUSTIVE`], else the kill -9 outcome, the all-lost one, a names-without-data
//! one and [`SAMPLES`] seeded random ones), recovery runs and the closure invariant is checked:
//! every object in the store is intact and everything it points at is there, every batch that
//! was answered `Ok` is there whole, and no journal or staging file is left (nor a temp file,
//! except one the start-up sweep removes: see [`check`]). Every so
//! often the recovery itself loses power at a random point, and a second recovery must give
//! the same guarantees (it is idempotent).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seaf_seafile::ObjectStore;

use super::super::batch::{Payload, Staged};
use super::super::group::{GroupWriter, Outcome, Overlap, Placed};
use super::super::journal::Entry;
use super::super::layout::Layout;
use super::super::recovery::{recover, Steps};
use super::history::{generate, History, Object};
use super::sim::{Files, Keep, Op, SimDisk};

/// Power-loss outcomes enumerated in full up to this many at one crash point.
const EXHAUSTIVE: usize = 256;
/// Random outcomes at a crash point with more.
const SAMPLES: usize = 16;
/// Histories (seeds) checked.
const HISTORIES: u64 = 8;

const WRITER: &str = "7-model";

fn layout() -> Layout {
    Layout::new(ObjectStore::new("/model/seafile-data"))
}

/// What the model found.
#[derive(Debug, Default)]
struct Tally {
    histories: usize,
    crash_points: usize,
    outcomes: usize,
    exhaustive_points: usize,
    recovery_crashes: usize,
    violations: Vec<String>,
}

/// Runs `history` on `disk` as the committer would; returns the batches answered `Ok`. Most
/// groups overlap the one before as on a busy committer (the next journal is written before
/// the barrier that settles the previous group, whose names are in place but not durable while
/// the next group's batches are staged); every third settles the previous group first, as a
/// committer that finds its queue empty does.
fn run(disk: &Arc<SimDisk>, layout: &Layout, history: &History, overlap: Overlap) -> Vec<Vec<Entry>> {
    let mut writer = GroupWriter::new(disk.clone(), layout.clone(), WRITER.to_string()).with_overlap(overlap);
    let mut acked = Vec::new();
    let mut staging = 0;
    let mut placed: Option<(Placed, Vec<Vec<Staged>>)> = None;
    for (seq, group) in history.groups.iter().enumerate() {
        if seq % 3 == 2 {
            if let Some((p, batches)) = placed.take() {
                let settled = writer.advance(Some(p), None).settled;
                answer(&writer, &batches, settled, &mut acked);
            }
        }
        let batches: Vec<Vec<Staged>> = group
            .iter()
            .map(|batch| {
                batch
                    .iter()
                    .map(|p| stage(disk.as_ref(), layout, p, &mut staging))
                    .collect()
            })
            .collect();
        let (previous, previous_batches) = placed.take().unzip();
        let slices: Vec<&[Staged]> = batches.iter().map(Vec::as_slice).collect();
        let advanced = writer.advance(previous, Some((seq as u64, &slices)));
        if let Some(previous_batches) = previous_batches {
            answer(&writer, &previous_batches, advanced.settled, &mut acked);
        }
        match advanced.next.expect("a group given comes back") {
            Ok(p) => placed = Some((p, batches)),
            Err(failed) => answer(&writer, &batches, Some(failed), &mut acked),
        }
    }
    if let Some((p, batches)) = placed {
        let settled = writer.advance(Some(p), None).settled;
        answer(&writer, &batches, settled, &mut acked);
    }
    acked
}

/// Step 4 for a settled group, as the committer does it; its batches answered `Ok` go to
/// `acked`.
fn answer(writer: &GroupWriter, batches: &[Vec<Staged>], settled: Option<(u64, Outcome)>, acked: &mut Vec<Vec<Entry>>) {
    let (seq, outcome) = settled.expect("a placed group settles");
    for (batch, answer) in batches.iter().zip(&outcome.answers) {
        if answer.is_ok() {
            acked.push(batch.iter().map(|s| s.entry).collect());
        }
    }
    let slices: Vec<&[Staged]> = batches.iter().map(Vec::as_slice).collect();
    writer.tidy(&slices);
    writer.finish(seq, outcome.barrier_failed);
}

/// A planned object as a sync stages it (a large block written to a staging file first).
fn stage(disk: &SimDisk, layout: &Layout, p: &super::history::Planned, staging: &mut u64) -> Staged {
    use super::super::disk::Disk;
    let payload = if p.as_file {
        *staging += 1;
        let path = layout.staging(WRITER, *staging);
        // The power may be gone already; then the commit fails on the missing file.
        let _ = disk.write(&path, &p.data);
        Payload::File {
            path,
            len: p.data.len() as u64,
        }
    } else {
        Payload::Bytes(p.data.clone())
    };
    Staged {
        entry: p.entry,
        payload,
    }
}

/// Every outcome of a power loss for `log`, or a sample.
fn outcomes(log: &[Op], rng: &mut StdRng) -> (Vec<Vec<Keep>>, bool) {
    let total = log
        .iter()
        .try_fold(1usize, |n, op| n.checked_mul(Keep::choices(op).len()))
        .unwrap_or(usize::MAX);
    if total <= EXHAUSTIVE {
        let all = (0..total)
            .map(|mut i| {
                log.iter()
                    .map(|op| {
                        let c = Keep::choices(op);
                        let k = c[i % c.len()];
                        i /= c.len();
                        k
                    })
                    .collect()
            })
            .collect();
        return (all, true);
    }
    let mut picked = vec![
        vec![Keep::Whole; log.len()],
        vec![Keep::Lost; log.len()],
        log.iter()
            .map(|op| {
                if matches!(op, Op::Write { .. }) {
                    Keep::Empty
                } else {
                    Keep::Whole
                }
            })
            .collect(),
    ];
    for _ in 0..SAMPLES {
        picked.push(
            log.iter()
                .map(|op| {
                    let c = Keep::choices(op);
                    c[rng.gen_range(0..c.len())]
                })
                .collect(),
        );
    }
    (picked, false)
}

/// Every object of a history with its path, worked out once.
struct Known {
    storage: PathBuf,
    by_path: HashMap<PathBuf, (Entry, Object, Vec<PathBuf>)>,
    paths: HashMap<Entry, PathBuf>,
}

impl Known {
    fn new(layout: &Layout, universe: &HashMap<Entry, Object>) -> Known {
        let path = |e: &Entry| layout.object(e.kind, &e.store, &e.id);
        Known {
            storage: layout.store().data_dir().join("storage"),
            by_path: universe
                .iter()
                .map(|(e, o)| (path(e), (*e, o.clone(), o.refs.iter().map(path).collect())))
                .collect(),
            paths: universe.keys().map(|e| (*e, path(e))).collect(),
        }
    }
}

/// The closure invariant on `files`, with the model's own knowledge of every object.
fn check(files: &Files, known: &Known, acked: &[Vec<Entry>]) -> Result<(), String> {
    for (path, data) in files {
        // A temp file written while its journal was not yet durable can outlive a power loss
        // without it: it has no object name, and the start-up sweep
        // (`ObjectStore::sweep_temp_files`) removes it, its writer being gone.
        if path.starts_with(&known.storage) && path.to_string_lossy().ends_with(".seaf-backup-tmp") {
            continue;
        }
        if !path.starts_with(&known.storage) {
            return Err(format!("left behind: {}", path.display()));
        }
        let Some((entry, object, refs)) = known.by_path.get(path) else {
            return Err(format!("not an object of the history: {}", path.display()));
        };
        if *data != object.data {
            return Err(format!(
                "torn: {entry:?} ({} of {} bytes)",
                data.len(),
                object.data.len()
            ));
        }
        if let Some(i) = refs.iter().position(|r| !files.contains_key(r)) {
            return Err(format!("{entry:?} points at missing {:?}", object.refs[i]));
        }
    }
    match acked.iter().flatten().find(|e| !files.contains_key(&known.paths[*e])) {
        Some(e) => Err(format!("{e:?} of a batch answered Ok is gone")),
        None => Ok(()),
    }
}

/// Recovers `disk` after a power loss and checks it; every `crash_recovery`-th time the
/// recovery loses power once too.
fn recover_and_check(
    disk: &SimDisk,
    layout: &Layout,
    known: &Known,
    acked: &[Vec<Entry>],
    steps: Steps,
    crash_recovery: Option<&mut StdRng>,
    tally: &mut Tally,
) -> Result<(), String> {
    let mut disk_after = SimDisk::with(disk.live());
    if let Some(rng) = crash_recovery {
        let probe = SimDisk::with(disk.live());
        recover(&probe, layout, &|_| true, steps).map_err(|e| e.to_string())?;
        let crashing = SimDisk::with(disk.live());
        crashing.fail_after(rng.gen_range(0..=probe.ops()));
        let _ = recover(&crashing, layout, &|_| true, steps);
        let (keeps, _) = outcomes(&crashing.log(), rng);
        disk_after = crashing.power_loss(&keeps[rng.gen_range(0..keeps.len())]);
        tally.recovery_crashes += 1;
    }
    recover(&disk_after, layout, &|_| true, steps).map_err(|e| e.to_string())?;
    check(&disk_after.live(), known, acked)
}

/// Every crash point and power-loss outcome of the history `seed`.
fn model(seed: u64, steps: Steps, tally: &mut Tally) {
    let layout = layout();
    let history = generate(seed);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eaf);
    let known = Known::new(&layout, &history.universe);
    // The two extremes of writing temp files while the barrier flushes: all of them before it
    // (durable or not, with or without their journal), or all after it (not covered).
    let overlap = if seed.is_multiple_of(2) {
        Overlap::TempFilesFirst
    } else {
        Overlap::BarrierFirst
    };
    let full = Arc::new(SimDisk::default());
    run(&full, &layout, &history, overlap);
    if steps.verify && steps.references {
        if let Err(e) = check(&full.live(), &known, &[]) {
            tally.violations.push(format!("seed {seed}, no crash: {e}"));
        }
    }
    tally.histories += 1;
    for point in 0..=full.ops() {
        let disk = Arc::new(SimDisk::default());
        disk.fail_after(point);
        let acked = run(&disk, &layout, &history, overlap);
        let (keeps, exhaustive) = outcomes(&disk.log(), &mut rng);
        tally.crash_points += 1;
        tally.exhaustive_points += usize::from(exhaustive);
        for (i, keep) in keeps.iter().enumerate() {
            let after = disk.power_loss(keep);
            let crash_recovery = (i % 8 == 0).then_some(&mut rng);
            if let Err(e) = recover_and_check(&after, &layout, &known, &acked, steps, crash_recovery, tally) {
                tally
                    .violations
                    .push(format!("seed {seed}, crash after op {point}, outcome {keep:?}: {e}"));
                if !(steps.verify && steps.references) {
                    return;
                }
            }
            tally.outcomes += 1;
        }
    }
}

#[test]
fn no_power_loss_at_any_point_breaks_the_closure_invariant() {
    let mut tally = Tally::default();
    for seed in 0..HISTORIES {
        model(seed, Steps::default(), &mut tally);
    }
    println!("{tally:#?}");
    assert!(
        tally.violations.is_empty(),
        "{:#?}",
        &tally.violations[..tally.violations.len().min(5)]
    );
    assert!(
        tally.outcomes > 10_000 && tally.exhaustive_points > 0 && tally.recovery_crashes > 0,
        "{tally:?}"
    );
}

/// The model has teeth: recovery without either of its two checks leaves a broken store in
/// some outcome.
#[test]
fn recovery_without_either_check_is_caught_by_the_model() {
    for steps in [
        Steps {
            verify: false,
            references: true,
        },
        Steps {
            verify: true,
            references: false,
        },
    ] {
        let mut tally = Tally::default();
        for seed in 0..4 {
            model(seed, steps, &mut tally);
        }
        assert!(
            !tally.violations.is_empty(),
            "{steps:?}: no violation found in {tally:?}"
        );
    }
}
