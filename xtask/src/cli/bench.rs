//! `cargo xtask bench`: figures, not tests; each benchmark is in `measure/`.

use anyhow::Result;

use crate::cli::args::{ArchArg, ConfigArgs, Global, ToolArgs};
use crate::measure::{incremental, launcher, overhead, projection, remote};

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
        Bench::Overhead { arch, tools, pairs } => {
            overhead::run(&global.spec("bench-overhead", arch, tools)?, &global.load_state()?, *pairs)
        }
        Bench::Incremental { arch, tools } => {
            incremental::run(&global.spec("bench-incremental", arch, tools)?, &global.load_state()?)
        }
        Bench::Remote { arch, config, tools, no_warm, json } => {
            let mut spec = global.spec("bench-remote", arch, tools)?;
            config.apply(&mut spec);
            let opts = remote::Options { config: config.label(), warm: !no_warm, json: json.clone() };
            remote::run(spec, &global.load_state()?, &opts)
        }
        Bench::Launcher { samples } => launcher::run(*samples),
        Bench::Projection { dir } => projection::run(dir),
    }
}
