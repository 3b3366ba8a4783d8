//! AutoFDO and Propeller with THIN_DIST (issue #29): `compare` with the
//! same profile in both modes, on Linux 7.3 with series linux-7 (modules in
//! distributed mode), must find the profile's mark in both kernels and their
//! modules, and the same mark; a build without the profile has none of it.
//! CI's case is also CI's `compare --boot`: every promise of compare's
//! report (`compare_cases::check_compare`), both profiled kernels booted.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::compare_cases;
use crate::fixtures;
use crate::remote_cases;
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

/// `compare` of `tree` with the small modules config, a profile (`flag`
/// and its value) and `more` into the fixture directory `name`: the run,
/// its JSON and the directory.
fn compare_with(
    state: &Path,
    tree: &Path,
    (flag, profile): (&str, &Path),
    more: &[&str],
    name: &str,
) -> Result<(Run, PathBuf, PathBuf)> {
    let out = fixtures::out_dir(name);
    let json = out.with_extension("json");
    let (t, p, o, j) =
        (tree.to_str().unwrap(), profile.to_str().unwrap(), out.to_str().unwrap(), json.to_str().unwrap());
    let args = ["--kernel", t, "compare", "--arch", "x86_64", "--fragment", "modules.config", flag, p];
    let run = xtask(state, &[&args[..], more, &["--out", o, "--json", j]].concat()).ok()?;
    Ok((run, json, out))
}

/// An AutoFDO profile for the 7.3 test functions: the text profile of
/// `configs/profiles/` converted as a distribution converts one.
fn autofdo_profile(dir: &Path) -> Result<PathBuf> {
    let profile = dir.join("autofdo-7.3.afdo");
    convert(&xtask::home::configs().join("profiles/autofdo-7.3.txt"), &profile)?;
    Ok(profile)
}

/// `llvm-profdata merge --sample --extbinary`: a text sample profile to the binary form.
fn convert(text: &Path, profile: &Path) -> Result {
    let profdata = ["merge", "--sample", "--extbinary", text.to_str().unwrap(), "-o", profile.to_str().unwrap()];
    let converted = std::process::Command::new("llvm-profdata-19").args(profdata).output().expect("llvm-profdata-19");
    check(converted.status.success(), String::from_utf8_lossy(&converted.stderr))
}

/// The tree's THIN_DIST build with the small modules config and an AutoFDO
/// profile into `out`: `build`'s arguments.
fn profiled_build(tree: &Path, profile: &Path, out: &Path) -> Vec<String> {
    let (t, p, o) = (tree.to_str().unwrap(), profile.to_str().unwrap(), out.to_str().unwrap());
    ["--kernel", t, "build", "--arch", "x86_64", "--fragment", "modules.config", "--autofdo-profile", p, "--out", o]
        .map(String::from)
        .to_vec()
}

/// The profiled build made in the fixture directory `name`, with an empty
/// place beside it (`name.<beside>`) for moving it aside: the two
/// directories and `build`'s arguments.
fn built_with_a_place_beside(
    state: &Path,
    tree: &Path,
    profile: &Path,
    name: &str,
    beside: &str,
) -> Result<(PathBuf, PathBuf, Vec<String>)> {
    let out = fixtures::out_dir(name);
    let aside = out.with_extension(beside);
    for dir in [&out, &aside] {
        let _ = std::fs::remove_dir_all(dir);
    }
    let args = profiled_build(tree, profile, &out);
    xtask(state, &args.iter().map(String::as_str).collect::<Vec<_>>()).ok()?;
    Ok((out, aside, args))
}

