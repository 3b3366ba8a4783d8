//! Applying a patch series with git2, like `git am`: the whole series is
//! first applied in memory (nothing written), then committed patch by patch
//! on a new branch and checked out; and undone by `revert`.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{anyhow, bail, Context, Result};
use git2::build::CheckoutBuilder;
use git2::{ApplyOptions, Diff, Oid, Repository, Signature, Time};

use crate::series::mbox::MailPatch;
use crate::series::Series;
use crate::tree::git;
use crate::tree::state::TreeRecord;

/// Why a series cannot be applied, naming the patch, file and hunk.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{patch}: not a valid patch: {reason}")]
    Corrupt { patch: String, reason: String },
    #[error("{patch} does not apply: {file}: hunk `{hunk}` does not match the tree ({reason})")]
    Conflict { patch: String, file: String, hunk: String, reason: String },
}

pub struct Patch {
    pub path: PathBuf,
    pub mail: MailPatch,
}

pub fn read_series(series: &Series) -> Result<Vec<Patch>> {
    series
        .patches
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let mail = MailPatch::parse(&text)
                .map_err(|e| ApplyError::Corrupt { patch: file_name(path), reason: format!("{e:#}") })?;
            Ok(Patch { path: path.clone(), mail })
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
}

/// Every path the series changes.
pub fn touched_files(patches: &[Patch]) -> Result<BTreeSet<String>> {
    let mut files = BTreeSet::new();
    for patch in patches {
        let diff = Diff::from_buffer(&patch.mail.diff)
            .map_err(|e| ApplyError::Corrupt { patch: file_name(&patch.path), reason: e.message().to_string() })?;
        for d in diff.deltas() {
            for f in [d.old_file().path(), d.new_file().path()].into_iter().flatten() {
                files.insert(f.to_string_lossy().to_string());
            }
        }
    }
    Ok(files)
}

/// Applies each patch on top of the previous tree; returns the trees.
/// Objects go to whatever object database `repo` writes to.
fn apply_trees(repo: &Repository, base: Oid, patches: &[Patch]) -> Result<Vec<Oid>> {
    let mut trees = Vec::new();
    let mut tree = repo.find_tree(base)?;
    for patch in patches {
        let name = file_name(&patch.path);
        let diff = Diff::from_buffer(&patch.mail.diff)
            .map_err(|e| ApplyError::Corrupt { patch: name.clone(), reason: e.message().to_string() })?;
        // libgit2 reports a failed hunk without its file; the callbacks tell
        // which delta and hunk it was working on when it stopped.
        let file = Rc::new(RefCell::new(String::new()));
        let hunk = Rc::new(RefCell::new(String::new()));
        let mut opts = ApplyOptions::new();
        {
            let file = file.clone();
            opts.delta_callback(move |d| {
                if let Some(d) = d {
                    let p = d.new_file().path().or(d.old_file().path());
                    *file.borrow_mut() = p.map(|p| p.display().to_string()).unwrap_or_default();
                }
                true
            });
        }
        {
            let hunk = hunk.clone();
            opts.hunk_callback(move |h| {
                if let Some(h) = h {
                    *hunk.borrow_mut() = String::from_utf8_lossy(h.header()).trim().to_string();
                }
                true
            });
        }
        let mut index = repo.apply_to_tree(&tree, &diff, Some(&mut opts)).map_err(|e| ApplyError::Conflict {
            patch: name.clone(),
            file: file.borrow().clone(),
            hunk: hunk.borrow().clone(),
            reason: e.message().to_string(),
        })?;
        let oid = index.write_tree_to(repo)?;
        tree = repo.find_tree(oid)?;
        trees.push(oid);
    }
    Ok(trees)
}

/// Checks that the whole series applies to HEAD without writing anything:
/// the trees go to an in-memory object database that is then dropped.
pub fn check(root: &Path, patches: &[Patch]) -> Result<()> {
    let repo = git::open(root)?.context("not a git repository")?;
    repo.odb()?.add_new_mempack_backend(1000)?;
    let base = repo.head()?.peel_to_tree()?.id();
    apply_trees(&repo, base, patches)?;
    Ok(())
}

pub struct Applied {
    pub branch: String,
    pub original_branch: Option<String>,
    pub original_commit: Oid,
    pub commits: Vec<(Oid, String)>,
}

