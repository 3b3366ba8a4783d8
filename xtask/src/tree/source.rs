//! The tree a user names: a kernel directory as it is, or a source tarball
//! extracted into the cache and imported as a git baseline, once.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;

use crate::home;
use crate::tree::{git, tarball};

/// What a source given to setup is.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A kernel directory: a tree of the user's, or a tarball's tree imported earlier.
    Tree(PathBuf),
    /// A tarball whose tree is not in the cache yet.
    Tarball { tarball: PathBuf, dest: PathBuf },
}

fn refuse_missing(source: &Path) -> Result<()> {
    if !source.exists() {
        bail!("{} does not exist; give a kernel directory or a source tarball (.tar.xz, .tar.gz)", source.display());
    }
    Ok(())
}

/// The tree a source names: the directory itself, or where a tarball is extracted.
pub fn tree_path(source: &Path) -> Result<PathBuf> {
    refuse_missing(source)?;
    Ok(if tarball::is_tarball(source) { home::trees().join(tarball::tree_name(source)) } else { source.to_path_buf() })
}

/// A directory as it is; a tarball's tree in the cache once it was imported.
pub fn resolve(source: &Path) -> Result<Source> {
    refuse_missing(source)?;
    if !tarball::is_tarball(source) {
        if source.is_file() {
            bail!(
                "{} is a file but not a source tarball; give a kernel directory or a .tar.xz/.tar.gz tarball",
                source.display()
            );
        }
        return Ok(Source::Tree(source.to_path_buf()));
    }
    let dest = home::trees().join(tarball::tree_name(source));
    let imported = dest.is_dir() && git::open(&dest)?.is_some_and(|r| r.head().is_ok());
    if imported {
        println!("using the tree already extracted from {} at {}", source.display(), dest.display());
        return Ok(Source::Tree(dest));
    }
    Ok(Source::Tarball { tarball: source.to_path_buf(), dest })
}

/// Extracts a tarball into `dest` (an import that stopped half way is
/// started again); `read` counts the bytes read.
pub fn extract(tarball: &Path, dest: &Path, read: &ProgressBar) -> Result<()> {
    if dest.exists() {
        std::fs::remove_dir_all(dest)
            .with_context(|| format!("cannot remove the incomplete tree {}", dest.display()))?;
    }
    tarball::extract(tarball, dest, read)?;
    Ok(())
}

/// Commits an extracted tree as one git baseline, every file of it.
pub fn import(tarball: &Path, dest: &Path) -> Result<()> {
    let origin = tarball.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let (_, notes) = git::import_baseline(dest, &origin, git::Baseline::EveryFile)?;
    println!("imported {} as a git repository with one baseline commit", dest.display());
    notes.iter().for_each(|n| println!("  {n}"));
    Ok(())
}
