//! The multi-worker cluster (`remote cluster up|status|restart|down`):
//! BuildGrid on PostgreSQL, two workers in network namespaces of their own,
//! each with its own casd and the project's Remote Workers API bot. The
//! suite's 6.12 x86_64 fixture built there equals the local build; the
//! build survives the scheduler restarting, a worker dying and the
//! scheduler's CAS emptied; `down` leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
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

/// Up with one command (two workers, and a third advertising another
/// compiler's identity); the natives of the suite's remote build made again
/// with every back-end job on the cluster, asking for this compiler
/// (`--remote-toolchain-property`): the two workers ran them all, the third
/// none; the natives equal the local build's; down leaves nothing.
pub fn builds_like_local_and_goes_down() -> Result {
    let (_d, state) = setup_612()?;
    let local = kernel_612("x86_64")?;
    let other = format!("3:{}={}", xtask::toolchain::identity::PROPERTY, "0".repeat(32));
    let up = Up::new(&state, &["--workers", "3", "--worker-property", &other])?;
    let s = up.status();
    check(s["scheduler"] == true && s["database"] == true, format!("status: {s}"))?;
    let r = rebuild_back_ends(&state, &up, BUILD, &["--remote-toolchain-property"], || Ok(()))?;
    check(backend(&r, "remote") > 500, format!("back-ends: {}", r["remote"]["backend"]))?;
    let s = up.status();
    let jobs: Vec<u64> = s["workers"].as_array().unwrap().iter().map(|w| w["jobs"].as_u64().unwrap_or(0)).collect();
    check(jobs.len() == 3 && jobs[0] > 100 && jobs[1] > 100, format!("jobs per worker: {jobs:?}"))?;
    check(jobs[2] == 0, format!("the worker with another compiler ran none: {jobs:?}"))?;
    check(jobs.iter().sum::<u64>() == backend(&r, "remote"), format!("{jobs:?} ran all of them"))?;
    same_natives(&local.out, &out_dir(BUILD))?;
    let record = up.record.clone();
    drop(up);
    nothing_left(&record)
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
