//! The build session every command goes through: a plain spec (tree, out
//! dir, arch, config, fragments, toolchain, jobs, LTO mode, environment)
//! becomes a prepared tree, then a configured one, then make runs (stages,
//! usage, one log each). Validation and the report read what it built.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};

use crate::home;
use crate::kbuild::arch::Arch;
use crate::kbuild::configure::{self, BaseConfig};
use crate::kbuild::driver::{self, MakeRun, Observe};
use crate::kbuild::execution::Execution;
use crate::kbuild::kconfig::Values;
use crate::kbuild::layout::Layout;
use crate::kbuild::lto_mode::LtoMode;
use crate::kbuild::make::Kbuild;
use crate::kbuild::outdir;
use crate::kbuild::outputs::Outputs;
use crate::kbuild::profiles::{Profiles, Staged};
use crate::kbuild::stages::Pipeline;
use crate::kbuild::support::TreeSupport;
use crate::launcher::plan::{Launch, RemoteSpec};
use crate::toolchain::Toolchain;
use crate::tree::kernel::KernelTree;
use crate::tree::lock::Lock;
use crate::tree::state::State;

/// What to build, as plain values: every command fills one in.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    pub tree: PathBuf,
    /// kbuild's O=; None builds in the tree.
    pub out: Option<PathBuf>,
    pub arch: Arch,
    /// A config target (tinyconfig, defconfig, …) or a .config file.
    pub config: String,
    /// Fragments as given: files, or bare names found in the tree's kernel/configs or configs/.
    pub fragments: Vec<PathBuf>,
    pub llvm: Option<String>,
    pub jobs: Option<usize>,
    pub mode: LtoMode,
    /// Variables for make's environment.
    pub env: Vec<(String, String)>,
    /// The command, for log names.
    pub command: &'static str,
    /// Where logs go (default: the cache's logs/).
    pub log_dir: PathBuf,
    /// Only reads the build (validate): no lock, no out dir claimed.
    pub read_only: bool,
    /// Wait for another run that holds the object tree instead of stopping.
    pub wait: bool,
    /// Back-end jobs on a remote engine; None: no launcher, make as always.
    pub remote: Option<RemoteSpec>,
    /// Build the modules too when the config has CONFIG_MODULES=y.
    pub modules: bool,
    /// AutoFDO and Propeller profiles, with the configs they need.
    pub profiles: Profiles,
    /// Who is shown the stages of each make run (a command's progress display).
    pub observe: Observe,
}

impl BuildSpec {
    pub fn new(command: &'static str, tree: PathBuf, arch: Arch) -> Self {
        Self {
            tree,
            out: None,
            arch,
            config: "tinyconfig".into(),
            fragments: Vec::new(),
            llvm: None,
            jobs: None,
            mode: LtoMode::ThinDist,
            env: vec![localversion()],
            command,
            log_dir: home::logs(),
            read_only: false,
            wait: false,
            remote: None,
            modules: true,
            profiles: Profiles::default(),
            observe: driver::unobserved,
        }
    }

    /// The same build in another LTO mode, in `root/<mode>`, logging into `root`.
    pub fn in_mode(&self, mode: LtoMode, root: &Path) -> Self {
        Self { mode, out: Some(root.join(mode.name())), log_dir: root.to_path_buf(), ..self.clone() }
    }
}

/// LOCALVERSION as every make of every command gets it: the user's, or set
/// and empty. Set, it keeps `scripts/setlocalversion` from appending the
/// git state (a `+` for an untagged tree), which would differ between
/// commands and between a tree and its scratch copy, and rebuild what
/// includes the release.
fn localversion() -> (String, String) {
    ("LOCALVERSION".into(), std::env::var("LOCALVERSION").unwrap_or_default())
}

/// A tree that has THIN_DIST, with its layout, toolchain and make context.
#[derive(Debug, Clone)]
pub struct Session {
    pub tree: KernelTree,
    pub layout: &'static Layout,
    pub series: String,
    pub mode: LtoMode,
    pub kb: Kbuild,
    pub base: BaseConfig,
    pub fragments: Vec<PathBuf>,
    /// The profiles' copies in the object tree, written before make runs.
    profiles: Vec<Staged>,
    /// The config options the profiles need.
    profile_options: Values,
    command: &'static str,
    log_dir: PathBuf,
    stamp: u64,
    /// Held while the session lives: one run per object tree.
    _lock: Option<Arc<Lock>>,
}

