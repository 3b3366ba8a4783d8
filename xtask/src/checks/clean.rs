//! `cargo xtask clean-check`: proves the build's bookkeeping on an in-tree
//! THIN_DIST build: ignore rules, `make clean`, `make mrproper`, no-op and
//! one-file rebuilds, and that an incremental build equals a clean one.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::build::CheckoutBuilder;
use git2::Repository;
use serde::{Deserialize, Serialize};

use crate::checks::validate;
use crate::cli::args::Global;
use crate::cli::build::{self, BuildArgs, Target, ToolArgs};
use crate::home;
use crate::kbuild::arch::Arch;
use crate::kbuild::driver::{self, MakeRun};
use crate::kbuild::layout::Layout;
use crate::kbuild::make::Kbuild;
use crate::kbuild::stages::{Pipeline, Stage};
use crate::kbuild::toolchain::Toolchain;
use crate::tree::git;

/// The file touched by the one-file check and bench: in every kernel and every config.
pub const TOUCHED: &str = "kernel/fork.c";

/// A one-file change as make sees it: the file's mtime moves to now.
pub fn touch_one_file(tree: &Path) -> Result<()> {
    let file = tree.join(TOUCHED);
    std::fs::File::options()
        .write(true)
        .open(&file)?
        .set_modified(std::time::SystemTime::now())
        .with_context(|| format!("cannot touch {}", file.display()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// 1: every file the build made is ignored by .gitignore.
    Ignore,
    /// 2: `make clean` leaves no THIN_DIST artifact.
    Clean,
    /// 3: `make mrproper` returns the tree to its committed state.
    Mrproper,
    /// 4: a second make with nothing changed compiles and links nothing.
    Noop,
    /// 5: touching one .c file rebuilds only what its change reaches.
    OneFile,
    /// 6: after a real change, the incremental build equals a clean one.
    Incremental,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cargo xtask clean-check --arch x86_64\n  cargo xtask clean-check --checks one-file,incremental --json cc.json"
)]
pub struct CleanCheckArgs {
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// Base config of the build it makes when the tree is not built yet.
    #[arg(long, default_value = "tinyconfig")]
    pub config: String,
    /// Run only these checks (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub checks: Vec<Check>,
    #[command(flatten)]
    pub tools: ToolArgs,
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct CheckResult {
    pub check: Check,
    pub ok: bool,
    pub summary: String,
    pub details: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub tree: String,
    pub version: String,
    pub layout: String,
    pub arch: String,
    pub checks: Vec<CheckResult>,
    pub ok: bool,
}

fn result(check: Check, ok: bool, summary: String, details: Vec<String>) -> CheckResult {
    CheckResult { check, ok, summary, details }
}

/// A glob-like name for a kind of build file, to group reports by.
pub fn kind_of(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    for suffix in [".o_thinlto_native", ".a_thinlto_native", ".thinlto-native.o", ".o.thinlto.bc"] {
        if name.ends_with(suffix) {
            return format!("*{suffix}");
        }
    }
    if name.starts_with('.') && name.ends_with(".cmd") {
        return ".*.cmd".into();
    }
    if name.starts_with(".tmp_") {
        return ".tmp_*".into();
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("*.{ext}"),
        _ => name.to_string(),
    }
}

fn group(paths: &[String]) -> Vec<String> {
    let mut groups: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for p in paths {
        groups.entry(kind_of(p)).or_default().push(p);
    }
    groups
        .into_iter()
        .map(|(kind, ps)| {
            let shown: Vec<&str> = ps.iter().take(3).map(|p| p.as_str()).collect();
            format!("{} files {kind}: {}{}", ps.len(), shown.join(", "), if ps.len() > 3 { ", …" } else { "" })
        })
        .collect()
}

fn check_ignore(created: &BTreeMap<String, bool>) -> CheckResult {
    let exposed: Vec<String> = created.iter().filter(|(_, ignored)| !**ignored).map(|(p, _)| p.clone()).collect();
    let details: Vec<String> = group(&exposed).into_iter().map(|g| format!("not ignored: {g}")).collect();
    let summary = if exposed.is_empty() {
        format!("all {} files the build made are ignored", created.len())
    } else {
        format!("{} of {} files the build made are not ignored by .gitignore", exposed.len(), created.len())
    };
    result(Check::Ignore, exposed.is_empty(), summary, details)
}

fn make(kb: &Kbuild, layout: Layout, what: &str) -> Result<MakeRun> {
    let argv = kb.argv(&["vmlinux", &kb.arch.image_target]);
    let log = home::logs().join(format!("clean-check-{what}-{}.log", kb.arch.name));
    let run = driver::run(&argv, &kb.objtree, Pipeline::Distributed(layout), &log)?;
    if !run.success {
        bail!("the {what} rebuild failed:\n{}\nfull output: {}", run.failure_summary(), run.log.display());
    }
    Ok(run)
}

fn counted(run: &MakeRun, stage: Stage) -> Vec<String> {
    run.steps
        .iter()
        .filter(|(s, c, _)| *s == stage && *c)
        .map(|(_, _, step)| format!("{} {}", step.tag, step.target))
        .collect()
}

fn check_noop(kb: &Kbuild, layout: Layout) -> Result<CheckResult> {
    let run = make(kb, layout, "noop")?;
    let work: Vec<String> = Stage::ALL.iter().flat_map(|s| counted(&run, *s)).collect();
    let summary = if work.is_empty() {
        "a second make compiled and linked nothing".to_string()
    } else {
        format!("a second make with nothing changed ran {} compile/link steps", work.len())
    };
    Ok(result(Check::Noop, work.is_empty(), summary, work.into_iter().take(20).collect()))
}

fn hash_file(path: &Path) -> Option<u64> {
    let data = std::fs::read(path).ok()?;
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    Some(h.finish())
}

fn check_one_file(kb: &Kbuild, layout: Layout, target: &validate::Target) -> Result<CheckResult> {
    let ir = validate::ir_objects(target);
    let index_hash = |o: &String| hash_file(&kb.path(&layout.index_of(o)));
    let before: Vec<Option<u64>> = ir.iter().map(index_hash).collect();
    touch_one_file(&kb.tree)?;
    let run = make(kb, layout, "one-file")?;
    let front: BTreeSet<String> =
        run.steps.iter().filter(|(s, c, _)| *s == Stage::FrontEnd && *c).map(|(_, _, st)| st.target.clone()).collect();
    let back: BTreeSet<String> =
        run.steps.iter().filter(|(s, c, _)| *s == Stage::BackEnd && *c).map(|(_, _, st)| st.target.clone()).collect();
    let changed: BTreeSet<String> =
        ir.iter().zip(before).filter(|(o, b)| index_hash(o) != *b).map(|(o, _)| o.clone()).collect();
    // What may be rebuilt: natives of recompiled objects and of changed indexes.
    let allowed: BTreeSet<String> = front.iter().chain(&changed).map(|o| layout.native_of(o)).collect();
    let extra: Vec<String> = back.difference(&allowed).cloned().collect();
    let thinlink = run.steps.iter().any(|(s, _, _)| *s == Stage::ThinLink);
    let final_link = !counted(&run, Stage::FinalLink).is_empty();
    let summary = format!(
        "touched {TOUCHED}: {} front-end, thin-link {}, {} of {} back-end compiles ({} indexes changed), final link {}",
        front.len(),
        if thinlink { "ran" } else { "did not run" },
        back.len(),
        ir.len(),
        changed.len(),
        if final_link { "ran" } else { "did not run" }
    );
    let mut details = Vec::new();
    if !extra.is_empty() {
        details.push(format!(
            "{} natives rebuilt although neither their IR nor their index changed: {}",
            extra.len(),
            extra.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !thinlink || !final_link {
        details.push("the change did not reach the thin-link and the final link".into());
    }
    Ok(result(Check::OneFile, details.is_empty(), summary, details))
}

#[derive(Debug, Deserialize)]
struct Edits {
    edit: Vec<Edit>,
}

#[derive(Debug, Clone, Deserialize)]
struct Edit {
    file: String,
    find: String,
    replace: String,
}

fn pick_edit(tree: &Path) -> Result<(Edit, String)> {
    let path = home::configs().join("clean-check.toml");
    let edits: Edits = toml_edit::de::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("{} is not valid", path.display()))?;
    for e in edits.edit {
        if let Ok(text) = std::fs::read_to_string(tree.join(&e.file)) {
            if text.matches(&e.find).count() == 1 {
                return Ok((e, text));
            }
        }
    }
    bail!("no edit of {} fits this tree; add one for this kernel", path.display())
}

/// Puts a source file back when dropped, whatever happened in between.
struct Restore(PathBuf, String);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, &self.1);
    }
}

fn check_incremental(kb: &Kbuild, layout: Layout, repo: &Repository, target: &validate::Target) -> Result<CheckResult> {
    let (edit, original) = pick_edit(&kb.tree)?;
    let changed_text = original.replacen(&edit.find, &edit.replace, 1);
    let source = kb.tree.join(&edit.file);
    let _restore = Restore(source.clone(), original);
    std::fs::write(&source, &changed_text)?;
    make(kb, layout, "incremental")?;

    // The same sources from clean, in a scratch checkout built in its own tree.
    let tree_name = kb.tree.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let scratch = home::cache().join("clean-check").join(format!("{tree_name}-{}", kb.arch.name));
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    std::fs::create_dir_all(&scratch)?;
    let head = repo.head()?.peel_to_tree()?;
    repo.checkout_tree(
        head.as_object(),
        Some(CheckoutBuilder::new().target_dir(&scratch).update_index(false).force()),
    )?;
    std::fs::write(scratch.join(&edit.file), &changed_text)?;
    std::fs::copy(kb.path(".config"), scratch.join(".config"))?;
    let clean_kb = Kbuild { tree: scratch.clone(), objtree: scratch.clone(), ..kb.clone() };
    clean_kb.make_quiet(&["olddefconfig"])?;
    println!("clean build of the same sources in {}", scratch.display());
    make(&clean_kb, layout, "clean-reference")?;

    let mut compared = 0;
    let mut differ = Vec::new();
    let files: Vec<String> =
        validate::ir_objects(target).iter().map(|o| layout.native_of(o)).chain(["vmlinux.o".to_string()]).collect();
    for f in &files {
        compared += 1;
        if std::fs::read(kb.path(f)).ok() != std::fs::read(scratch.join(f)).ok() {
            differ.push(f.clone());
        }
    }
    let summary = format!(
        "changed {} ({}); {} of {compared} natives and vmlinux.o differ from a clean build",
        edit.file,
        edit.replace.lines().next().unwrap_or("").trim(),
        differ.len()
    );
    let details = if differ.is_empty() {
        vec![]
    } else {
        vec![format!(
            "stale after the incremental build: {}",
            differ.iter().take(20).cloned().collect::<Vec<_>>().join(", ")
        )]
    };
    std::fs::remove_dir_all(&scratch).ok();
    Ok(result(Check::Incremental, differ.is_empty(), summary, details))
}

fn check_clean(kb: &Kbuild, layout: Layout, repo: &Repository) -> Result<CheckResult> {
    kb.make_quiet(&["clean"])?;
    let left: Vec<String> = git::untracked(repo)?.into_keys().filter(|p| layout.is_thin_dist_artifact(p)).collect();
    let summary = if left.is_empty() {
        "make clean removed every THIN_DIST artifact".to_string()
    } else {
        format!("{} THIN_DIST files survive make clean", left.len())
    };
    Ok(result(Check::Clean, left.is_empty(), summary, group(&left).into_iter().map(|g| format!("left: {g}")).collect()))
}

fn check_mrproper(kb: &Kbuild, repo: &Repository, before: &BTreeMap<String, bool>) -> Result<CheckResult> {
    kb.make_quiet(&["mrproper"])?;
    let left: Vec<String> = git::untracked(repo)?.into_keys().filter(|p| !before.contains_key(p)).collect();
    let summary = if left.is_empty() {
        "make mrproper left the tree as committed".to_string()
    } else {
        format!("{} files survive make mrproper", left.len())
    };
    Ok(result(
        Check::Mrproper,
        left.is_empty(),
        summary,
        group(&left).into_iter().map(|g| format!("left: {g}")).collect(),
    ))
}

pub fn run(args: &CleanCheckArgs, global: &Global) -> Result<Report> {
    // setlocalversion appends "+" to the release of an untagged git tree but
    // not of the scratch copy; an empty LOCALVERSION (set) names both alike,
    // so that "incremental equals clean" compares the same release string.
    std::env::set_var("LOCALVERSION", "");
    let p = build::prepared_tree(global)?;
    let repo =
        git::open(&p.tree.root)?.context("clean-check needs the tree in git (setup imports a tarball as one)")?;
    let arch = Arch::load(&args.arch)?;
    let kb = Kbuild::new(&p.tree.root, None, arch, Toolchain::select(args.tools.llvm.as_deref())?, args.tools.jobs)?;
    let wanted = |c: Check| args.checks.is_empty() || args.checks.contains(&c);

    let built = kb.path("vmlinux.o").exists() && kb.path(p.layout.ir_archive()).exists();
    let before = if built {
        println!("the tree is already built: files it had before the build cannot be told apart; taking none");
        BTreeMap::new()
    } else {
        git::untracked(&repo)?
    };
    if !built {
        let build_args = BuildArgs {
            target: Target { arch: args.arch.clone(), out: None, json: None },
            config: args.config.clone(),
            fragment: vec![],
            tools: args.tools.clone(),
        };
        build::run(&build_args, global)?;
    }
    let created: BTreeMap<String, bool> =
        git::untracked(&repo)?.into_iter().filter(|(k, _)| !before.contains_key(k)).collect();
    let target = validate::Target {
        objtree: &kb.objtree,
        layout: p.layout,
        elf_machine: kb.arch.elf_machine,
        image: &kb.arch.image,
    };

    // Checks that need the build run first; clean and mrproper end it.
    let mut results = Vec::new();
    if wanted(Check::Ignore) {
        results.push(check_ignore(&created));
    }
    if wanted(Check::Noop) {
        results.push(check_noop(&kb, p.layout)?);
    }
    if wanted(Check::OneFile) {
        results.push(check_one_file(&kb, p.layout, &target)?);
    }
    if wanted(Check::Incremental) {
        results.push(check_incremental(&kb, p.layout, &repo, &target)?);
    }
    if wanted(Check::Clean) {
        results.push(check_clean(&kb, p.layout, &repo)?);
    }
    if wanted(Check::Mrproper) {
        results.push(check_mrproper(&kb, &repo, &before)?);
    }
    results.sort_by_key(|r| r.check);
    let ok = results.iter().all(|r| r.ok);
    let report = Report {
        tree: p.tree.root.display().to_string(),
        version: p.tree.version.to_string(),
        layout: p.layout.to_string(),
        arch: args.arch.clone(),
        checks: results,
        ok,
    };
    println!("thindist clean-check: Linux {} (layout {}) {}", report.version, report.layout, report.arch);
    for r in &report.checks {
        println!("  {} {:?}: {}", if r.ok { "PASS" } else { "FAIL" }, r.check, r.summary);
        for d in &r.details {
            println!("       {d}");
        }
    }
    if let Some(path) = &args.json {
        crate::report::write_json(path, &report)?;
    }
    if !ok {
        bail!(
            "clean-check failed: {}",
            report.checks.iter().filter(|r| !r.ok).map(|r| format!("{:?}", r.check)).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_build_files_by_kind() {
        assert_eq!(kind_of("init/main.o_thinlto_native"), "*.o_thinlto_native");
        assert_eq!(kind_of("init/.main.o.cmd"), ".*.cmd");
        assert_eq!(kind_of("init/main.o.thinlto.bc"), "*.o.thinlto.bc");
        assert_eq!(kind_of("vmlinux"), "vmlinux");
        assert_eq!(kind_of("System.map"), "*.map");
        let g = group(&["a/x.o_thinlto_native".into(), "b/y.o_thinlto_native".into(), "vmlinux.thinlink".into()]);
        assert_eq!(
            g,
            [
                "2 files *.o_thinlto_native: a/x.o_thinlto_native, b/y.o_thinlto_native",
                "1 files *.thinlink: vmlinux.thinlink"
            ]
        );
    }

    #[test]
    fn shipped_edits_parse() {
        let text = std::fs::read_to_string(home::configs().join("clean-check.toml")).unwrap();
        let edits: Edits = toml_edit::de::from_str(&text).unwrap();
        assert!(edits.edit.iter().all(|e| e.find != e.replace && e.find.contains('\n')));
    }
}
