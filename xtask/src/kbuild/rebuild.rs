//! Rebuilds after a full build: a no-op make and the one-file change that
//! clean-check and the benchmarks share, so every mode sees the same change.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::kbuild::driver::MakeRun;
use crate::kbuild::session::Session;

/// The file touched by the one-file check and bench: in every kernel and every config.
pub const TOUCHED: &str = "kernel/fork.c";

/// A one-file change as make sees it: the file's mtime moves to now.
pub fn touch_one_file(tree: &Path) -> Result<()> {
    touch(tree, TOUCHED)
}

/// Moves the mtime of `file` in `tree` to now, as `touch` does.
pub fn touch(tree: &Path, file: &str) -> Result<()> {
    let file = tree.join(file);
    std::fs::File::options()
        .write(true)
        .open(&file)?
        .set_modified(std::time::SystemTime::now())
        .with_context(|| format!("cannot touch {}", file.display()))
}

/// A rebuild after a full build: how long it took and what it compiled.
#[derive(Debug, Clone, Serialize)]
pub struct Rebuild {
    pub seconds: f64,
    /// Compiles and links it ran (front-end, back-end, links).
    pub steps: usize,
}

impl From<&MakeRun> for Rebuild {
    fn from(run: &MakeRun) -> Self {
        Rebuild { seconds: run.seconds, steps: run.stages.iter().map(|s| s.steps).sum() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Incremental {
    pub noop: Rebuild,
    /// After touching clean-check's one file.
    pub one_file: Rebuild,
    pub touched: &'static str,
}

/// No-op rebuilds of every build, then one touch of the one file and a
/// one-file rebuild of each: the same change reaches every mode.
pub fn incremental(builds: &[Session]) -> Result<Vec<Incremental>> {
    let noops = builds.iter().map(|b| b.make_ok("noop")).collect::<Result<Vec<_>>>()?;
    let tree = &builds.first().context("no builds")?.tree.root;
    touch_one_file(tree)?;
    let ones = builds.iter().map(|b| b.make_ok("one-file")).collect::<Result<Vec<_>>>()?;
    Ok(noops
        .iter()
        .zip(&ones)
        .map(|(n, o)| Incremental { noop: n.into(), one_file: o.into(), touched: TOUCHED })
        .collect())
}