/// Commits each patch (with its author and message) on top of `base`; returns the last commit.
fn commit_all<'r>(
    repo: &'r Repository,
    base: git2::Commit<'r>,
    patches: &[Patch],
) -> Result<(git2::Commit<'r>, Vec<(Oid, String)>)> {
    let trees = apply_trees(repo, base.tree_id(), patches)?;
    let committer = git::committer(repo)?;
    let mut parent = base;
    let mut commits = Vec::new();
    for (patch, tree) in patches.iter().zip(trees) {
        let m = &patch.mail;
        let author = Signature::new(&m.author_name, &m.author_email, &Time::new(m.time.0, m.time.1))?;
        let tree = repo.find_tree(tree)?;
        let oid = repo.commit(None, &author, &committer, &m.message, &tree, &[&parent])?;
        parent = repo.find_commit(oid)?;
        commits.push((oid, m.subject().to_string()));
    }
    // Safe checkout: never overwrites a change of the user's.
    repo.checkout_tree(parent.as_object(), Some(CheckoutBuilder::new().safe()))
        .context("cannot check out the patched tree (a local change is in the way?)")?;
    Ok((parent, commits))
}

/// Commits the series on `branch` (created from HEAD) and checks it out.
pub fn apply(repo: &Repository, patches: &[Patch], branch: &str) -> Result<Applied> {
    let (original_branch, start) = start_point(repo)?;
    let original = repo.find_commit(start)?;
    if repo.find_branch(branch, git2::BranchType::Local).is_ok() {
        bail!(
            "branch {branch} already exists; run `cargo xtask setup --revert` or delete it (`git branch -D {branch}`)"
        );
    }
    let (last, commits) = commit_all(repo, original.clone(), patches)?;
    repo.branch(branch, &last, false)?;
    repo.set_head(&format!("refs/heads/{branch}"))?;
    Ok(Applied { branch: branch.to_string(), original_branch, original_commit: original.id(), commits })
}

/// How many of the series' patches the checked-out branch already ends
/// with: the largest k whose subjects HEAD's last k commits carry in order.
pub fn applied_prefix(repo: &Repository, patches: &[Patch]) -> Result<usize> {
    let mut newest_first = Vec::new();
    let mut commit = repo.head()?.peel_to_commit()?;
    for _ in 0..patches.len() {
        newest_first.push(commit.summary().unwrap_or_default().to_string());
        match commit.parent(0) {
            Ok(p) => commit = p,
            Err(_) => break,
        }
    }
    let carries =
        |k: usize| k <= newest_first.len() && (0..k).all(|i| newest_first[k - 1 - i] == patches[i].mail.subject());
    Ok((0..=patches.len()).rev().find(|k| carries(*k)).unwrap_or(0))
}

/// Commits `patches` on top of the checked-out branch and moves it there:
/// how a tree set up with an older, shorter series gets the rest.
pub fn extend(repo: &Repository, patches: &[Patch]) -> Result<Vec<(Oid, String)>> {
    let head = repo.head()?;
    let branch = head.name().filter(|_| head.is_branch()).context("HEAD is not on a branch")?.to_string();
    let (last, commits) = commit_all(repo, head.peel_to_commit()?, patches)?;
    repo.reference(&branch, last.id(), true, "thindist: the rest of the series")?;
    Ok(commits)
}

/// Returns to the original branch and commit and deletes our branch.
/// Where `--revert` returns: the original branch as it is now (the user
/// may have committed there since), or the original commit when HEAD was
/// detached or the branch is gone.
pub struct BackTo {
    pub branch: Option<String>,
    pub commit: Oid,
}

impl BackTo {
    pub fn of(repo: &Repository, original_branch: Option<&str>, original_commit: &str) -> Result<Self> {
        if let Some(b) = original_branch {
            if let Ok(branch) = repo.find_branch(b, git2::BranchType::Local) {
                let commit = branch.get().peel_to_commit()?.id();
                return Ok(Self { branch: Some(b.to_string()), commit });
            }
        }
        let oid = Oid::from_str(original_commit)
            .with_context(|| format!("recorded commit `{original_commit}` is not a commit id"))?;
        repo.find_commit(oid).map_err(|_| anyhow!("recorded commit {original_commit} is not in the repository"))?;
        Ok(Self { branch: None, commit: oid })
    }

    pub fn describe(&self) -> String {
        let short = &self.commit.to_string()[..12];
        match &self.branch {
            Some(b) => format!("{b} at {short}"),
            None => format!("a detached HEAD at {short}"),
        }
    }
}

/// The start of a series: the branch HEAD is on (if any) and its commit.
pub fn start_point(repo: &Repository) -> Result<(Option<String>, Oid)> {
    let head = repo.head().context("the tree's repository has no commit to start from")?;
    let branch = if head.is_branch() { head.shorthand().map(str::to_string) } else { None };
    Ok((branch, head.peel_to_commit()?.id()))
}

