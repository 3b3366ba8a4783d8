//! The multi-worker cluster (`remote cluster up|status|restart|down`):
//! BuildGrid on PostgreSQL, two workers in network namespaces of their own,
//! each with its own casd and the project's Remote Workers API bot. The
//! suite's 6.12 x86_64 fixture built there equals the local build; the
//! build survives the scheduler restarting, a worker dying and the
//! scheduler's CAS emptied; `down` leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use xtask::checks::equivalence::{self, Image, Verdict};
use xtask::cluster::Cluster;

use crate::fixtures::{self, kernel_612, out_dir, setup_612};
use crate::remote_cases::{backend, files_ending, fresh_out, frontend, report, same_natives, wait_for_natives};
use crate::support::*;

/// A cluster up for one case, taken down when the case ends, whatever happened.
struct Up {
    state: PathBuf,
    record: Cluster,
}

impl Up {
    fn new(state: &Path, args: &[&str]) -> Result<Up> {
        xtask(state, &[&["remote", "cluster", "up"], args].concat()).ok()?;
        let text = std::fs::read_to_string(test_home().join("cluster.json")).expect("the cluster record");
        Ok(Up { state: state.to_path_buf(), record: serde_json::from_str(&text).expect("a cluster record") })
    }

    fn status(&self) -> Value {
        let json = self.record.dir.with_extension("status.json");
        xtask(&self.state, &["remote", "cluster", "status", "--json", json.to_str().unwrap()]).ok().unwrap();
        let v = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let _ = std::fs::remove_file(json);
        v
    }

    /// The jobs each worker ran, by worker.
    fn jobs(&self) -> Vec<u64> {
        self.status()["workers"].as_array().unwrap().iter().map(|w| w["jobs"].as_u64().unwrap_or(0)).collect()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = xtask(&self.state, &["remote", "cluster", "down"]);
    }
}

/// `build` of the x86_64 fixture's config on the cluster.
fn cluster_args<'a>(
    out: &'a Path,
    json: &'a Path,
    fragments: &'a [String],
    url: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["build", "--arch", "x86_64", "--out", out.to_str().unwrap(), "--json", json.to_str().unwrap()];
    args.extend(fragments.iter().map(String::as_str));
    args.extend(["--remote", url]);
    args.extend(extra);
    args
}

/// The cluster's processes, namespaces, bridge and directory are all gone.
fn nothing_left(c: &Cluster) -> Result {
    let pids: Vec<u32> =
        [c.postgres, c.scheduler].into_iter().chain(c.workers.iter().flat_map(|w| [w.casd, w.bot])).flatten().collect();
    let alive: Vec<&u32> = pids.iter().filter(|p| xtask::exec::daemon::alive(**p)).collect();
    check(alive.is_empty(), format!("processes left: {alive:?}"))?;
    let netns = std::process::Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left = String::from_utf8_lossy(&netns.stdout).lines().filter(|l| l.contains(&c.id)).count();
    check(left == 0, format!("{left} namespaces left"))?;
    let links = std::process::Command::new("ip").args(["-o", "link", "show"]).output().unwrap();
    check(!String::from_utf8_lossy(&links.stdout).contains(&format!("td{}", c.id)), "the bridge and veths are gone")?;
    check(!c.dir.exists() && !test_home().join("cluster.json").exists(), "its directory and record are gone")
}

/// Up with one command (two workers, and a third with no compiler in its
/// sandbox, advertising another compiler's identity and its own pool); the
/// natives of the suite's remote build made again with every back-end job
/// on the cluster, asking for this compiler (`--remote-toolchain-property`):
/// the two workers ran them all, the third none; the natives equal the local
/// build's. Then the third worker's own: a job naming the installed clang
/// fails there, and with the compiler uploaded it makes the natives of
/// `kernel/time/`, the local build's. Down leaves nothing.
pub fn builds_like_local_and_goes_down() -> Result {
    let (_d, state) = setup_612()?;
    let local = kernel_612("x86_64")?;
    let other = format!("3:{}={}", xtask::toolchain::identity::PROPERTY, "0".repeat(32));
    let bare = ["--worker-without-compiler", "3", "--worker-property", BARE_POOL_OF_3];
    let up = Up::new(&state, &[&["--workers", "3", "--worker-property", &other][..], &bare].concat())?;
    let s = up.status();
    check(s["scheduler"] == true && s["database"] == true, format!("status: {s}"))?;
    let r = rebuild_back_ends(&state, &up, BUILD, &["--remote-toolchain-property"], || Ok(()))?;
    check(backend(&r, "remote") > 500, format!("back-ends: {}", r["remote"]["backend"]))?;
    let jobs = up.jobs();
    check(jobs.len() == 3 && jobs[0] > 100 && jobs[1] > 100, format!("jobs per worker: {jobs:?}"))?;
    check(jobs[2] == 0, format!("the worker with another compiler ran none: {jobs:?}"))?;
    check(jobs.iter().sum::<u64>() == backend(&r, "remote"), format!("{jobs:?} ran all of them"))?;
    same_natives(&local.out, &out_dir(BUILD))?;
    let made = without_a_compiler(&state, &up, Some("kernel/time/"))?;
    let after = up.jobs();
    check(
        after[..2] == jobs[..2] && after[2] >= made,
        format!("worker 3 made the {made} natives: {jobs:?} → {after:?}"),
    )?;
    same_natives(&local.out, &out_dir(BUILD))?;
    let record = up.record.clone();
    drop(up);
    nothing_left(&record)
}

