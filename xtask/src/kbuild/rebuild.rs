//! Rebuilds after a full build: a no-op make and the one-file change that
//! clean-check and the benchmarks share, so every mode sees the same change.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::exec::child::Usage;
use crate::kbuild::driver::MakeRun;
use crate::kbuild::lto_mode::ModePair;
use crate::kbuild::outputs::{module_objects, modules};
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

/// The module with the most objects (its path without `.ko`), and the first
/// of its objects whose `.c` is in the tree: the module source a one-file
/// rebuild touches.
pub fn module_source(objtree: &Path, tree: &Path) -> Result<(String, String)> {
    let mut best: Option<(usize, String, String)> = None;
    for module in modules(objtree).unwrap_or_default() {
        let objects = module_objects(objtree, &module);
        let source = objects.iter().map(|o| format!("{}.c", o.trim_end_matches(".o"))).find(|c| tree.join(c).is_file());
        if let Some(c) = source.filter(|_| best.as_ref().is_none_or(|(n, _, _)| objects.len() > *n)) {
            best = Some((objects.len(), module.stem.clone(), c));
        }
    }
    match best {
        Some((_, module, source)) => Ok((module, source)),
        None => bail!("no module of this build has a .c source in the tree (read from its .mod file)"),
    }
}

/// Moves the mtime of every object of every module to now, in a build's
/// own object tree, so that make links each module again from its objects:
/// in-process ThinLTO re-runs the module's whole LTO inside `ld -r`,
/// THIN_DIST its thin-link and every native. (A module of one object did
/// its back-end in its compile, in both modes, so only its `.ko` is linked
/// again.)
pub fn touch_module_objects(objtree: &Path) -> Result<()> {
    for module in modules(objtree).unwrap_or_default() {
        for object in module_objects(objtree, &module) {
            touch(objtree, &object)?;
        }
    }
    Ok(())
}

/// A rebuild after a full build: how long it took, what it compiled and
/// what it used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rebuild {
    pub seconds: f64,
    /// Compiles and links it ran (front-end, back-end, links).
    pub steps: usize,
    pub usage: Usage,
}

impl From<&MakeRun> for Rebuild {
    fn from(run: &MakeRun) -> Self {
        Rebuild { seconds: run.seconds, steps: run.stages.iter().map(|s| s.steps).sum(), usage: run.usage }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Incremental {
    pub noop: Rebuild,
    /// After touching clean-check's one file.
    pub one_file: Rebuild,
    pub touched: String,
    /// After touching one source of the module with the most objects (a
    /// build with modules), and that source.
    pub module_one_file: Option<Rebuild>,
    pub module_touched: Option<String>,
    /// After touching every module's objects: the modules stage alone,
    /// after the front-end (see `touch_module_objects`).
    pub modules_relinked: Option<Rebuild>,
}

/// No-op rebuilds of both builds, then one touch of the one file and a
/// one-file rebuild of each: the same change reaches both modes. With
/// modules, then the same for one module source, and every module linked
/// again from its objects.
pub fn incremental(builds: &ModePair<Session>) -> Result<ModePair<Incremental>> {
    let noops = builds.try_map(|_, b| b.make_ok("noop"))?;
    let first = &builds.in_process;
    let tree = &first.tree.root;
    touch_one_file(tree)?;
    let ones = builds.try_map(|_, b| b.make_ok("one-file"))?;
    let (module_ones, module_touched, relinks) = match modules(&first.kb.objtree) {
        Some(_) => {
            let (_, source) = module_source(&first.kb.objtree, tree)?;
            touch(tree, &source)?;
            let runs = builds.try_map(|_, b| b.make_ok("module-one-file"))?;
            let relinks = builds.try_map(|_, b| {
                touch_module_objects(&b.kb.objtree)?;
                b.make_ok("modules-relinked")
            })?;
            let some = |runs: &ModePair<MakeRun>| runs.map(|_, r| Some(Rebuild::from(r)));
            (some(&runs), Some(source), some(&relinks))
        }
        None => (ModePair { in_process: None, thin_dist: None }, None, ModePair { in_process: None, thin_dist: None }),
    };
    Ok(noops.zip(ones).zip(module_ones).zip(relinks).into_map(|_, (((n, o), m), r)| Incremental {
        noop: (&n).into(),
        one_file: (&o).into(),
        touched: TOUCHED.to_string(),
        module_one_file: m,
        module_touched: module_touched.clone(),
        modules_relinked: r,
    }))
}
