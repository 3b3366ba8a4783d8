//! Running the real tool against real kernel trees, and resetting the
//! cached trees between cases.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::SystemTime;

use git2::{BranchType, Repository, ResetType, StatusOptions};

pub type Result<T = ()> = std::result::Result<T, libtest_mimic::Failed>;

thread_local! {
    /// Every xtask run of the current case, shown only if the case fails.
    static TRANSCRIPT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Runs one case; a failure carries the transcript of the tool's runs.
pub fn run_case(case: fn() -> Result) -> Result {
    TRANSCRIPT.with(|t| t.borrow_mut().clear());
    case().map_err(|e| {
        let transcript = TRANSCRIPT.with(|t| t.borrow().clone());
        format!("{}\n--- transcript ---\n{transcript}", e.message().unwrap_or("failed")).into()
    })
}

/// The tests' own cache: trees extracted once and kept between runs,
/// apart from the user's trees (the tool's own cache rule, under `test/`).
pub fn test_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        std::env::var_os("THINDIST_TEST_HOME").map(PathBuf::from).unwrap_or_else(|| xtask::home::cache().join("test"))
    })
}

/// Where `deps` puts a kernel line's source tarball (configs/deps.toml).
fn tarball(line: &str) -> PathBuf {
    xtask::deps::kernel_tarball(line).expect("configs/deps.toml names the kernel line")
}

pub fn tarball_612() -> PathBuf {
    tarball("6.12")
}

pub fn tarball_73() -> PathBuf {
    tarball("7.3")
}

/// Where `setup` extracts a tarball, in the tests' cache.
fn tree_of(tarball: &Path) -> PathBuf {
    test_home().join("trees").join(xtask::tree::tarball::tree_name(tarball))
}

pub fn tree_612() -> PathBuf {
    tree_of(&tarball_612())
}

pub fn tree_73() -> PathBuf {
    tree_of(&tarball_73())
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    pub fn ok(self) -> Result<Run> {
        if self.code != 0 {
            return Err(format!("xtask failed ({}):\n{}", self.code, self.all()).into());
        }
        Ok(self)
    }

    pub fn fails_with(self, needle: &str) -> Result<Run> {
        if self.code == 0 {
            return Err(format!("xtask should have failed, but exited 0:\n{}", self.all()).into());
        }
        if !self.stderr.contains(needle) {
            return Err(format!("error should mention `{needle}`:\n{}", self.all()).into());
        }
        Ok(self)
    }
}

/// Runs the real xtask binary with the tests' cache and a given state file.
pub fn xtask(state: &Path, args: &[&str]) -> Run {
    xtask_env(state, args, &[])
}

/// The xtask command of a case, not yet started (for a case that watches it run).
pub fn xtask_command(state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args)
        .env("THINDIST_HOME", test_home())
        .env("THINDIST_STATE", state)
        .env_remove("THINDIST_PATCHES")
        .env_remove("THINDIST_REMOTE");
    cmd
}

pub fn xtask_env(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = xtask_command(state, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    finish(args, cmd.output().expect("run xtask"))
}

/// A finished run, added to the case's transcript.
pub fn finish(args: &[&str], output: Output) -> Run {
    let Output { status, stdout, stderr } = output;
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into(),
        stderr: String::from_utf8_lossy(&stderr).into(),
    };
    let shown: String = run.all().lines().map(|l| format!("  | {l}\n")).collect();
    TRANSCRIPT.with(|t| t.borrow_mut().push_str(&format!("$ xtask {}\n{shown}", args.join(" "))));
    run
}

pub fn check(cond: bool, what: impl Into<String>) -> Result {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

/// A fresh state file in a temporary directory.
pub fn state_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.toml");
    (dir, path)
}

/// The baseline commit of an imported tree: its root commit.
pub fn baseline(repo: &Repository) -> git2::Oid {
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    walk.simplify_first_parent().unwrap();
    walk.last().unwrap().unwrap()
}

