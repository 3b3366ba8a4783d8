//! `cargo xtask compare`: the same tree and config built with in-process
//! ThinLTO and with THIN_DIST in separate `O=` directories; stage times,
//! CPU and memory, whether the kernels are the same program, incremental
//! rebuilds, optionally a boot of each; a table, JSON and an SVG timeline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::checks::boot::{self, BootReport, Outcome};
use crate::checks::equivalence::{self, Image, Verdict};
use crate::checks::module_equivalence;
use crate::cli::args::{ArchArg, ConfigArgs, Global, ToolArgs};
use crate::home;
use crate::kbuild::driver::MakeRun;
use crate::kbuild::kconfig::Values;
use crate::kbuild::lto_mode::LtoMode;
use crate::kbuild::outdir;
use crate::kbuild::rebuild::{self, Incremental};
use crate::kbuild::session::Session;
use crate::report::compare::{CompareReport, ModeReport, Ratios};
use crate::report::machine;
use crate::report::projection::{self, Measured, Projection};
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
    #[command(flatten)]
    pub arch: ArchArg,
    /// Base config and fragments, the same for both modes.
    #[command(flatten)]
    pub config: ConfigArgs,
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

fn default_root(global: &Global, args: &CompareArgs) -> Result<PathBuf> {
    let dir = global.kernel_dir()?;
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let tree = dir.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let mut name = format!("{tree}-{}-{}", args.arch.arch, stem(Path::new(&args.config.config)));
    for f in &args.config.fragment {
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

pub fn run(args: &CompareArgs, global: &Global) -> Result<CompareReport> {
    let mut spec = global.spec("compare", &args.arch, &args.tools)?;
    let qemu = if args.boot {
        let (qemu, fragment) = boot::plan(&spec.arch)?;
        spec.fragments.push(fragment);
        Some(qemu)
    } else {
        None
    };
    args.config.apply(&mut spec);
    let root = match &args.out {
        Some(dir) => dir.clone(),
        None => default_root(global, args)?,
    };
    let state = global.load_state()?;
    // The root first: a directory of the user's is refused before anything is written in it.
    outdir::claim(&root)?;
    let mut builds = Vec::new();
    let mut configs = Vec::new();
    for mode in LtoMode::BOTH {
        let session = Session::open(spec.in_mode(mode, &root), &state)?;
        outdir::fresh_dir(&session.kb.objtree)?;
        let config = session.configure()?;
        if let Some(q) = &qemu {
            boot::check_bootable(q, &config)?;
        }
        builds.push(session);
        configs.push(config);
    }
    let config_differences = config_differences(&configs[0], &configs[1]);

    let fulls: Vec<MakeRun> = builds.iter().map(|b| b.make_ok("full")).collect::<Result<_>>()?;
    let dist = &builds[1];
    let validation = crate::checks::validate::session(dist)?;
    let images = builds.iter().map(|b| Image::read(&b.kb.path("vmlinux"))).collect::<Result<Vec<_>>>()?;
    let equivalence = equivalence::compare(&images[0], &images[1]);
    let modules_equivalence = module_equivalence::compare(&builds[0].kb.objtree, &builds[1].kb.objtree)?;
    let mut boots: Vec<Option<BootReport>> = Vec::new();
    for b in &builds {
        boots.push(match &qemu {
            Some(q) => Some(boot::boot_built(b, q, None, Duration::from_secs(120))?),
            None => None,
        });
    }
    let incremental: Vec<Option<Incremental>> = if args.no_incremental {
        vec![None, None]
    } else {
        rebuild::incremental(&builds)?.into_iter().map(Some).collect()
    };

    let mut validation = Some(validation);
    let modes: Vec<ModeReport> = builds
        .iter()
        .zip(&fulls)
        .zip(boots.into_iter().zip(incremental))
        .map(|((b, full), (boot, incremental))| ModeReport {
            mode: b.mode,
            kconfig: format!("CONFIG_{}", b.mode.kconfig_symbol()),
            objtree: b.kb.objtree.display().to_string(),
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
    let report = CompareReport {
        kernel: KernelInfo::of(dist),
        arch: dist.kb.arch.name.clone(),
        config: dist.base.name(),
        fragments: dist.fragments.iter().map(|f| f.display().to_string()).collect(),
        toolchain: ToolchainInfo::of(dist),
        jobs: dist.kb.jobs,
        machine: machine::describe(),
        modes,
        ratios,
        equivalence,
        modules_equivalence,
        config_differences,
        remote: fulls.iter().map(|f| f.remote.clone()).collect(),
        projection: projection(&builds, &fulls),
    };

    print!("{}", table::render(&report));
    if let Some(p) = &report.projection {
        p.print();
    }
    write_outputs(&report, &root, args)?;
    verdict(&report)?;
    Ok(report)
}

/// With the launcher on both builds, the scale-out of their recorded compiles.
fn projection(builds: &[Session], fulls: &[MakeRun]) -> Option<Projection> {
    if fulls.iter().any(|f| f.jobs.is_empty()) {
        return None;
    }
    let m = |i: usize| Measured::of(fulls[i].seconds, &fulls[i].jobs, builds[i].kb.jobs);
    Some(projection::project(&m(1), &m(0)))
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
    if let Some(m) = report.modules_equivalence.as_ref().filter(|m| m.verdict == Verdict::Different) {
        problems.push(format!("the modules differ: {}", m.summary()));
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
