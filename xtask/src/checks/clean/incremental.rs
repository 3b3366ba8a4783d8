//! Check 6: after a real change that other files import through ThinLTO
//! (`configs/clean-check.toml`), every native and `vmlinux.o` of the
//! incremental build equal a clean build of the same sources, byte for byte.
//! With modules, a module source is changed too, and every module's natives
//! and `.ko` are compared as well.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::build::CheckoutBuilder;
use serde::Deserialize;

use super::{Check, CheckResult, Ctx};
use crate::checks::natives;
use crate::home;

#[derive(Debug, Deserialize)]
struct Edits {
    edit: Vec<Edit>,
    /// For a build with modules: a change to a module source.
    module_edit: Vec<Edit>,
}

/// Unknown keys are refused: a top-level key written after an `[[edit]]`
/// table lands inside it, and would otherwise be lost without a word.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    file: String,
    find: String,
    replace: String,
}

fn read_edits() -> Result<Edits> {
    let path = home::configs().join("clean-check.toml");
    toml_edit::de::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("{} is not valid", path.display()))
}

/// The first edit whose `find` text occurs exactly once in its file, with that file's text.
fn pick_edit(edits: &[Edit], tree: &Path, what: &str) -> Result<(Edit, String)> {
    for e in edits {
        if let Ok(text) = std::fs::read_to_string(tree.join(&e.file)) {
            if text.matches(&e.find).count() == 1 {
                return Ok((e.clone(), text));
            }
        }
    }
    bail!("no {what} of configs/clean-check.toml fits this tree; add one for this kernel")
}

/// A source file changed for the check, put back by `put_back`; if the
/// check stops before that, by Drop, which says so loudly when it cannot.
struct Edited {
    path: PathBuf,
    original: String,
    restored: bool,
}

impl Edited {
    fn new(path: PathBuf, original: String, changed: &str) -> Result<Self> {
        std::fs::write(&path, changed).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self { path, original, restored: false })
    }

    fn put_back(mut self) -> Result<()> {
        self.restored = true;
        std::fs::write(&self.path, &self.original).with_context(|| {
            format!("cannot put {} back as it was; restore it with `git checkout -- <file>`", self.path.display())
        })
    }
}

impl Drop for Edited {
    fn drop(&mut self) {
        if !self.restored {
            if let Err(e) = std::fs::write(&self.path, &self.original) {
                eprintln!(
                    "warning: cannot put {} back as it was ({e}); restore it with `git checkout -- <file>`",
                    self.path.display()
                );
            }
        }
    }
}

pub fn run(ctx: &Ctx) -> Result<CheckResult> {
    let session = ctx.session;
    let tree = &session.tree.root;
    let edits = read_edits()?;
    let mut picked = vec![pick_edit(&edits.edit, tree, "edit")?];
    if session.outputs().modules().is_some() {
        picked.push(pick_edit(&edits.module_edit, tree, "module_edit")?);
    }
    let changes: Vec<(Edit, String, String)> = picked
        .into_iter()
        .map(|(e, original)| {
            let changed = original.replacen(&e.find, &e.replace, 1);
            (e, original, changed)
        })
        .collect();
    let mut edited = Vec::new();
    for (e, original, changed) in &changes {
        edited.push(Edited::new(tree.join(&e.file), original.clone(), changed)?);
    }
    // A failed incremental build is what this check is for when a clean
    // build of the same sources succeeds (e.g. a stale native leaves a
    // promoted symbol undefined): a finding, not an error, and what it did
    // build is still compared.
    let incremental = session.make("incremental")?;
    for e in edited {
        e.put_back()?;
    }

    // The same sources from clean, in a scratch checkout built in its own tree.
    let tree_name = tree.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let scratch = home::cache().join("clean-check").join(format!("{tree_name}-{}", session.kb.arch.name));
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    std::fs::create_dir_all(&scratch)?;
    let head = ctx.repo.head()?.peel_to_tree()?;
    let mut checkout = CheckoutBuilder::new();
    checkout.target_dir(&scratch).update_index(false).force();
    ctx.repo.checkout_tree(head.as_object(), Some(&mut checkout))?;
    for (e, _, changed) in &changes {
        std::fs::write(scratch.join(&e.file), changed)?;
    }
    std::fs::copy(session.kb.path(".config"), scratch.join(".config"))?;
    let reference = session.in_tree(&scratch)?;
    reference.kb.make_quiet(&["olddefconfig"])?;
    println!("clean build of the same sources in {}", scratch.display());
    reference.make_ok("clean-reference")?;

    let files: Vec<String> = session.outputs().to_compare().into_iter().chain(["vmlinux.o".to_string()]).collect();
    // The scratch tree is another directory: objects with debug information (a profile's `-gmlt`) name it.
    let paths = natives::records_paths(&natives::config_of(session)?);
    let compared = natives::compare(&files, |f| session.kb.path(f), |f| scratch.join(f), paths);
    let differ = &compared.differing;
    let changed: Vec<String> = changes
        .iter()
        .map(|(e, _, _)| format!("{} ({})", e.file, e.replace.lines().next().unwrap_or("").trim()))
        .collect();
    let summary = format!(
        "changed {}; {}{} of {} natives, vmlinux.o and modules differ from a clean build{}",
        changed.join(" and "),
        if incremental.success { "" } else { "the incremental build failed; " },
        differ.len(),
        files.len(),
        compared.debug_note()
    );
    let mut details = Vec::new();
    if !incremental.success {
        details.push(format!(
            "the incremental build failed where a clean build of the same sources succeeds:\n{}\nfull output: {}",
            incremental.failure_summary(),
            incremental.log.display()
        ));
    }
    if !differ.is_empty() {
        let shown: Vec<&str> = differ.iter().take(20).map(|s| s.as_str()).collect();
        details.push(format!("stale after the incremental build: {}", shown.join(", ")));
    }
    std::fs::remove_dir_all(&scratch).ok();
    Ok(CheckResult::new(Check::Incremental, incremental.success && differ.is_empty(), summary, details))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_edits_parse() {
        let text = std::fs::read_to_string(home::configs().join("clean-check.toml")).unwrap();
        let edits: Edits = toml_edit::de::from_str(&text).unwrap();
        assert!(edits.edit.iter().all(|e| e.find != e.replace && e.find.contains('\n')));
        assert!(!edits.module_edit.is_empty() && edits.module_edit.iter().all(|e| e.find != e.replace));
    }
}
