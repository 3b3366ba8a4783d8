//! thindist: put Clang's distributed ThinLTO (CONFIG_LTO_CLANG_THIN_DIST)
//! onto a Linux tree, build with it, and prove the result right.

mod apply;
mod apt_sources;
mod context;
mod deps;
mod git_tree;
mod home;
mod kernel_tree;
mod layout;
mod mbox;
mod progress;
mod series;
mod setup;
mod state;
mod tarball;
mod testcmd;
mod version;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Distributed ThinLTO for Linux kernels: set up, build, check", version)]
struct Cli {
    #[command(flatten)]
    global: context::Global,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check for (and with --yes, as root, install) clang/lld 19, QEMU and kernel sources.
    #[command(after_help = "Examples:\n  cargo xtask deps          # list what is missing, exit non-zero if anything is\n  cargo xtask deps --yes    # install it (root, Debian 12)")]
    Deps {
        /// Install what is missing (needs root).
        #[arg(long)]
        yes: bool,
    },
    /// Put distributed ThinLTO onto a kernel tree (or see that it has it).
    Setup(setup::SetupArgs),
    /// Install what is needed, then run every test: unit tests and real-kernel tests.
    Test(testcmd::TestArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        None => {
            let _ = Cli::command().print_help();
            return;
        }
        Some(Command::Deps { yes }) => deps::run(*yes),
        Some(Command::Setup(args)) => setup::run(args, &cli.global),
        Some(Command::Test(args)) => testcmd::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
