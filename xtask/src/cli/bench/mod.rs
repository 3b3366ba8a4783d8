//! `cargo xtask bench`: figures, not tests. `overhead` builds the same
//! tinyconfig from clean through raw make and through the tool's make
//! driver, in alternating order; `incremental` times no-op and one-file
//! rebuilds of both LTO modes.

use std::fs::File;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::cli::args::{ArchArg, ConfigArgs, Global, ToolArgs};
use crate::exec::child::self_cpu_seconds;
use crate::home;
use crate::kbuild::lto_mode::LtoMode;
use crate::kbuild::outdir;
use crate::kbuild::rebuild::{self, TOUCHED};
use crate::kbuild::session::Session;
use crate::report::projection::{self, Measured};
use crate::stats::median;

mod launcher;
mod remote;

#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Wall time of `build`'s driver against raw make, same tree and flags, alternating order.
    #[command(after_help = "Example:\n  cargo xtask bench overhead --arch x86_64 --pairs 4")]
    Overhead {
        #[command(flatten)]
        arch: ArchArg,
        #[command(flatten)]
        tools: ToolArgs,
        /// Pairs of clean builds, in ABBA order (raw, driver, driver, raw, …); an even count puts
        /// each side first and second equally often.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=20))]
        pairs: u32,
    },
    /// THIN_DIST with back-ends on a REAPI engine next to the same build done here:
    /// cold and warm builds, a one-file rebuild, bytes moved, the launcher's overhead.
    #[command(
        after_help = "Example:\n  cargo xtask remote start && cargo xtask bench remote --remote grpc://127.0.0.1:50051

Builds, in <cache>/bench/remote-<arch>-<tree>: local (no launcher), remote cold (a fresh
action salt, so every job executes), remote warm (an empty O= directory, the same salt:
every job a cache hit); with --remote-front-ends also a second checkout of the tree (a
shared clone of its HEAD) built from empty; then touches kernel/fork.c and rebuilds local
and remote cold. On a big config, --no-warm leaves out the warm build (back-ends only: it
recompiles every front-end here) and keeps the comparison of natives and modules."
    )]
    Remote {
        #[command(flatten)]
        arch: ArchArg,
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        tools: ToolArgs,
        /// Leave out the warm build.
        #[arg(long, conflicts_with = "remote_front_ends")]
        no_warm: bool,
        /// Also write the figures as JSON here.
        #[arg(long, value_name = "FILE")]
        json: Option<std::path::PathBuf>,
    },
    /// The launcher's own time on a call it runs here: a small compile and
    /// `--version`, each run directly and through the launcher, alternating.
    #[command(after_help = "Example:\n  cargo xtask bench launcher --samples 200")]
    Launcher {
        /// Runs of each kind and way.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(5..=10000))]
        samples: u32,
    },
    /// The scale-out projection again, from a finished `compare --remote` directory.
    #[command(
        after_help = "Example:\n  cargo xtask bench projection ~/.cache/thindist/compare/linux-source-6.12-x86_64-tinyconfig"
    )]
    Projection {
        /// A compare directory: its compare.json and the launchers' job records.
        dir: std::path::PathBuf,
    },
    /// No-op and one-file rebuild times: THIN_DIST next to in-process ThinLTO, same tree and config.
    #[command(after_help = "Example:\n  cargo xtask bench incremental --arch x86_64")]
    Incremental {
        #[command(flatten)]
        arch: ArchArg,
        #[command(flatten)]
        tools: ToolArgs,
    },
}

pub fn run(bench: &Bench, global: &Global) -> Result<()> {
    match bench {
        Bench::Overhead { arch, tools, pairs } => overhead(arch, tools, *pairs, global),
        Bench::Incremental { arch, tools } => incremental(arch, tools, global),
        Bench::Remote { arch, config, tools, no_warm, json } => {
            remote::run(arch, config, tools, !no_warm, json.as_deref(), global)
        }
        Bench::Launcher { samples } => launcher::run(*samples),
        Bench::Projection { dir } => projection_of(dir),
    }
}

/// One clean build: raw make (output to a file) or through the driver.
/// Returns wall seconds and, for the driver, the CPU seconds the tool itself used.
fn timed_build(global: &Global, arch: &ArchArg, tools: &ToolArgs, driver: bool, run: usize) -> Result<(f64, f64)> {
    let root = home::cache().join("bench").join(format!("overhead-{}", arch.arch));
    let mut spec = global.spec("bench-overhead", arch, tools)?;
    spec.out = Some(root.join("build"));
    spec.log_dir = root.clone();
    let session = Session::open(spec, &global.load_state()?)?;
    outdir::fresh_dir(&session.kb.objtree)?;
    session.configure()?;
    if driver {
        let cpu = self_cpu_seconds();
        let made = session.make(&format!("driver-{run}"))?;
        if !made.success {
            bail!("the driven build failed; see {}", made.log.display());
        }
        return Ok((made.seconds, self_cpu_seconds() - cpu));
    }
    let log = session.log_path(&format!("raw-{run}"));
    let started = Instant::now();
    let (status, _) = session.kb.command(&session.kb.kernel_targets()).run_to_file(File::create(&log)?)?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("raw make failed; see {}", log.display());
    }
    Ok((seconds, 0.0))
}