/// Paths that differ between two commits' trees.
pub fn files_between(repo: &Repository, a: Oid, b: Oid) -> Result<BTreeSet<String>> {
    let (ta, tb) = (repo.find_commit(a)?.tree()?, repo.find_commit(b)?.tree()?);
    let diff = repo.diff_tree_to_tree(Some(&ta), Some(&tb), None)?;
    Ok(diff
        .deltas()
        .flat_map(|d| [d.old_file().path(), d.new_file().path()])
        .flatten()
        .map(|p| p.to_string_lossy().into_owned())
        .collect())
}

/// The commits on the series' branch that setup did not make, newest
/// first, as `<id> <summary>`: those above the recorded tip of the applied
/// series, or (older records) those whose summary is no patch of the series.
pub fn commits_not_ours(
    repo: &Repository,
    record: &TreeRecord,
    series_subjects: Option<&[String]>,
) -> Result<Vec<String>> {
    let branch = record.branch.as_deref().unwrap_or_default();
    let tip = repo.find_branch(branch, git2::BranchType::Local)?.get().peel_to_commit()?.id();
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    let stop = record.applied_head.as_deref().or(record.original_commit.as_deref()).unwrap_or_default();
    if let Ok(oid) = Oid::from_str(stop) {
        walk.hide(oid)?;
    }
    let mut theirs = Vec::new();
    for oid in walk {
        let c = repo.find_commit(oid?)?;
        let summary = c.summary().unwrap_or_default().to_string();
        let ours = record.applied_head.is_none() && series_subjects.is_some_and(|s| s.contains(&summary));
        if !ours {
            theirs.push(format!("{} {summary}", &c.id().to_string()[..12]));
        }
    }
    Ok(theirs)
}

/// `base`, or `base-2`, `base-3`, … : the first local branch name not taken.
pub fn free_branch_name(repo: &Repository, base: &str) -> String {
    let taken = |n: &str| repo.find_branch(n, git2::BranchType::Local).is_ok();
    std::iter::once(base.to_string())
        .chain((2..).map(|i| format!("{base}-{i}")))
        .find(|n| !taken(n))
        .expect("a free name")
}

/// Returns to `back_to` (index and work tree matching it); the series'
/// branch is deleted, or renamed to `keep_as` when it carries commits that
/// are not ours.
pub fn revert(repo: &Repository, branch: &str, back_to: &BackTo, keep_as: Option<&str>) -> Result<()> {
    let commit = repo.find_commit(back_to.commit)?;
    repo.checkout_tree(commit.as_object(), Some(CheckoutBuilder::new().safe()))
        .context("cannot check out the original tree")?;
    match &back_to.branch {
        Some(b) => repo.set_head(&format!("refs/heads/{b}"))?,
        None => repo.set_head_detached(back_to.commit)?,
    }
    if let Ok(mut b) = repo.find_branch(branch, git2::BranchType::Local) {
        match keep_as {
            Some(name) => {
                b.rename(name, false)?;
            }
            None => b.delete()?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series;

    fn shipped(name: &str) -> Series {
        let dir = crate::home::project_root().join("patches");
        series::load_all(&dir).unwrap().into_iter().find(|s| s.name == name).unwrap()
    }

    /// The restored v3 has exactly the diffstat the posting states:
    /// 9 files changed, 181 insertions(+), 15 deletions(-).
    #[test]
    fn restored_v3_matches_its_posted_diffstat() {
        let patches = read_series(&shipped("v3")).unwrap();
        let [p] = patches.as_slice() else { panic!("v3 is one patch") };
        assert_eq!(p.mail.subject(), "kbuild: distributed build support for Clang ThinLTO");
        assert_eq!(p.mail.author_email, "xur@google.com");
        let diff = Diff::from_buffer(&p.mail.diff).unwrap();
        let stats = diff.stats().unwrap();
        assert_eq!((stats.files_changed(), stats.insertions(), stats.deletions()), (9, 181, 15));
        // The obfuscated references are repaired and recipes use tabs.
        let text = String::from_utf8_lossy(&p.mail.diff);
        assert!(text.contains("$(filter $@/built-in$(builtin_suffix), $(subdir-builtin))"));
        assert!(text.contains("$(filter $@/modules.order, $(subdir-modorder))"));
        assert!(!text.contains("...ilt-in") && !text.contains("@...dules"));
        assert!(text.contains("+\t$(call if_changed,cc_o_bc)\n"));
    }

    #[test]
    fn every_shipped_patch_parses() {
        for name in ["v3", "linux-6.12"] {
            for p in read_series(&shipped(name)).unwrap() {
                Diff::from_buffer(&p.mail.diff).unwrap_or_else(|e| panic!("{}: {e}", p.path.display()));
                assert!(p.mail.message.lines().count() > 3, "{} explains itself", p.path.display());
            }
        }
    }
}