/// What two builds in the same `O=` made differently: the natives of
/// vmlinux and of the modules (under each module's `.thinlto/`), the
/// modules, vmlinux; and how many were compared.
fn differing_outputs(a: &Path, b: &Path) -> (Vec<PathBuf>, usize) {
    let is_output = |p: &PathBuf| {
        let s = p.to_string_lossy();
        s.ends_with(".thinlto-native.o") || (s.contains(".thinlto/") && s.ends_with(".o")) || s.ends_with(".ko")
    };
    let mut names: Vec<PathBuf> = remote_cases::files_ending(a, "").into_iter().filter(is_output).collect();
    names.push(PathBuf::from("vmlinux.o"));
    let differ = names.iter().filter(|n| std::fs::read(a.join(n)).ok() != std::fs::read(b.join(n)).ok()).cloned();
    (differ.collect(), names.len())
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
/// without it (the 7.3 fixture) splits nothing, so the check can fail. The
/// rebuilds and both boots are compare's own checks.
pub fn autofdo_73_series_compare() -> Result {
    let (_d, state) = state_file();
    let tree = series_73_tree(&state)?;
    let tmp = tempfile::tempdir().unwrap();
    let profile = autofdo_profile(tmp.path())?;
    let profile = ("--autofdo-profile", profile.as_path());
    let (run, json, out) = compare_with(&state, &tree, profile, &["--boot"], "profile-73-autofdo")?;
    compare_cases::check_compare(&run, &json, &out)?;
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
    let profile = ("--propeller-profile", prefix.as_path());
    let (run, json, _) = compare_with(&state, &tree, profile, &["--no-incremental"], "profile-73-propeller")?;
    profile_applied_alike(&run, &json, 2).map(drop)
}

/// A profiled build's back-end jobs on the engine (`--long`): every native
/// of vmlinux and of the modules, every `.ko` and `vmlinux.o` equal a local
/// build's with the same profile, byte for byte. Both build into the same
/// `O=` (the local one moved aside after): the profile's `-gmlt` puts the
/// compile's directory into each object.
pub fn remote_natives_match_a_local_build() -> Result {
    let (_d, state) = state_file();
    let tree = series_73_tree(&state)?;
    let tmp = tempfile::tempdir().unwrap();
    let profile = autofdo_profile(tmp.path())?;
    let (out, local, args) = built_with_a_place_beside(&state, &tree, &profile, "profile-73-remote", "local")?;
    let build: Vec<&str> = args.iter().map(String::as_str).collect();
    std::fs::rename(&out, &local).unwrap();
    remote_cases::engine(&state)?;
    let json = tmp.path().join("remote.json");
    let remote =
        xtask(&state, &[&build[..], &["--remote", remote_cases::URL, "--json", json.to_str().unwrap()]].concat());
    xtask(&state, &["remote", "stop"]).ok()?;
    remote.ok()?;
    let r = remote_cases::report(&json);
    let on_engine = remote_cases::backend(&r, "remote");
    check(
        remote_cases::backend(&r, "local") == 0 && on_engine > 400,
        format!("every back-end job on the engine: {}", r["remote"]),
    )?;
    let (differ, compared) = differing_outputs(&local, &out);
    check(differ.is_empty(), format!("{} of {compared} differ, e.g. {:?}", differ.len(), differ.first()))?;
    check(compared > 400, format!("{compared} outputs compared"))?;
    let _ = std::fs::remove_dir_all(&local);
    // The profile acted: its functions are split in the engine's vmlinux too.
    let cold = cold_parts(&out.join("vmlinux"));
    check(PROFILED[..2].iter().all(|f| cold.iter().any(|c| c == f)), format!("split in vmlinux: {cold:?}"))
}

/// A profile edited in place between two builds (`--long`), as a
/// distribution refreshes its profile: the next build rebuilds what the
/// profile touches and leaves nothing stale (every native, `.ko` and
/// `vmlinux.o` equal a clean build's with the new profile, byte for byte,
/// in the same `O=`), and the function the edit took out is no longer split.
pub fn edited_profile_rebuilds_alike() -> Result {
    let (_d, state) = state_file();
    let tree = series_73_tree(&state)?;
    let tmp = tempfile::tempdir().unwrap();
    let profile = autofdo_profile(tmp.path())?;
    let (out, incremental, args) =
        built_with_a_place_beside(&state, &tree, &profile, "profile-73-edited", "incremental")?;
    let build: Vec<&str> = args.iter().map(String::as_str).collect();
    check(cold_parts(&out.join("vmlinux")).iter().any(|c| c == "number"), "number is split before the edit")?;
    // The same profile without `number`'s samples, written over the first.
    let text = std::fs::read_to_string(xtask::home::configs().join("profiles/autofdo-7.3.txt")).unwrap();
    let mut in_number = false;
    let kept: String = text
        .lines()
        .filter(|l| {
            // A function's block: its header at the line's start, its samples indented.
            if !l.starts_with(' ') {
                in_number = l.starts_with("number:");
            }
            !in_number
        })
        .map(|l| format!("{l}\n"))
        .collect();
    check(kept.len() < text.len() && kept.contains("vsnprintf:"), "the edit took number's samples out")?;
    let edited = tmp.path().join("edited.txt");
    std::fs::write(&edited, kept).unwrap();
    convert(&edited, &profile)?;
    let json = tmp.path().join("incremental.json");
    xtask(&state, &[&build[..], &["--json", json.to_str().unwrap()]].concat()).ok()?;
    let r = remote_cases::report(&json);
    let front_ends = r["stages"][0]["steps"].as_u64().unwrap_or(0);
    check(r["stages"][0]["stage"] == "front-end" && front_ends > 400, format!("the edit recompiled: {}", r["stages"]))?;
    let cold = cold_parts(&out.join("vmlinux"));
    check(!cold.iter().any(|c| c == "number") && cold.iter().any(|c| c == "vsnprintf"), format!("split: {cold:?}"))?;
    std::fs::rename(&out, &incremental).unwrap();
    xtask(&state, &build).ok()?;
    let (differ, compared) = differing_outputs(&incremental, &out);
    check(differ.is_empty(), format!("{} of {compared} stale, e.g. {:?}", differ.len(), differ.first()))?;
    let _ = std::fs::remove_dir_all(&incremental);
    Ok(())
}

/// clean-check's incremental check with a profile (`--long`): its clean
/// build runs in a scratch tree, which the profile's `-gmlt` names in every
/// object's debug information; every native, module and `vmlinux.o` must
/// still be the same as the incremental build's apart from that, and the
/// check says how many it compared so.
pub fn clean_check_with_a_profile() -> Result {
    let (_d, state) = state_file();
    let tree = series_73_tree(&state)?;
    let tmp = tempfile::tempdir().unwrap();
    let profile = autofdo_profile(tmp.path())?;
    let json = tmp.path().join("clean-check.json");
    let (t, p, j) = (tree.to_str().unwrap(), profile.to_str().unwrap(), json.to_str().unwrap());
    let args = ["--kernel", t, "clean-check", "--arch", "x86_64", "--fragment", "modules.config"];
    let run = xtask(&state, &[&args[..], &["--autofdo-profile", p, "--checks", "incremental", "--json", j]].concat());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_default()).unwrap_or_default();
    let c = &report["checks"][0];
    check(c["check"] == "incremental" && c["ok"] == true, format!("the incremental check: {c}\n{}", run.all()))?;
    let summary = c["summary"].as_str().unwrap_or("");
    check(summary.contains("apart from their debug information"), format!("compared apart from it: {summary}"))?;
    run.ok().map(drop)
}
