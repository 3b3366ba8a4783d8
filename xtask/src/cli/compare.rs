//! `cargo xtask compare`: the same tree and config built with in-process
//! ThinLTO and with THIN_DIST in separate `O=` directories; stage times,
//! CPU and memory, whether the kernels are the same program, incremental
//! rebuilds, optionally a boot of each; a table, JSON and an SVG timeline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::checks::boot::{self, BootReport, Outcome};
use crate::checks::equivalence::{self, Equivalence, Image, Verdict};
use crate::checks::validate::Validation;
use crate::cli::args::Global;
use crate::cli::build::{self, BuildArgs, Target, ToolArgs};
use crate::exec::child::Usage;
use crate::home;
use crate::kbuild::arch::Arch;
use crate::kbuild::driver::{MakeRun, StageTime};
use crate::kbuild::kconfig::Values;
use crate::kbuild::lto_mode::LtoMode;
use crate::kbuild::session::{self, Incremental, ModeBuild};
use crate::report::machine::{self, Machine};
use crate::report::{table, timeline};
use crate::report::{KernelInfo, ToolchainInfo};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo xtask compare --arch x86_64                         # tinyconfig, both modes, incremental rebuilds
  cargo xtask compare --arch x86_64 --boot --svg cmp.svg    # and boot both kernels in QEMU
  cargo xtask compare --fragment kvm_guest.config --json cmp.json -j 8

The builds go to <out>/in-process and <out>/thin-dist, each emptied first;
<out> also gets both modes' logs, compare.json and compare.svg.
The one-file rebuild touches kernel/fork.c in the tree (its mtime only).")]
pub struct CompareArgs {
    /// Architecture: a file under configs/.
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// Base config: a make target (tinyconfig, defconfig, …) or a .config file.
    #[arg(long, default_value = "tinyconfig")]
    pub config: String,
    /// Config fragment to merge into both (repeatable): a file, or a name under the tree's kernel/configs.
    #[arg(long, value_name = "FILE")]
    pub fragment: Vec<PathBuf>,
    /// Directory for both builds and their logs; default: one under the cache per tree, arch and config.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write the report as JSON here (default: only <out>/compare.json).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the SVG timeline here (default: only <out>/compare.svg).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Boot both kernels in QEMU (adds the architecture's boot fragment to the config).
    #[arg(long)]
    pub boot: bool,
    /// Skip the no-op and one-file rebuilds.
    #[arg(long)]
    pub no_incremental: bool,
    #[command(flatten)]
    pub tools: ToolArgs,
}

#[derive(Debug, Serialize)]
pub struct ModeReport {
    pub mode: LtoMode,
    pub kconfig: String,
    pub objtree: String,
    pub log: String,
    pub wall_seconds: f64,
    /// user+sys of make and everything it ran; peak RSS of the largest single process.
    pub usage: Usage,
    /// In-process ThinLTO shows `lto-link` where THIN_DIST shows `thin-link` and `back-end`.
    pub stages: Vec<StageTime>,
    pub incremental: Option<Incremental>,
    pub boot: Option<BootReport>,
    /// The THIN_DIST build's artifact checks.
    pub validation: Option<Validation>,
}

