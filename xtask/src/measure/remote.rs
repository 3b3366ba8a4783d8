//! bench remote: the same config (tinyconfig unless told) built here and with a REAPI engine,
//! side by side in one run: cold, warm (an empty O= directory), a second
//! checkout of the same sources at another path (with front-ends on the
//! engine), and a one-file rebuild.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::checks::equivalence::{self, Image, Verdict};
use crate::checks::natives;
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
use crate::report::remote_bench::{print, row_of, RemoteBench, RemoteRow, CHECKOUT, WARM};
use crate::tree::git;
use crate::tree::state::State;

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

/// (hits / jobs sent to the engine, hits / all compiles) of a build.
fn hit_rates(s: &RemoteSummary) -> (f64, f64) {
    let n = |p| s.count(Kind::FrontEnd, p) + s.count(Kind::BackEnd, p);
    let hits = n(Place::Hit) as f64;
    let sent = hits + n(Place::Remote) as f64;
    let all = sent + (n(Place::Local) + n(Place::Fallback)) as f64;
    (hits / sent.max(1.0), hits / all.max(1.0))
}

/// What bench remote is asked beyond the build spec.
#[derive(Debug, Clone)]
pub struct Options {
    /// The config as the report names it: `tinyconfig +kvm_guest.config`.
    pub config: String,
    /// A warm build (every job a hit) after the cold one.
    pub warm: bool,
    /// Also write the figures as JSON here.
    pub json: Option<PathBuf>,
}

/// The builds of one bench run, each in its own empty `O=` directory.
struct Builds {
    local: Session,
    cold: Session,
    warm: Option<Session>,
    /// With front-ends on the engine: the same sources at another path.
    checkout: Option<Session>,
}

impl Builds {
    fn open(spec: &BuildSpec, remote: &RemoteSpec, root: &Path, state: &State, warm: bool) -> Result<Self> {
        let open = |name: &str, remote: Option<RemoteSpec>, tree: &Path| -> Result<Session> {
            let s = BuildSpec { out: Some(root.join(name)), remote, tree: tree.to_path_buf(), ..spec.clone() };
            let session = Session::open(s, state)?;
            outdir::fresh_dir(&session.kb.objtree)?;
            session.configure()?;
            Ok(session)
        };
        let checkout = match remote.front_ends {
            true => Some(second_checkout(&spec.tree, &root.join("checkout"))?),
            false => None,
        };
        Ok(Builds {
            local: open("local", None, &spec.tree)?,
            cold: open("remote", Some(remote.clone()), &spec.tree)?,
            warm: warm.then(|| open("warm", Some(remote.clone()), &spec.tree)).transpose()?,
            checkout: checkout.map(|at| open("checkout-build", Some(remote.clone()), &at)).transpose()?,
        })
    }

    /// Every full build in order, a row each; each validated.
    fn full(&self) -> Result<Vec<RemoteRow>> {
        let mut rows =
            vec![row("local full", &self.local.make_ok("full")?), row("remote cold full", &self.cold.make_ok("full")?)];
        if let Some(warm) = &self.warm {
            rows.push(row(WARM, &warm.make_ok("full")?));
        }
        if let Some(checkout) = &self.checkout {
            rows.push(row(CHECKOUT, &checkout.make_ok("full")?));
        }
        let all = [Some(&self.local), Some(&self.cold), self.warm.as_ref(), self.checkout.as_ref()];
        for s in all.into_iter().flatten() {
            let v = crate::checks::validate::session(s)?;
            if !v.ok() {
                bail!("{} failed validation:\n{}", s.kb.objtree.display(), v.summary());
            }
        }
        Ok(rows)
    }

    /// Back-ends only on the engine: the natives and modules, byte for byte.
    /// With front-ends there too the IR names the source as the engine saw
    /// it: vmlinux is judged by compare's equivalence instead.
    fn judge(&self, front_ends: bool) -> Result<Judged> {
        if !front_ends {
            return Ok(Judged { natives: natives::differing(&self.local, &self.cold)?, vmlinux: None });
        }
        let read = |s: &Session| Image::read(&s.kb.path("vmlinux"));
        let e = equivalence::compare(&read(&self.local)?, &read(&self.cold)?);
        Ok(Judged { natives: Default::default(), vmlinux: Some((e.verdict, e.reasons)) })
    }
}

/// What the comparison of the remote build with the local one found.
struct Judged {
    natives: natives::Compared,
    vmlinux: Option<(Verdict, Vec<String>)>,
}

pub fn run(mut spec: BuildSpec, state: &State, opts: &Options) -> Result<()> {
    let Some(mut remote) = spec.remote.take() else {
        bail!("bench remote needs an engine: --remote grpc://HOST:PORT (`cargo xtask remote start` runs one here)");
    };
    remote.salt = format!("thindist-bench-{}", uuid::Uuid::new_v4());
    let tree = spec.tree.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let root = home::cache().join("bench").join(format!("remote-{}-{tree}", spec.arch.name));
    spec.log_dir = root.clone();
    outdir::claim(&root)?;
    let builds = Builds::open(&spec, &remote, &root, state, opts.warm)?;
    let mut rows = builds.full()?;
    let judged = builds.judge(remote.front_ends)?;
    rebuild::touch_one_file(&builds.local.tree.root)?;
    rows.push(row("local one-file", &builds.local.make_ok("one-file")?));
    rows.push(row("remote one-file", &builds.cold.make_ok("one-file")?));
    let checkout = row_of(&rows, CHECKOUT).and_then(|r| r.remote.as_ref()).map(hit_rates);
    let warm_row = row_of(&rows, WARM);
    let n = rows.len();
    let local = &builds.local;
    let report = RemoteBench {
        kernel: format!("Linux {} ({})", local.tree.version, local.series),
        arch: spec.arch.name.clone(),
        config: opts.config.clone(),
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
        natives_compared: judged.natives.files,
        natives_differing: judged.natives.differing,
        natives_alike_apart_from_debug_info: judged.natives.apart_from_debug_info,
        vmlinux_equivalence: judged.vmlinux.as_ref().map(|v| v.0),
        vmlinux_differences: judged.vmlinux.map(|v| v.1).unwrap_or_default(),
    };
    print(&report);
    crate::report::write_json(&root.join("bench-remote.json"), &report)?;
    if let Some(j) = &opts.json {
        crate::report::write_json(j, &report)?;
    }
    if !report.natives_differing.is_empty() {
        bail!("{} natives differ between the local and the remote build", report.natives_differing.len());
    }
    if report.vmlinux_equivalence == Some(Verdict::Different) {
        bail!("vmlinux of the remote build is not equivalent to the local one's");
    }
    Ok(())
}
