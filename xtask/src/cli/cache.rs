//! `cargo xtask cache [clean]`: what the tool keeps, part by part, and a
//! cleanup within the limits of the state file's `[cache]` table.

use std::path::PathBuf;

use anyhow::{bail, Result};
use bytesize::ByteSize;
use serde::Serialize;

use crate::cache::limits::Limits;
use crate::cache::{self, prune, usage};
use crate::cli::args::{Global, JsonArg};
use crate::home;

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

#[derive(Serialize)]
struct Shown {
    cache: PathBuf,
    bytes: u64,
    free_bytes: Option<u64>,
    limits: ShownLimits,
    parts: Vec<cache::Part>,
}

#[derive(Serialize)]
struct ShownLimits {
    max_age_days: u64,
    max_size_bytes: u64,
    engine_max_size_bytes: u64,
}

#[derive(Serialize, Default)]
struct Cleaned {
    dry_run: bool,
    logs_and_scans: prune::Pruned,
    removed: Vec<PathBuf>,
    bytes: u64,
}

fn size(b: u64) -> String {
    ByteSize(b).display().iec().to_string()
}

pub fn run(args: &CacheArgs, global: &Global) -> Result<()> {
    let mut state = global.load_state()?;
    let limits = Limits::of(&state)?;
    match &args.clean {
        None => show(&state, &limits, &args.json),
        Some(Clean::Clean(c)) => clean(&mut state, &limits, c, &args.json),
    }
}

fn show(state: &crate::tree::state::State, limits: &Limits, json: &JsonArg) -> Result<()> {
    let parts = cache::parts(state);
    let cache = home::cache();
    let bytes = parts.iter().filter(|p| p.path.starts_with(&cache)).map(|p| p.usage.bytes).sum();
    println!("cache: {} ({})", cache.display(), size(bytes));
    let now = usage::now();
    for p in &parts {
        let age = (now.saturating_sub(p.usage.newest)) / 86400;
        println!(
            "  {:<8} {:>10}  {:>7} files, last written {} day(s) ago  {}  ({})",
            p.name,
            size(p.usage.bytes),
            p.usage.files,
            age,
            p.what,
            p.path.display()
        );
        for i in &p.items {
            println!("      {:<34} {:>10}  {}", i.name, size(i.usage.bytes), i.note);
        }
    }
    println!(
        "limits ([cache] in {}): logs and scans older than {} days or past {} together; the engine's CAS {}",
        state.path().display(),
        limits.max_age_days,
        limits.max_size.display().iec(),
        limits.engine_max_size.display().iec()
    );
    let free = crate::files::free_bytes(&cache);
    if let Some(f) = free {
        println!("free on the cache's filesystem: {}", size(f));
    }
    json.write(&Shown {
        cache,
        bytes,
        free_bytes: free,
        limits: ShownLimits {
            max_age_days: limits.max_age_days,
            max_size_bytes: limits.max_size.as_u64(),
            engine_max_size_bytes: limits.engine_max_size.as_u64(),
        },
        parts,
    })
}

fn clean(state: &mut crate::tree::state::State, limits: &Limits, c: &CleanArgs, json: &JsonArg) -> Result<()> {
    if c.force && c.tree.is_empty() {
        bail!("--force is for a named --tree; nothing else is removed by force");
    }
    let limits = Limits {
        max_age_days: c.max_age_days.unwrap_or(limits.max_age_days),
        max_size: c.max_size.unwrap_or(limits.max_size),
        ..*limits
    };
    let verb = if c.dry_run { "would remove" } else { "removed" };
    let mut out = Cleaned { dry_run: c.dry_run, ..Default::default() };
    // What is named first: a refusal there stops the command before anything else goes.
    let mut builds = c.build.clone();
    if c.builds {
        for p in cache::parts(state).into_iter().filter(|p| p.name == "builds" || p.name == "compare") {
            builds.extend(p.items.into_iter().filter(|i| i.unreferenced).map(|i| i.path));
        }
    }
    let removed = |path: PathBuf, bytes: u64, out: &mut Cleaned| {
        println!("cache: {verb} {} ({})", path.display(), size(bytes));
        out.bytes += bytes;
        out.removed.push(path);
    };
    for b in builds {
        let bytes = cache::remove_build(&b, c.dry_run)?;
        removed(b, bytes, &mut out);
    }
    for t in &c.tree {
        let bytes = cache::remove_tree(state, t, c.force, c.dry_run)?;
        removed(t.clone(), bytes, &mut out);
    }
    if c.engine {
        let bytes = cache::remove_engine_cache(c.dry_run)?;
        removed(crate::remote::engine::dir().join("cas"), bytes, &mut out);
    }
    out.logs_and_scans = prune::prune(&[home::logs(), home::scans()], &limits, c.dry_run)?;
    println!(
        "cache: {verb} {} log and scan file(s), {} ({} kept; limits {} days, {})",
        out.logs_and_scans.files,
        size(out.logs_and_scans.bytes),
        size(out.logs_and_scans.kept_bytes),
        limits.max_age_days,
        limits.max_size.display().iec()
    );
    json.write(&out)
}
