//! `setup` on Debian's real 6.12 and 7.3 source tarballs.

use std::path::Path;

use git2::Repository;

use crate::support::*;

const SERIES: &str = "linux-6.12";

/// The number of patches in the shipped 6.12 series.
fn patches_612() -> usize {
    let dir = xtask::home::project_root().join("patches").join(SERIES);
    xtask::series::Series::load(&dir).unwrap().patches.len()
}

pub fn refuses_non_kernel_input() -> Result {
    let (_d, state) = state_file();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Makefile"), "all:\n\techo hi\n").unwrap();
    xtask(&state, &["setup", dir.path().to_str().unwrap()]).fails_with("is not a Linux source tree")?;
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "x").unwrap();
    xtask(&state, &["setup", file.to_str().unwrap()]).fails_with("not a source tarball")?;
    xtask(&state, &["setup", "/nonexistent/linux"]).fails_with("does not exist")?;
    xtask(&state, &["setup"]).fails_with("no kernel tree given")?;
    check(!state.exists(), "a refused setup wrote the state file")
}

/// Extracts (first run only) and imports Debian's 6.12 tarball, applies the
/// series as one commit per patch on a new branch, and records it.
pub fn applies_612_series() -> Result {
    let (_d, state) = state_file();
    let tree = fresh_612()?;
    let run = xtask(&state, &["setup", tarball_612().to_str().unwrap()]).ok()?;
    check(run.stdout.contains(&format!("series: {SERIES}")), "names the series")?;

    let repo = Repository::open(&tree).unwrap();
    let head = repo.head().unwrap();
    check(head.shorthand() == Some("thindist/linux-6.12"), format!("HEAD is {:?}", head.shorthand()))?;
    let base = baseline(&repo);
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    walk.hide(base).unwrap();
    let commits: Vec<git2::Commit> = walk.map(|o| repo.find_commit(o.unwrap()).unwrap()).collect();
    check(commits.len() == patches_612(), format!("{} commits on top of the baseline", commits.len()))?;
    let first = commits.last().unwrap();
    check(first.author().name() == Some("Rong Xu"), "the v3 port keeps its author")?;
    check(first.summary() == Some("kbuild: distributed build support for Clang ThinLTO"), "first commit is v3")?;
    check(commits.iter().all(|c| c.message().unwrap().lines().count() > 3), "every commit says why")?;
    check(tree.join("scripts/Makefile.vmlinux_thinlink").is_file(), "the thin-link makefile exists")?;
    check(snapshot(&tree).status_is_clean(), "the work tree is clean after setup")?;

    // The baseline tracks every file and keeps the kernel's own ignore rules.
    let base_tree = repo.find_commit(base).unwrap().tree().unwrap();
    check(
        base_tree.get_name(".mailmap").is_some() && base_tree.get_name(".clang-format").is_some(),
        "dot-files are tracked",
    )?;
    let gitignore = std::fs::read_to_string(tree.join(".gitignore")).unwrap();
    check(!gitignore.contains("!/debian/") && !gitignore.lines().any(|l| l == "/*"), "Debian's stanza is gone")?;
    check(repo.status_should_ignore(Path::new("init/main.o")).unwrap(), "*.o is ignored")?;
    check(!repo.status_should_ignore(Path::new("init/main.c")).unwrap(), "sources are not ignored")?;

    let text = std::fs::read_to_string(&state).unwrap();
    check(
        text.contains("series = \"linux-6.12\"") && !text.contains("layout ="),
        format!("state records the series (the layout is read from the tree):\n{text}"),
    )
}

/// A second setup sees the series and changes nothing.
pub fn second_setup_changes_nothing() -> Result {
    let (_d, state) = state_file();
    let tree = tree_612();
    xtask(&state, &["setup", tarball_612().to_str().unwrap()]).ok()?;
    let before = snapshot(&tree);
    let (_d2, fresh_state) = state_file();
    let run = xtask(&fresh_state, &["setup", "--kernel", tree.to_str().unwrap()]).ok()?;
    check(
        run.stdout.contains("already applied (linux-6.12)"),
        "says which series is already applied, even with no record",
    )?;
    check(snapshot(&tree) == before, "nothing changed")
}

/// `--revert` returns to the exact baseline: branch, commit, every file.
pub fn revert_restores_baseline() -> Result {
    let (_d, state) = state_file();
    let tree = fresh_612()?;
    let before = snapshot(&tree);
    let makefile = std::fs::read(tree.join("Makefile")).unwrap();
    xtask(&state, &["setup", tree.to_str().unwrap()]).ok()?;
    check(std::fs::read(tree.join("Makefile")).unwrap() != makefile, "setup changed the Makefile")?;
    xtask(&state, &["setup", "--revert"]).ok()?;
    let after = snapshot(&tree);
    check(after.same_refs_and_status(&before), format!("tree differs after revert:\n{before:?}\n{after:?}"))?;
    check(std::fs::read(tree.join("Makefile")).unwrap() == makefile, "Makefile is byte-identical")?;
    check(!tree.join("scripts/Makefile.vmlinux_thinlink").exists(), "added file removed")?;
    xtask(&state, &["setup", "--revert"]).fails_with("nothing to revert")?;
    Ok(())
}

