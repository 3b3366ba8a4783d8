//! `clean-check` on in-tree builds: it passes on the 6.12 series and bites
//! on purpose-made defects. In CI two bites run on the newcomer's build;
//! the others (`--long`) share one clone of the cached 6.12 tree, in an
//! order that reuses its build wherever a case allows (main.rs).

use std::path::Path;

use git2::{Repository, ResetType, Signature};
use serde_json::Value;

use crate::fixtures;
use crate::support::*;

/// `clean-check` of `tree` with the small modules config (`checks`: the
/// `--checks` list, empty for all), in `env`; its run and its JSON report.
pub fn clean_check_env(state: &Path, tree: &Path, checks: &str, env: &[(&str, &str)]) -> (Run, Value) {
    let json = tree.with_extension("clean-check.json");
    let _ = std::fs::remove_file(&json);
    // The small modules config: every check covers module artifacts too, and check 8 a module source.
    let mut args = vec![
        "--kernel",
        tree.to_str().unwrap(),
        "clean-check",
        "--arch",
        "x86_64",
        "--fragment",
        "modules.config",
        "--json",
        json.to_str().unwrap(),
    ];
    if !checks.is_empty() {
        args.extend(["--checks", checks]);
    }
    let run = xtask_env(state, &args, env);
    let report = std::fs::read_to_string(&json).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
    (run, report)
}

fn check_result<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"].as_array().and_then(|a| a.iter().find(|c| c["check"] == name)).unwrap_or(&Value::Null)
}

fn drop_last_commit(repo: &Repository) {
    let parent = repo.head().unwrap().peel_to_commit().unwrap().parent(0).unwrap();
    repo.reset(parent.as_object(), ResetType::Hard, None).unwrap();
}

fn edit(tree: &Path, path: &str, from: &str, to: &str) {
    let p = tree.join(path);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{path} has no `{from}`");
    std::fs::write(&p, text.replace(from, to)).unwrap();
}

/// Runs the named check after `defect` committed a change to the clone,
/// takes that commit back, and expects the check to fail naming `needles`.
/// The no-op check runs first: it brings the clone's build up to date with
/// the defect (a changed kbuild command rebuilds every native), so that the
/// named check sees the defect and not that rebuild.
fn bites(tree: &Path, defect: impl FnOnce(&Repository), check_name: &str, needles: &[&str]) -> Result {
    let (_d, state) = state_file();
    bites_env(&state, tree, &[], defect, check_name, needles)
}

/// `bites` on the newcomer's built tree, in its own cache: two bites whose
/// defects cost that build little (an ignore rule; the modules relinked).
fn bites_newcomer(defect: impl FnOnce(&Repository), check_name: &str, needles: &[&str]) -> Result {
    let n = fixtures::newcomer()?;
    bites_env(&n.state, &n.tree, &n.env(), defect, check_name, needles)
}

fn bites_env(
    state: &Path,
    tree: &Path,
    env: &[(&str, &str)],
    defect: impl FnOnce(&Repository),
    check_name: &str,
    needles: &[&str],
) -> Result {
    let repo = Repository::open(tree).unwrap();
    defect(&repo);
    let (run, report) = clean_check_env(state, tree, &format!("noop,{check_name}"), env);
    drop_last_commit(&repo);
    check(run.code != 0, "clean-check should fail")?;
    let r = check_result(&report, check_name);
    let details = r["details"].to_string();
    check(
        r["ok"] == false && needles.iter().all(|n| details.contains(n)),
        format!("{check_name} check should name {needles:?}: {r}"),
    )
}

/// A defect made by hand: one edit of one file, committed.
fn edited(path: &'static str, from: &'static str, to: &'static str) -> impl FnOnce(&Repository) {
    move |repo| {
        let tree = repo.workdir().unwrap().to_path_buf();
        edit(&tree, path, from, to);
        commit_file(repo, path, &format!("test: defect in {path}"));
    }
}

/// The commit on HEAD whose summary names one patch of the series.
fn series_commit<'r>(repo: &'r Repository, summary: &str) -> git2::Commit<'r> {
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    walk.map(|o| repo.find_commit(o.unwrap()).unwrap())
        .find(|c| c.summary().unwrap_or("").contains(summary))
        .unwrap_or_else(|| panic!("the series has `{summary}`"))
}

/// A defect made by taking the series back to before one of its patches:
/// one commit on HEAD with the tree of that patch's parent.
fn before(summary: &'static str) -> impl FnOnce(&Repository) {
    move |repo| {
        let head = repo.head().unwrap().peel_to_commit().unwrap();
        let patch = series_commit(repo, summary);
        let tree = patch.parent(0).unwrap().tree().unwrap();
        let sig = Signature::now("test", "test@localhost").unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, &format!("test: the series before \"{summary}\""), &tree, &[&head])
            .unwrap();
        repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force())).unwrap();
    }
}

/// .gitignore without the natives' pattern: the ignore check names them.
pub fn bites_on_gitignore() -> Result {
    bites_newcomer(edited(".gitignore", "*.o_thinlto_native\n", ""), "ignore", &["files *.o_thinlto_native: "])
}

