//! `bench remote`: the same config (tinyconfig unless told) built here and with a REAPI engine,
//! side by side in one run: cold, warm (an empty O= directory), a second
//! checkout of the same sources at another path (with front-ends on the
//! engine), and a one-file rebuild.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::checks::equivalence::{self, Image, Verdict};
use crate::checks::natives;
use crate::cli::args::{ArchArg, ConfigArgs, Global, ToolArgs};
use crate::exec::Cmd;
use crate::home;
use crate::kbuild::driver::MakeRun;
use crate::kbuild::outdir;
use crate::kbuild::rebuild;
use crate::kbuild::session::{BuildSpec, Session};
use crate::kbuild::stages::Stage;
use crate::launcher::plan::RemoteSpec;
use crate::launcher::record::{Kind, Place};
use crate::launcher::summary::RemoteSummary;
use crate::tree::git;

#[derive(Debug, serde::Serialize)]
struct RemoteRow {
    build: &'static str,
    wall_seconds: f64,
    frontend_seconds: f64,
    backend_seconds: f64,
    remote: Option<RemoteSummary>,
}

#[derive(Debug, serde::Serialize)]
struct RemoteBench {
    kernel: String,
    arch: String,
    config: String,
    engine: String,
    front_ends: bool,
    machine: crate::report::machine::Machine,
    rows: Vec<RemoteRow>,
    /// Natives and modules compared byte for byte (back-ends only on the
    /// engine: the IR is the same).
    natives_compared: usize,
    natives_differing: Vec<String>,
    /// With front-ends on the engine the IR names the source as the engine
    /// saw it: vmlinux is judged by compare's equivalence instead.
    vmlinux_equivalence: Option<String>,
    cold_over_local_wall: f64,
    /// None with --no-warm.
    warm_over_local_wall: Option<f64>,
    warm_over_cold_backend: Option<f64>,
    /// The second checkout: hits among the jobs sent to the engine, and among all compiles.
    checkout_hit_rate: Option<f64>,
    checkout_hits_of_all: Option<f64>,
    one_file_remote_over_local: f64,
}

fn row(build: &'static str, run: &MakeRun) -> RemoteRow {
    let seconds = |stage: Stage| run.stages.iter().filter(|s| s.stage == stage).map(|s| s.seconds).sum();
    RemoteRow {
        build,
        wall_seconds: run.seconds,
        frontend_seconds: seconds(Stage::FrontEnd),
        backend_seconds: seconds(Stage::BackEnd),
        remote: run.remote.clone(),
    }
}

/// A clone sharing the tree's objects, checked out at its HEAD into a
/// directory of ours: the same sources at another path. Uncommitted
/// changes would not be in it.
fn second_checkout(tree: &Path, dir: &Path) -> Result<PathBuf> {
    let dirty = git::dirty_files(&git2::Repository::open(tree)?)?;
    if !dirty.is_empty() {
        bail!(
            "{} has uncommitted changes ({}); a second checkout would not have the same sources: commit or stash them",
            tree.display(),
            dirty.join(", ")
        );
    }
    outdir::fresh_dir(dir)?;
    let at = dir.join(tree.file_name().unwrap_or_default());
    Cmd::new("git")
        .args(["clone", "--shared", "--quiet"])
        .arg(tree.to_string_lossy())
        .arg(at.to_string_lossy())
        .run_quiet()?;
    Ok(at)
}

/// The rows the summary reads, found by name: `--no-warm` leaves one out.
const WARM: &str = "remote warm full";
const CHECKOUT: &str = "second checkout full";

/// The row of the build named `build`, if that build ran.
fn row_of<'a>(rows: &'a [RemoteRow], build: &str) -> Option<&'a RemoteRow> {
    rows.iter().find(|r| r.build == build)
}

/// (hits / jobs sent to the engine, hits / all compiles) of a build.
fn hit_rates(s: &RemoteSummary) -> (f64, f64) {
    let n = |p| s.count(Kind::FrontEnd, p) + s.count(Kind::BackEnd, p);
    let hits = n(Place::Hit) as f64;
    let sent = hits + n(Place::Remote) as f64;
    let all = sent + (n(Place::Local) + n(Place::Fallback)) as f64;
    (hits / sent.max(1.0), hits / all.max(1.0))
}

