//! Named fixtures: trees set up and kernels built once per run, read by
//! many cases. A case names the fixture it reads; the first case to ask
//! makes it (through the real tool), later ones get it as it is. Run on
//! its own (a name filter), a case still gets what it needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::Repository;
use serde_json::Value;

use crate::support::*;

/// A fixture's output directory under the tests' cache.
pub fn out_dir(name: &str) -> PathBuf {
    test_home().join("builds").join(name)
}

/// The 6.12 test tree with our series applied; returns its state file.
pub fn setup_612() -> std::result::Result<(tempfile::TempDir, PathBuf), libtest_mimic::Failed> {
    let (dir, state) = state_file();
    xtask(&state, &["setup", tarball_612().to_str().unwrap()]).ok()?;
    Ok((dir, state))
}

/// The 7.3 test tree (mainline's own THIN_DIST); returns its state file.
pub fn setup_73() -> std::result::Result<(tempfile::TempDir, PathBuf), libtest_mimic::Failed> {
    let (dir, state) = state_file();
    xtask(&state, &["setup", tarball_73().to_str().unwrap()]).ok()?;
    Ok((dir, state))
}

/// A built kernel: its out dir and its build report.
#[derive(Clone)]
pub struct Kernel {
    pub out: PathBuf,
    pub report: Value,
}

static KERNELS: Mutex<BTreeMap<String, Kernel>> = Mutex::new(BTreeMap::new());