fn overhead(arch: &ArchArg, tools: &ToolArgs, pairs: u32, global: &Global) -> Result<()> {
    let mut rows = Vec::new();
    for pair in 0..pairs as usize {
        // ABBA: an even pair starts with raw make, an odd one with the driver.
        let order = if pair % 2 == 0 { [false, true] } else { [true, false] };
        let mut raw = 0.0;
        let mut driven = (0.0, 0.0);
        for driver in order {
            let t = timed_build(global, arch, tools, driver, pair)?;
            if driver {
                driven = t;
            } else {
                raw = t.0;
            }
        }
        println!(
            "  pair {}: raw {raw:.1}s, driver {:.1}s, ratio {:.3}, driver's own CPU {:.2}s",
            pair + 1,
            driven.0,
            driven.0 / raw,
            driven.1
        );
        rows.push((raw, driven.0, driven.1));
    }
    let mut ratios: Vec<f64> = rows.iter().map(|(r, d, _)| d / r).collect();
    let mut own: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let (lo, hi) = (ratios.iter().cloned().fold(f64::MAX, f64::min), ratios.iter().cloned().fold(f64::MIN, f64::max));
    println!("bench overhead ({} tinyconfig, {pairs} pairs, alternating order):", arch.arch);
    println!(
        "  ratio driver / raw make: median {:.3} (min {lo:.3}, max {hi:.3}); target <= 1.02",
        median(&mut ratios).unwrap_or(f64::NAN)
    );
    println!("  the driver's own CPU time per build: median {:.2}s", median(&mut own).unwrap_or(f64::NAN));
    Ok(())
}

fn incremental(arch: &ArchArg, tools: &ToolArgs, global: &Global) -> Result<()> {
    let root = home::cache().join("bench").join(format!("incremental-{}", arch.arch));
    let spec = global.spec("bench-incremental", arch, tools)?;
    let state = global.load_state()?;
    let mut builds = Vec::new();
    for mode in LtoMode::BOTH {
        let session = Session::open(spec.in_mode(mode, &root), &state)?;
        outdir::fresh_dir(&session.kb.objtree)?;
        session.configure()?;
        builds.push(session);
    }
    let full = builds.iter().map(|b| b.make_ok("full").map(|r| r.seconds)).collect::<Result<Vec<_>>>()?;
    let rows = rebuild::incremental(&builds)?;
    println!("bench incremental ({} tinyconfig, touched {TOUCHED}):", arch.arch);
    println!("  {:<11} {:>8} {:>8} {:>9}", "mode", "full", "no-op", "one-file");
    for ((b, full), inc) in builds.iter().zip(&full).zip(&rows) {
        println!("  {:<11} {full:>7.1}s {:>7.1}s {:>8.1}s", b.mode.name(), inc.noop.seconds, inc.one_file.seconds);
    }
    let (inproc, dist) = (&rows[0], &rows[1]);
    println!("  THIN_DIST no-op / full build: {:.3} (target <= 0.05)", dist.noop.seconds / full[1]);
    println!(
        "  one-file THIN_DIST / in-process: {:.3} (target <= 0.5)",
        dist.one_file.seconds / inproc.one_file.seconds
    );
    Ok(())
}

/// Reads a compare directory's report and the newest job records of each mode.
fn projection_of(dir: &std::path::Path) -> Result<()> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(dir.join("compare.json")).with_context(|| {
        format!("{} has no compare.json; run `cargo xtask compare --remote …` first", dir.display())
    })?;
    let report: serde_json::Value = serde_json::from_str(&text)?;
    let mut measured = Vec::new();
    for mode in LtoMode::BOTH {
        let m = report["modes"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["mode"] == mode.name()))
            .with_context(|| format!("compare.json has no {mode} build"))?;
        let wall = m["wall_seconds"].as_f64().context("no wall time")?;
        let marker = format!("-{}-", mode.name());
        let newest = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".jobs.jsonl") && p.to_string_lossy().contains(&marker))
            .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
            .with_context(|| format!("no job records of the {mode} build: compare ran without --remote"))?;
        let jobs = report["jobs"].as_u64().unwrap_or(1) as usize;
        measured.push(Measured::of(wall, &crate::launcher::record::read_all(&newest), jobs));
    }
    projection::project(&measured[1], &measured[0]).print();
    Ok(())
}
