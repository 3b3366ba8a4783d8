//! `cargo xtask demo`: the main job on a default kernel. Debian's 6.12
//! sources, our series, a tinyconfig THIN_DIST build, validated.

use anyhow::{bail, Result};

use crate::cli::args::Global;
use crate::cli::build::{self, BuildArgs, Target};
use crate::cli::setup::{self, SetupArgs};
use crate::deps;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cargo xtask demo --yes            # installs what is missing (root), then runs\n  cargo xtask demo --arch riscv"
)]
pub struct DemoArgs {
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// Install missing packages first (needs root).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub tools: build::ToolArgs,
}

pub fn run(args: &DemoArgs, global: &Global) -> Result<()> {
    let tarball = deps::kernel_tarball("6.12")?;
    if !tarball.is_file() {
        if !args.yes {
            bail!(
                "{} is missing; run `cargo xtask demo --yes` (as root) to install it, or `cargo xtask deps`",
                tarball.display()
            );
        }
        deps::run(true)?;
    }
    let setup_args =
        SetupArgs { source: Some(tarball), series: None, force: false, dry_run: false, revert: false, patches: None };
    setup::run(&setup_args, global)?;
    // Later commands find the tree through the state that setup just wrote.
    let global = Global { kernel: None, ..global.clone() };
    let out = crate::home::cache().join("builds").join(format!("demo-6.12-{}", args.arch));
    let build_args = BuildArgs {
        target: Target { arch: args.arch.clone(), out: Some(out), json: None },
        config: "tinyconfig".into(),
        fragment: vec![],
        tools: args.tools.clone(),
    };
    build::run(&build_args, &global)?;
    Ok(())
}
