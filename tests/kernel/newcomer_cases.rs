//! The newcomer's path (issue #25): a tree made from Debian's 6.12 tarball
//! the way `demo` makes it (extracted and imported into a cache of its
//! own), then `build`, `clean-check` and `compare --boot` on that tree in
//! the order a user runs them, each passing. The small modules config goes
//! to each command, so that clean-check's module check and compare's module
//! rebuilds run too. Two clean-check bites run on the same build between
//! the first two cases (main.rs); `boot` alone is the fixtures' boot cases.
//! CI's `compare --boot` is the profile case's (7.3 with series linux-7,
//! the same checks); this tree's is its second case, in `--long`.

use crate::clean_cases;
use crate::compare_cases;
use crate::fixtures;
use crate::support::*;

/// `setup` from the tarball (a clean `git status`) and `build` in tree.
pub fn sets_up_and_builds() -> Result {
    fixtures::newcomer().map(|_| ())
}

pub fn clean_check() -> Result {
    let n = fixtures::newcomer()?;
    // `build` again: whatever ran on the tree since (the bites) is made good,
    // as a user's `build` after any change would.
    n.run(&["build", "--fragment", "modules.config"]).ok()?;

    // The tree as `build` left it: one make environment, so clean-check's
    // first make finds nothing to do, and mrproper leaves only what the
    // tarball had.
    let (checked, report) = clean_cases::clean_check_env(&n.state, &n.tree, "", &n.env());
    let noop = report["checks"].as_array().and_then(|a| a.iter().find(|c| c["check"] == "noop")).cloned();
    let noop_summary = noop.as_ref().map(|c| c["summary"].to_string()).unwrap_or_default();
    clean_cases::passed_every_check(checked, &report)?;
    check(
        !noop_summary.contains("brought the tree up to date"),
        format!("clean-check's first make after `build` had work to do: {noop_summary}"),
    )?;
    let status = n.git_status();
    check(status.is_empty(), format!("the tree's git status is clean after it all: {status:?}"))
}

/// `compare --boot` on the newcomer's tree (`--long`).
pub fn compare_boots_both() -> Result {
    let n = fixtures::newcomer()?;
    let compare_json = n.home.join("compare.json");
    let root = n.home.join("compare");
    let compared = n
        .run(&[
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
    let status = n.git_status();
    check(status.is_empty(), format!("the tree's git status is clean after it all: {status:?}"))
}
