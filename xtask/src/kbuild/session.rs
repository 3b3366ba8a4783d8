//! One tree built in one LTO mode in its own `O=` directory, for the
//! commands that put the two modes side by side (compare, bench incremental).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::checks::clean;
use crate::cli::args::Global;
use crate::cli::build::{self, BuildArgs, Configured};
use crate::kbuild::driver::{self, MakeRun};
use crate::kbuild::lto_mode::LtoMode;

/// Marks a directory as thindist's own, so it may be emptied for a fresh build.
const OWNED: &str = ".thindist-owned";

/// Makes `dir` an empty directory of ours. A directory with other content
/// that thindist did not make is left alone: the user may need it.
pub fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?.next().is_none();
        if !empty && !dir.join(OWNED).exists() {
            bail!("{} exists and was not made by thindist; give a new or empty directory", dir.display());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join(OWNED), "made by thindist; emptied by the next run that uses it\n")?;
    Ok(())
}

pub struct ModeBuild {
    pub mode: LtoMode,
    pub configured: Configured,
    argv: Vec<String>,
    logs: PathBuf,
}

impl ModeBuild {
    /// Configures the tree for `mode` in `root/<mode>` (emptied first); logs go to `root`.
    pub fn configure(args: &BuildArgs, global: &Global, mode: LtoMode, root: &Path) -> Result<Self> {
        let out = root.join(mode.name());
        fresh_dir(&out)?;
        let mut args = args.clone();
        args.target.out = Some(out);
        let configured = build::configure_with(&args, global, &mode.options())?;
        let argv = configured.kb.argv(&["vmlinux", &configured.kb.arch.image_target]);
        Ok(Self { mode, configured, argv, logs: root.to_path_buf() })
    }

    /// Runs make (`what` names the run in its log); a failed build is an error.
    pub fn make(&self, what: &str) -> Result<MakeRun> {
        let log = self.logs.join(format!("{}-{what}.log", self.mode.name()));
        println!("{} {what} build: {}\n  log: {}", self.mode, self.argv.join(" "), log.display());
        let pipeline = self.mode.pipeline(self.configured.prepared.layout);
        let run = driver::run(&self.argv, &self.configured.kb.objtree, pipeline, &log)?;
        if !run.success {
            bail!(
                "the {} {what} build failed:\n{}\nfull output: {}",
                self.mode,
                run.failure_summary(),
                run.log.display()
            );
        }
        Ok(run)
    }
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

/// No-op rebuilds of every build, then one touch of clean-check's file and
/// a one-file rebuild of each: the same change reaches every mode.
pub fn incremental(builds: &[ModeBuild]) -> Result<Vec<Incremental>> {
    let noops = builds.iter().map(|b| b.make("noop")).collect::<Result<Vec<_>>>()?;
    let tree = &builds.first().context("no builds")?.configured.prepared.tree.root;
    clean::touch_one_file(tree)?;
    let ones = builds.iter().map(|b| b.make("one-file")).collect::<Result<Vec<_>>>()?;
    Ok(noops
        .iter()
        .zip(&ones)
        .map(|(n, o)| Incremental { noop: n.into(), one_file: o.into(), touched: clean::TOUCHED })
        .collect())
}
