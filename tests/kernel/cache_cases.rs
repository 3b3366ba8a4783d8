//! `cache` (issue #25): what the tool keeps, part by part, and a cleanup
//! within limits that never takes what a user may still need. In a cache of
//! the case's own: small git trees stand in for extracted kernel trees.

use std::path::Path;
use std::time::{Duration, SystemTime};

use git2::{Repository, Signature};
use serde_json::Value;

use crate::support::*;

fn aged(path: &Path, days: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, vec![b'x'; 5000]).unwrap();
    let t = SystemTime::now() - Duration::from_secs(days * 86400);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
}

/// A git tree with one commit, standing in for an extracted kernel tree.
fn tree(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::write(path.join("Makefile"), "all:\n").unwrap();
    let repo = Repository::init(path).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("Makefile")).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::now("test", "test@localhost").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "baseline", &tree, &[]).unwrap();
}

/// A build directory as `build --out` leaves it: marked, `source` naming its tree.
fn build(path: &Path, source: &Path) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::write(path.join(".thindist-owned"), "").unwrap();
    std::os::unix::fs::symlink(source, path.join("source")).unwrap();
    std::fs::write(path.join("vmlinux.o"), vec![0u8; 20_000]).unwrap();
}

pub fn shows_and_limits_what_it_keeps() -> Result {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let state = h.join("state.toml");
    let (clean, changed) = (h.join("trees/linux-clean"), h.join("trees/linux-changed"));
    tree(&clean);
    tree(&changed);
    std::fs::write(changed.join("Makefile"), "all: changed\n").unwrap();
    std::fs::write(&state, format!("current = \"{}\"\n", clean.display())).unwrap();
    build(&h.join("builds/known"), &clean);
    build(&h.join("builds/orphan"), &h.join("trees/linux-removed"));
    aged(&h.join("logs/build-old.log"), 40);
    aged(&h.join("logs/build-new.log"), 0);
    aged(&h.join("scans/ab/old.json"), 40);
    aged(&h.join("scans/cd/week.json"), 7);
    let env = [("THINDIST_HOME", h.to_str().unwrap())];
    let run = |args: &[&str]| xtask_env(&state, args, &env);

    let json = h.join("cache.json");
    let shown = run(&["cache", "--json", json.to_str().unwrap()]).ok()?;
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let part = |name: &str| report["parts"].as_array().unwrap().iter().find(|p| p["name"] == name).cloned();
    for name in ["trees", "builds", "logs", "scans"] {
        let p = part(name).ok_or(format!("no {name} part: {report}"))?;
        check(p["usage"]["bytes"].as_u64().unwrap_or(0) > 0, format!("{name} has a size: {p}"))?;
    }
    let builds = part("builds").unwrap();
    let orphan = builds["items"].as_array().unwrap().iter().find(|i| i["name"] == "orphan").cloned().unwrap();
    check(orphan["unreferenced"] == true, format!("the orphan build may go: {orphan}"))?;
    check(
        shown.stdout.contains("the state's current tree") && shown.stdout.contains("1 changed file(s), e.g. Makefile"),
        format!("the trees are described:\n{}", shown.stdout),
    )?;
    check(shown.stdout.contains("limits ([cache] in ") && shown.stdout.contains("free on"), "limits and free space")?;

    // A dry run removes nothing.
    let dry = run(&["cache", "clean", "--builds", "--dry-run"]).ok()?;
    check(dry.stdout.contains("would remove 2 log and scan file(s)"), format!("dry run:\n{}", dry.stdout))?;
    check(h.join("logs/build-old.log").exists() && h.join("builds/orphan").exists(), "the dry run removed nothing")?;

    // Old logs and scans, and the build no known tree points to, go; the rest stays.
    let done = run(&["cache", "clean", "--builds"]).ok()?;
    check(done.stdout.contains("removed 2 log and scan file(s)"), format!("clean:\n{}", done.stdout))?;
    check(
        !h.join("logs/build-old.log").exists() && !h.join("scans/ab").exists() && !h.join("builds/orphan").exists(),
        "old logs, scans and the orphan build removed",
    )?;
    check(
        h.join("logs/build-new.log").exists()
            && h.join("scans/cd/week.json").exists()
            && h.join("builds/known").exists(),
        "what is within the limits, and the build of the current tree, kept",
    )?;

    // A size limit in the state file: the oldest scan goes, the log being written (this hour) stays.
    std::fs::write(&state, format!("current = \"{}\"\n[cache]\nmax_size = \"1KiB\"\n", clean.display())).unwrap();
    let sized = run(&["cache", "clean"]).ok()?;
    check(
        !h.join("scans/cd/week.json").exists() && h.join("logs/build-new.log").exists(),
        format!("past max_size the oldest went: {}", sized.stdout),
    )?;

    // What a user may still need is refused, untouched.
    run(&["cache", "clean", "--tree", changed.to_str().unwrap()]).fails_with("uncommitted change(s) (Makefile)")?;
    run(&["cache", "clean", "--tree", clean.to_str().unwrap()]).fails_with("is the state's current tree")?;
    run(&["cache", "clean", "--build", home.path().parent().unwrap().to_str().unwrap()])
        .fails_with("is not a build directory of the cache")?;
    check(changed.join("Makefile").exists() && clean.join("Makefile").exists(), "both trees are there")?;
    // Named and forced, the changed tree goes.
    run(&["cache", "clean", "--tree", changed.to_str().unwrap(), "--force"]).ok()?;
    check(!changed.exists(), "a named tree goes with --force")?;

    std::fs::write(&state, "[cache]\nmax_sise = \"1G\"\n").unwrap();
    run(&["cache"]).fails_with("keys are max_age_days")?;
    Ok(())
}
