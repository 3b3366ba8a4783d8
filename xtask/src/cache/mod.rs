//! What the tool keeps under its cache (`THINDIST_HOME`, default
//! `~/.cache/thindist`), part by part, and the limits that keep it from
//! growing for as long as the tool is used (`cargo xtask cache`).
//!
//! Logs and kept dependency scans are pruned by age and size after every
//! build and by `cache clean`; the engine's CAS is bounded by its own quota;
//! build directories and extracted trees go only when named (or, for a
//! build, when no tree the state knows is its source), never a tree with
//! changes or the state's current one without `--force`.

pub mod clean;
pub mod limits;
pub mod prune;
pub mod usage;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::home;
use crate::kbuild::outdir;
use crate::remote::engine;
use crate::tree::git;
use crate::tree::lock::Lock;
use crate::tree::state::State;
use usage::Usage;

/// One part of the cache.
#[derive(Debug, Serialize)]
pub struct Part {
    pub name: &'static str,
    pub path: PathBuf,
    pub what: &'static str,
    pub usage: Usage,
    /// The trees and builds in it, each on its own.
    pub items: Vec<Item>,
}

/// A tree or a build directory.
#[derive(Debug, Serialize)]
pub struct Item {
    pub name: String,
    pub path: PathBuf,
    pub usage: Usage,
    /// What keeps it, or why it may go.
    pub note: String,
    /// Whether `cache clean --builds` (a build) would remove it without being named.
    pub unreferenced: bool,
}

/// The parts, in the order shown; those with nothing in them left out.
pub fn parts(state: &State) -> Vec<Part> {
    let cache = home::cache();
    let part = |name, path: PathBuf, what| Part { name, usage: usage::of(&path), path, what, items: Vec::new() };
    let mut parts = vec![
        Part { items: trees(state), ..part("trees", home::trees(), "kernel trees extracted from tarballs") },
        Part { items: builds(state, &builds_dir()), ..part("builds", builds_dir(), "build directories (O=)") },
        Part { items: builds(state, &compare_dir()), ..part("compare", compare_dir(), "compare's two builds") },
        part("logs", home::logs(), "make logs and launcher job records"),
        part("scans", home::scans(), "kept front-end dependency scans"),
        part("engine", engine::dir(), "the local engine's CAS and action cache"),
        part("sources", home::sources(), "downloaded kernel tarballs"),
        part("apt", cache.join("apt"), "package lists for downloads"),
        part("test", cache.join("test"), "the test suite's own cache"),
        part("tools", home::tools(), "installed tools (the engine's venv), shared by every cache"),
    ];
    let known: Vec<PathBuf> = parts.iter().map(|p| p.path.clone()).collect();
    if let Ok(entries) = std::fs::read_dir(&cache) {
        for e in entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
            if !known.contains(&e.path()) && e.file_name() != "locks" {
                parts.push(part("other", e.path(), "not a part thindist knows"));
            }
        }
    }
    parts.retain(|p| p.usage.files > 0);
    parts
}

pub fn builds_dir() -> PathBuf {
    home::cache().join("builds")
}

