//! Remote back-ends against a real engine (buildbox-casd with its local
//! execution service): the suite's 6.12 tinyconfig built with --remote next
//! to the local fixture build, natives compared byte for byte, a warm build
//! of all hits, the engine killed mid-build, and a compile error and the
//! fallback seen through the launcher itself.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use xtask::checks::equivalence::{self, Image, Verdict};
use xtask::launcher::config::LaunchConfig;
use xtask::remote::endpoint::Endpoint;
use xtask::toolchain::identity::Compiler;

use crate::fixtures::{self, kernel_612, out_dir, setup_612};
use crate::support::*;

/// The suite's own engine: its own port and CAS (under the tests' cache).
const PORT: &str = "50061";
pub const URL: &str = "grpc://127.0.0.1:50061";

static ENGINE: Mutex<bool> = Mutex::new(false);

/// Starts the suite's engine, with an empty CAS the first time in a run
/// (so that the first remote build executes every job).
pub fn engine(state: &Path) -> Result {
    let mut started = ENGINE.lock().unwrap();
    if !*started {
        xtask(state, &["remote", "stop"]).ok()?;
        let _ = std::fs::remove_dir_all(test_home().join("remote/cas"));
    }
    xtask(state, &["remote", "start", "--port", PORT]).ok()?;
    *started = true;
    Ok(())
}

fn engine_pid() -> i32 {
    let text = std::fs::read_to_string(test_home().join("remote/engine.json")).expect("engine record");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["pid"].as_i64().unwrap() as i32
}

pub fn report(json: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

pub fn backend(report: &Value, place: &str) -> u64 {
    report["remote"]["backend"][place].as_u64().unwrap_or(0)
}

/// Every file under `dir` whose name ends with `suffix`, relative to `dir`.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        // A build may be running: its temporary directories come and go.
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() && !kind.is_symlink() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// An emptied fixture out dir and its report's path, the report of an
/// earlier run removed (a later case must not read it as this run's).
pub fn fresh_out(name: &str) -> (PathBuf, PathBuf) {
    let out = out_dir(name);
    let _ = std::fs::remove_dir_all(&out);
    let json = out.with_extension("json");
    let _ = std::fs::remove_file(&json);
    (out, json)
}

/// `build` on the engine, in the x86_64 fixture's config (its local build
/// is what the remote one must equal), with `extra` arguments.
fn remote_args<'a>(out: &'a Path, json: &'a Path, fragments: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["build", "--arch", "x86_64", "--out", out.to_str().unwrap(), "--json", json.to_str().unwrap()];
    args.extend(fragments.iter().map(String::as_str));
    args.extend(["--remote", URL]);
    args.extend(extra);
    args
}

fn remote_build(state: &Path, out: &Path, json: &Path, extra: &[&str]) -> Run {
    let fragments = fixtures::fragments("x86_64");
    xtask(state, &remote_args(out, json, &fragments, extra))
}

/// An engine that is not there stops the build before anything is written.
pub fn unreachable_engine_stops_before_building() -> Result {
    let (_d, state) = setup_612()?;
    let (out, json) = fresh_out("612-x86_64-unreachable");
    let run = xtask(
        &state,
        &["build", "--out", out.to_str().unwrap(), "--json", json.to_str().unwrap(), "--remote", "grpc://127.0.0.1:1"],
    );
    let run = run.fails_with("cannot reach the remote engine at grpc://127.0.0.1:1")?;
    check(
        run.stderr.contains("--remote-fallback") && run.stderr.contains("remote start"),
        "the message says what to do",
    )?;
    check(!out.exists(), "nothing was written")?;
    xtask(&state, &["build", "--remote", "127.0.0.1:1"]).fails_with("grpc://HOST:PORT")?;
    xtask(&state, &["build", "--remote-fallback"]).fails_with("without an engine")?;
    Ok(())
}