/// Worker 3's pool, which only it serves.
const BARE_POOL_OF_3: &str = "3:Pool=bare";

/// The natives of the suite's remote build under `dir` (all with None) made
/// again on the worker without a compiler (its pool): first as a job naming
/// the installed clang, which fails there, then with the compiler uploaded
/// (`--remote-toolchain-upload`), every job there. The jobs made.
fn without_a_compiler(state: &Path, up: &Up, dir: Option<&str>) -> Result<u64> {
    let out = out_dir(BUILD);
    let mine = |n: &PathBuf| dir.is_none_or(|d| n.starts_with(d));
    let removed = files_ending(&out, ".o_thinlto_native").into_iter().filter(mine).count() as u64;
    check(removed > 10, format!("{removed} natives under {dir:?}"))?;
    let json = out.with_extension("bare.json");
    let fragments = fixtures::fragments("x86_64");
    let pool = ["--remote-platform", "Pool=bare"];
    let remove = || {
        files_ending(&out, ".o_thinlto_native").into_iter().filter(mine).for_each(|n| {
            std::fs::remove_file(out.join(n)).unwrap();
        })
    };
    remove();
    let installed = cluster_args(&out, &json, &fragments, &up.record.url, &pool);
    let failed = xtask(state, &installed);
    check(failed.code != 0, "a job naming the installed clang cannot run where there is none")?;
    check(failed.all().contains("clang"), format!("the failure names the compiler:\n{}", failed.all()))?;
    remove();
    let uploaded =
        cluster_args(&out, &json, &fragments, &up.record.url, &[&pool[..], &["--remote-toolchain-upload"]].concat());
    let run = xtask(state, &uploaded).ok()?;
    check(run.stdout.contains("toolchain: "), format!("the upload is reported:\n{}", run.stdout))?;
    let r = report(&json);
    check(r["result"] == "ok" && backend(&r, "local") == 0, format!("{}: {}", r["result"], r["remote"]["backend"]))?;
    // Not every native is a back-end job: an assembler object's is a copy made here (20 in the build).
    let made = backend(&r, "remote");
    check(made > 0 && made <= removed, format!("{made} jobs on the worker for {removed} natives"))?;
    Ok(made)
}

/// The suite's remote build (remote::engine_killed_mid_build_then_rerun_completes),
/// whose natives the cluster makes again.
const BUILD: &str = "612-x86_64-remote";

