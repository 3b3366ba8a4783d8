//! `cargo xtask cache`: each part of the cache with its size and age, the
//! limits and the free space, on screen and as JSON.

use std::path::PathBuf;

use serde::Serialize;

use crate::cache;
use crate::cache::limits::Limits;
use crate::cache::usage::{self, size};
use crate::home;
use crate::tree::state::State;

#[derive(Serialize)]
pub struct Shown {
    cache: PathBuf,
    bytes: u64,
    free_bytes: Option<u64>,
    limits: ShownLimits,
    parts: Vec<cache::Part>,
}

#[derive(Serialize)]
struct ShownLimits {
    max_age_days: u64,
    max_size_bytes: u64,
    engine_max_size_bytes: u64,
}

/// Prints the cache part by part; returns the same as data for `--json`.
pub fn show(state: &State, limits: &Limits) -> Shown {
    let parts = cache::parts(state);
    let cache = home::cache();
    let bytes = parts.iter().filter(|p| p.path.starts_with(&cache)).map(|p| p.usage.bytes).sum();
    println!("cache: {} ({})", cache.display(), size(bytes));
    let now = usage::now();
    for p in &parts {
        let age = (now.saturating_sub(p.usage.newest)) / 86400;
        println!(
            "  {:<8} {:>10}  {:>7} files, last written {} day(s) ago  {}  ({})",
            p.name,
            size(p.usage.bytes),
            p.usage.files,
            age,
            p.what,
            p.path.display()
        );
        for i in &p.items {
            println!("      {:<34} {:>10}  {}", i.name, size(i.usage.bytes), i.note);
        }
    }
    println!(
        "limits ([cache] in {}): logs and scans older than {} days or past {} together; the engine's CAS {}",
        state.path().display(),
        limits.max_age_days,
        limits.max_size.display().iec(),
        limits.engine_max_size.display().iec()
    );
    let free = crate::files::free_bytes(&cache);
    if let Some(f) = free {
        println!("free on the cache's filesystem: {}", size(f));
    }
    Shown {
        cache,
        bytes,
        free_bytes: free,
        limits: ShownLimits {
            max_age_days: limits.max_age_days,
            max_size_bytes: limits.max_size.as_u64(),
            engine_max_size_bytes: limits.engine_max_size.as_u64(),
        },
        parts,
    }
}