/// The engine is killed while back-end jobs run and stays down: the build
/// stops, once the launchers' retries are spent, with a clear message and no
/// partial native. With the engine back the same command runs again, and
/// the engine is killed and restarted in the middle of that run's back-end
/// stage: the launchers follow their operations or execute them again, and
/// the build completes (a scheduler restarting, on one engine).
pub fn engine_killed_mid_build_then_rerun_completes() -> Result {
    let (_d, state) = setup_612()?;
    engine(&state)?;
    let (out, json) = fresh_out("612-x86_64-remote");
    let fragments = fixtures::fragments("x86_64");
    let args = remote_args(&out, &json, &fragments, &[]);
    let natives = || if out.exists() { files_ending(&out, ".o_thinlto_native").len() } else { 0 };
    let child = xtask_command(&state, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Wait for a few natives to arrive from the engine, then kill it.
    let child = wait_for_natives(child, &args, &natives, 20)?;
    // SAFETY: a signal to the engine's pid.
    unsafe { libc::kill(engine_pid(), libc::SIGKILL) };
    let run = finish(&args, child.wait_with_output().unwrap());
    let run = run.fails_with("the build failed")?;
    check(run.all().contains(&format!("the remote engine at {URL} failed")), "the launcher names the engine")?;
    check(run.all().contains("still failed after"), "after its retries, said so")?;
    check(run.all().contains("--remote-fallback"), "and says what to do")?;
    // Launchers fail side by side on one pipe: each message is a line of its own.
    let spliced = run.all().lines().filter(|l| l.matches("thindist launch:").count() > 1).count();
    check(spliced == 0, format!("{spliced} launcher messages spliced into another's line"))?;
    check(!has_partial(&out), "no partial native was left")?;
    let before = natives();

    xtask(&state, &["remote", "start", "--port", PORT]).ok()?;
    let child = xtask_command(&state, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let child = wait_for_natives(child, &args, &natives, before + 40)?;
    let pid = engine_pid();
    // SAFETY: a signal to the engine's pid.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // Until it has died, `remote start` would find it still running.
    check(gone(pid, Duration::from_secs(10)), "the killed engine died")?;
    xtask(&state, &["remote", "start", "--port", PORT]).ok()?;
    finish(&args, child.wait_with_output().unwrap()).ok()?;
    let r = report(&json);
    check(r["result"] == "ok", format!("result {}", r["result"]))?;
    let retries = r["remote"]["retries"].as_u64().unwrap_or(0);
    check(retries > 0, "the restart was ridden out by retries, and the report counts them")?;
    let total = r["validation"]["counts"]["native"].as_u64().unwrap_or(0);
    let (remote, hits, local) = (backend(&r, "remote"), backend(&r, "hit"), backend(&r, "local"));
    check(local == 0, format!("{local} back-end jobs ran here"))?;
    // What the rerun sends: every job not finished before the kill; those finished are on disk (not rebuilt) or hits.
    check(
        remote + hits + before as u64 >= total && remote > 0,
        format!("remote {remote} hits {hits} before {before} of {total} ({retries} retries)"),
    )?;
    Ok(())
}

/// Whether process `pid` has died (gone, or a zombie) within `limit`.
pub fn gone(pid: i32, limit: Duration) -> bool {
    let started = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        if stat.is_empty() || matches!(state, Some('Z' | 'X')) {
            return true;
        }
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the build has `count` natives, failing when it ends first.
pub fn wait_for_natives(
    mut child: std::process::Child,
    args: &[&str],
    natives: &dyn Fn() -> usize,
    count: usize,
) -> std::result::Result<std::process::Child, libtest_mimic::Failed> {
    let started = Instant::now();
    while natives() < count {
        let ended = child.try_wait().unwrap().is_some();
        if ended || started.elapsed() > Duration::from_secs(900) {
            let _ = child.kill();
            let run = finish(args, child.wait_with_output().unwrap());
            return Err(format!("no back-end stage to interrupt (ended: {ended}):\n{}", run.all()).into());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(child)
}

/// A launcher's temporary native (`.<name>.thindist-<pid>`) left behind.
fn has_partial(dir: &Path) -> bool {
    files_ending(dir, "").iter().any(|p| {
        let name = p.file_name().unwrap_or_default().to_string_lossy().to_string();
        name.rsplit_once(".thindist-")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The natives the engine built are the local build's, byte for byte:
/// vmlinux's, and those of the modules (patch 0012), whose back-end jobs
/// went to the engine too; every `.ko` equals the local one as well.
pub fn natives_match_a_local_build() -> Result {
    let local = kernel_612("x86_64")?;
    let remote = out_dir("612-x86_64-remote");
    check(remote.join("vmlinux").exists(), "the remote build exists (engine_killed_mid_build_then_rerun_completes)")?;
    let r = report(&remote.with_extension("json"));
    let modules = r["validation"]["counts"]["module native"].as_u64().unwrap_or(0);
    check(r["result"] == "ok" && modules == 8, format!("result {}, module natives {modules}", r["result"]))?;
    check(backend(&r, "local") == 0, format!("every back-end job on the engine: {}", r["remote"]))?;
    same_natives(&local.out, &remote)
}

/// The natives a remote build made equal the local build's, byte for byte:
/// vmlinux's natives of IR objects, the configfs module's natives and every `.ko`.
pub fn same_natives(local: &Path, remote: &Path) -> Result {
    let natives = files_ending(local, ".o_thinlto_native");
    check(natives == files_ending(remote, ".o_thinlto_native"), "the same natives exist")?;
    // The engine's: those of IR objects. A non-IR object's native is its copy, made here
    // (usr/initramfs_data.o embeds the build's initramfs, whose cpio holds the build's time).
    let is_ir = |native: &PathBuf| {
        let object = native.to_string_lossy().trim_end_matches("_thinlto_native").to_string();
        std::fs::read(local.join(object)).is_ok_and(|b| b.starts_with(b"BC\xC0\xDE"))
    };
    let mut names: Vec<PathBuf> = natives.into_iter().filter(is_ir).collect();
    check(names.len() > 100, format!("{} natives of IR objects", names.len()))?;
    let configfs = Path::new("fs/configfs/configfs.thinlto");
    let module_natives: Vec<PathBuf> =
        files_ending(&local.join(configfs), ".o").iter().map(|n| configfs.join(n)).collect();
    let kos = files_ending(local, ".ko");
    check(
        kos.len() == 3 && module_natives.len() == 6,
        format!("3 modules and 6 natives of configfs: {kos:?} {module_natives:?}"),
    )?;
    names.extend(kos.into_iter().chain(module_natives));
    let differ: Vec<&PathBuf> =
        names.iter().filter(|n| std::fs::read(local.join(n)).ok() != std::fs::read(remote.join(n)).ok()).collect();
    check(differ.is_empty(), format!("{} differ from the local build, e.g. {:?}", differ.len(), differ.first()))?;
    Ok(())
}

pub fn frontend(report: &Value, place: &str) -> u64 {
    report["remote"]["frontend"][place].as_u64().unwrap_or(0)
}

/// The whole build on the engine (--remote-front-ends) from an empty O=
/// directory: front-end compiles go remote with the inputs the dependency
/// scan names; those it cannot describe run here, each with its reason.
/// fixdep sees the dependency files a local compile writes (every `.cmd`
/// file equals the back-ends-only remote build's), validate passes, and
/// vmlinux is equivalent to the local build's (the IR records the source
/// path as the engine saw it, so promoted names differ).
pub fn front_ends_on_the_engine() -> Result {
    let (_d, state) = setup_612()?;
    let local = kernel_612("x86_64")?;
    let back_ends_only = out_dir("612-x86_64-remote");
    check(back_ends_only.join("vmlinux").exists(), "the back-ends-only remote build exists")?;
    engine(&state)?;
    let (out, json) = fresh_out("612-x86_64-remote-fe");
    remote_build(&state, &out, &json, &["--remote-front-ends"]).ok()?;
    let r = report(&json);
    check(r["result"] == "ok", format!("validated: {}", r["result"]))?;
    let (remote, local_fe) = (frontend(&r, "remote"), frontend(&r, "local"));
    check(remote > 300 && local_fe < remote / 4, format!("front-ends: {}", r["remote"]["frontend"]))?;
    let records = std::fs::read_to_string(newest_records()).unwrap();
    let unexplained = records
        .lines()
        .filter(|l| l.contains("\"kind\":\"front-end\"") && l.contains("\"place\":\"local\""))
        .filter(|l| !l.contains("\"why_local\""))
        .count();
    check(unexplained == 0, format!("{unexplained} front-ends ran here without a reason"))?;
    check(records.contains("debug information records"), "arch/x86/boot's -g compiles stay here")?;
    // The front-end compiles' `.cmd` files: the command and every dependency fixdep found.
    // (A native's names its index's SHA-1, which differs with the IR; objtool's, the O= path.)
    let compile = |text: &str| text.contains(" launch ") && text.contains(" -c ") && !text.contains("-fthinlto-index=");
    let names: Vec<PathBuf> = files_ending(&back_ends_only, ".cmd")
        .into_iter()
        .filter(|n| std::fs::read_to_string(back_ends_only.join(n)).is_ok_and(|t| compile(&t)))
        .collect();
    check(names.len() > 400, format!("{} front-end .cmd files", names.len()))?;
    // The launcher's own path names the binary that built each tree (CI's or a developer's): left out.
    let cmd_file = |dir: &Path, n: &PathBuf| {
        std::fs::read_to_string(dir.join(n)).ok().map(|t| match (t.find(":= "), t.find(" launch ")) {
            (Some(a), Some(b)) if a < b => format!("{}<launcher>{}", &t[..a + 3], &t[b..]),
            _ => t,
        })
    };
    let differ: Vec<&PathBuf> = names.iter().filter(|n| cmd_file(&back_ends_only, n) != cmd_file(&out, n)).collect();
    check(differ.is_empty(), format!("{} front-end .cmd files differ, e.g. {:?}", differ.len(), differ.first()))?;
    let image = |dir: &Path| Image::read(&dir.join("vmlinux")).unwrap();
    let e = equivalence::compare(&image(&local.out), &image(&out));
    check(matches!(e.verdict, Verdict::Equivalent), format!("vmlinux against the local build's: {:?}", e.reasons))
}

/// The launchers' records of the newest build.
fn newest_records() -> PathBuf {
    let logs = test_home().join("logs");
    std::fs::read_dir(&logs)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".jobs.jsonl"))
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("job records")
}

/// A second build of the whole build on the engine, from another empty O=
/// directory: every job the engine ran before is a hit now, front-ends
/// and back-ends, but the one that reads the build's timestamp.
pub fn warm_build_is_all_hits() -> Result {
    let (_d, state) = setup_612()?;
    engine(&state)?;
    let cold_out = out_dir("612-x86_64-remote-fe");
    check(cold_out.join("vmlinux").exists(), "the cold build exists (front_ends_on_the_engine)")?;
    let cold = report(&cold_out.with_extension("json"));
    let (out, json) = fresh_out("612-x86_64-remote-warm");
    remote_build(&state, &out, &json, &["--remote-front-ends"]).ok()?;
    let r = report(&json);
    // vmlinux's natives and the modules' (their back-end jobs are hits too).
    let counts = &r["validation"]["counts"];
    let total = counts["native"].as_u64().unwrap_or(0) + counts["module native"].as_u64().unwrap_or(0);
    let hits = backend(&r, "hit");
    check(r["result"] == "ok" && total > 100, format!("result {} natives {total}", r["result"]))?;
    check(backend(&r, "remote") == 0 && backend(&r, "local") == 0, format!("all hits: {}", r["remote"]))?;
    // Natives carried as-is (lib members) are not back-end jobs: hits cover the rest.
    check(hits > 100 && hits <= total, format!("{hits} hits of {total} natives"))?;
    // One compile's inputs are new in every build: the build's timestamp.
    let executed: Vec<String> = std::fs::read_to_string(newest_records())
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"kind\":\"front-end\"") && l.contains("\"place\":\"remote\""))
        .map(|l| l.split("\"output\":\"").nth(1).unwrap_or("").split('"').next().unwrap_or("").to_string())
        .collect();
    check(executed.iter().all(|o| o == "init/version-timestamp.o"), format!("executed again: {executed:?}"))?;
    let on_engine = frontend(&cold, "remote") + frontend(&cold, "hit");
    check(
        frontend(&r, "hit") + executed.len() as u64 == on_engine && frontend(&r, "hit") > 300,
        format!("front-ends {} after {}", r["remote"]["frontend"], cold["remote"]["frontend"]),
    )?;
    std::fs::remove_dir_all(&out).unwrap();
    Ok(())
}

/// A back-end job run by the launcher directly, in a copy of its inputs.
struct Job {
    dir: tempfile::TempDir,
    argv: Vec<String>,
    output: String,
}

fn job_from(build: &Path, object: &str) -> Job {
    let cmd = std::fs::read_to_string(build.join(format!("{}/.{}_thinlto_native.cmd", parent(object), name(object))))
        .unwrap();
    // `savedcmd_<native> := [checks; ]clang … -x ir …[; : index sha1 …]`
    let line = cmd.lines().next().unwrap().split_once(" := ").unwrap().1;
    let compile = line.split("; ").find(|s| s.contains(" -x ir ")).unwrap();
    let argv: Vec<String> = compile.split_whitespace().map(str::to_string).collect();
    let dir = tempfile::tempdir().unwrap();
    let index = std::fs::read(build.join(format!("{object}.thinlto.bc"))).unwrap();
    let mut files = xtask::remote::index::module_paths(&index).unwrap();
    files.push(format!("{object}.thinlto.bc"));
    for f in files {
        std::fs::create_dir_all(dir.path().join(parent(&f))).unwrap();
        std::fs::copy(build.join(&f), dir.path().join(&f)).unwrap();
    }
    Job { dir, argv, output: format!("{object}_thinlto_native") }
}

fn parent(p: &str) -> &str {
    p.rsplit_once('/').map(|(d, _)| d).unwrap_or(".")
}

fn name(p: &str) -> &str {
    p.rsplit('/').next().unwrap()
}

/// How the launcher is run by a case: the engine, and what the tool would set.
struct Launcher<'a> {
    url: &'a str,
    fallback: bool,
    no_cache: bool,
    front_ends: bool,
    srctree: PathBuf,
    max_batch: usize,
    /// Where the launcher keeps dependency scans (None: it keeps none).
    scans: Option<PathBuf>,
    /// Platform properties (`--remote-platform`).
    platform: Vec<(String, String)>,
}

impl Launcher<'_> {
    /// Front-end compiles to the test engine, cached, as `--remote-front-ends` sets them up.
    fn front_ends(srctree: &Path, scans: Option<PathBuf>) -> Self {
        let srctree = srctree.to_path_buf();
        let platform = Vec::new();
        Launcher {
            url: URL,
            fallback: false,
            no_cache: false,
            front_ends: true,
            srctree,
            max_batch: 0,
            scans,
            platform,
        }
    }

    /// Runs `xtask launch <argv>` in `dir` (the object tree) as make would.
    fn run(&self, dir: &Path, argv: &[String]) -> Run {
        self.run_env(dir, argv, &[])
    }

    /// As `run`, with more variables in the launcher's environment.
    fn run_env(&self, dir: &Path, argv: &[String], env: &[(&str, &str)]) -> Run {
        let cfg = LaunchConfig {
            endpoint: Some(Endpoint { url: self.url.into(), ..Default::default() }),
            no_cache: self.no_cache,
            fallback: self.fallback,
            front_ends: self.front_ends,
            records: dir.join("jobs.jsonl"),
            srctree: self.srctree.clone(),
            objtree: dir.to_path_buf(),
            compiler: Compiler::identify(Path::new(&argv[0])).unwrap(),
            max_batch: self.max_batch,
            salt: String::new(),
            scans: self.scans.clone(),
            platform: self.platform.clone(),
            invocation: "thindist-test".into(),
            legacy_outputs: false,
            toolchain: None,
        };
        let (k, v) = cfg.to_env();
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
        c.arg("launch").args(argv).current_dir(dir).env(k, v).envs(env.iter().copied());
        finish(&["launch", &argv[0], "…"], c.output().unwrap())
    }
}

fn launch(job: &Job, url: &str, fallback: bool) -> Run {
    let l = Launcher {
        url,
        fallback,
        no_cache: true,
        front_ends: false,
        srctree: tree_612(),
        max_batch: 0,
        scans: None,
        platform: Vec::new(),
    };
    l.run(job.dir.path(), &job.argv)
}

/// A job that fails on the engine fails as clang would here: its exit
/// code and its message, and no output.
pub fn remote_compile_error_is_clangs() -> Result {
    let (_d, state) = setup_612()?;
    engine(&state)?;
    let local = kernel_612("x86_64")?;
    let job = job_from(&local.out, "mm/show_mem.o");
    // A truncated IR object: clang cannot read it.
    let ir = job.dir.path().join("mm/show_mem.o");
    let bytes = std::fs::read(&ir).unwrap();
    std::fs::write(&ir, &bytes[..bytes.len() / 2]).unwrap();
    let here =
        std::process::Command::new(&job.argv[0]).args(&job.argv[1..]).current_dir(job.dir.path()).output().unwrap();
    check(!here.status.success(), "the local compile fails too")?;
    let there = launch(&job, URL, false);
    check(
        there.code == here.status.code().unwrap(),
        format!("exit {} (clang here: {:?})", there.code, here.status.code()),
    )?;
    let clang_says = String::from_utf8_lossy(&here.stderr);
    let first = clang_says.lines().find(|l| l.contains("error")).unwrap_or_default().to_string();
    check(!first.is_empty() && there.stderr.contains(first.trim()), format!("clang's message `{first}` comes back"))?;
    check(!job.dir.path().join(&job.output).exists(), "no output from a failed job")?;
    Ok(())
}

/// With the engine gone: an error naming it, or, with the fallback, the
/// job built here with a warning, identical to the engine's.
pub fn fallback_runs_the_job_here() -> Result {
    let local = kernel_612("x86_64")?;
    let job = job_from(&local.out, "mm/show_mem.o");
    let dead = "grpc://127.0.0.1:1";
    let run = launch(&job, dead, false);
    check(
        run.code == 1 && run.stderr.contains("remote status") && run.stderr.contains("--remote-fallback"),
        "a clear stop",
    )?;
    check(!job.dir.path().join(&job.output).exists(), "no output")?;
    let run = launch(&job, dead, true);
    check(
        run.code == 0 && run.stderr.contains("running it here (--remote-fallback)"),
        format!("fallback: {}", run.stderr),
    )?;
    let built = std::fs::read(job.dir.path().join(&job.output)).unwrap();
    check(built == std::fs::read(local.out.join(&job.output)).unwrap(), "the fallback's native is the build's")?;
    let records = std::fs::read_to_string(job.dir.path().join("jobs.jsonl")).unwrap();
    check(records.contains("\"place\":\"fallback\""), "recorded as a fallback")?;
    Ok(())
}

/// The engine is stopped at the end of the remote cases.
pub fn engine_stops() -> Result {
    let (_d, state) = setup_612()?;
    xtask(&state, &["remote", "stop"]).ok()?;
    xtask(&state, &["remote", "status"]).fails_with("no engine is running")?;
    Ok(())
}

/// Blobs above the batch limit go through ByteStream both ways: a back-end
/// job of fresh IR (new blobs) with a batch limit smaller than its objects.
pub fn byte_stream_carries_big_blobs() -> Result {
    let (_d, state) = setup_612()?;
    engine(&state)?;
    let dir = tempfile::tempdir().unwrap();
    let clang = xtask::toolchain::Toolchain::select(Some("-19")).unwrap();
    // A unique constant: these blobs are new to the engine.
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u32;
    let body: String = (0..400).map(|i| format!("int f{i}(int x) {{ return x * {unique} + {i}; }}\n")).collect();
    std::fs::write(dir.path().join("a.c"), format!("int b(int);\nint a(int x) {{ return b(x) + 1; }}\n{body}"))
        .unwrap();
    std::fs::write(dir.path().join("b.c"), "int b(int x) { return x * 3; }\n").unwrap();
    let run = |prog: &Path, args: &[&str]| {
        let out = std::process::Command::new(prog).args(args).current_dir(dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    for (src, obj) in [("a.c", "a.o"), ("b.c", "b.o")] {
        run(&clang.clang, &["-O2", "-flto=thin", "-c", src, "-o", obj]);
    }
    run(&clang.lld, &["-r", "--thinlto-index-only", "a.o", "b.o", "-o", "/dev/null"]);
    let argv: Vec<String> = [
        clang.clang.to_str().unwrap(),
        "-O2",
        "-x",
        "ir",
        "-fthinlto-index=a.o.thinlto.bc",
        "-c",
        "-o",
        "a.native.o",
        "a.o",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let ir_size = std::fs::metadata(dir.path().join("a.o")).unwrap().len();
    check(ir_size > 10_000, format!("the IR object is {ir_size} bytes"))?;
    // Anything over ~4 KiB beyond the batch overhead goes through ByteStream.
    let l = Launcher {
        url: URL,
        fallback: false,
        no_cache: false,
        front_ends: false,
        srctree: dir.path().to_path_buf(),
        max_batch: (64 << 10) + 4096,
        scans: None,
        platform: Vec::new(),
    };
    let launched = l.run(dir.path(), &argv);
    check(launched.code == 0, format!("the launcher failed: {}", launched.stderr))?;
    let records = std::fs::read_to_string(dir.path().join("jobs.jsonl")).unwrap();
    check(records.contains("\"place\":\"remote\""), format!("executed remotely: {records}"))?;
    let remote = std::fs::read(dir.path().join("a.native.o")).unwrap();
    std::fs::remove_file(dir.path().join("a.native.o")).unwrap();
    run(&clang.clang, &argv[1..].iter().map(String::as_str).collect::<Vec<_>>());
    check(remote == std::fs::read(dir.path().join("a.native.o")).unwrap(), "the native equals a local compile's")?;
    check(remote.len() > 4096, format!("the native ({} bytes) came back through ByteStream too", remote.len()))?;
    Ok(())
}

/// Front-end compiles through the launcher in a small source tree and
/// object tree: a header reached through `..` and a generated header of
/// the object tree go with the compile, and its dependency file is a local
/// compile's, byte for byte; a compile that reads through `.incbin`, one
/// with `__has_include` and one whose header path passes a symbolic link
/// run here, each with its reason.
pub fn front_end_inputs_are_exact() -> Result {
    let (_d, state) = setup_612()?;
    engine(&state)?;
    let dir = tempfile::tempdir().unwrap();
    let (src, obj) = (dir.path().join("src"), dir.path().join("obj"));
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u32;
    let files = [
        (
            "src/lib/x.c",
            format!("#include \"../inc/h.h\"\n#include \"gen.h\"\nint f(void) {{ return H + G + {unique}; }}\n"),
        ),
        ("src/inc/h.h", "#define H 1\n".to_string()),
        ("obj/include/gen.h", "#define G 2\n".to_string()),
        ("src/lib/bin.c", "asm(\".incbin \\\"blob\\\"\");\n".to_string()),
        ("obj/blob", "data".to_string()),
        ("src/lib/has.c", "#if __has_include(\"gen.h\")\nint g;\n#endif\n".to_string()),
        ("src/lib/link.c", "#include \"../sym/h.h\"\nint h = H;\n".to_string()),
    ];
    for (path, text) in &files {
        std::fs::create_dir_all(dir.path().join(path).parent().unwrap()).unwrap();
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    std::os::unix::fs::symlink(src.join("inc"), src.join("sym")).unwrap();
    std::fs::create_dir_all(obj.join("lib")).unwrap();
    let clang = xtask::toolchain::Toolchain::select(Some("-19")).unwrap().clang;
    // `lib/<source>.c` compiled to `lib/<object>.o`, with kbuild's dependency file.
    let argv = |source: &str, object: &str| -> Vec<String> {
        let source = src.join(format!("lib/{source}.c"));
        let (dep, out) = (format!("-Wp,-MMD,lib/.{object}.o.d"), format!("lib/{object}.o"));
        [clang.to_str().unwrap(), &dep, "-I./include", "-O2", "-flto=thin", "-c", "-o", &out, source.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let l = Launcher::front_ends(&src, None);
    for name in ["x", "bin", "has", "link"] {
        let run = l.run(&obj, &argv(name, name));
        check(run.code == 0, format!("{name}.c: {}", run.stderr))?;
    }
    let records = std::fs::read_to_string(obj.join("jobs.jsonl")).unwrap();
    let record = |out: &str| records.lines().find(|l| l.contains(&format!("\"output\":\"{out}\""))).unwrap_or("");
    check(record("lib/x.o").contains("\"place\":\"remote\""), format!("x.c on the engine: {records}"))?;
    check(record("lib/bin.o").contains("`.incbin`"), format!("bin.c here: {}", record("lib/bin.o")))?;
    check(record("lib/has.o").contains("`__has_include`"), format!("has.c here: {}", record("lib/has.o")))?;
    check(record("lib/link.o").contains("symbolic link"), format!("link.c here: {}", record("lib/link.o")))?;
    // The same compile here, under another name: the same object and dependency file.
    let local = std::process::Command::new(&clang).args(&argv("x", "y")[1..]).current_dir(&obj).output().unwrap();
    check(local.status.success(), String::from_utf8_lossy(&local.stderr).to_string())?;
    let dep =
        |name: &str| std::fs::read_to_string(obj.join(format!("lib/.{name}.o.d"))).unwrap().replacen(name, "_", 1);
    check(dep("x") == dep("y"), format!("dependency files:\n{}\n{}", dep("x"), dep("y")))?;
    check(dep("x").contains(&format!("{}/lib/../inc/h.h", src.display())), "local paths in the dependency file")?;
    let ir = std::fs::read(obj.join("lib/x.o")).unwrap();
    check(ir.starts_with(b"BC") && !ir.is_empty(), "an IR object came back")?;
    Ok(())
}

/// A front-end compile's dependency scan is kept, and the next compile of
/// the same command (from another object tree too) reuses it only while
/// nothing the scan depends on changed: a header that now shadows the one
/// found before (by a literal or a computed `#include`), an edited header
/// that includes one more, or a shadow removed again each make the scan
/// run, and the engine's dependency file follows, equal to a local compile's.
pub fn front_end_scans_are_reused_exactly() -> Result {
    let (_d, state) = setup_612()?;
    engine(&state)?;
    let dir = tempfile::tempdir().unwrap();
    let (src, obj, obj2) = (dir.path().join("src"), dir.path().join("obj"), dir.path().join("obj2"));
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u32;
    let write = |path: &Path, text: &str| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    let x_c =
        format!("#include \"gen.h\"\n#define H_H <h.h>\n#include H_H\nint f(void) {{ return G + H + {unique}; }}\n");
    write(&src.join("lib/x.c"), &x_c);
    write(&src.join("inc/h.h"), "#define H 1\n");
    for o in [&obj, &obj2] {
        write(&o.join("include/gen.h"), "#define G 2\n");
        std::fs::create_dir_all(o.join("lib")).unwrap();
    }
    let clang = xtask::toolchain::Toolchain::select(Some("-19")).unwrap().clang;
    let argv = |object: &str| -> Vec<String> {
        let (dep, out) = (format!("-Wp,-MMD,lib/.{object}.o.d"), format!("lib/{object}.o"));
        let inc = format!("-I{}/inc", src.display());
        let source = src.join("lib/x.c");
        [clang.to_str().unwrap(), &dep, "-nostdinc", "-I./include", &inc, "-O2", "-flto=thin", "-c", "-o", &out]
            .iter()
            .map(|s| s.to_string())
            .chain([source.display().to_string()])
            .collect()
    };
    let l = Launcher::front_ends(&src, Some(dir.path().join("scans")));
    // Compiles x.c in `o` through the launcher; its scan as the record says, and its dependency file.
    let compile = |o: &Path| -> std::result::Result<(String, String), String> {
        let run = l.run(o, &argv("x"));
        if run.code != 0 {
            return Err(format!("x.c: {}", run.stderr));
        }
        let records = std::fs::read_to_string(o.join("jobs.jsonl")).unwrap();
        let last = records.lines().last().unwrap_or("").to_string();
        let scan = ["ran", "reused"].into_iter().find(|s| last.contains(&format!("\"scan\":\"{s}\"")));
        Ok((scan.unwrap_or("none").to_string(), std::fs::read_to_string(o.join("lib/.x.o.d")).unwrap()))
    };
    // The same compile here, under another name: its dependency file with the name put back.
    let local_dep = || {
        let here = std::process::Command::new(&clang).args(&argv("y")[1..]).current_dir(&obj).output().unwrap();
        assert!(here.status.success(), "{}", String::from_utf8_lossy(&here.stderr));
        std::fs::read_to_string(obj.join("lib/.y.o.d")).unwrap().replacen("lib/y.o", "lib/x.o", 1)
    };
    let expect = |step: &str, got: (String, String), scan: &str, names: &str| {
        check(
            got.0 == scan && got.1.contains(names) && got.1 == local_dep(),
            format!(
                "{step}: scan {} (want {scan}), dependency file naming {names}:\n{}\nlocal:\n{}",
                got.0,
                got.1,
                local_dep()
            ),
        )
    };
    expect("first compile", compile(&obj)?, "ran", "include/gen.h")?;
    expect("the same again", compile(&obj)?, "reused", "include/gen.h")?;
    let (scan, _) = compile(&obj2)?;
    check(scan == "reused", format!("another object tree with the same files reuses the scan: {scan}"))?;
    write(&src.join("lib/gen.h"), "#define G 40\n");
    expect("a header that shadows gen.h", compile(&obj)?, "ran", &format!("{}/lib/gen.h", src.display()))?;
    expect("the shadow kept", compile(&obj)?, "reused", "lib/gen.h")?;
    write(&src.join("inc/more.h"), "#define MORE 5\n");
    write(&src.join("inc/h.h"), "#include \"more.h\"\n#define H MORE\n");
    expect("h.h includes one more", compile(&obj)?, "ran", "inc/more.h")?;
    std::fs::remove_file(src.join("lib/gen.h")).unwrap();
    expect("the shadow removed", compile(&obj)?, "ran", "include/gen.h")?;
    write(&obj.join("include/h.h"), "#define H 7\n");
    expect("a header that shadows h.h (a computed #include)", compile(&obj)?, "ran", "include/h.h")?;
    expect("that shadow kept", compile(&obj)?, "reused", "include/h.h")?;
    Ok(())
}

/// An engine whose CAS cannot hold a job's inputs (its size limit, or a
/// disk running low): a blob larger than the whole CAS is refused, and
/// blobs that fit one by one but not together are evicted between the
/// upload and the job, so the launcher sends them again once, then stops.
/// Either way it says what happened, the free space where the engine keeps
/// its CAS, and what to do.
pub fn engine_without_room_is_named() -> Result {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state.toml");
    std::fs::write(&state, "[cache]\nengine_max_size = \"1MiB\"\n").unwrap();
    let env = [("THINDIST_HOME", home.path().to_str().unwrap())];
    let (port, url) = ("50062", "grpc://127.0.0.1:50062");
    xtask_env(&state, &["remote", "start", "--port", port], &env).ok()?;
    let dir = tempfile::tempdir().unwrap();
    let (src, obj) = (dir.path().join("src"), dir.path().join("obj"));
    std::fs::create_dir_all(src.join("lib")).unwrap();
    std::fs::create_dir_all(obj.join("lib")).unwrap();
    // Headers of 300 KiB each: four fit the engine's 1 MiB one by one, not twelve together.
    let header =
        |n: usize, lines: usize| -> String { (0..lines).map(|i| format!("#define H{n}_{i:05} {i:020}\n")).collect() };
    for n in 0..12 {
        std::fs::write(src.join(format!("lib/h{n}.h")), header(n, 8000)).unwrap();
    }
    let includes: String = (0..12).map(|n| format!("#include \"h{n}.h\"\n")).collect();
    std::fs::write(src.join("lib/many.c"), format!("{includes}int f(void) {{ return H3_00042; }}\n")).unwrap();
    // One header of 2.5 MiB: more than the whole CAS.
    std::fs::write(src.join("lib/big.h"), header(99, 65536)).unwrap();
    std::fs::write(src.join("lib/big.c"), "#include \"big.h\"\nint f(void) { return H99_00042; }\n").unwrap();
    let clang = xtask::toolchain::Toolchain::select(Some("-19")).unwrap().clang;
    let argv = |name: &str| -> Vec<String> {
        let out = format!("lib/{name}.o");
        [clang.to_str().unwrap(), "-nostdinc", "-O2", "-flto=thin", "-c", "-o", &out]
            .iter()
            .map(|s| s.to_string())
            .chain([src.join(format!("lib/{name}.c")).display().to_string()])
            .collect()
    };
    let mut l = Launcher::front_ends(&src, None);
    l.url = url;
    // The launcher finds the engine of that cache, to name its free space.
    let (many, big) = (l.run_env(&obj, &argv("many"), &env), l.run_env(&obj, &argv("big"), &env));
    xtask_env(&state, &["remote", "stop"], &env).ok()?;
    for (run, name) in [(&many, "many"), (&big, "big")] {
        check(
            run.code != 0 && !obj.join(format!("lib/{name}.o")).exists(),
            format!("{name}.c cannot succeed: {}", run.all()),
        )?;
        check(
            run.stderr.contains("are free on the filesystem of its CAS") && run.stderr.contains("engine_max_size"),
            format!("{name}.c: free space and what to do:\n{}", run.stderr),
        )?;
    }
    check(
        many.stderr.contains("sending the inputs again") && many.stderr.contains("lost the blobs of lib/many.o twice"),
        format!("the launcher sent them again, then said what happened:\n{}", many.stderr),
    )?;
    check(big.stderr.contains("refused a blob of lib/big.o for lack of space"), format!("big.c:\n{}", big.stderr))
}

/// `--remote-platform` reaches the worker: the engine's runner reads
/// OSFamily from the action and refuses one it does not run, and runs the
/// job with one it does.
pub fn platform_reaches_the_worker() -> Result {
    let (_d, state) = setup_612()?;
    engine(&state)?;
    let dir = tempfile::tempdir().unwrap();
    let (src, obj) = (dir.path().join("src"), dir.path().join("obj"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&obj).unwrap();
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u32;
    std::fs::write(src.join("p.c"), format!("int p(void) {{ return {unique}; }}\n")).unwrap();
    let clang = xtask::toolchain::Toolchain::select(Some("-19")).unwrap().clang;
    let argv: Vec<String> = [clang.to_str().unwrap(), "-O2", "-c", "-o", "p.o", src.join("p.c").to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let with = |properties: &[(&str, &str)]| {
        let mut l = Launcher::front_ends(&src, None);
        l.platform = properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        l.run(&obj, &argv)
    };
    let refused = with(&[("OSFamily", "plan9")]);
    check(refused.code != 0, "a platform no worker runs fails the job")?;
    check(refused.stderr.contains("OSFamily"), format!("the runner named the property it read: {}", refused.stderr))?;
    let ran = with(&[("OSFamily", "linux"), ("ISA", "x86-64")]);
    check(ran.code == 0, format!("a platform the worker runs: {}", ran.stderr))?;
    let records = std::fs::read_to_string(obj.join("jobs.jsonl")).unwrap();
    check(records.lines().last().unwrap_or("").contains("\"place\":\"remote\""), format!("on the engine: {records}"))?;
    Ok(())
}