pub fn run(
    arch: &ArchArg,
    config: &ConfigArgs,
    tools: &ToolArgs,
    with_warm: bool,
    json: Option<&Path>,
    global: &Global,
) -> Result<()> {
    let mut spec = global.spec("bench-remote", arch, tools)?;
    config.apply(&mut spec);
    let Some(mut remote) = spec.remote.take() else {
        bail!("bench remote needs an engine: --remote grpc://HOST:PORT (`cargo xtask remote start` runs one here)");
    };
    remote.salt = format!("thindist-bench-{}", uuid::Uuid::new_v4());
    let tree = spec.tree.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let root = home::cache().join("bench").join(format!("remote-{}-{tree}", arch.arch));
    spec.log_dir = root.clone();
    let state = global.load_state()?;
    outdir::claim(&root)?;
    let open = |name: &str, remote: Option<RemoteSpec>, tree: &Path| -> Result<Session> {
        let s = BuildSpec { out: Some(root.join(name)), remote, tree: tree.to_path_buf(), ..spec.clone() };
        let session = Session::open(s, &state)?;
        outdir::fresh_dir(&session.kb.objtree)?;
        session.configure()?;
        Ok(session)
    };
    let local = open("local", None, &spec.tree)?;
    let cold = open("remote", Some(remote.clone()), &spec.tree)?;
    let warm = with_warm.then(|| open("warm", Some(remote.clone()), &spec.tree)).transpose()?;
    let mut rows = vec![row("local full", &local.make_ok("full")?), row("remote cold full", &cold.make_ok("full")?)];
    let mut sessions = vec![&local, &cold];
    if let Some(warm) = &warm {
        rows.push(row(WARM, &warm.make_ok("full")?));
        sessions.push(warm);
    }
    let checkout_session;
    if remote.front_ends {
        let at = second_checkout(&spec.tree, &root.join("checkout"))?;
        checkout_session = open("checkout-build", Some(remote.clone()), &at)?;
        rows.push(row(CHECKOUT, &checkout_session.make_ok("full")?));
        sessions.push(&checkout_session);
    }
    for s in &sessions {
        let v = crate::checks::validate::session(s)?;
        if !v.ok() {
            bail!("{} failed validation:\n{}", s.kb.objtree.display(), v.summary());
        }
    }
    let (compared, differing, vmlinux_equivalence) = match remote.front_ends {
        false => {
            let (n, d) = natives::differing(&local, &cold)?;
            (n, d, None)
        }
        true => {
            let e =
                equivalence::compare(&Image::read(&local.kb.path("vmlinux"))?, &Image::read(&cold.kb.path("vmlinux"))?);
            let verdict = match e.verdict {
                Verdict::Equivalent => "equivalent".to_string(),
                Verdict::Different => format!("different: {}", e.reasons.join("; ")),
            };
            (0, Vec::new(), Some(verdict))
        }
    };
    rebuild::touch_one_file(&local.tree.root)?;
    rows.push(row("local one-file", &local.make_ok("one-file")?));
    rows.push(row("remote one-file", &cold.make_ok("one-file")?));
    let checkout = row_of(&rows, CHECKOUT).and_then(|r| r.remote.as_ref()).map(hit_rates);
    let warm_row = row_of(&rows, WARM);
    let n = rows.len();
    let report = RemoteBench {
        kernel: format!("Linux {} ({})", local.tree.version, local.series),
        arch: arch.arch.clone(),
        config: std::iter::once(config.config.clone())
            .chain(config.fragment.iter().map(|f| format!("+{}", f.display())))
            .collect::<Vec<_>>()
            .join(" "),
        engine: remote.endpoint.url.clone(),
        front_ends: remote.front_ends,
        machine: crate::report::machine::describe(),
        cold_over_local_wall: rows[1].wall_seconds / rows[0].wall_seconds,
        warm_over_local_wall: warm_row.map(|w| w.wall_seconds / rows[0].wall_seconds),
        warm_over_cold_backend: warm_row.map(|w| w.backend_seconds / rows[1].backend_seconds),
        checkout_hit_rate: checkout.map(|c| c.0),
        checkout_hits_of_all: checkout.map(|c| c.1),
        one_file_remote_over_local: rows[n - 1].wall_seconds / rows[n - 2].wall_seconds,
        rows,
        natives_compared: compared,
        natives_differing: differing,
        vmlinux_equivalence,
    };
    print(&report);
    crate::report::write_json(&root.join("bench-remote.json"), &report)?;
    if let Some(j) = json {
        crate::report::write_json(j, &report)?;
    }
    if !report.natives_differing.is_empty() {
        bail!("{} natives differ between the local and the remote build", report.natives_differing.len());
    }
    if report.vmlinux_equivalence.as_deref().is_some_and(|v| v != "equivalent") {
        bail!("vmlinux of the remote build is not equivalent to the local one's");
    }
    Ok(())
}

