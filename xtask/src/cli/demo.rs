//! `cargo xtask demo`: the main job on a default kernel. Debian's 6.12
//! sources, our series, a tinyconfig THIN_DIST build, validated.

use anyhow::{bail, Result};

use crate::cli::args::{ArchArg, Global, ToolArgs};
use crate::cli::setup::{self, Options};
use crate::deps;
use crate::home;
use crate::kbuild::session::Session;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cargo xtask demo --yes            # installs what is missing (root), then runs\n  cargo xtask demo --arch riscv"
)]
pub struct DemoArgs {
    #[command(flatten)]
    pub arch: ArchArg,
    /// Install missing packages first (needs root).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub tools: ToolArgs,
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
    setup::apply(&tarball, &Options::default(), global)?;
    // Later steps find the tree through the state that setup just wrote.
    let global = Global { kernel: None, ..global.clone() };
    let mut spec = global.spec("demo", &args.arch, &args.tools)?;
    spec.out = Some(home::cache().join("builds").join(format!("demo-6.12-{}", spec.arch.name)));
    let session = Session::open(spec, &global.load_state()?)?;
    session.configure()?;
    crate::report::build::build_validated(&session, None)?;
    Ok(())
}
