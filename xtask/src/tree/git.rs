//! git2 helpers for a kernel tree: opening it, telling whether it is dirty,
//! and importing a plain tree as a baseline commit.

use std::path::Path;

use anyhow::{bail, Context, Result};
use git2::{IndexAddOption, Repository, RepositoryOpenFlags, Signature, Status, StatusOptions};

/// Opens the repository whose work tree is exactly `root` (never a parent's).
pub fn open(root: &Path) -> Result<Option<Repository>> {
    match Repository::open_ext(root, RepositoryOpenFlags::NO_SEARCH, &[] as &[&std::ffi::OsStr]) {
        Ok(repo) => Ok(Some(repo)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot open the git repository at {}", root.display())),
    }
}

/// Files that differ from HEAD: modified, staged, or untracked and not ignored.
pub fn dirty_files(repo: &Repository) -> Result<Vec<String>> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true).include_ignored(false).recurse_untracked_dirs(false);
    let statuses = repo.statuses(Some(&mut opts)).context("cannot read the work tree's status")?;
    Ok(statuses
        .iter()
        .filter(|s| s.status() != Status::CURRENT && !s.status().contains(Status::IGNORED))
        .filter_map(|s| s.path().map(str::to_string))
        .collect())
}

/// Every path git does not track, with whether the ignore rules cover it.
pub fn untracked(repo: &Repository) -> Result<std::collections::BTreeMap<String, bool>> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true).include_ignored(true).recurse_untracked_dirs(true).recurse_ignored_dirs(true);
    let statuses = repo.statuses(Some(&mut opts)).context("cannot read the work tree's status")?;
    Ok(statuses
        .iter()
        .filter(|s| s.status().intersects(Status::WT_NEW | Status::IGNORED))
        .filter_map(|s| s.path().map(|p| (p.to_string(), s.status().contains(Status::IGNORED))))
        .collect())
}

/// The committer for commits the tool makes: the user's git identity, or ours.
pub fn committer(repo: &Repository) -> Result<Signature<'static>> {
    match repo.signature() {
        Ok(sig) => Ok(sig.to_owned()),
        Err(_) => Ok(Signature::now("thindist", "thindist@localhost")?),
    }
}

/// Debian's kernel source tarballs end `.gitignore` with a packaging stanza
/// (`/*` and `!/debian/`) that ignores the whole top level. Returns the text
/// without it, or None when it is not there.
pub fn strip_debian_stanza(gitignore: &str) -> Option<String> {
    let lines: Vec<&str> = gitignore.lines().collect();
    let star = lines.iter().position(|l| l.trim() == "/*")?;
    if !lines[star..].iter().any(|l| l.trim() == "!/debian/") {
        return None;
    }
    // Take the comment block above `/*` with it.
    let mut start = star;
    while start > 0 && lines[start - 1].starts_with('#') {
        start -= 1;
    }
    let end = lines[star..].iter().position(|l| l.trim() == "!/debian/").map(|i| star + i + 1)?;
    let mut kept: Vec<&str> = lines[..start].to_vec();
    kept.extend_from_slice(&lines[end..]);
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    Some(kept.join("\n") + "\n")
}

/// Whether an ignored file is a source file all the same: the kernel's
/// `.gitignore` ignores `.*`, and git tracks its dot-files (`.gitignore`,
/// `.mailmap`, `.kunitconfig`, …) despite it. Hidden build outputs are not.
pub fn is_source_dotfile(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let hidden_output = [".cmd", ".d", ".o", ".ko", ".a", ".tmp", ".old"].iter().any(|s| name.ends_with(s))
        || name.starts_with(".tmp")
        || [".config", ".version", ".thindist-owned"].contains(&name);
    name.starts_with('.') && !hidden_output
}

/// What a baseline commit takes from the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// A release tarball: everything in it is source (upstream tracks files
    /// its own `.gitignore` patterns match, e.g. a selftest's `tags/`), so
    /// every file is committed and the set-up tree's status is clean.
    EveryFile,
    /// A tree that may have been built in place: files the ignore rules cover
    /// (build outputs such as `.config` and `*.o`) are left out, except the
    /// source dot-files upstream tracks.
    Sources,
}

