//! `cache clean`: removes what is named (builds, trees, the engine's CAS),
//! then logs and scans past the limits; says each removal as it goes.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::cache::limits::Limits;
use crate::cache::usage::size;
use crate::cache::{self, prune};
use crate::home;
use crate::tree::state::State;

/// What to remove beyond logs and scans past the limits.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub dry_run: bool,
    /// Builds named, and with `unreferenced` every build no tree the state knows points to.
    pub builds: Vec<PathBuf>,
    pub unreferenced: bool,
    /// Extracted trees of the cache; with `force` even with changes or current.
    pub trees: Vec<PathBuf>,
    pub force: bool,
    /// The local engine's CAS and action cache.
    pub engine: bool,
}

#[derive(Serialize, Default)]
pub struct Cleaned {
    pub dry_run: bool,
    pub logs_and_scans: prune::Pruned,
    pub removed: Vec<PathBuf>,
    pub bytes: u64,
}

pub fn clean(state: &mut State, limits: &Limits, c: &Request) -> Result<Cleaned> {
    if c.force && c.trees.is_empty() {
        bail!("--force is for a named --tree; nothing else is removed by force");
    }
    let verb = if c.dry_run { "would remove" } else { "removed" };
    let mut out = Cleaned { dry_run: c.dry_run, ..Default::default() };
    // What is named first: a refusal there stops the command before anything else goes.
    let mut builds = c.builds.clone();
    if c.unreferenced {
        for p in cache::parts(state).into_iter().filter(|p| p.name == "builds" || p.name == "compare") {
            builds.extend(p.items.into_iter().filter(|i| i.unreferenced).map(|i| i.path));
        }
    }
    let removed = |path: PathBuf, bytes: u64, out: &mut Cleaned| {
        println!("cache: {verb} {} ({})", path.display(), size(bytes));
        out.bytes += bytes;
        out.removed.push(path);
    };
    for b in builds {
        let bytes = cache::remove_build(&b, c.dry_run)?;
        removed(b, bytes, &mut out);
    }
    for t in &c.trees {
        let bytes = cache::remove_tree(state, t, c.force, c.dry_run)?;
        removed(t.clone(), bytes, &mut out);
    }
    if c.engine {
        let bytes = cache::remove_engine_cache(c.dry_run)?;
        removed(crate::remote::engine::dir().join("cas"), bytes, &mut out);
    }
    out.logs_and_scans = prune::prune(&[home::logs(), home::scans()], limits, c.dry_run)?;
    println!(
        "cache: {verb} {} log and scan file(s), {} ({} kept; limits {} days, {})",
        out.logs_and_scans.files,
        size(out.logs_and_scans.bytes),
        size(out.logs_and_scans.kept_bytes),
        limits.max_age_days,
        limits.max_size.display().iec()
    );
    Ok(out)
}