pub fn compare_dir() -> PathBuf {
    home::cache().join("compare")
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn name_of(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
}

fn trees(state: &State) -> Vec<Item> {
    subdirs(&home::trees())
        .into_iter()
        .map(|path| {
            let mut notes = Vec::new();
            if state.current().is_some_and(|c| c == path) {
                notes.push("the state's current tree".to_string());
            } else if state.tree(&path).is_some() {
                notes.push("set up in the state".to_string());
            }
            match changes(&path) {
                Ok(c) if !c.is_empty() => notes.push(format!("{} changed file(s), e.g. {}", c.len(), c[0])),
                Ok(_) => {}
                Err(_) => notes.push("not a git tree".to_string()),
            }
            Item { name: name_of(&path), usage: usage::of(&path), path, note: notes.join("; "), unreferenced: false }
        })
        .collect()
}

/// A tree's uncommitted changes (modified, staged, untracked and not ignored).
fn changes(tree: &Path) -> Result<Vec<String>> {
    let repo = git::open(tree)?.context("not a git repository")?;
    git::dirty_files(&repo)
}

/// The kernel tree an O= directory was built from: kbuild's `source` link
/// (compare's root holds one build per mode).
fn source_of(build: &Path) -> Option<PathBuf> {
    ["source", "thin-dist/source", "in-process/source"]
        .iter()
        .find_map(|l| std::fs::read_link(build.join(l)).ok())
        .map(|t| if t.is_absolute() { t } else { build.join(t) })
}

fn builds(state: &State, dir: &Path) -> Vec<Item> {
    subdirs(dir)
        .into_iter()
        .map(|path| {
            let source = source_of(&path);
            let (note, unreferenced) = match &source {
                None => ("no kernel build in it".to_string(), false),
                Some(s) if !s.exists() => (format!("its tree {} is gone", s.display()), true),
                Some(s) if state.tree(s).is_none() && state.current().as_deref() != Some(s) => {
                    (format!("of {}, a tree the state does not know", s.display()), true)
                }
                Some(s) => (format!("of {}", s.display()), false),
            };
            Item { name: name_of(&path), usage: usage::of(&path), path, note, unreferenced }
        })
        .collect()
}

/// Removes a build directory of the cache, named or unreferenced: only one
/// under builds/ or compare/, made by thindist or kbuild, not in use.
pub fn remove_build(dir: &Path, dry_run: bool) -> Result<u64> {
    let dir = std::path::absolute(dir)?;
    if !(dir.starts_with(builds_dir()) || dir.starts_with(compare_dir())) || !dir.is_dir() {
        bail!(
            "{} is not a build directory of the cache ({} or {}); `cargo xtask cache` lists them",
            dir.display(),
            builds_dir().display(),
            compare_dir().display()
        );
    }
    // A build directory, or compare's root of one per mode.
    if !["", "thin-dist", "in-process"].iter().any(|d| outdir::is_ours(&dir.join(d))) {
        bail!("{} was not made by thindist or kbuild; it is left as it is", dir.display());
    }
    // A build running in it holds this lock: wait for none, refuse.
    let _lock = Lock::acquire(&dir, "cache clean", false)?;
    let bytes = usage::of(&dir).bytes;
    if !dry_run {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    Ok(bytes)
}

/// Removes an extracted tree of the cache. One with changes, or one the
/// state has set up (its current tree above all), only with `force`; its
/// record then leaves the state too.
pub fn remove_tree(state: &mut State, tree: &Path, force: bool, dry_run: bool) -> Result<u64> {
    let tree = std::path::absolute(tree)?;
    if tree.parent() != Some(home::trees().as_path()) || !tree.is_dir() {
        bail!(
            "{} is not a tree extracted into the cache ({}); the tool removes no other tree",
            tree.display(),
            home::trees().display()
        );
    }
    let changed = changes(&tree).unwrap_or_default();
    if !changed.is_empty() && !force {
        bail!(
            "{} has {} uncommitted change(s) ({}{}); commit or save them, or pass --force to lose them",
            tree.display(),
            changed.len(),
            changed.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            if changed.len() > 3 { ", …" } else { "" }
        );
    }
    let current = state.current().is_some_and(|c| c == tree);
    if (current || state.tree(&tree).is_some()) && !force {
        let what = if current { "the state's current tree" } else { "set up in the state" };
        bail!("{} is {what} ({}); pass --force to remove it and its record", tree.display(), state.path().display());
    }
    let _lock = Lock::acquire(&tree, "cache clean", false)?;
    let bytes = usage::of(&tree).bytes;
    if !dry_run {
        std::fs::remove_dir_all(&tree).with_context(|| format!("cannot remove {}", tree.display()))?;
        if state.tree(&tree).is_some() || current {
            state.remove_tree(&tree);
            if current {
                state.clear_current();
            }
            state.save()?;
        }
    }
    Ok(bytes)
}

/// The engine's CAS and action cache, emptied while no engine runs.
pub fn remove_engine_cache(dry_run: bool) -> Result<u64> {
    if let Some(r) = engine::running()? {
        bail!("the engine is running (pid {}); stop it first with `cargo xtask remote stop`", r.pid);
    }
    let cas = engine::dir().join("cas");
    let bytes = usage::of(&cas).bytes;
    if !dry_run && cas.exists() {
        std::fs::remove_dir_all(&cas).with_context(|| format!("cannot remove {}", cas.display()))?;
    }
    Ok(bytes)
}

/// After a build: logs and scans back within the limits; says so when any went.
pub fn prune_after_build(state: &State) {
    let run = || -> Result<prune::Pruned> {
        let limits = limits::Limits::of(state)?;
        prune::prune(&[home::logs(), home::scans()], &limits, false)
    };
    match run() {
        Ok(p) if p.files > 0 => println!(
            "cache: removed {} old log and scan file(s), {} (limits: `cargo xtask cache`)",
            p.files,
            bytesize::ByteSize(p.bytes).display().iec()
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: cache limits not applied: {e:#}"),
    }
}
