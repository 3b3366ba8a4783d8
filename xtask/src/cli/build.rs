//! `cargo xtask build` and `cargo xtask validate`: from a set-up tree to a
//! validated THIN_DIST vmlinux.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};

use crate::checks::validate::{self, Validation};
use crate::cli::args::Global;
use crate::home;
use crate::kbuild::arch::Arch;
use crate::kbuild::configure::{self, BaseConfig};
use crate::kbuild::driver;
use crate::kbuild::kconfig::Values;
use crate::kbuild::layout::{Layout, TreeSupport};
use crate::kbuild::lto_mode::LtoMode;
use crate::kbuild::make::Kbuild;
use crate::kbuild::stages::Pipeline;
use crate::kbuild::toolchain::Toolchain;
use crate::report::{BuildReport, KernelInfo, ToolchainInfo};
use crate::tree::kernel::KernelTree;

#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Architecture: a file under configs/ (x86_64, arm64, riscv, loongarch).
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// Output directory (kbuild's O=); default: build in the tree.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  cargo xtask build --arch riscv                          # tinyconfig, in the tree
  cargo xtask build --arch arm64 --config defconfig --out /tmp/arm64 -j 8 --json build.json
  cargo xtask build --arch x86_64 --fragment configs/boot-x86_64.config --llvm -19")]
pub struct BuildArgs {
    #[command(flatten)]
    pub target: Target,
    /// Base config: a make target (tinyconfig, defconfig, allnoconfig, …) or a .config file.
    #[arg(long, default_value = "tinyconfig")]
    pub config: String,
    /// Config fragment to merge (repeatable): a file, or a name in the tree's kernel/configs or in configs/.
    #[arg(long, value_name = "FILE")]
    pub fragment: Vec<PathBuf>,
    #[command(flatten)]
    pub tools: ToolArgs,
}

/// kbuild's toolchain and parallelism, shared by every command that builds.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ToolArgs {
    /// kbuild's LLVM=: 1, a suffix such as -19, or a bin/ directory. Default: newest clang-N on PATH.
    #[arg(long)]
    pub llvm: Option<String>,
    /// Parallel jobs (make -j). Default: the number of cores.
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
}

/// A tree that has THIN_DIST, with the layout it uses.
pub struct Prepared {
    pub tree: KernelTree,
    pub layout: Layout,
    pub series: String,
}

pub fn prepared_tree(global: &Global) -> Result<Prepared> {
    let dir = global.kernel_dir()?;
    let tree = KernelTree::open(&dir)?;
    let Some(layout) = TreeSupport::detect(&tree).layout() else {
        bail!(
            "{} (Linux {}) has no distributed ThinLTO yet; run `cargo xtask setup {}` first",
            tree.root.display(),
            tree.version,
            tree.root.display()
        );
    };
    let state = global.load_state()?;
    let series =
        state.tree(&tree.root).map(|r| r.series).filter(|s| !s.is_empty()).unwrap_or_else(|| layout.name().to_string());
    Ok(Prepared { tree, layout, series })
}

pub fn log_path(arch: &str) -> PathBuf {
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    home::logs().join(format!("build-{arch}-{stamp}.log"))
}

pub fn validate_build(kb: &Kbuild, layout: Layout) -> Result<Validation> {
    validate::validate(&validate::Target {
        objtree: &kb.objtree,
        layout,
        elf_machine: kb.arch.elf_machine,
        image: &kb.arch.image,
    })
}

/// A tree configured for a THIN_DIST build, ready for make.
pub struct Configured {
    pub prepared: Prepared,
    pub kb: Kbuild,
    pub base: BaseConfig,
    pub fragments: Vec<PathBuf>,
    pub config: Values,
}

/// Everything up to make: tree, toolchain, `.config` with THIN_DIST proven.
pub fn configure_step(args: &BuildArgs, global: &Global) -> Result<Configured> {
    configure_with(args, global, &LtoMode::ThinDist.options())
}

/// As configure_step, with another LTO option set (e.g. in-process ThinLTO).
pub fn configure_with(args: &BuildArgs, global: &Global, options: &Values) -> Result<Configured> {
    let prepared = prepared_tree(global)?;
    let arch = Arch::load(&args.target.arch)?;
    let toolchain = Toolchain::select(args.tools.llvm.as_deref())?;
    let kb = Kbuild::new(&prepared.tree.root, args.target.out.as_deref(), arch, toolchain, args.tools.jobs)?;
    if kb.out_of_tree() && prepared.tree.path(".config").exists() {
        bail!("{} has a .config, so kbuild refuses O= builds from it; run `make mrproper` in the tree or build without --out", prepared.tree.root.display());
    }
    let base = BaseConfig::parse(&args.config)?;
    let mut fragments = kb.arch.fragment_paths();
    for f in &args.fragment {
        fragments.push(find_fragment(&prepared.tree.root, f)?);
    }
    println!(
        "configuring {} {} for {} (LLVM={}, -j{})",
        base.name(),
        fragments.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" "),
        kb.arch.name,
        kb.toolchain.llvm,
        kb.jobs
    );
    let config = configure::configure(&kb, &base, &fragments, options)?;
    Ok(Configured { prepared, kb, base, fragments, config })
}

