//! `cargo xtask remote start|status|stop`: the REAPI engine on this machine.

use anyhow::Result;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Remote {
    /// Start buildbox-casd with its local execution service on a loopback port.
    Start {
        /// TCP port on 127.0.0.1 (default: deps.toml's [engine] port, 50051).
        #[arg(long)]
        port: Option<u16>,
        /// Jobs the engine runs at once (default: the number of cores).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        jobs: Option<u16>,
    },
    /// Show whether the engine runs and answers.
    Status,
    /// Stop the engine (its CAS and action cache stay on disk).
    Stop,
    /// Print the platform property a worker with this machine's compiler
    /// advertises, for `--remote-toolchain-property` to route jobs to it.
    Toolchain {
        /// kbuild's LLVM= (default: the newest clang-N on PATH).
        #[arg(long, allow_hyphen_values = true)]
        llvm: Option<String>,
    },
}

pub fn run(cmd: &Remote, global: &crate::cli::args::Global) -> Result<()> {
    use crate::remote::engine;
    match cmd {
        Remote::Start { port, jobs } => {
            // The CAS is bounded by the state file's `[cache] engine_max_size`.
            let limits = crate::cache::limits::Limits::of(&global.load_state()?)?;
            engine::start(*port, jobs.map(usize::from), limits.engine_quota()).map(|_| ())
        }
        Remote::Status => engine::status().map(|_| ()),
        Remote::Stop => engine::stop(),
        Remote::Toolchain { llvm } => {
            let clang = crate::toolchain::Toolchain::select(llvm.as_deref())?.clang;
            let compiler = crate::toolchain::identity::Compiler::identify(&clang)?;
            println!("{}={}", crate::toolchain::identity::PROPERTY, compiler.property_value());
            Ok(())
        }
    }
}
