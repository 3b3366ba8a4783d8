//! `cargo xtask bench`: figures, not tests. `overhead` builds the same
//! configured tinyconfig twice from clean, once through the tool's make
//! driver and once as raw make with the same arguments, and prints both.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Result};

use crate::checks::clean::TOUCHED;
use crate::cli::args::Global;
use crate::cli::build::{self, BuildArgs, Target};
use crate::home;
use crate::kbuild::driver;
use crate::kbuild::lto_mode::LtoMode;
use crate::kbuild::session::{self, ModeBuild};
use crate::kbuild::stages::Pipeline;

#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Wall time of `build`'s driver against raw make, same tree and flags.
    #[command(after_help = "Example:\n  cargo xtask bench overhead --arch x86_64")]
    Overhead {
        #[arg(long, default_value = "x86_64")]
        arch: String,
        #[command(flatten)]
        tools: build::ToolArgs,
    },
    /// No-op and one-file rebuild times: THIN_DIST next to in-process ThinLTO, same tree and config.
    #[command(after_help = "Example:\n  cargo xtask bench incremental --arch x86_64")]
    Incremental {
        #[arg(long, default_value = "x86_64")]
        arch: String,
        #[command(flatten)]
        tools: build::ToolArgs,
    },
}

pub fn run(bench: &Bench, global: &Global) -> Result<()> {
    match bench {
        Bench::Overhead { arch, tools } => overhead(arch, tools, global),
        Bench::Incremental { arch, tools } => incremental(arch, tools, global),
    }
}

fn overhead(arch: &str, tools: &build::ToolArgs, global: &Global) -> Result<()> {
    let root = home::cache().join("bench").join(format!("overhead-{arch}"));
    let args = |dir: &str| BuildArgs {
        target: Target { arch: arch.to_string(), out: Some(root.join(dir)), json: None },
        config: "tinyconfig".into(),
        fragment: vec![],
        tools: tools.clone(),
    };
    // Raw make first, then the driver: each from a clean O= directory.
    let raw_args = args("raw");
    session::fresh_dir(raw_args.target.out.as_deref().unwrap())?;
    let raw = build::configure_step(&raw_args, global)?;
    let argv = raw.kb.argv(&["vmlinux", &raw.kb.arch.image_target]);
    let log = std::fs::File::create(root.join("raw.log"))?;
    let started = Instant::now();
    let status =
        Command::new(&argv[0]).args(&argv[1..]).stdout(log.try_clone()?).stderr(log).stdin(Stdio::null()).status()?;
    let raw_secs = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("raw make failed; see {}", root.join("raw.log").display());
    }

    let tool_args = args("tool");
    session::fresh_dir(tool_args.target.out.as_deref().unwrap())?;
    let tool = build::configure_step(&tool_args, global)?;
    let argv = tool.kb.argv(&["vmlinux", &tool.kb.arch.image_target]);
    let made =
        driver::run(&argv, &tool.kb.objtree, Pipeline::Distributed(tool.prepared.layout), &root.join("tool.log"))?;
    if !made.success {
        bail!("the driven build failed; see {}", made.log.display());
    }
    println!("bench overhead ({arch} tinyconfig, Linux {}, -j{}):", tool.prepared.tree.version, tool.kb.jobs);
    println!("  raw make:      {raw_secs:>7.1}s");
    println!("  thindist make: {:>7.1}s", made.seconds);
    println!("  ratio:         {:>7.3} (target <= 1.02)", made.seconds / raw_secs);
    Ok(())
}

fn incremental(arch: &str, tools: &build::ToolArgs, global: &Global) -> Result<()> {
    let root = home::cache().join("bench").join(format!("incremental-{arch}"));
    let args = BuildArgs {
        target: Target { arch: arch.to_string(), out: None, json: None },
        config: "tinyconfig".into(),
        fragment: vec![],
        tools: tools.clone(),
    };
    let builds =
        LtoMode::BOTH.iter().map(|m| ModeBuild::configure(&args, global, *m, &root)).collect::<Result<Vec<_>>>()?;
    let full = builds.iter().map(|b| b.make("full").map(|r| r.seconds)).collect::<Result<Vec<_>>>()?;
    let rows = session::incremental(&builds)?;
    println!("bench incremental ({arch} tinyconfig, touched {TOUCHED}):");
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
