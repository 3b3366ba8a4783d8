//! `cargo xtask test`: everything CI runs. Installs what is missing (as
//! root), then runs the workspace's tests: unit tests and the real-kernel
//! suite in tests/.

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::deps;
use crate::home;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cargo xtask test                 # deps, then the whole suite\n  cargo xtask test -- setup        # only kernel tests whose name contains `setup`"
)]
pub struct TestArgs {
    /// Skip installing dependencies (they must already be there).
    #[arg(long)]
    pub no_deps: bool,
    /// Passed to the test binaries (e.g. a name filter).
    #[arg(last = true)]
    pub rest: Vec<String>,
}

pub fn run(args: &TestArgs) -> Result<()> {
    if !args.no_deps {
        deps::run(deps::is_root())?;
    }
    let sh = Shell::new()?;
    sh.change_dir(home::project_root());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rest = &args.rest;
    cmd!(sh, "{cargo} test --workspace -- {rest...}").run()?;
    Ok(())
}
