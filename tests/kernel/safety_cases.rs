//! Nothing lost, nothing hung: bad inputs and faults against real trees,
//! each a case a new user met. The tree is put back at its baseline after
//! each case that changes it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git2::{BranchType, Repository, Signature};

use crate::fixtures::{self, out_dir, setup_612};
use crate::support::*;

/// A new file committed on the current branch, as a user would.
fn user_commit(tree: &Path, file: &str, message: &str) -> git2::Oid {
    std::fs::write(tree.join(file), "the user's work\n").unwrap();
    commit_file(&Repository::open(tree).unwrap(), file, message)
}

fn switch_to(tree: &Path, branch: &str) {
    let repo = Repository::open(tree).unwrap();
    repo.set_head(&format!("refs/heads/{branch}")).unwrap();
    repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force())).unwrap();
}

fn head_of(tree: &Path) -> (Option<String>, git2::Oid) {
    let repo = Repository::open(tree).unwrap();
    let head = repo.head().unwrap();
    let id = head.peel_to_commit().unwrap().id();
    (head.shorthand().map(str::to_string), id)
}

/// Case 1: the user committed on the series' branch; revert keeps that commit on a named branch.
pub fn revert_keeps_commits_on_the_series_branch() -> Result {
    let (_d, state) = state_file();
    let tree = fresh_612()?;
    let base = head_of(&tree).1;
    xtask(&state, &["setup", tree.to_str().unwrap()]).ok()?;
    let mine = user_commit(&tree, "my-notes.txt", "my work on top of the series");
    let run = xtask(&state, &["setup", "--revert"]);
    let repo = Repository::open(&tree).unwrap();
    let kept = repo.find_branch("thindist/linux-6.12-kept", BranchType::Local).ok().and_then(|b| b.get().target());
    let head = head_of(&tree);
    reset_to_baseline(&tree);
    let run = run.ok()?;
    check(kept == Some(mine), format!("the user's commit is kept on thindist/linux-6.12-kept: {kept:?}"))?;
    check(run.stdout.contains("are kept") && run.stdout.contains("my work on top of the series"), "said so")?;
    check(head == (Some("master".into()), base), format!("back on master at the baseline: {head:?}"))
}

/// Case 2: the user committed on the original branch meanwhile; revert returns to it as it is now.
pub fn revert_returns_to_the_original_branch_as_it_is_now() -> Result {
    let (_d, state) = state_file();
    let tree = fresh_612()?;
    xtask(&state, &["setup", tree.to_str().unwrap()]).ok()?;
    switch_to(&tree, "master");
    let mine = user_commit(&tree, "my-notes.txt", "my work on master");
    switch_to(&tree, "thindist/linux-6.12");
    let run = xtask(&state, &["setup", "--revert"]);
    let head = head_of(&tree);
    let clean = snapshot(&tree).status_is_clean();
    let notes = tree.join("my-notes.txt").is_file();
    reset_to_baseline(&tree);
    let run = run.ok()?;
    check(head == (Some("master".into()), mine), format!("HEAD is master at the user's commit: {head:?}"))?;
    check(clean && notes, "index and work tree match master's tip (the user's file is there)")?;
    check(run.stdout.contains(&format!("back on master at {}", &mine.to_string()[..12])), "says where it went")
}

/// Case 3: patch 1 applied by hand (`git am`); setup names the series and applies the rest.
pub fn part_applied_series_gets_the_rest() -> Result {
    let (_d, state) = state_file();
    let tree = fresh_612()?;
    let patches = Path::new(env!("CARGO_MANIFEST_DIR")).join("../patches/linux-6.12");
    let first = std::fs::read_dir(&patches)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("/0001-"))
        .unwrap();
    let am = Command::new("git")
        .args(["-C", tree.to_str().unwrap(), "am", first.to_str().unwrap()])
        .env("GIT_COMMITTER_NAME", "user")
        .env("GIT_COMMITTER_EMAIL", "user@localhost")
        .output()
        .unwrap();
    check(am.status.success(), format!("git am: {}", String::from_utf8_lossy(&am.stderr)))?;
    let run = xtask(&state, &["setup", tree.to_str().unwrap()]);
    let thinlink_fix = tree.join("scripts/Makefile.vmlinux_thinlink");
    let text = std::fs::read_to_string(&thinlink_fix).unwrap_or_default();
    let record = std::fs::read_to_string(&state).unwrap_or_default();
    reset_to_baseline(&tree);
    let run = run.ok()?;
    let n = xtask::series::Series::load(&patches).unwrap().patches.len();
    check(run.stdout.contains(&format!("series linux-6.12 is applied up to patch 1 of {n}")), "names the prefix")?;
    check(run.stdout.contains(&format!("applied patches 2 to {n} of linux-6.12")), "applies the rest")?;
    check(text.contains("start-lib"), "patch 2 (lib.a members) is in the tree")?;
    check(record.contains("series = \"linux-6.12\""), format!("the state names the series:\n{record}"))
}

