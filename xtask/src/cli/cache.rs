//! `cargo xtask cache [clean]`: what the tool keeps, part by part, and a
//! cleanup within the limits of the state file's `[cache]` table.

use std::path::PathBuf;

use anyhow::Result;
use bytesize::ByteSize;

use crate::cache::clean::{clean, Request};
use crate::cache::limits::Limits;
use crate::cli::args::{Global, JsonArg};
use crate::report;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo xtask cache                          # each part, its size, the limits, free space
  cargo xtask cache clean --dry-run          # what a cleanup would remove
  cargo xtask cache clean --builds           # also builds whose tree the state does not know
  cargo xtask cache clean --build ~/.cache/thindist/builds/demo-6.12-x86_64

Limits (in the state file, default ~/.cache/thindist/state.toml):
  [cache]
  max_age_days = 30          # logs and scans not written for this long go
  max_size = \"2GiB\"          # logs and scans together; past it the oldest go
  engine_max_size = \"10GiB\"  # the local engine's CAS (buildbox-casd's quota)")]
pub struct CacheArgs {
    #[command(subcommand)]
    pub clean: Option<Clean>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, clap::Subcommand)]
pub enum Clean {
    /// Remove logs and scans past the limits, and what is named.
    Clean(CleanArgs),
}

#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    /// Say what would go; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Logs and scans older than this many days go (default: the state's max_age_days).
    #[arg(long, value_name = "DAYS")]
    pub max_age_days: Option<u64>,
    /// Logs and scans past this size together go, oldest first (default: the state's max_size).
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<ByteSize>,
    /// Also every build directory whose kernel tree is gone or unknown to the state.
    #[arg(long)]
    pub builds: bool,
    /// A build directory of the cache to remove (repeatable).
    #[arg(long, value_name = "DIR")]
    pub build: Vec<PathBuf>,
    /// An extracted tree of the cache to remove (repeatable).
    #[arg(long, value_name = "DIR")]
    pub tree: Vec<PathBuf>,
    /// The local engine's CAS and action cache (the engine must be stopped).
    #[arg(long)]
    pub engine: bool,
    /// Remove a named tree although it has changes or the state has set it up.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &CacheArgs, global: &Global) -> Result<()> {
    let mut state = global.load_state()?;
    let limits = Limits::of(&state)?;
    match &args.clean {
        None => args.json.write(&report::cache::show(&state, &limits)),
        Some(Clean::Clean(c)) => {
            let limits = Limits {
                max_age_days: c.max_age_days.unwrap_or(limits.max_age_days),
                max_size: c.max_size.unwrap_or(limits.max_size),
                ..limits
            };
            let request = Request {
                dry_run: c.dry_run,
                builds: c.build.clone(),
                unreferenced: c.builds,
                trees: c.tree.clone(),
                force: c.force,
                engine: c.engine,
            };
            args.json.write(&clean(&mut state, &limits, &request)?)
        }
    }
}