fn print(r: &RemoteBench) {
    let what = if r.front_ends { "front- and back-ends" } else { "back-ends" };
    println!("bench remote: {} {} {}, {what} on engine {}", r.kernel, r.arch, r.config, r.engine);
    println!("  {:<20} {:>8} {:>9} {:>9}  jobs", "build", "wall", "front-end", "back-end");
    for row in &r.rows {
        let jobs = row
            .remote
            .as_ref()
            .map(|s| format!("front-ends {}; back-ends {}", s.line(Kind::FrontEnd), s.line(Kind::BackEnd)))
            .unwrap_or_else(|| "here (no launcher)".into());
        println!(
            "  {:<20} {:>7.1}s {:>8.1}s {:>8.1}s  {jobs}",
            row.build, row.wall_seconds, row.frontend_seconds, row.backend_seconds
        );
    }
    let ms = |v: Option<f64>| v.map(|m| format!("{m:.1} ms")).unwrap_or_else(|| "-".into());
    if let Some(s) = r.rows[1].remote.as_ref() {
        println!(
            "  cold build moved {:.1} MB up, {:.1} MB down; per executed job, median: launcher {}, engine beyond the compile {}",
            s.bytes_uploaded as f64 / 1e6,
            s.bytes_downloaded as f64 / 1e6,
            ms(s.median_overhead_ms),
            ms(s.median_engine_overhead_ms)
        );
    }
    if let Some(s) = row_of(&r.rows, WARM).and_then(|w| w.remote.as_ref()) {
        println!(
            "  warm build: a cache hit takes {} (median), {:.1} MB down",
            ms(s.median_hit_ms),
            s.bytes_downloaded as f64 / 1e6
        );
    }
    match &r.vmlinux_equivalence {
        Some(v) => println!("  vmlinux, remote vs local: {v}"),
        None => println!(
            "  natives and modules byte-identical, remote vs local: {} of {}",
            r.natives_compared - r.natives_differing.len(),
            r.natives_compared
        ),
    }
    println!("  cold remote / local full wall:        {:.3} (target <= 1.10)", r.cold_over_local_wall);
    if let Some(w) = r.warm_over_cold_backend {
        println!("  warm / cold back-end stage:           {w:.3} (target <= 0.2)");
    }
    if let (true, Some(w)) = (r.front_ends, r.warm_over_local_wall) {
        println!("  warm remote / local full wall:        {w:.3} (target <= 0.25)");
    }
    if let (Some(sent), Some(all)) = (r.checkout_hit_rate, r.checkout_hits_of_all) {
        println!(
            "  second checkout: hits {:.1} % of the jobs sent, {:.1} % of all compiles (target >= 95 %)",
            sent * 100.0,
            all * 100.0
        );
    }
    println!(
        "  one-file rebuild remote / local:      {:.3} (target on mainline 7.x <= 0.5)",
        r.one_file_remote_over_local
    );
}