/// Removes the natives of build `name` and builds them again on the cluster
/// (with `extra`); `fault` runs once 150 natives are back.
fn rebuild_back_ends(
    state: &Path,
    up: &Up,
    name: &str,
    extra: &[&str],
    fault: impl FnOnce() -> Result,
) -> Result<Value> {
    let out = out_dir(name);
    check(out.join("vmlinux").exists(), format!("build {name} exists (made by an earlier case)"))?;
    for native in files_ending(&out, ".o_thinlto_native") {
        std::fs::remove_file(out.join(native)).unwrap();
    }
    let json = out.with_extension("cluster.json");
    let fragments = fixtures::fragments("x86_64");
    let args = cluster_args(&out, &json, &fragments, &up.record.url, extra);
    let natives = || files_ending(&out, ".o_thinlto_native").len();
    let child = xtask_command(state, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let child = wait_for_natives(child, &args, &natives, 150)?;
    fault()?;
    finish(&args, child.wait_with_output().unwrap()).ok()?;
    let r = report(&json);
    check(r["result"] == "ok", format!("result {}", r["result"]))?;
    check(backend(&r, "local") == 0, format!("back-ends: {}", r["remote"]["backend"]))?;
    Ok(r)
}

/// The scheduler restarts in the middle of the back-end stage: the
/// launchers ride it out (retries, WaitExecution, Execute again), the
/// workers open their sessions again, and the natives equal the local build's.
pub fn survives_a_scheduler_restart() -> Result {
    let (_d, state) = setup_612()?;
    let local = kernel_612("x86_64")?;
    let up = Up::new(&state, &[])?;
    let r = rebuild_back_ends(&state, &up, BUILD, &["--remote-no-cache"], || {
        xtask(&state, &["remote", "cluster", "restart"]).ok().map(|_| ())
    })?;
    let retries = r["remote"]["retries"].as_u64().unwrap_or(0);
    check(retries > 0, format!("the restart was ridden out by retries ({retries})"))?;
    same_natives(&local.out, &out_dir(BUILD))
}

/// A worker is killed (its bot and its casd) in the middle of the back-end
/// stage: the scheduler gives its job to the other worker once the dead one
/// stops calling, and the build completes with the local build's natives.
pub fn survives_a_lost_worker() -> Result {
    let (_d, state) = setup_612()?;
    let local = kernel_612("x86_64")?;
    let up = Up::new(&state, &[])?;
    let w1 = up.record.workers[0].clone();
    rebuild_back_ends(&state, &up, BUILD, &["--remote-no-cache"], || {
        for pid in [w1.bot, w1.casd].into_iter().flatten() {
            // SAFETY: a signal to a process the cluster started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        Ok(())
    })?;
    let s = up.status();
    check(s["workers"][0]["running"] == false && s["workers"][1]["running"] == true, format!("status: {s}"))?;
    same_natives(&local.out, &out_dir(BUILD))
}

/// The whole build on the cluster from an empty O= (front-end compiles
/// too), then the scheduler's CAS emptied: the warm build finds no usable
/// cached result, executes again and completes with the cold build's natives.
pub fn emptied_cas_executes_again() -> Result {
    let (_d, state) = setup_612()?;
    let up = Up::new(&state, &[])?;
    let (out, json) = fresh_out("612-x86_64-cluster");
    let fragments = fixtures::fragments("x86_64");
    xtask(&state, &cluster_args(&out, &json, &fragments, &up.record.url, &["--remote-front-ends"])).ok()?;
    let cold = report(&json);
    check(cold["result"] == "ok" && backend(&cold, "local") == 0, format!("cold: {}", cold["remote"]))?;
    let (fe_remote, fe_local) = (frontend(&cold, "remote"), frontend(&cold, "local"));
    check(fe_remote > 200 && fe_local < fe_remote / 4, format!("front-ends: {}", cold["remote"]["frontend"]))?;
    // Remote front-ends name their sources as the engine saw them: these natives are this
    // build's own (vmlinux equivalent to the local one), and executing again must give them back.
    let natives: Vec<(PathBuf, Vec<u8>)> = files_ending(&out, ".o_thinlto_native")
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(out.join(&n)).unwrap()))
        .collect();
    check(natives.len() > 500, format!("{} natives", natives.len()))?;
    let cas = up.record.scheduler_cas();
    // BuildGrid's disk storage: a file per blob under objects/<2 hex>/, the directories made once.
    let blobs: Vec<PathBuf> =
        files_ending(&cas, "").into_iter().filter(|p| p.to_string_lossy().contains("objects/")).collect();
    check(blobs.len() > 1000, format!("{} held {} blobs", cas.display(), blobs.len()))?;
    for b in &blobs {
        std::fs::remove_file(cas.join(b)).unwrap();
    }
    let warm = rebuild_back_ends(&state, &up, "612-x86_64-cluster", &[], || Ok(()))?;
    check(backend(&warm, "remote") > 500, format!("warm, executed again: {}", warm["remote"]["backend"]))?;
    let differ = natives.iter().filter(|(n, bytes)| std::fs::read(out.join(n)).ok().as_ref() != Some(bytes)).count();
    check(differ == 0, format!("{differ} natives executed again differ from the cold build's"))
}

/// Every back-end job of the build on the worker with no compiler in its
/// sandbox, the compiler uploaded: the natives equal the local build's. Then
/// the whole build there from an empty O=, front-end compiles too (their
/// resource headers the uploaded compiler's): vmlinux equivalent to the
/// local build's.
pub fn builds_on_a_worker_without_a_compiler() -> Result {
    let (_d, state) = setup_612()?;
    let local = kernel_612("x86_64")?;
    let up = Up::new(&state, &["--worker-without-compiler", "2", "--worker-property", "2:Pool=bare"])?;
    let made = without_a_compiler(&state, &up, None)?;
    let jobs = up.jobs();
    check(made > 500 && jobs[0] == 0 && jobs[1] >= made, format!("{made} jobs; per worker {jobs:?}"))?;
    same_natives(&local.out, &out_dir(BUILD))?;

    let (out, json) = fresh_out("612-x86_64-bare");
    let fragments = fixtures::fragments("x86_64");
    let extra = ["--remote-platform", "Pool=bare", "--remote-toolchain-upload", "--remote-front-ends"];
    xtask(&state, &cluster_args(&out, &json, &fragments, &up.record.url, &extra)).ok()?;
    let r = report(&json);
    check(r["result"] == "ok" && backend(&r, "local") == 0, format!("{}: {}", r["result"], r["remote"]))?;
    let (fe_remote, fe_local) = (frontend(&r, "remote"), frontend(&r, "local"));
    check(fe_remote > 200 && fe_local < fe_remote / 4, format!("front-ends: {}", r["remote"]["frontend"]))?;
    let jobs = up.jobs();
    check(jobs[0] == 0 && jobs[1] >= made + fe_remote, format!("per worker {jobs:?} after {fe_remote} front-ends"))?;
    let image = |dir: &Path| Image::read(&dir.join("vmlinux")).unwrap();
    let e = equivalence::compare(&image(&local.out), &image(&out));
    check(matches!(e.verdict, Verdict::Equivalent), format!("vmlinux against the local build's: {:?}", e.reasons))
}