/// Case 3, the other answer: an implementation that is not ours is said to be so and left alone.
pub fn foreign_implementation_is_left_alone() -> Result {
    let (_d, state) = state_file();
    let tree = fresh_612()?;
    let kconfig = tree.join("arch/Kconfig");
    let mut text = std::fs::read_to_string(&kconfig).unwrap();
    text.push_str("\nconfig LTO_CLANG_THIN_DIST\n\tbool \"someone else's\"\n");
    std::fs::write(&kconfig, text).unwrap();
    std::fs::write(tree.join("scripts/Makefile.vmlinux_thinlink"), "# not ours\n").unwrap();
    let repo = Repository::open(&tree).unwrap();
    let mut index = repo.index().unwrap();
    index.add_all(["arch/Kconfig", "scripts/Makefile.vmlinux_thinlink"], git2::IndexAddOption::FORCE, None).unwrap();
    index.write().unwrap();
    let t = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let parent = repo.head().unwrap().peel_to_commit().unwrap();
    let sig = Signature::now("user", "user@localhost").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "another THIN_DIST", &t, &[&parent]).unwrap();
    let before = snapshot(&tree);
    let run = xtask(&state, &["setup", tree.to_str().unwrap()]);
    let same = snapshot(&tree) == before;
    reset_to_baseline(&tree);
    let run = run.ok()?;
    check(run.stdout.contains("not a series of ours") && run.stdout.contains("nothing changed"), "says what it is")?;
    check(same, "the tree is as it was")
}