/// A dirty tree is refused, named, and left as it was.
pub fn refuses_dirty_tree() -> Result {
    let (_d, state) = state_file();
    let tree = fresh_612()?;
    let path = tree.join("Makefile");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("# a local change\n");
    std::fs::write(&path, &text).unwrap();
    let before = snapshot(&tree);
    xtask(&state, &["setup", tree.to_str().unwrap()]).fails_with("uncommitted changes: Makefile")?;
    check(std::fs::read_to_string(&path).unwrap() == text, "the user's change is intact")?;
    check(snapshot(&tree) == before, "nothing was written")?;
    // With --force the change is kept and the series applies around it.
    let run = xtask(&state, &["setup", tree.to_str().unwrap(), "--force"]);
    let kept = std::fs::read_to_string(&path).unwrap().ends_with("# a local change\n");
    reset_to_baseline(&tree);
    check(kept, "--force keeps the change")?;
    run.fails_with("uncommitted changes in files the series changes: Makefile")?;
    // A change elsewhere is kept, and the series applies around it.
    let readme = tree.join("README");
    std::fs::write(&readme, "mine\n").unwrap();
    xtask(&state, &["setup", tree.to_str().unwrap(), "--force"]).ok()?;
    let kept = std::fs::read_to_string(&readme).unwrap() == "mine\n";
    let applied = tree.join("scripts/Makefile.vmlinux_thinlink").is_file();
    reset_to_baseline(&tree);
    check(kept && applied, "--force applied the series and kept README")
}

/// `--dry-run` reports and writes nothing: no object, ref, file or state.
pub fn dry_run_writes_nothing() -> Result {
    let (_d, state) = state_file();
    let tree = fresh_612()?;
    let before = snapshot(&tree);
    let run = xtask(&state, &["setup", tree.to_str().unwrap(), "--dry-run"]).ok()?;
    check(run.stdout.contains("the whole series applies"), "reports the plan")?;
    check(snapshot(&tree) == before, "dry run changed the repository")?;
    check(!state.exists(), "dry run wrote the state file")
}

fn copy_series(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../patches").join(SERIES);
    let dest = to.join(SERIES);
    std::fs::create_dir_all(&dest).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dest.join(p.file_name().unwrap())).unwrap();
    }
}

/// A tree set up by an older thindist, whose series was one patch shorter,
/// gets the rest on the same branch; a third setup changes nothing.
pub fn completes_an_older_series() -> Result {
    let (_d, state) = state_file();
    let tree = fresh_612()?;
    let patches = tempfile::tempdir().unwrap();
    copy_series(patches.path());
    let toml = patches.path().join(SERIES).join("series.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let last = text.lines().rfind(|l| l.trim_start().starts_with("\"0")).unwrap().to_string();
    std::fs::write(&toml, text.replace(&format!("{last}\n"), "")).unwrap();
    xtask(&state, &["setup", tree.to_str().unwrap(), "--patches", patches.path().to_str().unwrap()]).ok()?;
    let repo = Repository::open(&tree).unwrap();
    let on_top = |repo: &Repository| {
        let mut walk = repo.revwalk().unwrap();
        walk.push_head().unwrap();
        walk.hide(baseline(repo)).unwrap();
        walk.count()
    };
    let patches_612 = patches_612();
    check(on_top(&repo) == patches_612 - 1, "the older series is one patch shorter")?;
    let run = xtask(&state, &["setup", tree.to_str().unwrap()]).ok()?;
    check(
        run.stdout.contains(&format!("applied up to patch {} of {patches_612}", patches_612 - 1)),
        format!("says what it found:\n{}", run.stdout),
    )?;
    check(
        on_top(&repo) == patches_612 && repo.head().unwrap().shorthand() == Some("thindist/linux-6.12"),
        "the rest is committed on the same branch",
    )?;
    check(snapshot(&tree).status_is_clean(), "the work tree is clean")?;
    let before = snapshot(&tree);
    check(
        xtask(&state, &["setup", tree.to_str().unwrap()]).ok()?.stdout.contains("nothing changed"),
        "a third setup changes nothing",
    )?;
    check(snapshot(&tree) == before, "nothing changed")
}

