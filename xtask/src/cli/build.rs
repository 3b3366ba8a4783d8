//! `cargo xtask build`: from a set-up tree to a validated THIN_DIST vmlinux.

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::args::{ArchArg, ConfigArgs, Global, JsonArg, ToolArgs};
use crate::kbuild::session::Session;
use crate::report::BuildReport;

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  cargo xtask build --arch riscv                          # tinyconfig, in the tree
  cargo xtask build --arch arm64 --config defconfig --out /tmp/arm64 -j 8 --json build.json
  cargo xtask build --arch x86_64 --fragment configs/boot-x86_64.config --llvm -19")]
pub struct BuildArgs {
    #[command(flatten)]
    pub arch: ArchArg,
    /// Output directory (kbuild's O=); default: build in the tree.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub tools: ToolArgs,
    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: &BuildArgs, global: &Global) -> Result<BuildReport> {
    let mut spec = global.spec("build", &args.arch, &args.tools)?;
    spec.out = args.out.clone();
    args.config.apply(&mut spec);
    let state = global.load_state()?;
    let session = Session::open(spec, &state)?;
    session.configure()?;
    let report = crate::report::build::build_validated(&session, args.json.path());
    // Every build adds a log (and scans): the oldest go past the limits.
    crate::cache::prune_after_build(&state);
    report
}
