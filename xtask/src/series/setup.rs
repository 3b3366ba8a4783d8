//! The setup workflow: puts distributed ThinLTO onto a kernel tree (the
//! series that fits, checked whole before it is committed patch by patch),
//! records that a tree already has it, or takes our series off again. The
//! command (`cli/setup.rs`) resolves the tree and holds its lock.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::home;
use crate::kbuild::layout::{Layout, Provider};
use crate::kbuild::support::TreeSupport;
use crate::series;
use crate::series::apply;
use crate::tree::git;
use crate::tree::kernel::KernelTree;
use crate::tree::state::{State, TreeRecord};

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

    /// The patches of the shipped series of that name.
    fn series_patches(&self, name: &str) -> Result<Option<Vec<apply::Patch>>> {
        let found = series::load_all(&self.patches_dir())?.into_iter().find(|s| s.name == name);
        found.map(|s| apply::read_series(&s)).transpose()
    }
}

/// Says so when the tree cannot be written (a read-only mount, say),
/// before anything reports on patches.
fn refuse_read_only(root: &Path) -> Result<()> {
    for dir in [root.to_path_buf(), root.join(".git")] {
        let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else { continue };
        // SAFETY: access(2) on a NUL-terminated path.
        if dir.exists() && unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
            let why = std::io::Error::last_os_error();
            bail!(
                "{} is not writable ({why}); setup commits the series there, so it needs a writable tree",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Puts THIN_DIST onto the tree at `root`, or records in `state` that it
/// has it. The caller holds the tree's lock.
pub fn apply(root: &Path, args: &Options, state: State) -> Result<()> {
    let tree = KernelTree::open(root)?;
    refuse_read_only(&tree.root)?;
    let support = TreeSupport::detect(&tree)?;
    println!("kernel: Linux {} at {}", tree.version, tree.root.display());
    let mut state = state;
    match support {
        TreeSupport::Kernel(layout) => {
            if known_series(&tree, layout, args, &state)?.is_some() {
                return already_applied(&tree, layout, args, state);
            }
            let all = series::load_all(&args.patches_dir())?;
            if let Some(asked) = &args.series {
                let chosen = series::select(&all, &tree.version, Some(asked))?;
                if chosen.layout != layout {
                    bail!("Linux {} has its own distributed ThinLTO (layout {layout}); series {asked} is for trees without it, and nothing was applied", tree.version);
                }
                println!(
                    "Linux {} has its own distributed ThinLTO (layout: {layout}); series {asked} goes on top of it",
                    tree.version
                );
                return apply_series(&tree, args, state);
            }
            println!("Linux {} has its own distributed ThinLTO (layout: {layout}); nothing to apply", tree.version);
            for s in series::opt_in_for(&all, &tree.version, layout) {
                if !s.notes.is_empty() {
                    println!("note: {}", s.notes.trim());
                }
                println!(
                    "optional: series {} ({}); apply it with `cargo xtask setup --series {}`",
                    s.name, s.description, s.name
                );
            }
            if !args.dry_run {
                state.set_tree(&tree.root, &TreeRecord { series: layout.name.clone(), ..Default::default() });
                state.set_current(&tree.root);
                state.save()?;
            }
            Ok(())
        }
        TreeSupport::OurSeries(layout) => already_applied(&tree, layout, args, state),
        TreeSupport::Absent => apply_series(&tree, args, state),
    }
}

/// The series of ours a tree carries: recorded by setup, named by its
/// branch, or found by its commits at HEAD.
fn known_series(tree: &KernelTree, layout: &Layout, args: &Options, state: &State) -> Result<Option<String>> {
    match recorded_series(tree, layout, state).or_else(|| series_from_branch(&tree.root)) {
        Some(name) => Ok(Some(name)),
        None => series_by_commits(tree, layout, args),
    }
}

/// The series the state records for a tree; for a kernel's own
/// implementation it records the layout's name, which is no series.
fn recorded_series(tree: &KernelTree, layout: &Layout, state: &State) -> Option<String> {
    let own = layout.provided_by == Provider::Kernel;
    state.tree(&tree.root).map(|r| r.series).filter(|s| !(s.is_empty() || own && *s == layout.name))
}

/// A tree that has a series of ours: complete, a prefix (the rest is
/// applied), or an implementation that is not ours (said, left alone).
fn already_applied(tree: &KernelTree, layout: &'static Layout, args: &Options, mut state: State) -> Result<()> {
    let recorded = recorded_series(tree, layout, &state);
    let known = known_series(tree, layout, args, &state)?;
    if let (Some(asked), Some(have)) = (&args.series, &known) {
        if asked != have {
            bail!("{} is already set up with series {have}; to apply {asked}, run `cargo xtask setup --revert` first, then `cargo xtask setup --series {asked}`", tree.root.display());
        }
    }
    let Some(name) = known else {
        println!("this tree carries a distributed ThinLTO implementation (layout {layout}) that is not a series of ours: no commit on HEAD is the first patch of any series in patches/; nothing changed, and builds use it as it is");
        return Ok(());
    };
    let completed = complete_series(args, tree, &name)?;
    if !completed {
        println!("a distributed ThinLTO series is already applied ({name}); nothing changed");
    }
    if !args.dry_run {
        if recorded.is_none() {
            state.set_tree(&tree.root, &TreeRecord { series: name, ..Default::default() });
        }
        state.set_current(&tree.root);
        state.save()?;
    }
    Ok(())
}

/// The shipped series of this layout, fitting this kernel, whose first
/// patches are the commits at HEAD (applied by hand with `git am`, say).
fn series_by_commits(tree: &KernelTree, layout: &Layout, args: &Options) -> Result<Option<String>> {
    let Some(repo) = git::open(&tree.root)? else { return Ok(None) };
    for s in series::load_all(&args.patches_dir())? {
        if s.layout == layout && s.fits(&tree.version) && apply::applied_prefix(&repo, &apply::read_series(&s)?)? > 0 {
            return Ok(Some(s.name));
        }
    }
    Ok(None)
}

fn apply_series(tree: &KernelTree, args: &Options, mut state: State) -> Result<()> {
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
            let (repo, notes) =
                git::import_baseline(&tree.root, &tree.root.display().to_string(), git::Baseline::Sources)?;
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
    // The state first: if it cannot be written (a full disk), HEAD has not moved.
    let (original_branch, original_commit) = apply::start_point(&repo)?;
    let mut record = TreeRecord {
        series: chosen.name.clone(),
        branch: Some(branch.clone()),
        original_branch,
        original_commit: Some(original_commit.to_string()),
        applied_head: None,
    };
    state.set_tree(&tree.root, &record);
    state.set_current(&tree.root);
    state.save().context("nothing was applied")?;
    let applied = match apply::apply(&repo, &patches, &branch) {
        Ok(a) => a,
        Err(e) => {
            state.remove_tree(&tree.root);
            let _ = state.save();
            return Err(e);
        }
    };
    for (oid, subject) in &applied.commits {
        println!("  {} {subject}", &oid.to_string()[..12]);
    }
    record.applied_head = applied.commits.last().map(|(oid, _)| oid.to_string());
    state.set_tree(&tree.root, &record);
    state.save()?;
    println!("applied {} on branch {} (state: {})", chosen.name, applied.branch, state.path().display());
    if !chosen.notes.is_empty() {
        println!("note: {}", chosen.notes.trim());
    }
    Ok(())
}

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

/// A tree that carries the first patches of series `name` (from an older
/// thindist, or applied by hand) gets the rest, checked first, on the same
/// branch. Returns whether it applied anything (false: complete already).
fn complete_series(args: &Options, tree: &KernelTree, name: &str) -> Result<bool> {
    let Some(patches) = args.series_patches(name)? else { return Ok(false) };
    let Some(repo) = git::open(&tree.root)? else { return Ok(false) };
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

/// The series named by the branch setup made (`thindist/<series>`), if HEAD is on one.
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

/// Takes our series off: back to the original branch as it is now, every
/// commit that is not ours kept on a branch of its own.
pub fn revert(tree: &KernelTree, args: &Options, state: State) -> Result<()> {
    refuse_read_only(&tree.root)?;
    let mut state = state;
    let record = state.tree(&tree.root).filter(|r| r.original_commit.is_some()).with_context(|| {
        format!(
            "{} records no series applied by setup to {}; nothing to revert",
            state.path().display(),
            tree.root.display()
        )
    })?;
    let branch = record.branch.clone().unwrap_or_default();
    let repo = git::open(&tree.root)?.context("the tree is no longer a git repository")?;
    let head = repo.head()?;
    if head.name() != Some(&format!("refs/heads/{branch}")) {
        bail!(
            "HEAD is not on {branch} (it is on {}); check out {branch} first, or revert by hand",
            head.shorthand().unwrap_or("a detached commit")
        );
    }
    let back_to = apply::BackTo::of(
        &repo,
        record.original_branch.as_deref(),
        record.original_commit.as_deref().unwrap_or_default(),
    )?;
    let dirty = git::dirty_files(&repo)?;
    if !dirty.is_empty() {
        if !args.force {
            bail!("the work tree has uncommitted changes: {}; commit or stash them first (or --force to keep them across the revert)", dirty.join(", "));
        }
        let changing = apply::files_between(&repo, head.peel_to_commit()?.id(), back_to.commit)?;
        let clash: Vec<&String> = dirty.iter().filter(|f| changing.contains(*f)).collect();
        if !clash.is_empty() {
            let names: Vec<&str> = clash.iter().map(|s| s.as_str()).collect();
            bail!("uncommitted changes in files the revert changes: {}; commit or stash them first (--force only keeps changes to other files)", names.join(", "));
        }
    }
    let series_subjects = args
        .series_patches(&record.series)?
        .map(|patches| patches.iter().map(|p| p.mail.subject().to_string()).collect::<Vec<_>>());
    let theirs = apply::commits_not_ours(&repo, &record, series_subjects.as_deref())?;
    let keep_as =
        if theirs.is_empty() { None } else { Some(apply::free_branch_name(&repo, &format!("{branch}-kept"))) };
    apply::revert(&repo, &branch, &back_to, keep_as.as_deref())?;
    state.remove_tree(&tree.root);
    state.save()?;
    println!("reverted: back on {}", back_to.describe());
    match keep_as {
        Some(kept) => println!(
            "your {} commit(s) on {branch} are kept: branch {branch} is now {kept} (your commits on top of the series): {}",
            theirs.len(),
            theirs.join("; ")
        ),
        None => println!("branch {branch} deleted (it held only the series)"),
    }
    Ok(())
}
