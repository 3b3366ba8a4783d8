//! compare: the same tree and config built with in-process ThinLTO and with
//! THIN_DIST in separate `O=` directories; stage times, CPU and memory,
//! whether the kernels are the same program, incremental rebuilds,
//! optionally a boot of each; a table, JSON and an SVG timeline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::checks::boot::{self, Outcome};
use crate::checks::equivalence::{self, Image, Verdict};
use crate::checks::module_equivalence;
use crate::checks::profile_effect::{self, ProfileComparison};
use crate::kbuild::driver::MakeRun;
use crate::kbuild::kconfig::Values;
use crate::kbuild::lto_mode::{LtoMode, ModePair};
use crate::kbuild::outdir;
use crate::kbuild::rebuild;
use crate::kbuild::session::{BuildSpec, Session};
use crate::report::compare::{CompareReport, ModeReport, Ratios};
use crate::report::machine;
use crate::report::projection::{self, Measured, Projection};
use crate::report::{table, timeline};
use crate::report::{KernelInfo, ToolchainInfo};
use crate::tree::state::State;

fn config_differences(a: &Values, b: &Values) -> Vec<String> {
    let mode_symbols: Vec<&str> = LtoMode::BOTH.iter().map(|m| m.kconfig_symbol()).collect();
    let keys: std::collections::BTreeSet<&String> = a.iter().chain(b.iter()).map(|(k, _)| k).collect();
    keys.into_iter()
        .filter(|k| !mode_symbols.contains(&k.as_str()) && a.get(k) != b.get(k))
        .map(|k| format!("CONFIG_{k}: in-process {}, thin-dist {}", a.get(k), b.get(k)))
        .collect()
}

/// What compare is asked beyond the build spec.
#[derive(Debug, Clone)]
pub struct Options {
    /// Both builds, their logs, compare.json and compare.svg go here.
    pub root: PathBuf,
    pub boot: bool,
    pub incremental: bool,
    /// Also write the report and the timeline here.
    pub json: Option<PathBuf>,
    pub svg: Option<PathBuf>,
}

/// Builds `spec`'s tree in both modes, measures and judges them; the report
/// is printed and written, and an error says what was wrong.
pub fn run(mut spec: BuildSpec, state: &State, opts: &Options) -> Result<CompareReport> {
    let qemu = if opts.boot {
        let (qemu, fragment) = boot::plan(&spec.arch)?;
        spec.fragments.push(fragment);
        Some(qemu)
    } else {
        None
    };
    let root = &opts.root;
    // The root first: a directory of the user's is refused before anything is written in it.
    outdir::claim(root)?;
    let builds = ModePair::try_new(|mode| Session::open(spec.in_mode(mode, root), state))?;
    let configs = builds.try_map(|_, session| {
        outdir::fresh_dir(&session.kb.objtree)?;
        let config = session.configure()?;
        if let Some(q) = &qemu {
            boot::check_bootable(q, &config)?;
        }
        Ok::<_, anyhow::Error>(config)
    })?;
    let config_differences = config_differences(&configs.in_process, &configs.thin_dist);

    let fulls = builds.try_map(|_, b| b.make_ok("full"))?;
    let dist = &builds.thin_dist;
    let validation = crate::checks::validate::session(dist)?;
    let images = builds.try_map(|_, b| Image::read(&b.kb.path("vmlinux")))?;
    let equivalence = equivalence::compare(&images.in_process, &images.thin_dist);
    let modules_equivalence = module_equivalence::compare(&builds.in_process.kb.objtree, &builds.thin_dist.kb.objtree)?;
    let profile = profile_comparison(&builds, &configs.thin_dist)?;
    let boots = builds.try_map(|_, b| match &qemu {
        Some(q) => boot::boot_built(b, q, None, Duration::from_secs(120)).map(Some),
        None => Ok(None),
    })?;
    let incremental = match !opts.incremental {
        true => ModePair { in_process: None, thin_dist: None },
        false => rebuild::incremental(&builds)?.into_map(|_, i| Some(i)),
    };

    let mut validation = Some(validation);
    let modes = boots.zip(incremental).into_map(|mode, (boot, incremental)| {
        let (b, full) = (builds.get(mode), fulls.get(mode));
        ModeReport {
            mode,
            kconfig: format!("CONFIG_{}", mode.kconfig_symbol()),
            objtree: b.kb.objtree.display().to_string(),
            log: full.log.display().to_string(),
            job_records: b.kb.execution.launch().map(|l| l.config.records.clone()),
            wall_seconds: full.seconds,
            usage: full.usage,
            stages: full.stages.clone(),
            incremental,
            boot,
            validation: if mode == LtoMode::ThinDist { validation.take() } else { None },
        }
    });
    let ratios = Ratios::of(&modes.in_process, &modes.thin_dist);
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
        profile,
        config_differences,
        remote: fulls.map(|_, f| f.remote.clone()),
        projection: projection(&builds, &fulls),
    };

    print!("{}", table::render(&report));
    if let Some(p) = &report.projection {
        p.print();
    }
    write_outputs(&report, root, opts)?;
    verdict(&report)?;
    Ok(report)
}