/// Puts a cached tree back to its baseline: on master, no other branch,
/// no local change. Build outputs live in O= directories, not here.
pub fn reset_to_baseline(tree: &Path) {
    let Ok(repo) = Repository::open(tree) else { return };
    let base = baseline(&repo);
    let obj = repo.find_object(base, None).unwrap();
    repo.reset(&obj, ResetType::Hard, Some(git2::build::CheckoutBuilder::new().force().remove_untracked(true)))
        .unwrap();
    if repo.head().map(|h| h.shorthand() != Some("master")).unwrap_or(true) {
        if repo.find_branch("master", BranchType::Local).is_err() {
            repo.branch("master", &repo.find_commit(base).unwrap(), true).unwrap();
        }
        repo.set_head("refs/heads/master").unwrap();
    }
    let mut master = repo.find_branch("master", BranchType::Local).unwrap();
    master.get_mut().set_target(base, "test reset").unwrap();
    let names: Vec<String> = repo
        .branches(Some(BranchType::Local))
        .unwrap()
        .filter_map(|b| b.ok()?.0.name().ok().flatten().map(str::to_string))
        .filter(|n| n != "master")
        .collect();
    for n in names {
        repo.find_branch(&n, BranchType::Local).unwrap().delete().unwrap();
    }
    repo.reset(&obj, ResetType::Hard, Some(git2::build::CheckoutBuilder::new().force().remove_untracked(true)))
        .unwrap();
}

/// What `setup` may not change when it is told to write nothing.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    head: String,
    refs: Vec<(String, String)>,
    status: Vec<String>,
    objects: usize,
}

pub fn snapshot(tree: &Path) -> Snapshot {
    let repo = Repository::open(tree).unwrap();
    let head = repo.head().map(|h| format!("{:?} {:?}", h.name(), h.target())).unwrap_or_default();
    let mut refs: Vec<(String, String)> = repo
        .references()
        .unwrap()
        .filter_map(|r| r.ok())
        .map(|r| (r.name().unwrap_or_default().to_string(), format!("{:?}", r.target())))
        .collect();
    refs.sort();
    let mut opts = StatusOptions::new();
    opts.include_untracked(true);
    let status =
        repo.statuses(Some(&mut opts)).unwrap().iter().map(|s| format!("{:?} {:?}", s.status(), s.path())).collect();
    let objects = walk_count(&tree.join(".git/objects"));
    Snapshot { head, refs, status, objects }
}

impl Snapshot {
    pub fn status_is_clean(&self) -> bool {
        self.status.is_empty()
    }

    /// Same branch, refs and work tree; new objects are allowed.
    pub fn same_refs_and_status(&self, other: &Snapshot) -> bool {
        self.head == other.head && self.refs == other.refs && self.status == other.status
    }
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| if e.path().is_dir() { walk_count(&e.path()) } else { 1 }).sum())
        .unwrap_or(0)
}

/// Makes sure the 6.12 tree is in the cache, imported, at its baseline.
pub fn fresh_612() -> Result<PathBuf> {
    let tree = tree_612();
    reset_to_baseline(&tree);
    Ok(tree)
}

/// Commits the work tree's `path` (changed or new) on the current branch, as a user would.
pub fn commit_file(repo: &Repository, path: &str, message: &str) -> git2::Oid {
    let mut index = repo.index().unwrap();
    index.add_path(Path::new(path)).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let parent = repo.head().unwrap().peel_to_commit().unwrap();
    let sig = git2::Signature::now("test", "test@localhost").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[&parent]).unwrap()
}

/// Puts a file back as it was, contents and mtime, when dropped.
pub struct Restore {
    path: PathBuf,
    bytes: Option<Vec<u8>>,
    mtime: Option<SystemTime>,
}

impl Restore {
    pub fn new(path: PathBuf) -> Self {
        let bytes = std::fs::read(&path).ok();
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        Self { path, bytes, mtime }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        match &self.bytes {
            Some(b) => {
                std::fs::write(&self.path, b).unwrap();
                if let Some(t) = self.mtime {
                    std::fs::File::options().write(true).open(&self.path).unwrap().set_modified(t).unwrap();
                }
            }
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Writes `elf` to `dest` as an object of another machine: the same bytes,
/// its ELF header's `e_machine` (little-endian, offset 18) set to `machine`
/// (183 is aarch64's), as a native built for the wrong architecture is.
pub fn copy_as_machine(elf: &Path, dest: &Path, machine: u16) {
    let mut bytes = std::fs::read(elf).unwrap();
    assert!(bytes.starts_with(b"\x7fELF"), "{} is an ELF file", elf.display());
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
    std::fs::write(dest, bytes).unwrap();
}
