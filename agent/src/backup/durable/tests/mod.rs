//! Tests of group commit: on the real file system (`unit`), and the power-loss model
//! (`model`: the committer's steps and recovery over a simulated disk, `sim`, replaying
//! generated histories, `history`); `timing` (ignored) times a first copy both ways.

mod history;
mod model;
mod sim;
mod timing;
mod unit;
