//! `cargo xtask compare`: the same tree and config built with in-process
//! ThinLTO and with THIN_DIST side by side (`measure::compare`).

use anyhow::Result;
use std::path::{Path, PathBuf};

use crate::cli::args::{ArchArg, ConfigArgs, Global, ToolArgs};
use crate::home;
use crate::measure::compare::{self, Options};
use crate::report::compare::CompareReport;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo xtask compare --arch x86_64                         # tinyconfig, both modes, incremental rebuilds
  cargo xtask compare --arch x86_64 --boot --svg cmp.svg    # and boot both kernels in QEMU
  cargo xtask compare --fragment kvm_guest.config --json cmp.json -j 8

The builds go to <out>/in-process and <out>/thin-dist, each emptied first;
<out> also gets both modes' logs, compare.json and compare.svg.
The one-file rebuild touches kernel/fork.c in the tree (its mtime only).")]
pub struct CompareArgs {
    #[command(flatten)]
    pub arch: ArchArg,
    /// Base config and fragments, the same for both modes.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Directory for both builds and their logs; default: one under the cache per tree, arch and config.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write the report as JSON here (default: only <out>/compare.json).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the SVG timeline here (default: only <out>/compare.svg).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Boot both kernels in QEMU (adds the architecture's boot fragment to the config).
    #[arg(long)]
    pub boot: bool,
    /// Skip the no-op and one-file rebuilds.
    #[arg(long)]
    pub no_incremental: bool,
    #[command(flatten)]
    pub tools: ToolArgs,
}

fn default_root(global: &Global, args: &CompareArgs) -> Result<PathBuf> {
    let dir = global.kernel_dir()?;
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let tree = dir.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let mut name = format!("{tree}-{}-{}", args.arch.arch, stem(Path::new(&args.config.config)));
    for f in &args.config.fragment {
        name.push('+');
        name.push_str(&stem(f));
    }
    for p in args.config.profile_names() {
        name.push('+');
        name.push_str(p);
    }
    if args.boot {
        name.push_str("-boot");
    }
    Ok(home::cache().join("compare").join(name))
}

pub fn run(args: &CompareArgs, global: &Global) -> Result<CompareReport> {
    let mut spec = global.spec("compare", &args.arch, &args.tools)?;
    args.config.apply(&mut spec);
    let root = match &args.out {
        Some(dir) => dir.clone(),
        None => default_root(global, args)?,
    };
    let opts = Options {
        root,
        boot: args.boot,
        incremental: !args.no_incremental,
        json: args.json.clone(),
        svg: args.svg.clone(),
    };
    compare::run(spec, &global.load_state()?, &opts)
}