/// With AutoFDO or Propeller configured, what they did to each build's kernel and modules.
fn profile_comparison(builds: &ModePair<Session>, config: &Values) -> Result<Option<ProfileComparison>> {
    let configured: Vec<String> = [("AUTOFDO_CLANG", "autofdo"), ("PROPELLER_CLANG", "propeller")]
        .into_iter()
        .filter(|(sym, _)| config.get(sym) == "y")
        .map(|(_, name)| name.to_string())
        .collect();
    if configured.is_empty() {
        return Ok(None);
    }
    let readobj = builds.thin_dist.kb.toolchain.llvm_tool("llvm-readobj");
    let effects = builds.try_map(|_, b| profile_effect::read_build(&b.kb.objtree, &readobj))?;
    Ok(Some(profile_effect::compare(configured, &effects.in_process, &effects.thin_dist)))
}

/// With the launcher on both builds, the scale-out of their recorded compiles.
fn projection(builds: &ModePair<Session>, fulls: &ModePair<MakeRun>) -> Option<Projection> {
    if fulls.iter().any(|(_, f)| f.jobs.is_empty()) {
        return None;
    }
    let m = |mode| Measured::of(fulls.get(mode).seconds, &fulls.get(mode).jobs, builds.get(mode).kb.jobs);
    Some(projection::project(&m(LtoMode::ThinDist), &m(LtoMode::InProcess)))
}

/// The SVG timeline and the JSON report, into the compare directory and where the user asked.
fn write_outputs(report: &CompareReport, root: &Path, opts: &Options) -> Result<()> {
    let title = format!(
        "Linux {} {} {}: in-process ThinLTO vs THIN_DIST, -j{}",
        report.kernel.version, report.arch, report.config, report.jobs
    );
    let lanes: Vec<timeline::Lane> = report
        .modes
        .iter()
        .map(|(_, m)| timeline::Lane {
            label: m.mode.name().to_string(),
            stages: m.stages.clone(),
            total_seconds: m.wall_seconds,
        })
        .collect();
    let svg = timeline::render(&title, &lanes);
    for path in std::iter::once(root.join("compare.svg")).chain(opts.svg.clone()) {
        std::fs::write(&path, &svg).with_context(|| format!("cannot write {}", path.display()))?;
        println!("  svg: {}", path.display());
    }
    for path in std::iter::once(root.join("compare.json")).chain(opts.json.clone()) {
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
    if let Some(p) = report.profile.as_ref().filter(|p| !p.applied_alike) {
        problems.push(format!("the profile did not act alike: {}", p.summary()));
    }
    for (_, m) in report.modes.iter() {
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