/// Builds (once per run) a tinyconfig kernel into `out_dir(name)` and checks
/// the report every build must give: validated, all four stages.
fn kernel(name: &str, state: &Path, arch: &str, extra: &[&str]) -> Result<Kernel> {
    if let Some(k) = KERNELS.lock().unwrap().get(name) {
        return Ok(k.clone());
    }
    let out = out_dir(name);
    let json = out.with_extension("json");
    let args = ["build", "--arch", arch, "--out", out.to_str().unwrap(), "--json", json.to_str().unwrap()];
    xtask(state, &[&args[..], extra].concat()).ok()?;
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check(report["result"] == "ok", format!("result: {}", report["result"]))?;
    let counts = &report["validation"]["counts"];
    let (ir, native) = (counts["ir"].as_u64().unwrap_or(0), counts["native"].as_u64().unwrap_or(0));
    let lib_ir = counts["lib-ir"].as_u64().unwrap_or(0);
    check(ir > 100 && native == ir + lib_ir, format!("ir {ir} + lib-ir {lib_ir} vs native {native}"))?;
    check(counts["vmlinux"] == 1 && counts["boot image"] == 1, "vmlinux and the boot image are checked")?;
    check(report["toolchain"]["clang"].as_str().unwrap_or("").contains("clang version"), "toolchain recorded")?;
    let stages: Vec<&str> = report["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    let compiled =
        report["stages"][0]["stage"] == "front-end" && report["stages"][0]["steps"].as_u64().unwrap_or(0) > 0;
    // A build that compiled goes through all four stages; a cached one may do nothing or only relink.
    if compiled {
        let (vmlinux, rest) = stages.split_at(stages.len().min(4));
        check(
            vmlinux == ["front-end", "thin-link", "back-end", "final-link"]
                && rest.iter().all(|s| ["module-back-end", "modules"].contains(s)),
            format!("stages {stages:?}"),
        )?;
    }
    let k = Kernel { out, report };
    KERNELS.lock().unwrap().insert(name.to_string(), k.clone());
    Ok(k)
}

/// The fragments of an architecture's fixture, as `build` takes them: the
/// boot fragment and the small modules config, in the order `boot` puts
/// them, so that `boot --fragment modules.config` boots the fixture as it
/// is (one build per architecture both builds and boots). An architecture
/// without a boot check (loongarch) builds tinyconfig alone.
pub fn fragments(arch: &str) -> Vec<String> {
    let boot = format!("boot-{arch}.config");
    if !xtask::home::project_root().join("configs").join(&boot).exists() {
        return Vec::new();
    }
    ["--fragment", &boot, "--fragment", "modules.config"].map(String::from).to_vec()
}

/// `build` arguments that rebuild a fixture's out dir in its own config.
pub fn build_args(arch: &str, out: &Path) -> Vec<String> {
    let mut args = ["build", "--arch", arch, "--out", out.to_str().unwrap()].map(String::from).to_vec();
    args.extend(fragments(arch));
    args
}

/// `612-<arch>`: 6.12 with our series, the architecture's fixture config,
/// built out of tree.
pub fn kernel_612(arch: &str) -> Result<Kernel> {
    let (_d, state) = setup_612()?;
    let fragments = fragments(arch);
    kernel(&format!("612-{arch}"), &state, arch, &fragments.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `73-x86_64`: 7.3 with mainline's THIN_DIST as it is, the x86_64
/// fixture config.
pub fn kernel_73_x86_64() -> Result<Kernel> {
    let (_d, state) = setup_73()?;
    let fragments = fragments("x86_64");
    kernel("73-x86_64", &state, "x86_64", &fragments.iter().map(String::as_str).collect::<Vec<_>>())
}

static CLEAN_TREE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// `clean-612`: a git clone of the 6.12 tree with our series, for the
/// in-tree clean-check cases. Cloned afresh by the first case of a run that
/// asks; later cases share it (and its in-tree build).
pub fn clean_tree_612() -> Result<PathBuf> {
    let mut done = CLEAN_TREE.lock().unwrap();
    if let Some(tree) = done.as_ref() {
        return Ok(tree.clone());
    }
    let (_d, _state) = setup_612()?;
    let tree = clone_of(&tree_612(), "clean-612");
    check(tree.join("scripts/Makefile.vmlinux_thinlink").exists(), "the clone carries the series")?;
    *done = Some(tree.clone());
    Ok(tree)
}

/// A fresh git clone of a cached tree, under the tests' trees.
pub fn clone_of(src: &Path, name: &str) -> PathBuf {
    let dest = test_home().join("trees").join(name);
    if dest.exists() {
        std::fs::remove_dir_all(&dest).unwrap();
    }
    Repository::clone(src.to_str().unwrap(), &dest).unwrap();
    dest
}

/// The newcomer's tree (issue #25): Debian's 6.12 tarball set up the way
/// `demo` sets it up, into a cache of its own (as a new user's
/// ~/.cache/thindist: its own extraction, never the suite's shared trees),
/// then built in tree by `build` with the small modules config.
#[derive(Clone)]
pub struct Newcomer {
    pub home: PathBuf,
    pub state: PathBuf,
    pub tree: PathBuf,
}

impl Newcomer {
    /// The tool's environment in this cache.
    pub fn env(&self) -> [(&'static str, &str); 1] {
        [("THINDIST_HOME", self.home.to_str().unwrap())]
    }

    /// The tool run as the newcomer runs it.
    pub fn run(&self, args: &[&str]) -> Run {
        xtask_env(&self.state, args, &self.env())
    }

    /// `git status`: changed and untracked files that the ignore rules do not cover.
    pub fn git_status(&self) -> Vec<String> {
        let repo = Repository::open(&self.tree).unwrap();
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true).include_ignored(false);
        let statuses = repo.statuses(Some(&mut opts)).unwrap();
        statuses.iter().filter_map(|s| s.path().map(String::from)).collect()
    }
}

static NEWCOMER: Mutex<Option<Newcomer>> = Mutex::new(None);

/// The newcomer's tree, set up and built afresh by the first case of a run
/// that asks; later cases share it and its in-tree build.
pub fn newcomer() -> Result<Newcomer> {
    let mut done = NEWCOMER.lock().unwrap();
    if let Some(n) = done.as_ref() {
        return Ok(n.clone());
    }
    let home = test_home().join("newcomer");
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let tree = home.join("trees").join(xtask::tree::tarball::tree_name(&tarball_612()));
    let n = Newcomer { state: home.join("state.toml"), home, tree };
    n.run(&["setup", tarball_612().to_str().unwrap()]).ok()?;
    let status = n.git_status();
    check(status.is_empty(), format!("the set-up tree's git status is clean: {status:?}"))?;
    n.run(&["build", "--fragment", "modules.config"]).ok()?;
    *done = Some(n.clone());
    Ok(n)
}
