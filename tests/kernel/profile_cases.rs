//! AutoFDO and Propeller with THIN_DIST (issue #29): `compare` with the
//! same profile in both modes, on Linux 7.3 with series linux-7 (modules in
//! distributed mode), must find the profile's mark in both kernels and their
//! modules, and the same mark; a build without the profile has none of it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::fixtures;
use crate::support::*;

/// 7.3 with series linux-7, a clone of the cached tree of its own.
fn series_73_tree(state: &Path) -> Result<PathBuf> {
    let (_d73, _) = fixtures::setup_73()?;
    let tree = fixtures::clone_of(&tree_73(), "profile-73");
    xtask(state, &["setup", tree.to_str().unwrap(), "--series", "linux-7"]).ok()?;
    Ok(tree)
}

/// The functions `configs/profiles/` names, split into a hot and a `.cold` part.
const PROFILED: [&str; 3] = ["number", "vsnprintf", "fs/configfs/configfs.ko: configfs_read_iter"];

/// compare's JSON: the profile's comparison, checked to be alike with at
/// least `split` functions split in both kernels; returns the report.
fn profile_applied_alike(run: &Run, json: &Path, split: usize) -> Result<Value> {
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let p = &report["profile"];
    check(p["applied_alike"] == true, format!("profile comparison: {p}\n{}", run.all()))?;
    let kind = p["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "split (.cold)").unwrap();
    let n = |k: &str| kind[k].as_u64().unwrap_or(0);
    check(n("in_process") == n("thin_dist") && n("thin_dist") >= split as u64, format!("split: {kind}"))?;
    check(report["equivalence"]["verdict"] == "equivalent", format!("{}", report["equivalence"]))?;
    check(report["modules_equivalence"]["verdict"] == "equivalent", format!("{}", report["modules_equivalence"]))?;
    check(run.stdout.contains("profile applied in both"), run.stdout.clone())?;
    Ok(report)
}

/// `compare` of `tree` with the small modules config and a profile (`flag`
/// and its value) into the fixture directory `name`: the run, its JSON and
/// the directory.
fn compare_with(state: &Path, tree: &Path, flag: &str, profile: &Path, name: &str) -> Result<(Run, PathBuf, PathBuf)> {
    let out = fixtures::out_dir(name);
    let json = out.with_extension("json");
    let (t, p, o, j) =
        (tree.to_str().unwrap(), profile.to_str().unwrap(), out.to_str().unwrap(), json.to_str().unwrap());
    let args = ["--kernel", t, "compare", "--arch", "x86_64", "--fragment", "modules.config", flag, p];
    let run = xtask(state, &[&args[..], &["--no-incremental", "--out", o, "--json", j]].concat()).ok()?;
    Ok((run, json, out))
}

/// The `.cold` parts a linked file has.
fn cold_parts(path: &Path) -> Vec<String> {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    file.symbols().filter_map(|s| s.name().ok()?.strip_suffix(".cold").map(str::to_string)).collect()
}

/// CI's case: an AutoFDO profile (the text profile converted as a
/// distribution converts one) acts alike in both modes; the same build
/// without it (the 7.3 fixture) splits nothing, so the check can fail.
pub fn autofdo_73_series_compare() -> Result {
    let (_d, state) = state_file();
    let tree = series_73_tree(&state)?;
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("autofdo-7.3.afdo");
    let text = xtask::home::configs().join("profiles/autofdo-7.3.txt");
    let profdata = ["merge", "--sample", "--extbinary", text.to_str().unwrap(), "-o", profile.to_str().unwrap()];
    let converted = std::process::Command::new("llvm-profdata-19").args(profdata).output().expect("llvm-profdata-19");
    check(converted.status.success(), String::from_utf8_lossy(&converted.stderr))?;
    let (run, json, out) = compare_with(&state, &tree, "--autofdo-profile", &profile, "profile-73-autofdo")?;
    profile_applied_alike(&run, &json, PROFILED.len())?;
    for name in PROFILED.iter().filter(|n| !n.contains(".ko")) {
        let in_dist = cold_parts(&out.join("thin-dist/vmlinux"));
        check(in_dist.iter().any(|c| c == name), format!("{name}.cold in the THIN_DIST vmlinux: {in_dist:?}"))?;
    }
    let unprofiled = fixtures::kernel_73_x86_64()?;
    let none = cold_parts(&unprofiled.out.join("vmlinux"));
    check(none.is_empty(), format!("the build without a profile splits nothing: {none:?}"))
}

/// The Propeller profile pair acts alike in both modes (`--long`): the two
/// vmlinux functions split. configfs_read_iter is not: ThinLTO promotes it
/// to `configfs_read_iter.llvm.<hash>` before code generation, and a
/// Propeller profile names functions exactly (AutoFDO's drops the suffix).
pub fn propeller_73_series_compare() -> Result {
    let (_d, state) = state_file();
    let tree = series_73_tree(&state)?;
    let prefix = xtask::home::configs().join("profiles/propeller-7.3");
    let (run, json, _) = compare_with(&state, &tree, "--propeller-profile", &prefix, "profile-73-propeller")?;
    profile_applied_alike(&run, &json, 2).map(drop)
}
