//! The command line: one file per command, argument groups declared once
//! in args.rs and flattened into each command that takes them.

pub mod args;
pub mod bench;
pub mod boot;
pub mod build;
pub mod cache;
pub mod clean_check;
pub mod compare;
pub mod demo;
pub mod remote;
pub mod setup;
pub mod test;
pub mod validate;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Distributed ThinLTO for Linux kernels: set up, build, check", version)]
struct Cli {
    #[command(flatten)]
    global: args::Global,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check for (and with --yes, as root, install) clang/lld 19, QEMU and kernel sources.
    #[command(
        after_help = "Examples:\n  cargo xtask deps          # list what is missing, exit non-zero if anything is\n  cargo xtask deps --yes    # install it (root, Debian 12)"
    )]
    Deps {
        /// Install what is missing (needs root).
        #[arg(long)]
        yes: bool,
    },
    /// Put distributed ThinLTO onto a kernel tree (or see that it has it).
    Setup(setup::SetupArgs),
    /// Configure and build a THIN_DIST kernel, following its stages, then validate it.
    Build(build::BuildArgs),
    /// Check an existing THIN_DIST build's artifacts without running make.
    Validate(validate::ValidateArgs),
    /// Prove the build's bookkeeping: ignore rules, clean, mrproper, no-op, one-file and incremental rebuilds.
    CleanCheck(clean_check::CleanCheckArgs),
    /// Build (or reuse) a THIN_DIST kernel with the boot fragment and boot it in QEMU.
    Boot(boot::BootArgs),
    /// The main job on a default kernel: Debian's 6.12 sources, setup, build, validate.
    Demo(demo::DemoArgs),
    /// Build in-process ThinLTO and THIN_DIST side by side: times, CPU, memory, equivalence, rebuilds, a timeline.
    Compare(compare::CompareArgs),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Install what is needed, then run every test: unit tests and real-kernel tests.
    Test(test::TestArgs),
    /// What the tool keeps under its cache, part by part; `cache clean` keeps it within limits.
    Cache(cache::CacheArgs),
    /// The REAPI engine on this machine (buildbox-casd): start, status, stop.
    #[command(
        subcommand,
        after_help = "Examples:\n  cargo xtask remote start                 # grpc://127.0.0.1:50051\n  cargo xtask build --remote grpc://127.0.0.1:50051\n  cargo xtask remote stop"
    )]
    Remote(remote::Remote),
    /// The compiler launcher make runs as CC="<thindist> launch <clang>" (not for people).
    #[command(hide = true)]
    Launch {
        /// The real compiler and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        argv: Vec<String>,
    },
}

pub fn main() {
    let cli = Cli::parse();
    if !matches!(cli.command, Some(Command::Launch { .. })) {
        crate::exec::interrupt::install();
    }
    let result = match &cli.command {
        None => {
            let _ = Cli::command().print_help();
            return;
        }
        Some(Command::Deps { yes }) => crate::deps::run(*yes),
        Some(Command::Setup(args)) => setup::run(args, &cli.global),
        Some(Command::Build(args)) => build::run(args, &cli.global).map(|_| ()),
        Some(Command::Validate(args)) => validate::run(args, &cli.global),
        Some(Command::CleanCheck(args)) => clean_check::run(args, &cli.global).map(|_| ()),
        Some(Command::Boot(args)) => boot::run(args, &cli.global).map(|_| ()),
        Some(Command::Demo(args)) => demo::run(args, &cli.global),
        Some(Command::Compare(args)) => compare::run(args, &cli.global).map(|_| ()),
        Some(Command::Bench(b)) => bench::run(b, &cli.global),
        Some(Command::Test(args)) => test::run(args),
        Some(Command::Cache(args)) => cache::run(args, &cli.global),
        Some(Command::Remote(r)) => remote::run(r, &cli.global),
        Some(Command::Launch { argv }) => crate::launcher::main(argv),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