/// A corrupted patch: clear error naming the patch; nothing written.
pub fn corrupt_patch_is_named() -> Result {
    let (_d, state) = state_file();
    let tree = fresh_612()?;
    let patches = tempfile::tempdir().unwrap();
    copy_series(patches.path());
    let victim = std::fs::read_dir(patches.path().join(SERIES))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("0004-"))
        .unwrap();
    // Cut a hunk short: its header promises more lines than follow.
    let text = std::fs::read_to_string(&victim).unwrap();
    let cut = text.find("+# A native object also depends").unwrap();
    std::fs::write(&victim, format!("{}\ndiff --git a/x b/x\n", &text[..cut])).unwrap();
    let before = snapshot(&tree);
    let p = patches.path().to_str().unwrap();
    xtask(&state, &["setup", tree.to_str().unwrap(), "--patches", p]).fails_with("0004-kbuild-thinlto-dist-rebuild")?;
    check(snapshot(&tree) == before, "nothing was written")
}

/// A committed local change in a patched spot: error names file and hunk.
pub fn conflict_names_file_and_hunk() -> Result {
    let (_d, state) = state_file();
    let tree = fresh_612()?;
    let repo = Repository::open(&tree).unwrap();
    let path = tree.join("scripts/Makefile.vmlinux_o");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("vmlinux.o: $(initcalls-lds) vmlinux.a", "vmlinux.o: $(initcalls-lds) my-vmlinux.a"),
    )
    .unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("scripts/Makefile.vmlinux_o")).unwrap();
    index.write().unwrap();
    let sig = git2::Signature::now("t", "t@localhost").unwrap();
    let parent = repo.head().unwrap().peel_to_commit().unwrap();
    let t = repo.find_tree(index.write_tree().unwrap()).unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "local change", &t, &[&parent]).unwrap();
    let before = snapshot(&tree);
    let run = xtask(&state, &["setup", tree.to_str().unwrap()]);
    let after = snapshot(&tree);
    reset_to_baseline(&tree);
    let run = run.fails_with("scripts/Makefile.vmlinux_o")?;
    check(
        run.stderr.contains("0001-kbuild-distributed-build") && run.stderr.contains("hunk `@@ -"),
        "names patch and hunk",
    )?;
    check(after == before, "nothing was written")
}

/// Linux 7.3 has mainline's implementation: reported, nothing applied.
pub fn reports_mainline_73() -> Result {
    let (_d, state) = state_file();
    let tree = tree_73();
    reset_to_baseline(&tree);
    let first = xtask(&state, &["setup", tarball_73().to_str().unwrap()]).ok()?;
    let before = snapshot(&tree);
    let run = xtask(&state, &["setup", tarball_73().to_str().unwrap()]).ok()?;
    check(
        first.stdout.contains("its own distributed ThinLTO (layout: mainline)")
            && run.stdout.contains("nothing to apply")
            && run.stdout.contains("Mainline rebuilds every native object after any change")
            && run.stdout.contains("optional: series linux-7 (")
            && run.stdout.contains("`cargo xtask setup --series linux-7`"),
        format!("reports mainline and offers the opt-in series:\n{}", run.stdout),
    )?;
    check(snapshot(&tree) == before && before.status_is_clean(), "the tree is untouched")?;
    let repo = Repository::open(&tree).unwrap();
    check(repo.branches(None).unwrap().count() == 1, "no branch was created")?;
    let text = std::fs::read_to_string(&state).unwrap();
    check(
        text.contains("series = \"mainline\""),
        format!("state records the kernel's own layout as its series:\n{text}"),
    )
}

/// `--series linux-7` puts our series on top of mainline's own THIN_DIST
/// (on a clone), a second setup keeps it, and `--revert` takes it off.
pub fn applies_and_reverts_the_73_series() -> Result {
    let (_d, state) = state_file();
    let (_d73, _) = crate::fixtures::setup_73()?;
    let tree = crate::fixtures::clone_of(&tree_73(), "series-73");
    let t = tree.to_str().unwrap();
    let repo = Repository::open(&tree).unwrap();
    let base = repo.head().unwrap().peel_to_commit().unwrap().id();
    xtask(&state, &["setup", t, "--series", "linux-6.12"]).fails_with("is for trees without it")?;
    let run = xtask(&state, &["setup", t, "--series", "linux-7"]).ok()?;
    check(run.stdout.contains("goes on top of it") && run.stdout.contains("applied linux-7"), run.stdout.clone())?;
    let head = repo.head().unwrap();
    check(head.shorthand() == Some("thindist/linux-7"), "on the series branch")?;
    let thinlto = std::fs::read_to_string(tree.join("scripts/Makefile.thinlto")).unwrap();
    check(thinlto.contains("index sha1"), "the patch is applied")?;
    let again = xtask(&state, &["setup", t]).ok()?;
    check(again.stdout.contains("already applied (linux-7)"), again.stdout.clone())?;
    xtask(&state, &["setup", t, "--revert"]).ok()?;
    let now = Repository::open(&tree).unwrap();
    check(now.head().unwrap().peel_to_commit().unwrap().id() == base, "back on the baseline")?;
    let clean = now.statuses(None).unwrap().is_empty();
    check(clean, "the tree is clean")
}
