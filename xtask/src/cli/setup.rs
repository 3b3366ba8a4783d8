//! `cargo xtask setup`: puts distributed ThinLTO onto a kernel tree, or
//! records that the tree already has it, or takes our series off again.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::args::Global;
use crate::home;
use crate::series;
use crate::series::apply;
use crate::series::detect::TreeSupport;
use crate::tree::git;
use crate::tree::kernel::KernelTree;
use crate::tree::state::TreeRecord;
use crate::tree::tarball;

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

/// What setup is asked to do, as plain values (demo uses the defaults).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub series: Option<String>,
    pub force: bool,
    pub dry_run: bool,
    pub patches: Option<PathBuf>,
}

impl Options {
    fn patches_dir(&self) -> PathBuf {
        self.patches.clone().unwrap_or_else(|| home::project_root().join("patches"))
    }
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
        let Some(root) = tree_for(&source, false)? else { return Ok(()) };
        return revert(&KernelTree::open(&root)?, args.force, global);
    }
    apply(&source, &opts, global)
}

/// Puts THIN_DIST onto the tree at `source` (a directory or a tarball), or
/// records that it has it.
pub fn apply(source: &Path, args: &Options, global: &Global) -> Result<()> {
    let Some(root) = tree_for(source, args.dry_run)? else { return Ok(()) };
    let tree = KernelTree::open(&root)?;
    let support = TreeSupport::detect(&tree)?;
    println!("kernel: Linux {} at {}", tree.version, tree.root.display());
    let mut state = global.load_state()?;
    match support {
        TreeSupport::Kernel(layout) => {
            println!("Linux {} has its own distributed ThinLTO (layout: {layout}); nothing to apply", tree.version);
            if !args.dry_run {
                let record = TreeRecord { series: layout.name.clone(), ..Default::default() };
                state.set_tree(&tree.root, &record);
                state.set_current(&tree.root);
                state.save()?;
            }
            return Ok(());
        }
        TreeSupport::OurSeries(layout) => {
            let known = state
                .tree(&tree.root)
                .map(|r| r.series)
                .filter(|s| !s.is_empty())
                .or_else(|| series_from_branch(&tree.root));
            if let Some(name) = &known {
                if complete_series(args, &tree, name)? {
                    if !args.dry_run {
                        state.set_current(&tree.root);
                        state.save()?;
                    }
                    return Ok(());
                }
            }
            println!(
                "a distributed ThinLTO series is already applied ({}); nothing changed",
                known.clone().unwrap_or_else(|| format!("series not recorded, layout {layout}"))
            );
            if !args.dry_run && state.tree(&tree.root).is_none() {
                let series = known.clone().unwrap_or_else(|| "unknown".into());
                let record = TreeRecord { series, ..Default::default() };
                state.set_tree(&tree.root, &record);
            }
            if !args.dry_run {
                state.set_current(&tree.root);
                state.save()?;
            }
            return Ok(());
        }
        TreeSupport::Absent => {}
    }

    let all = series::load_all(&args.patches_dir())?;
    let chosen = series::select(&all, &tree.version, args.series.as_deref())?;
    println!(
        "series: {} ({} patches, layout {}, for Linux {}): {}",
        chosen.name,
        chosen.patches.len(),
        chosen.layout,
        chosen.range(),
        chosen.description
    );
    let patches = apply::read_series(chosen)?;

    let repo = match git::open(&tree.root)? {
        Some(repo) => repo,
        None if args.dry_run => {
            println!(
                "dry run: {} is not a git repository; setup would import it as a baseline commit, then apply:",
                tree.root.display()
            );
            list_patches(&patches);
            return Ok(());
        }
        None => {
            println!("{} is not a git repository: importing it as a baseline commit", tree.root.display());
            let (repo, notes) = git::import_baseline(&tree.root, &tree.root.display().to_string())?;
            notes.iter().for_each(|n| println!("  {n}"));
            repo
        }
    };
    refuse_dirty(&repo, &patches, args.force)?;
    apply::check(&tree.root, &patches)?;
    let branch = format!("thindist/{}", chosen.name);
    if args.dry_run {
        println!("dry run: the whole series applies to HEAD; setup would create branch {branch} with:");
        list_patches(&patches);
        return Ok(());
    }
    let applied = apply::apply(&repo, &patches, &branch)?;
    for (oid, subject) in &applied.commits {
        println!("  {} {subject}", &oid.to_string()[..12]);
    }
    let record = TreeRecord {
        series: chosen.name.clone(),
        branch: Some(applied.branch.clone()),
        original_branch: applied.original_branch.clone(),
        original_commit: Some(applied.original_commit.to_string()),
    };
    state.set_tree(&tree.root, &record);
    state.set_current(&tree.root);
    state.save()?;
    println!("applied {} on branch {} (state: {})", chosen.name, applied.branch, state.path().display());
    if !chosen.notes.is_empty() {
        println!("note: {}", chosen.notes.trim());
    }
    Ok(())
}