/// A fragment as given, or by bare name as kbuild finds them (`make
/// tinyconfig kvm_guest.config`): the tree's kernel/configs, then ours.
fn find_fragment(tree: &Path, given: &Path) -> Result<PathBuf> {
    if given.is_file() {
        return Ok(given.to_path_buf());
    }
    let bare = given.components().count() == 1;
    let candidates = [tree.join("kernel/configs").join(given), home::configs().join(given)];
    match candidates.iter().find(|c| bare && c.is_file()) {
        Some(found) => Ok(found.clone()),
        None if bare => bail!(
            "config fragment {} not found (looked in the current directory, in {} and in {})",
            given.display(),
            candidates[0].parent().unwrap().display(),
            home::configs().display()
        ),
        None => bail!("config fragment {} not found", given.display()),
    }
}

/// make, then validation; the report is printed (and written as JSON).
pub fn make_step(c: &Configured, json: Option<&Path>) -> Result<BuildReport> {
    let (p, kb) = (&c.prepared, &c.kb);
    let argv = kb.argv(&["vmlinux", &kb.arch.image_target]);
    let log = log_path(&kb.arch.name);
    println!("building: {}\n  log: {}", argv.join(" "), log.display());
    let made = driver::run(&argv, &kb.objtree, Pipeline::Distributed(p.layout), &log)?;
    let mut report = BuildReport {
        kernel: KernelInfo {
            tree: p.tree.root.display().to_string(),
            version: p.tree.version.to_string(),
            series: p.series.clone(),
            layout: p.layout.to_string(),
        },
        arch: kb.arch.name.clone(),
        config: c.base.name(),
        fragments: c.fragments.iter().map(|f| f.display().to_string()).collect(),
        objtree: kb.objtree.display().to_string(),
        toolchain: ToolchainInfo {
            llvm: kb.toolchain.llvm.clone(),
            clang: kb.toolchain.clang_version(),
            lld: kb.toolchain.lld_version(),
        },
        commands: vec![made.argv.join(" ")],
        stages: made.stages.clone(),
        build_seconds: made.seconds,
        log: made.log.display().to_string(),
        validation: None,
        result: String::new(),
    };
    if !made.success {
        report.result = "build failed".into();
        finish(&report, json)?;
        bail!("the build failed:\n{}\nfull output: {}", made.failure_summary(), made.log.display());
    }
    let v = validate_build(kb, p.layout)?;
    let ok = v.ok();
    report.validation = Some(v);
    report.result = if ok { "ok".into() } else { "validation failed".into() };
    finish(&report, json)?;
    if !ok {
        bail!("the build finished but validation failed (see above)");
    }
    Ok(report)
}

pub fn run(args: &BuildArgs, global: &Global) -> Result<BuildReport> {
    let configured = configure_step(args, global)?;
    make_step(&configured, args.target.json.as_deref())
}

fn finish(report: &BuildReport, json: Option<&Path>) -> Result<()> {
    report.print();
    if let Some(path) = json {
        report.write_json(path)?;
        println!("  json: {}", path.display());
    }
    Ok(())
}

/// `cargo xtask validate`: the checks alone, on an existing build.
pub fn validate_only(target: &Target, global: &Global) -> Result<()> {
    let p = prepared_tree(global)?;
    let arch = Arch::load(&target.arch)?;
    let objtree = target.out.clone().unwrap_or_else(|| p.tree.root.clone());
    if !objtree.join("vmlinux.o").exists() && !objtree.join(p.layout.ir_archive()).exists() {
        bail!("{} holds no THIN_DIST build; run `cargo xtask build --arch {}` first", objtree.display(), target.arch);
    }
    let v = validate::validate(&validate::Target {
        objtree: &objtree,
        layout: p.layout,
        elf_machine: arch.elf_machine,
        image: &arch.image,
    })?;
    println!("{} ({}, layout {}) {}", objtree.display(), target.arch, p.layout, v.summary());
    if let Some(path) = &target.json {
        crate::report::write_json(path, &v)?;
    }
    if !v.ok() {
        bail!("validation failed: {} problem(s)", v.failures.len());
    }
    Ok(())
}
