//! The newcomer's path (issue #25): a tree made from Debian's 6.12 tarball
//! the way `demo` makes it (extracted and imported into the tool's cache),
//! then `build`, `clean-check`, `boot` and `compare` on that tree in the
//! order a user runs them, each passing. The small modules config goes to
//! each command, so that clean-check's module check and compare's module
//! rebuilds run too.

use git2::{Repository, StatusOptions};
use serde_json::Value;

use crate::clean_cases;
use crate::compare_cases;
use crate::support::*;

pub fn build_clean_check_boot_compare() -> Result {
    // A cache of its own, as a new user's ~/.cache/thindist: its own
    // extraction, never the suite's shared trees.
    let home = test_home().join("newcomer");
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let state = home.join("state.toml");
    let h = home.to_str().unwrap();
    let env = [("THINDIST_HOME", h)];
    let run = |args: &[&str]| xtask_env(&state, args, &env);

    run(&["setup", tarball_612().to_str().unwrap()]).ok()?;
    let tree = home.join("trees").join(xtask::tree::tarball::tree_name(&tarball_612()));
    let repo = Repository::open(&tree).unwrap();
    // `git status`: changed and untracked files that the ignore rules do not cover.
    let status = || {
        let mut opts = StatusOptions::new();
        opts.include_untracked(true).include_ignored(false);
        let statuses = repo.statuses(Some(&mut opts)).unwrap();
        statuses.iter().filter_map(|s| s.path().map(String::from)).collect::<Vec<_>>()
    };
    check(status().is_empty(), format!("the set-up tree's git status is clean: {:?}", status()))?;

    run(&["build", "--fragment", "modules.config"]).ok()?;

    // The tree as `build` left it: one make environment, so clean-check's
    // first make finds nothing to do, and mrproper leaves only what the
    // tarball had.
    let (checked, report) = clean_cases::clean_check_env(&state, &tree, "", &env);
    let noop = report["checks"].as_array().and_then(|a| a.iter().find(|c| c["check"] == "noop")).cloned();
    let noop_summary = noop.as_ref().map(|c| c["summary"].to_string()).unwrap_or_default();
    clean_cases::passed_every_check(checked, &report)?;
    check(
        !noop_summary.contains("brought the tree up to date"),
        format!("clean-check's first make after `build` had work to do: {noop_summary}"),
    )?;

    let boot_json = home.join("boot.json");
    run(&["boot", "--fragment", "modules.config", "--json", boot_json.to_str().unwrap()]).ok()?;
    let booted: Value = serde_json::from_str(&std::fs::read_to_string(&boot_json).unwrap()).unwrap();
    check(
        booted["outcome"] == "booted" && booted["modules_loaded"] == 2,
        format!("booted loading two modules: {} {}", booted["outcome"], booted["reason"]),
    )?;

    let compare_json = home.join("compare.json");
    let root = home.join("compare");
    let compared = run(&[
        "compare",
        "--fragment",
        "modules.config",
        "--boot",
        "--out",
        root.to_str().unwrap(),
        "--json",
        compare_json.to_str().unwrap(),
    ])
    .ok()?;
    compare_cases::check_compare(&compared, &compare_json, &root)?;
    check(status().is_empty(), format!("the tree's git status is clean after it all: {:?}", status()))
}