/// Case 4: `build --out` a directory of the user's: refused, untouched.
pub fn build_refuses_a_users_out_dir() -> Result {
    let (_d, state) = setup_612()?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Makefile"), "mine:\n").unwrap();
    let run = xtask(&state, &["build", "--out", dir.path().to_str().unwrap()]);
    run.fails_with("not made by thindist or kbuild (it holds Makefile)")?;
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    check(names == ["Makefile"], format!("nothing written: {names:?}"))?;
    check(std::fs::read_to_string(dir.path().join("Makefile")).unwrap() == "mine:\n", "the user's Makefile is intact")
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn new(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(ok.success(), "the suite runs as root and mounts a tmpfs");
        Tmpfs(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// Fills the filesystem up to its last byte.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.path().join("filler")).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        while f.write_all(&[0]).is_ok() {}
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// Case 5: the state cannot be written (a full disk): setup fails before moving HEAD; the old state stays whole.
pub fn full_disk_changes_nothing() -> Result {
    let tree = fresh_612()?;
    let fs = Tmpfs::new("64k");
    let state = fs.path().join("state.toml");
    let old = "# mine\ncurrent = \"/src/other\"\n\n[tree.\"/src/other\"]\nseries = \"linux-6.12\"\n";
    std::fs::write(&state, old).unwrap();
    fs.fill();
    let before = snapshot(&tree);
    let run = xtask(&state, &["setup", tree.to_str().unwrap()]);
    let same = snapshot(&tree).same_refs_and_status(&before);
    reset_to_baseline(&tree);
    let run = run.fails_with("nothing was applied")?;
    check(run.stderr.contains("cannot write") && run.stderr.contains("No space left on device"), "says why")?;
    check(same, "HEAD, refs and work tree are as they were")?;
    check(std::fs::read_to_string(&state).unwrap() == old, "the old state file is whole")
}

/// Case 6: a clang too old, and a clang and ld.lld of different LLVMs, are refused before make.
pub fn old_or_mismatched_compiler_is_refused() -> Result {
    let (_d, state) = setup_612()?;
    let bin = tempfile::tempdir().unwrap();
    let script = |name: &str, says: &str| {
        let p = bin.path().join(name);
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, format!("#!/bin/sh\necho '{says}'\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script("clang", "clang version 14.0.0");
    script("ld.lld", "LLD 14.0.0");
    let out = out_dir("612-x86_64-oldclang");
    let _ = std::fs::remove_dir_all(&out);
    let llvm = format!("{}/", bin.path().display());
    let o = out.to_str().unwrap();
    xtask(&state, &["build", "--llvm", &llvm, "--out", o])
        .fails_with("is clang 14 (`clang version 14.0.0`); distributed ThinLTO needs LLVM 17")?;
    std::fs::remove_file(bin.path().join("clang")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/clang-19", bin.path().join("clang")).unwrap();
    script("ld.lld", "LLD 18.1.8");
    xtask(&state, &["build", "--llvm", &llvm, "--out", o])
        .fails_with("clang is LLVM 19")?
        .fails_with("but ld.lld is LLVM 18")?;
    check(!out.exists(), "nothing was configured or built")
}

/// Case 7: job counts make cannot take are refused before anything runs.
pub fn job_counts_are_checked() -> Result {
    let (_d, state) = setup_612()?;
    for j in ["0", "100000"] {
        xtask(&state, &["build", "-j", j]).fails_with("is not a job count from 1 to 4096")?;
    }
    Ok(())
}

/// Case 8 and "two setups at once": a run that holds a tree or out dir makes the next one stop, naming it.
pub fn one_run_per_tree() -> Result {
    let (_d, state) = setup_612()?;
    let tree = tree_612();
    let holder = xtask::tree::lock::Lock::acquire_in(test_home(), &tree, "build (held by the test)", false).unwrap();
    let run = xtask(&state, &["setup", tarball_612().to_str().unwrap()]);
    run.fails_with("another thindist run is using")?.fails_with("(held by the test)")?;
    let out = out_dir("612-x86_64");
    let held_out = xtask::tree::lock::Lock::acquire_in(test_home(), &out, "compare (held by the test)", false).unwrap();
    xtask(&state, &["build", "--out", out.to_str().unwrap()]).fails_with("wait for it to finish, or pass --wait")?;
    drop((holder, held_out));
    Ok(())
}

/// SIGTERM while building: make and every compiler stop, the log holds what was printed, a second run was refused meanwhile.
pub fn sigterm_stops_the_build_and_keeps_the_log() -> Result {
    let (_d, state) = setup_612()?;
    let out = out_dir("612-x86_64-sigterm");
    let _ = std::fs::remove_dir_all(&out);
    let o = out.to_str().unwrap().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["build", "--out", &o])
        .env("THINDIST_HOME", test_home())
        .env("THINDIST_STATE", &state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log: Option<PathBuf> = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines().map_while(|l| l.ok()) {
        if let Some(p) = line.trim().strip_prefix("log: ") {
            log = Some(PathBuf::from(p));
            break;
        }
    }
    let Some(log) = log else {
        let _ = child.kill();
        let _ = child.wait();
        return Err("the build printed no log path".into());
    };
    let started = Instant::now();
    while std::fs::read_to_string(&log).map(|t| t.lines().count()).unwrap_or(0) < 30
        && started.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let lines_while_running = std::fs::read_to_string(&log).unwrap_or_default().lines().count();
    let second = xtask(&state, &["build", "--out", &o]);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let left = processes_naming("612-x86_64-sigterm");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    check(lines_while_running >= 30, format!("the log follows the build ({lines_while_running} lines while it ran)"))?;
    second.fails_with("another thindist run is using")?;
    check(
        !status.success() && stderr.contains("interrupted (Ctrl-C, SIGTERM or SIGHUP)"),
        format!("stopped and said so: {status} {stderr}"),
    )?;
    check(left.is_empty(), format!("no make or compiler left: {left:?}"))?;
    check(text.lines().last().is_some_and(|l| l.starts_with("# exit: signal")), "the log ends with make's exit")
}

/// The command lines of running processes that name `needle` (the test runner's own aside).
fn processes_naming(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle) && !c.contains("cargo"))
        .collect()
}

/// When a stop signal comes before make: while configure's make runs, or
/// just after configure's last make ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Before {
    DuringConfigure,
    AfterConfigure,
}

/// A stop signal before the build's make (during configure's children, and
/// between configure and make) stops the command: it exits non-zero saying
/// so, no make or compiler is left, and the kernel is not built. The tool is
/// started with SIGINT ignored, as a shell without job control starts a
/// background job; an explicit signal still counts.
pub fn stop_signals_before_make_are_not_lost() -> Result {
    let (_d, state) = setup_612()?;
    let out = out_dir("612-x86_64-stopped");
    let o = out.to_str().unwrap().to_string();
    let name = "612-x86_64-stopped";
    for (signal, moment) in [(libc::SIGINT, Before::DuringConfigure), (libc::SIGTERM, Before::AfterConfigure)] {
        let _ = std::fs::remove_dir_all(&out);
        let mut cmd = xtask_command(&state, &["build", "--out", &o]);
        // SAFETY: signal(2) in the child before exec, as a shell does for `&`.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                Ok(())
            });
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let configuring =
            || processes_naming(name).iter().any(|c| c.contains("olddefconfig") || c.contains("tinyconfig"));
        let started = Instant::now();
        let mut seen = false;
        let ready = loop {
            let now = configuring();
            seen |= now;
            let ready = match moment {
                Before::DuringConfigure => now,
                Before::AfterConfigure => seen && !processes_naming(name).iter().any(|c| c.contains("olddefconfig")),
            };
            if ready || started.elapsed() > Duration::from_secs(120) || child.try_wait().unwrap().is_some() {
                break ready;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if !ready {
            let _ = child.kill();
            let run = finish(&["build"], child.wait_with_output().unwrap());
            return Err(format!("{moment:?}: never saw the moment to signal:\n{}", run.all()).into());
        }
        // SAFETY: kill(2) on our own child, the tool alone (not its process group).
        unsafe { libc::kill(child.id() as i32, signal) };
        let signalled = Instant::now();
        while child.try_wait().unwrap().is_none() && signalled.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let stopped = child.try_wait().unwrap().is_some();
        if !stopped {
            let _ = child.kill();
        }
        let run = finish(&["build", "--out", &o], child.wait_with_output().unwrap());
        std::thread::sleep(Duration::from_millis(500));
        let left = processes_naming(name);
        for p in &left {
            eprintln!("left running after {moment:?}: {p}");
        }
        if !left.is_empty() {
            let _ = Command::new("pkill").args(["-KILL", "-f", name]).status();
        }
        check(stopped, format!("{moment:?}: the tool went on for 60 s after the signal:\n{}", run.all()))?;
        check(run.code != 0, format!("{moment:?}: exit status {}", run.code))?;
        check(
            run.stderr.contains("stopped by a signal")
                || run.stderr.contains("interrupted (Ctrl-C, SIGTERM or SIGHUP)"),
            format!("{moment:?}: the message says it was stopped:\n{}", run.all()),
        )?;
        check(left.is_empty(), format!("{moment:?}: no make or compiler left: {left:?}"))?;
        check(
            !out.join("vmlinux.o").exists() && !out.join("kernel/fork.o").exists(),
            format!("{moment:?}: the kernel was not built"),
        )?;
    }
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}

/// Messages: `--llvm -19` parses; unknown architectures, misspelt options and another LTO choice are named as such.
pub fn bad_arguments_are_named() -> Result {
    let (_d, state) = setup_612()?;
    let built = fixtures::kernel_612("x86_64")?;
    let mut args = fixtures::build_args("x86_64", &built.out);
    args.extend(["--llvm", "-19"].map(String::from));
    xtask(&state, &args.iter().map(String::as_str).collect::<Vec<_>>()).ok()?;
    for arch in ["deps", "../Cargo"] {
        xtask(&state, &["build", "--arch", arch]).fails_with("unknown architecture")?;
    }
    let out = out_dir("612-x86_64-badfragment");
    let frag = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(frag.path(), "CONFIG_LTO_NONE=y\n").unwrap();
    let _ = std::fs::remove_dir_all(&out);
    let f = frag.path().to_str().unwrap();
    xtask(&state, &["build", "--out", out.to_str().unwrap(), "--fragment", f]).fails_with(
        "asks CONFIG_LTO_NONE=y, but this build's mode is itself the LTO choice (CONFIG_LTO_CLANG_THIN_DIST=y)",
    )?;
    check(!out.join(".config").exists(), "nothing was configured")?;
    std::fs::write(frag.path(), "CONFIG_THINDIST_NO_SUCH_OPTION=y\n").unwrap();
    xtask(&state, &["build", "--out", out.to_str().unwrap(), "--fragment", f])
        .fails_with("CONFIG_THINDIST_NO_SUCH_OPTION does not exist in this tree's Kconfig")?;
    Ok(())
}

/// A tree on a read-only mount: said to be not writable, even by a dry run.
pub fn read_only_tree_is_named() -> Result {
    let (_d, state) = state_file();
    let src = tempfile::tempdir().unwrap();
    for (path, text) in [
        ("Makefile", "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\nEXTRAVERSION =\n"),
        ("Kconfig", ""),
        ("scripts/Kbuild.include", ""),
        ("arch/Kconfig", "config LTO_CLANG_THIN\n"),
    ] {
        let p = src.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let ro = tempfile::tempdir().unwrap();
    let mount = |args: &[&str]| Command::new("mount").args(args).status().unwrap().success();
    let (s, r) = (src.path().to_str().unwrap(), ro.path().to_str().unwrap());
    check(mount(&["--bind", s, r]) && mount(&["-o", "remount,ro,bind", r]), "a read-only bind mount")?;
    let dry = xtask(&state, &["setup", r, "--dry-run"]);
    let real = xtask(&state, &["setup", r]);
    let _ = Command::new("umount").arg(r).status();
    dry.fails_with("is not writable (Read-only file system")?;
    real.fails_with("setup commits the series there, so it needs a writable tree")?;
    check(!src.path().join(".git").exists(), "nothing was written")
}

/// A truncated tarball and a full disk while extracting: clear words, no partial tree left.
pub fn failed_extraction_leaves_nothing() -> Result {
    let (_d, state) = state_file();
    let work = tempfile::tempdir().unwrap();
    let cut = work.path().join("linux-cut.tar.xz");
    let whole = std::fs::read(tarball_612()).unwrap();
    std::fs::write(&cut, &whole[..4 << 20]).unwrap();
    let trees = test_home().join("trees");
    xtask(&state, &["setup", cut.to_str().unwrap()]).fails_with("is it a complete tarball?")?;
    check(!trees.join("linux-cut").exists() && !trees.join(".extract-linux-cut").exists(), "no partial tree")?;

    // A tarball bigger than the disk it is extracted to.
    let small = work.path().join("linux-big.tar.gz");
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(&small).unwrap(),
        flate2::Compression::fast(),
    ));
    let data: Vec<u8> = (0..2u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    builder.append_data(&mut header, "linux-big/blob", &data[..]).unwrap();
    builder.into_inner().unwrap().finish().unwrap();
    let fs = Tmpfs::new("1m");
    let home = fs.path().to_str().unwrap();
    let run = xtask_env(&state, &["setup", small.to_str().unwrap()], &[("THINDIST_HOME", home)]);
    let left: Vec<_> = std::fs::read_dir(fs.path().join("trees"))
        .map(|rd| rd.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    run.fails_with("no space left on the device")?;
    check(left.is_empty(), format!("the partial extraction was removed: {left:?}"))
}

/// Setup with another series than the tree has, and a forced revert over a conflicting change: named.
pub fn setup_conflicts_are_named() -> Result {
    let (_d, state) = state_file();
    let tree = fresh_612()?;
    xtask(&state, &["setup", tree.to_str().unwrap()]).ok()?;
    let other = xtask(&state, &["setup", tree.to_str().unwrap(), "--series", "v3"]);
    let makefile = tree.join("Makefile");
    let mut text = std::fs::read_to_string(&makefile).unwrap();
    text.push_str("# a local change\n");
    std::fs::write(&makefile, &text).unwrap();
    let revert = xtask(&state, &["setup", "--revert", "--force"]);
    let kept = std::fs::read_to_string(&makefile).unwrap() == text;
    reset_to_baseline(&tree);
    other
        .fails_with("is already set up with series linux-6.12; to apply v3, run `cargo xtask setup --revert` first")?;
    revert.fails_with("uncommitted changes in files the revert changes: Makefile")?;
    check(kept, "the user's change is intact")
}