/// Turns a plain kernel tree into a git repository with one baseline commit
/// (what it takes: `Baseline`). Returns the repository and notes of what it
/// changed or left out.
pub fn import_baseline(root: &Path, origin: &str, take: Baseline) -> Result<(Repository, Vec<String>)> {
    if open(root)?.is_some() {
        bail!("{} is already a git repository", root.display());
    }
    let mut notes = Vec::new();
    let gitignore = root.join(".gitignore");
    if let Ok(text) = std::fs::read_to_string(&gitignore) {
        if let Some(fixed) = strip_debian_stanza(&text) {
            std::fs::write(&gitignore, fixed)?;
            notes.push(
                "dropped Debian's packaging stanza (`/*`, `!/debian/`) from .gitignore so that the kernel's own ignore rules are in force"
                    .to_string(),
            );
        }
    }
    let repo =
        Repository::init(root).with_context(|| format!("cannot create a git repository in {}", root.display()))?;
    let mut index = repo.index()?;
    let add = match take {
        Baseline::EveryFile => IndexAddOption::FORCE,
        Baseline::Sources => IndexAddOption::DEFAULT,
    };
    index.add_all(["*"], add, None).context("cannot add the tree's files to the git index")?;
    if take == Baseline::Sources {
        let (sources, left_out): (Vec<String>, Vec<String>) = untracked(&repo)?
            .into_iter()
            .filter(|(_, ignored)| *ignored)
            .map(|(p, _)| p)
            .partition(|p| is_source_dotfile(p));
        for p in &sources {
            index.add_path(Path::new(p)).with_context(|| format!("cannot add {p} to the git index"))?;
        }
        if !left_out.is_empty() {
            let shown: Vec<&str> = left_out.iter().take(5).map(String::as_str).collect();
            notes.push(format!(
                "left {} ignored file(s) out of the baseline (build outputs and the like): {}{}",
                left_out.len(),
                shown.join(", "),
                if left_out.len() > 5 { ", …" } else { "" }
            ));
        }
    }
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = committer(&repo)?;
    let mut message = format!("thindist: baseline of {origin}\n\nThe tree's sources, imported as they were.\n");
    for note in &notes {
        message.push_str(&format!("\nthindist {note}.\n"));
    }
    repo.commit(Some("HEAD"), &sig, &sig, &message, &tree, &[])?;
    drop(tree);
    Ok((repo, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_TAIL: &str = "*.o\n/vmlinux\n\n# Rust analyzer configuration\n/rust-project.json\n\n#\n# Debian packaging: ignore everything at the top level, since it isn't\n# included in our repository\n#\n/*\n!/debian/\n";

    #[test]
    fn strips_debian_packaging_stanza() {
        let fixed = strip_debian_stanza(DEBIAN_TAIL).unwrap();
        assert_eq!(fixed, "*.o\n/vmlinux\n\n# Rust analyzer configuration\n/rust-project.json\n");
        assert!(strip_debian_stanza(&fixed).is_none());
        assert!(strip_debian_stanza("/*\n").is_none());
    }

    #[test]
    fn imports_every_file_and_finds_dirt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), ".*\n*.o\n/*\n!/debian/\n").unwrap();
        std::fs::write(dir.path().join(".mailmap"), "x\n").unwrap();
        std::fs::write(dir.path().join("Makefile"), "all:\n").unwrap();
        std::fs::write(dir.path().join(".config"), "CONFIG_X=y\n").unwrap();
        std::fs::write(dir.path().join("main.o"), "").unwrap();
        std::fs::write(dir.path().join(".main.o.cmd"), "").unwrap();
        let (repo, notes) = import_baseline(dir.path(), "a test tree", Baseline::Sources).unwrap();
        assert_eq!(notes.len(), 2);
        assert!(notes[1].starts_with("left 3 ignored file(s) out") && notes[1].contains("main.o"), "{notes:?}");
        let head = repo.head().unwrap().peel_to_tree().unwrap();
        // Source dot-files are tracked although `.*` ignores them; build outputs are not.
        assert!(head.get_name(".mailmap").is_some() && head.get_name(".gitignore").is_some());
        assert!(head.get_name(".config").is_none() && head.get_name("main.o").is_none());
        for built in ["main.o", ".config", ".main.o.cmd"] {
            std::fs::remove_file(dir.path().join(built)).unwrap();
        }
        assert!(dirty_files(&repo).unwrap().is_empty());
        std::fs::write(dir.path().join("Makefile"), "all: x\n").unwrap();
        std::fs::write(dir.path().join("new.c"), "").unwrap();
        std::fs::write(dir.path().join("built.o"), "").unwrap();
        let mut dirty = dirty_files(&repo).unwrap();
        dirty.sort();
        assert_eq!(dirty, ["Makefile", "new.c"]);
        let untracked = untracked(&repo).unwrap();
        assert_eq!(
            untracked.into_iter().collect::<Vec<_>>(),
            [("built.o".to_string(), true), ("new.c".to_string(), false)]
        );
        assert!(import_baseline(dir.path(), "again", Baseline::Sources).is_err());
    }

    /// A release tarball's tree: files its own ignore patterns match are
    /// source all the same, and the imported tree's status is clean.
    #[test]
    fn a_release_tree_commits_every_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "tags\nvmlinux.h\n/*\n!/debian/\n").unwrap();
        std::fs::create_dir_all(dir.path().join("tools/selftests/tags")).unwrap();
        std::fs::write(dir.path().join("tools/selftests/tags/tags_test.c"), "int main;\n").unwrap();
        std::fs::write(dir.path().join("vmlinux.h"), "/* generated upstream, tracked */\n").unwrap();
        std::fs::write(dir.path().join("Makefile"), "all:\n").unwrap();
        let (repo, notes) = import_baseline(dir.path(), "a release", Baseline::EveryFile).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        let head = repo.head().unwrap().peel_to_tree().unwrap();
        for path in ["tools/selftests/tags/tags_test.c", "vmlinux.h", "Makefile", ".gitignore"] {
            assert!(head.get_path(Path::new(path)).is_ok(), "{path} is committed");
        }
        assert!(untracked(&repo).unwrap().is_empty() && dirty_files(&repo).unwrap().is_empty());
    }
}