/// A clean rule without the natives: the clean check lists the files left.
pub fn bites_on_clean_rule() -> Result {
    let rule = "\t\t-o -name '*.a_thinlto_native' -o -name '*.o_thinlto_native' \\\n";
    bites(
        &fixtures::clean_tree_612()?,
        edited("Makefile", rule, ""),
        "clean",
        &["files *.o_thinlto_native: ", "files *.a_thinlto_native: "],
    )
}

/// Every check, in the report's order.
const ALL_CHECKS: [&str; 8] =
    ["ignore", "clean", "mrproper", "noop", "one-file", "incremental", "deleted-native", "module-one-file"];

fn names(report: &Value) -> Vec<&str> {
    report["checks"].as_array().map(|a| a.iter().map(|c| c["check"].as_str().unwrap()).collect()).unwrap_or_default()
}

/// A clean-check run in which all eight checks ran and passed.
pub fn passed_every_check(run: Run, report: &Value) -> Result {
    check(names(report) == ALL_CHECKS, format!("all eight checks ran: {:?}\n{}", names(report), run.all()))?;
    let failed: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] != true)
        .map(|c| format!("{}: {} {}", c["check"], c["summary"], c["details"]))
        .collect();
    check(failed.is_empty(), format!("every check passes: {failed:?}"))?;
    run.ok().map(|_| ())
}

/// Natives depending on their index's mtime, as before patch 0009 and in
/// mainline: lld rewrites every index, so every native is rebuilt.
pub fn bites_on_index_mtime() -> Result {
    let mtime = "targets += $(natives)\n\nthinlto-indexes := $(wildcard $(addsuffix .thinlto.bc, $(filter-out --start-lib --end-lib, $(thinlto-inputs))))\n$(patsubst %.thinlto.bc,%_thinlto_native,$(thinlto-indexes)): %_thinlto_native: %.thinlto.bc\n";
    bites(
        &fixtures::clean_tree_612()?,
        edited("scripts/Makefile.thinlto_native", "targets += $(natives)\n", mtime),
        "one-file",
        &["natives rebuilt although neither their IR nor their index changed"],
    )
}

/// The index's SHA-1 left out of the back-end command: an importer whose
/// index changed keeps its stale native (configfs's stale natives also name
/// promoted symbols that no longer exist, so the incremental build fails at
/// modpost; the check reports that and still compares what was built).
pub fn bites_on_index_content() -> Result {
    bites(
        &fixtures::clean_tree_612()?,
        edited(
            "scripts/Makefile.thinlto_native",
            "-c -o $@ $<; \\\n\t: index sha1 $(thinlto-sha1-$<)\n",
            "-c -o $@ $<\n",
        ),
        "incremental",
        &["stale after the incremental build: ", "_thinlto_native"],
    )
}

/// The series before patch 0009 (its second pass runs only after a new
/// thin-link): a native deleted by hand stays missing.
pub fn deleted_native_bites_before_0009() -> Result {
    bites(
        &fixtures::clean_tree_612()?,
        before("build the native objects in one make"),
        "deleted-native",
        &["is still missing after a plain make"],
    )
}

/// Every module relinked on every make (modfinal's `if_changed` made an
/// unconditional `cmd`): touching one module source relinks the others too.
pub fn module_one_file_bites_on_unconditional_ko_link() -> Result {
    bites_newcomer(
        edited("scripts/Makefile.modfinal", "+$(call if_changed_except,ld_ko_o,vmlinux)", "+$(call cmd,ld_ko_o)"),
        "module-one-file",
        &["other modules' steps ran: ", "lib/test_hexdump.ko"],
    )
}

/// Linux 7.3 with series linux-7 on mainline's THIN_DIST passes every
/// check, modules built in distributed mode (patch 0002) included.
pub fn series_73_passes() -> Result {
    let (_d, state) = state_file();
    let (_d73, _) = fixtures::setup_73()?;
    let tree = fixtures::clone_of(&tree_73(), "clean-73");
    xtask(&state, &["setup", tree.to_str().unwrap(), "--series", "linux-7"]).ok()?;
    let (run, report) = clean_check_env(&state, &tree, "", &[]);
    passed_every_check(run, &report)
}

/// Mainline 7.3 as it is (no series): its one-file rebuild recompiles
/// every native (lld rewrites every index), and a deleted native is
/// rebuilt there too.
pub fn mainline_73_gaps() -> Result {
    let (_d, state) = state_file();
    let (_d73, _) = fixtures::setup_73()?;
    let tree = fixtures::clone_of(&tree_73(), "clean-73-mainline");
    let (run, report) = clean_check_env(&state, &tree, "noop,one-file,deleted-native", &[]);
    for c in report["checks"].as_array().into_iter().flatten() {
        let verdict = if c["ok"] == true { "PASS" } else { "FAIL" };
        eprintln!("mainline 7.3 clean-check: {verdict} {}: {}", c["check"], c["summary"]);
    }
    let one = check_result(&report, "one-file");
    check(
        one["ok"] == false
            && one["details"].to_string().contains("natives rebuilt although neither their IR nor their index changed"),
        format!("mainline's gap is reported: {one}\n{}", run.all()),
    )?;
    check(check_result(&report, "deleted-native")["ok"] == true, "mainline rebuilds a deleted native")?;
    check(run.code != 0, "a failing check makes a non-zero exit")
}