impl Session {
    /// Prepares the tree: it must have THIN_DIST (ours or the kernel's).
    /// Nothing is written.
    pub fn open(spec: BuildSpec, state: &State) -> Result<Self> {
        let tree = KernelTree::open(&spec.tree)?;
        let Some(layout) = TreeSupport::detect(&tree)?.layout() else {
            bail!(
                "{} (Linux {}) has no distributed ThinLTO yet; run `cargo xtask setup {}` first",
                tree.root.display(),
                tree.version,
                tree.root.display()
            );
        };
        let series =
            state.tree(&tree.root).map(|r| r.series).filter(|s| !s.is_empty()).unwrap_or_else(|| layout.name.clone());
        let toolchain = Toolchain::select(spec.llvm.as_deref())?;
        toolchain.check(layout.min_llvm)?;
        let objtree = match &spec.out {
            Some(o) => std::path::absolute(o)?,
            None => tree.root.clone(),
        };
        let lock = match spec.read_only {
            true => None,
            false => Some(Arc::new(Lock::acquire(&objtree, spec.command, spec.wait)?)),
        };
        let base = BaseConfig::parse(&spec.config)?;
        let mut fragments = spec.arch.fragment_paths();
        for f in &spec.fragments {
            fragments.push(configure::find_fragment(&tree.root, f)?);
        }
        let jobs = spec.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let execution = match &spec.remote {
            Some(r) if !spec.read_only => {
                let out = objtree.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                let name = format!("{}-{}-{}-{out}-{stamp}.jobs.jsonl", spec.command, spec.arch.name, spec.mode);
                let records = spec.log_dir.join(name);
                std::fs::create_dir_all(&spec.log_dir)?;
                Execution::Launcher(Box::new(Launch::prepare(r, &toolchain.clang, &tree.root, &objtree, records)?))
            }
            _ => Execution::Local,
        };
        let profiles = spec.profiles.stage(&tree.root, &objtree)?;
        let mut env = spec.env;
        env.extend(profiles.iter().map(Staged::env));
        let kb = Kbuild {
            tree: tree.root.clone(),
            objtree,
            arch: spec.arch,
            toolchain,
            jobs,
            env,
            execution,
            modules: spec.modules,
            observe: spec.observe,
        };
        Ok(Self {
            tree,
            layout,
            series,
            mode: spec.mode,
            kb,
            base,
            fragments,
            profiles,
            profile_options: spec.profiles.options(),
            command: spec.command,
            log_dir: spec.log_dir,
            stamp,
            _lock: lock,
        })
    }

    /// The same session building in another tree, in that tree (clean-check's scratch copy).
    pub fn in_tree(&self, tree: &Path) -> Result<Self> {
        let mut other = self.clone();
        other.tree = KernelTree::open(tree)?;
        other.kb.tree = other.tree.root.clone();
        other.kb.objtree = other.tree.root.clone();
        if let Execution::Launcher(l) = &mut other.kb.execution {
            l.config.srctree = other.tree.root.clone();
            l.config.objtree = other.tree.root.clone();
        }
        Ok(other)
    }

    pub fn pipeline(&self) -> Pipeline {
        self.mode.pipeline(self.layout)
    }

    /// `.config` from the base, the fragments and this mode's LTO choice,
    /// proven to hold every asked-for option.
    pub fn configure(&self) -> Result<Values> {
        if self.kb.out_of_tree() && self.tree.path(".config").exists() {
            bail!(
                "{} has a .config, so kbuild refuses O= builds from it; run `make mrproper` in the tree or build without --out",
                self.tree.root.display()
            );
        }
        if self.kb.out_of_tree() {
            outdir::claim(&self.kb.objtree)?;
        }
        println!(
            "configuring {} {} for {} ({}, LLVM={}, -j{})",
            self.base.name(),
            self.fragments.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" "),
            self.kb.arch.name,
            self.mode,
            self.kb.toolchain.llvm,
            self.kb.jobs
        );
        let mut options = self.mode.options();
        options.extend(&self.profile_options);
        configure::configure(&self.kb, &self.base, &self.fragments, &options)
    }

    /// Puts the profiles' copies in the object tree (before any make that compiles).
    fn write_profiles(&self) -> Result<()> {
        self.profiles.iter().try_for_each(Staged::write)
    }

    /// The one log-naming scheme: `<command>-<arch>-<mode>-<what>-<stamp>.log`.
    pub fn log_path(&self, what: &str) -> PathBuf {
        self.log_dir.join(format!("{}-{}-{}-{what}-{}.log", self.command, self.kb.arch.name, self.mode, self.stamp))
    }

    /// Runs make for the kernel targets; `what` names the run (full, noop, …).
    pub fn make(&self, what: &str) -> Result<MakeRun> {
        self.write_profiles()?;
        let log = self.log_path(what);
        println!(
            "{} {what} build: {}\n  log: {}",
            self.mode,
            self.kb.command(&self.kb.kernel_targets()).display(),
            log.display()
        );
        self.kb.make(self.pipeline(), &log)
    }

    /// As make, but a failed build is an error showing the compiler's message.
    pub fn make_ok(&self, what: &str) -> Result<MakeRun> {
        let run = self.make(what)?;
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

    /// The build this session's object tree holds, read through its layout.
    pub fn outputs(&self) -> Outputs<'_> {
        Outputs::new(&self.kb.objtree, self.layout)
    }

    /// Whether the object tree holds a build of this layout.
    pub fn is_built(&self) -> bool {
        self.kb.path("vmlinux.o").exists() && self.kb.path(&self.layout.ir_archive).exists()
    }
}
