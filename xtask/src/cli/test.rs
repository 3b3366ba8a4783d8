//! `cargo xtask test`: everything CI runs. Installs what is missing (as
//! root), then runs the workspace's tests: unit tests and the real-kernel
//! suite in tests/.

use crate::exec::Cmd;
use anyhow::Result;

use crate::deps;
use crate::home;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cargo xtask test                 # deps, then the whole suite\n  cargo xtask test -- setup        # only kernel tests whose name contains `setup`\n  cargo xtask test --long          # and the slower cases CI leaves out"
)]
pub struct TestArgs {
    /// Skip installing dependencies (they must already be there).
    #[arg(long)]
    pub no_deps: bool,
    /// Also the slower real-kernel cases CI leaves out (more architectures and kernels).
    #[arg(long)]
    pub long: bool,
    /// Passed to the test binaries (e.g. a name filter).
    #[arg(last = true)]
    pub rest: Vec<String>,
}

pub fn run(args: &TestArgs) -> Result<()> {
    if !args.no_deps {
        deps::run(deps::is_root())?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = home::project_root();
    // Formatting and lints first: they take seconds, the kernel suite an hour.
    Cmd::new(&cargo).args(["fmt", "--all", "--", "--check"]).current_dir(&root).run()?;
    Cmd::new(&cargo)
        .args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])
        .current_dir(&root)
        .run()?;
    let long = args.long.then_some("--include-ignored");
    Cmd::new(&cargo).args(["test", "--workspace", "--"]).args(long).args(&args.rest).current_dir(&root).run()?;
    Ok(())
}
