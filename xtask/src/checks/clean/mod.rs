//! clean-check: proves the build's bookkeeping on an in-tree THIN_DIST
//! build. One file per check; add a check by adding a file and a line to
//! `REGISTRY`.

mod deleted_native;
mod ignore;
mod incremental;
mod make_clean;
mod module_one_file;
mod mrproper;
mod noop;
mod one_file;

use std::collections::BTreeMap;

use anyhow::Result;
use git2::Repository;
use serde::Serialize;

use crate::kbuild::driver::MakeRun;
use crate::kbuild::layout::Layout;
use crate::kbuild::session::Session;
use crate::kbuild::stages::Stage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// 1: every file the build made is ignored by .gitignore.
    Ignore,
    /// 2: `make clean` leaves no THIN_DIST artifact.
    Clean,
    /// 3: `make mrproper` returns the tree to its committed state.
    Mrproper,
    /// 4: with nothing changed, a make after one that brought the tree up to date does nothing.
    Noop,
    /// 5: touching one .c file rebuilds only what its change reaches.
    OneFile,
    /// 6: after a real change, the incremental build equals a clean one.
    Incremental,
    /// 7: a native object deleted by hand is rebuilt by a plain make.
    DeletedNative,
    /// 8 (a build with modules): touching a module's source rebuilds that module alone.
    ModuleOneFile,
}

impl Check {
    /// Whether the check has something to check in this build.
    fn applies(self, ctx: &Ctx) -> bool {
        match self {
            Check::ModuleOneFile => ctx.session.outputs().modules().is_some(),
            _ => true,
        }
    }
}

/// What every check may read: the built tree and what the build made.
pub struct Ctx<'a> {
    pub session: &'a Session,
    pub repo: &'a Repository,
    /// Untracked files before the build (none known when it was already built).
    pub before: &'a BTreeMap<String, bool>,
    /// Files the build made, with whether .gitignore covers them.
    pub created: &'a BTreeMap<String, bool>,
}

type CheckFn = fn(&Ctx) -> Result<CheckResult>;

/// Every check, in the order they run: those that need the build first;
/// clean and mrproper end it.
const REGISTRY: &[(Check, CheckFn)] = &[
    (Check::Ignore, ignore::run),
    (Check::Noop, noop::run),
    (Check::OneFile, one_file::run),
    (Check::Incremental, incremental::run),
    (Check::DeletedNative, deleted_native::run),
    (Check::ModuleOneFile, module_one_file::run),
    (Check::Clean, make_clean::run),
    (Check::Mrproper, mrproper::run),
];

/// Runs the wanted checks; results in the checks' own order.
pub fn run_checks(ctx: &Ctx, wanted: impl Fn(Check) -> bool) -> Result<Vec<CheckResult>> {
    let mut results = Vec::new();
    for (check, run) in REGISTRY.iter().filter(|(c, _)| wanted(*c) && c.applies(ctx)) {
        let mut r = run(ctx)?;
        r.check = *check;
        results.push(r);
    }
    results.sort_by_key(|r| r.check);
    Ok(results)
}

#[derive(Debug, Serialize)]
pub struct CheckResult {
    pub check: Check,
    pub ok: bool,
    pub summary: String,
    pub details: Vec<String>,
}

impl CheckResult {
    fn new(check: Check, ok: bool, summary: String, details: Vec<String>) -> Self {
        Self { check, ok, summary, details }
    }
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

impl Report {
    pub fn print(&self) {
        println!("thindist clean-check: Linux {} (layout {}) {}", self.version, self.layout, self.arch);
        for r in &self.checks {
            println!("  {} {:?}: {}", if r.ok { "PASS" } else { "FAIL" }, r.check, r.summary);
            for d in &r.details {
                println!("       {d}");
            }
        }
    }
}

/// A glob-like name for a kind of build file, to group reports by.
fn kind_of(path: &str, layout: &Layout) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    if let Some(suffix) = layout.artifact_suffixes().find(|s| name.ends_with(s)) {
        return format!("*{suffix}");
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

/// Paths grouped by kind: `N files KIND: a, b, c, …`.
fn group(paths: &[String], layout: &Layout) -> Vec<String> {
    let mut groups: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for p in paths {
        groups.entry(kind_of(p, layout)).or_default().push(p);
    }
    groups
        .into_iter()
        .map(|(kind, ps)| {
            let shown: Vec<&str> = ps.iter().take(3).map(|p| p.as_str()).collect();
            format!("{} files {kind}: {}{}", ps.len(), shown.join(", "), if ps.len() > 3 { ", …" } else { "" })
        })
        .collect()
}

/// The counted steps of one stage: `TAG target`.
fn counted(run: &MakeRun, stage: Stage) -> Vec<String> {
    run.steps.iter().filter(|(s, c, _)| *s == stage && *c).map(|(_, _, step)| step.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_build_files_by_kind() {
        let v3 = Layout::get("v3").unwrap();
        assert_eq!(kind_of("init/main.o_thinlto_native", v3), "*.o_thinlto_native");
        assert_eq!(kind_of("init/.main.o.cmd", v3), ".*.cmd");
        assert_eq!(kind_of("init/main.o.thinlto.bc", v3), "*.o.thinlto.bc");
        assert_eq!(kind_of("vmlinux", v3), "vmlinux");
        assert_eq!(kind_of("System.map", v3), "*.map");
        let g = group(&["a/x.o_thinlto_native".into(), "b/y.o_thinlto_native".into(), "vmlinux.thinlink".into()], v3);
        assert_eq!(
            g,
            [
                "2 files *.o_thinlto_native: a/x.o_thinlto_native, b/y.o_thinlto_native",
                "1 files *.thinlink: vmlinux.thinlink"
            ]
        );
    }

    #[test]
    fn registry_runs_every_check_once_and_ends_with_clean_and_mrproper() {
        let order: Vec<Check> = REGISTRY.iter().map(|(c, _)| *c).collect();
        let mut sorted = order.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), order.len());
        assert_eq!(order[order.len() - 2..], [Check::Clean, Check::Mrproper]);
    }
}