/// thin-dist divided by in-process.
#[derive(Debug, Serialize)]
pub struct Ratios {
    pub wall: f64,
    pub cpu: f64,
    pub peak_rss: f64,
    pub noop: Option<f64>,
    pub one_file: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct CompareReport {
    pub kernel: KernelInfo,
    pub arch: String,
    pub config: String,
    pub fragments: Vec<String>,
    pub toolchain: ToolchainInfo,
    pub jobs: usize,
    pub machine: Machine,
    /// In build order; each full build starts from an empty O= directory.
    pub modes: Vec<ModeReport>,
    pub ratios: Ratios,
    pub equivalence: Equivalence,
    /// Config symbols that differ beyond the LTO choice itself (expected: none).
    pub config_differences: Vec<String>,
}

fn default_root(global: &Global, args: &CompareArgs) -> Result<PathBuf> {
    let dir = global.kernel_dir()?;
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let tree = dir.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let mut name = format!("{tree}-{}-{}", args.arch, stem(Path::new(&args.config)));
    for f in &args.fragment {
        name.push('+');
        name.push_str(&stem(f));
    }
    if args.boot {
        name.push_str("-boot");
    }
    Ok(home::cache().join("compare").join(name))
}

fn config_differences(a: &Values, b: &Values) -> Vec<String> {
    let mode_symbols: Vec<&str> = LtoMode::BOTH.iter().map(|m| m.kconfig_symbol()).collect();
    let keys: std::collections::BTreeSet<&String> = a.iter().chain(b.iter()).map(|(k, _)| k).collect();
    keys.into_iter()
        .filter(|k| !mode_symbols.contains(&k.as_str()) && a.get(k) != b.get(k))
        .map(|k| format!("CONFIG_{k}: in-process {}, thin-dist {}", a.get(k), b.get(k)))
        .collect()
}

pub fn cpu(u: &Usage) -> f64 {
    u.user_seconds + u.sys_seconds
}

impl Ratios {
    fn of(in_process: &ModeReport, thin_dist: &ModeReport) -> Self {
        let (a, d) = (in_process, thin_dist);
        let rebuild =
            |pick: fn(&Incremental) -> f64| Some(pick(d.incremental.as_ref()?) / pick(a.incremental.as_ref()?));
        Ratios {
            wall: d.wall_seconds / a.wall_seconds,
            cpu: cpu(&d.usage) / cpu(&a.usage),
            peak_rss: d.usage.peak_rss_mib / a.usage.peak_rss_mib,
            noop: rebuild(|i| i.noop.seconds),
            one_file: rebuild(|i| i.one_file.seconds),
        }
    }
}

pub fn run(args: &CompareArgs, global: &Global) -> Result<CompareReport> {
    let arch = Arch::load(&args.arch)?;
    let mut fragments = args.fragment.clone();
    let qemu = if args.boot {
        let (qemu, fragment) = boot::plan(&arch)?;
        fragments.insert(0, fragment);
        Some(qemu)
    } else {
        None
    };
    let root = match &args.out {
        Some(dir) => dir.clone(),
        None => default_root(global, args)?,
    };
    let build_args = BuildArgs {
        target: Target { arch: args.arch.clone(), out: None, json: None },
        config: args.config.clone(),
        fragment: fragments,
        tools: args.tools.clone(),
    };
    let builds = LtoMode::BOTH
        .iter()
        .map(|m| ModeBuild::configure(&build_args, global, *m, &root))
        .collect::<Result<Vec<_>>>()?;
    if let Some(q) = &qemu {
        for b in &builds {
            boot::check_bootable(q, &b.configured.config)?;
        }
    }
    let config_differences = config_differences(&builds[0].configured.config, &builds[1].configured.config);

    let fulls: Vec<MakeRun> = builds.iter().map(|b| b.make("full")).collect::<Result<_>>()?;
    let dist = &builds[1].configured;
    let validation = build::validate_build(&dist.kb, dist.prepared.layout)?;
    let images = builds.iter().map(|b| Image::read(&b.configured.kb.path("vmlinux"))).collect::<Result<Vec<_>>>()?;
    let equivalence = equivalence::compare(&images[0], &images[1]);
    let mut boots: Vec<Option<BootReport>> = Vec::new();
    for b in &builds {
        boots.push(match &qemu {
            Some(q) => Some(boot::boot_built(&b.configured, q, None, Duration::from_secs(120))?),
            None => None,
        });
    }
    let incremental: Vec<Option<Incremental>> = if args.no_incremental {
        vec![None, None]
    } else {
        session::incremental(&builds)?.into_iter().map(Some).collect()
    };

    let mut validation = Some(validation);
    let modes: Vec<ModeReport> = builds
        .iter()
        .zip(&fulls)
        .zip(boots.into_iter().zip(incremental))
        .map(|((b, full), (boot, incremental))| ModeReport {
            mode: b.mode,
            kconfig: format!("CONFIG_{}", b.mode.kconfig_symbol()),
            objtree: b.configured.kb.objtree.display().to_string(),
            log: full.log.display().to_string(),
            wall_seconds: full.seconds,
            usage: full.usage,
            stages: full.stages.clone(),
            incremental,
            boot,
            validation: if b.mode == LtoMode::ThinDist { validation.take() } else { None },
        })
        .collect();
    let ratios = Ratios::of(&modes[0], &modes[1]);
    let p = &dist.prepared;
    let report = CompareReport {
        kernel: KernelInfo {
            tree: p.tree.root.display().to_string(),
            version: p.tree.version.to_string(),
            series: p.series.clone(),
            layout: p.layout.to_string(),
        },
        arch: args.arch.clone(),
        config: dist.base.name(),
        fragments: dist.fragments.iter().map(|f| f.display().to_string()).collect(),
        toolchain: ToolchainInfo {
            llvm: dist.kb.toolchain.llvm.clone(),
            clang: dist.kb.toolchain.clang_version(),
            lld: dist.kb.toolchain.lld_version(),
        },
        jobs: dist.kb.jobs,
        machine: machine::describe(),
        modes,
        ratios,
        equivalence,
        config_differences,
    };

    print!("{}", table::render(&report));
    write_outputs(&report, &root, args)?;
    verdict(&report)?;
    Ok(report)
}

/// The SVG timeline and the JSON report, into the compare directory and where the user asked.
fn write_outputs(report: &CompareReport, root: &Path, args: &CompareArgs) -> Result<()> {
    let title = format!(
        "Linux {} {} {}: in-process ThinLTO vs THIN_DIST, -j{}",
        report.kernel.version, report.arch, report.config, report.jobs
    );
    let lanes: Vec<timeline::Lane> = report
        .modes
        .iter()
        .map(|m| timeline::Lane {
            label: m.mode.name().to_string(),
            stages: m.stages.clone(),
            total_seconds: m.wall_seconds,
        })
        .collect();
    let svg = timeline::render(&title, &lanes);
    for path in std::iter::once(root.join("compare.svg")).chain(args.svg.clone()) {
        std::fs::write(&path, &svg).with_context(|| format!("cannot write {}", path.display()))?;
        println!("  svg: {}", path.display());
    }
    for path in std::iter::once(root.join("compare.json")).chain(args.json.clone()) {
        crate::report::write_json(&path, report)?;
        println!("  json: {}", path.display());
    }
    Ok(())
}

/// A compare that shows the kernels differ, fail to boot or fail validation exits non-zero.
fn verdict(report: &CompareReport) -> Result<()> {
    let mut problems = Vec::new();
    if report.equivalence.verdict == Verdict::Different {
        problems.push(format!("the kernels differ: {}", report.equivalence.reasons.join("; ")));
    }
    for m in &report.modes {
        if let Some(b) = m.boot.as_ref().filter(|b| b.outcome != Outcome::Booted) {
            problems.push(format!("the {} kernel did not boot: {}", m.mode, b.reason));
        }
        if let Some(v) = m.validation.as_ref().filter(|v| !v.ok()) {
            problems.push(format!("the {} build failed validation: {} problem(s)", m.mode, v.failures.len()));
        }
    }
    if !problems.is_empty() {
        bail!("compare found problems:\n  {}", problems.join("\n  "));
    }
    Ok(())
}
