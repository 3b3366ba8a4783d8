//! `cargo xtask setup`: puts distributed ThinLTO onto a kernel tree, or
//! records that the tree already has it, or takes our series off again
//! (the workflow: `series::setup`).

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::args::Global;
use crate::report::progress::Progress;
use crate::series::setup;
pub use crate::series::setup::Options;
use crate::tree::kernel::KernelTree;
use crate::tree::lock::Lock;
use crate::tree::source::{self, tree_path, Source};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo xtask setup /usr/src/linux-source-6.12.tar.xz   # extract, import, apply the 6.12 series
  cargo xtask setup ~/src/linux --dry-run               # say what would happen, write nothing
  cargo xtask setup --revert                            # back to the tree as it was")]
pub struct SetupArgs {
    /// Kernel directory (git checkout or plain tree) or source tarball (.tar.xz, .tar.gz).
    /// Default: the tree set up last.
    pub source: Option<PathBuf>,
    /// Apply this series (a directory name under patches/) instead of the one that fits.
    #[arg(long)]
    pub series: Option<String>,
    /// Apply even though the work tree has uncommitted changes (they are kept).
    #[arg(long)]
    pub force: bool,
    /// Report what would happen; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Return to the original branch and commit, as before `setup`.
    #[arg(long, conflicts_with_all = ["series", "dry_run"])]
    pub revert: bool,
    /// Directory holding the patch series.
    #[arg(long, env = "THINDIST_PATCHES", value_name = "DIR")]
    pub patches: Option<PathBuf>,
}

pub fn run(args: &SetupArgs, global: &Global) -> Result<()> {
    let source = match (&args.source, &global.kernel) {
        (Some(s), _) => s.clone(),
        (None, Some(k)) => k.clone(),
        (None, None) => global.kernel_dir()?,
    };
    let opts = Options {
        series: args.series.clone(),
        force: args.force,
        dry_run: args.dry_run,
        patches: args.patches.clone(),
    };
    if args.revert {
        let _lock = Lock::acquire(&tree_path(&source)?, "setup --revert", global.wait)?;
        let Some(root) = tree_of(&source, false)? else { return Ok(()) };
        return setup::revert(&KernelTree::open(&root)?, &opts, global.load_state()?);
    }
    apply(&source, &opts, global)
}

/// Puts THIN_DIST onto the tree at `source` (a directory or a tarball), or
/// records that it has it.
pub fn apply(source: &Path, opts: &Options, global: &Global) -> Result<()> {
    let _lock = Lock::acquire(&tree_path(source)?, "setup", global.wait)?;
    let Some(root) = tree_of(source, opts.dry_run)? else { return Ok(()) };
    setup::apply(&root, opts, global.load_state()?)
}

/// The kernel directory for a source: the directory itself, or a tarball's
/// tree in the cache (extracted and imported once, reused afterwards).
/// None on a dry run that would extract.
fn tree_of(source: &Path, dry_run: bool) -> Result<Option<PathBuf>> {
    match source::resolve(source)? {
        Source::Tree(root) => Ok(Some(root)),
        Source::Tarball { tarball, dest } if dry_run => {
            let (tarball, dest) = (tarball.display(), dest.display());
            println!("dry run: setup would extract {tarball} into {dest} and import it as a git baseline");
            Ok(None)
        }
        Source::Tarball { tarball, dest } => {
            let progress = Progress::new("extract", 0);
            source::extract(&tarball, &dest, &progress.bar)?;
            let size = progress.bar.length().unwrap_or(0);
            progress.finish(&format!("extracted {} ({} MiB) into {}", tarball.display(), size >> 20, dest.display()));
            source::import(&tarball, &dest)?;
            Ok(Some(dest))
        }
    }
}
