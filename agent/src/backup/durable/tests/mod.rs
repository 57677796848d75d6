//! Tests of group commit: on the real file system (`unit`), and the power-loss model
//! (`model`: the committer's steps and recovery over a simulated disk, `sim`, replaying
//! generated histories, `history`).

mod history;
mod model;
mod sim;
mod unit;
