//! `cargo xtask remote start|status|stop`: the REAPI engine on this machine;
//! `remote cluster up|status|restart|down`: a multi-worker deployment.

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::args::{parse_property, JsonArg};

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
    /// A multi-worker cluster on this machine: BuildGrid, PostgreSQL and
    /// workers in network namespaces of their own (as root).
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// The cluster's worker: a Remote Workers API bot (started by `cluster up`).
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        scheduler: String,
        #[arg(long)]
        casd: String,
        #[arg(long)]
        bot_id: String,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, value_parser = parse_property)]
        property: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ClusterCmd {
    /// Start the scheduler, its database and the workers.
    Up {
        /// Workers, each in its own network namespace.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=50))]
        workers: u16,
        /// The scheduler's port (default: deps.toml's [cluster] port, 50071).
        #[arg(long)]
        port: Option<u16>,
        /// A platform property worker N advertises, replacing its own of
        /// that name: `N:KEY=VALUE` (repeatable), e.g. `2:Pool=large`
        /// (the scheduler matches OSFamily, ISA, Pool and thindist-toolchain).
        #[arg(long, value_name = "N:KEY=VALUE", value_parser = parse_worker_property)]
        worker_property: Vec<(usize, String, String)>,
        /// Worker N's sandbox has no compiler: the LLVM installation and the
        /// libraries clang loads are hidden there, and it advertises no
        /// toolchain (repeatable). Only `--remote-toolchain-upload` builds compile on it.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=50))]
        worker_without_compiler: Vec<u16>,
    },
    /// The endpoint, whether each part runs, and the jobs each worker ran.
    Status {
        #[command(flatten)]
        json: JsonArg,
    },
    /// Restart the scheduler on the same database and CAS.
    Restart,
    /// Stop everything the cluster runs and remove what it made.
    Down,
}

fn parse_worker_property(s: &str) -> Result<(usize, String, String), String> {
    let bad = || format!("`{s}` is not N:KEY=VALUE (worker number, a property), e.g. 2:Pool=large");
    let (n, property) = s.split_once(':').ok_or_else(bad)?;
    let n = n.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(bad)?;
    let (k, v) = parse_property(property).map_err(|_| bad())?;
    Ok((n, k, v))
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
        Remote::Cluster(c) => cluster(c, global),
        Remote::Worker { scheduler, casd, bot_id, dir, property } => {
            crate::cluster::worker::run(crate::cluster::worker::Config {
                scheduler: scheduler.clone(),
                casd: casd.clone(),
                bot_id: bot_id.clone(),
                properties: property.clone(),
                dir: dir.clone(),
            })
        }
    }
}

fn cluster(cmd: &ClusterCmd, global: &crate::cli::args::Global) -> Result<()> {
    use crate::cluster;
    match cmd {
        ClusterCmd::Up { workers, port, worker_property, worker_without_compiler } => {
            let limits = crate::cache::limits::Limits::of(&global.load_state()?)?;
            let plan = cluster::Plan {
                workers: usize::from(*workers),
                port: *port,
                properties: worker_property.clone(),
                without_compiler: worker_without_compiler.iter().map(|n| usize::from(*n)).collect(),
                quota: limits.engine_quota(),
            };
            cluster::up(&plan).map(|_| ())
        }
        ClusterCmd::Status { json } => {
            let s = cluster::status()?;
            crate::report::cluster::print(&s);
            json.write(&s)
        }
        ClusterCmd::Restart => cluster::restart_scheduler(),
        ClusterCmd::Down => cluster::down(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_property_names_its_worker() {
        assert_eq!(parse_worker_property("2:Pool=large"), Ok((2, "Pool".into(), "large".into())));
        assert_eq!(parse_worker_property("3:thindist-toolchain=ab=cd").unwrap().2, "ab=cd");
        for bad in ["pool=large", "0:pool=large", "x:pool=large", "2:=large", "2:pool"] {
            assert!(parse_worker_property(bad).unwrap_err().contains("N:KEY=VALUE"), "{bad}");
        }
    }
}