/// The series named by the branch setup made (`thindist/<series>`), if HEAD is on one.
/// Uncommitted changes stop setup, unless --force and the series leaves those files alone.
fn refuse_dirty(repo: &git2::Repository, patches: &[apply::Patch], force: bool) -> Result<()> {
    let dirty = git::dirty_files(repo)?;
    if dirty.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = dirty.iter().take(20).map(String::as_str).collect();
    let more = if dirty.len() > 20 { format!(" and {} more", dirty.len() - 20) } else { String::new() };
    if !force {
        bail!("the work tree has uncommitted changes: {}{more}; commit or stash them, or pass --force to apply anyway (they are kept)", shown.join(", "));
    }
    let touched = apply::touched_files(patches)?;
    let clash: Vec<&str> = dirty.iter().filter(|f| touched.contains(*f)).map(String::as_str).collect();
    if !clash.is_empty() {
        bail!("uncommitted changes in files the series changes: {}; commit or stash them first (--force only covers other files)", clash.join(", "));
    }
    println!("warning: applying over uncommitted changes (--force): {}{more}", shown.join(", "));
    Ok(())
}

/// A tree that carries the first patches of series `name` from an older
/// thindist gets the rest, checked first, on the same branch. Returns
/// whether it handled the tree (false: carry on as "already applied").
fn complete_series(args: &Options, tree: &KernelTree, name: &str) -> Result<bool> {
    let patches_dir = args.patches_dir();
    let Some(series) = series::load_all(&patches_dir)?.into_iter().find(|s| s.name == name) else { return Ok(false) };
    let Some(repo) = git::open(&tree.root)? else { return Ok(false) };
    let patches = apply::read_series(&series)?;
    let have = apply::applied_prefix(&repo, &patches)?;
    if have == 0 || have == patches.len() {
        if have == 0 {
            println!("warning: the commits on this branch are not the first patches of series {name}; `cargo xtask setup --revert`, then setup, applies the current series");
        }
        return Ok(false);
    }
    let rest = &patches[have..];
    println!("series {name} is applied up to patch {have} of {}; the rest:", patches.len());
    list_patches(rest);
    refuse_dirty(&repo, rest, args.force)?;
    apply::check(&tree.root, rest)?;
    if args.dry_run {
        println!("dry run: the rest applies to HEAD; nothing written");
        return Ok(true);
    }
    for (oid, subject) in apply::extend(&repo, rest)? {
        println!("  {} {subject}", &oid.to_string()[..12]);
    }
    println!("applied patches {} to {} of {name}", have + 1, patches.len());
    Ok(true)
}

fn series_from_branch(root: &Path) -> Option<String> {
    let repo = git::open(root).ok()??;
    let head = repo.head().ok()?;
    head.shorthand()?.strip_prefix("thindist/").map(str::to_string)
}

fn list_patches(patches: &[apply::Patch]) {
    for p in patches {
        println!("  {}", p.mail.subject());
    }
}

/// The kernel directory for a source: the directory itself, or a tarball's
/// tree in the cache (extracted and imported once, reused afterwards).
fn tree_for(source: &Path, dry_run: bool) -> Result<Option<PathBuf>> {
    if !source.exists() {
        bail!("{} does not exist; give a kernel directory or a source tarball (.tar.xz, .tar.gz)", source.display());
    }
    if !tarball::is_tarball(source) {
        if source.is_file() {
            bail!(
                "{} is a file but not a source tarball; give a kernel directory or a .tar.xz/.tar.gz tarball",
                source.display()
            );
        }
        return Ok(Some(source.to_path_buf()));
    }
    let dest = home::trees().join(tarball::tree_name(source));
    let imported = dest.is_dir() && git::open(&dest)?.is_some_and(|r| r.head().is_ok());
    if imported {
        println!("using the tree already extracted from {} at {}", source.display(), dest.display());
        return Ok(Some(dest));
    }
    if dry_run {
        println!(
            "dry run: setup would extract {} into {} and import it as a git baseline",
            source.display(),
            dest.display()
        );
        return Ok(None);
    }
    if dest.exists() {
        // A previous import stopped half way: start again from the tarball.
        std::fs::remove_dir_all(&dest)
            .with_context(|| format!("cannot remove the incomplete tree {}", dest.display()))?;
    }
    tarball::extract(source, &dest)?;
    let origin = source.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let (_, notes) = git::import_baseline(&dest, &origin)?;
    println!("imported {} as a git repository with one baseline commit", dest.display());
    notes.iter().for_each(|n| println!("  {n}"));
    Ok(Some(dest))
}

fn revert(tree: &KernelTree, force: bool, global: &Global) -> Result<()> {
    let mut state = global.load_state()?;
    let record = state.tree(&tree.root).filter(|r| r.original_commit.is_some()).with_context(|| {
        format!(
            "{} records no series applied by setup to {}; nothing to revert",
            state.path().display(),
            tree.root.display()
        )
    })?;
    let (branch, commit) =
        (record.branch.clone().unwrap_or_default(), record.original_commit.clone().unwrap_or_default());
    let repo = git::open(&tree.root)?.context("the tree is no longer a git repository")?;
    let head = repo.head()?;
    if head.name() != Some(&format!("refs/heads/{branch}")) {
        bail!(
            "HEAD is not on {branch} (it is on {}); check out {branch} first, or revert by hand",
            head.shorthand().unwrap_or("a detached commit")
        );
    }
    let dirty = git::dirty_files(&repo)?;
    if !dirty.is_empty() && !force {
        bail!("the work tree has uncommitted changes: {}; commit or stash them first (or --force to keep them across the revert)", dirty.join(", "));
    }
    apply::revert(&repo, &branch, record.original_branch.as_deref(), &commit)?;
    state.remove_tree(&tree.root);
    state.save()?;
    println!(
        "reverted: back on {} at {}, branch {branch} deleted",
        record.original_branch.as_deref().unwrap_or("a detached HEAD"),
        &commit[..12.min(commit.len())]
    );
    Ok(())
}
