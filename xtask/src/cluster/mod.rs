//! `cargo xtask remote cluster up|status|restart|down`: a multi-worker REAPI
//! deployment on this machine. BuildGrid schedules (PostgreSQL holds its
//! jobs) on a bridge's address; each worker lives in a network namespace of
//! its own with its own buildbox-casd (its CAS in front of the scheduler's)
//! and the project's Remote Workers API bot (`worker`). Everything it makes
//! (namespaces, bridge, processes, one directory under the system's
//! temporary directory) is written down as it is made, and `down` removes
//! exactly that.

pub mod buildgrid;
pub mod network;
pub mod no_compiler;
pub mod postgres;
pub mod worker;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::deps;
use crate::exec::{daemon, Cmd};
use crate::files::{self, Durability};
use crate::home;
use crate::remote::engine::{self, Quota};
use crate::toolchain::identity::{Compiler, PROPERTY};
use buildgrid::BuildGrid;
use network::Net;
use postgres::Postgres;

/// Where each worker's casd listens, on the worker namespace's own loopback.
const WORKER_CASD: &str = "127.0.0.1:50081";

/// What `up` made, written as it goes: `status` reads it, `down` undoes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cluster {
    pub id: String,
    pub subnet: String,
    /// The directory under the system's temporary directory holding the
    /// database, the scheduler's CAS, the workers' CAS and every log.
    pub dir: PathBuf,
    /// What a build gives `--remote`.
    pub url: String,
    pub bridge: bool,
    pub postgres: Option<u32>,
    pub scheduler: Option<u32>,
    pub workers: Vec<WorkerRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerRecord {
    pub n: usize,
    pub namespace: String,
    pub address: String,
    pub dir: PathBuf,
    pub casd: Option<u32>,
    pub bot: Option<u32>,
    pub properties: Vec<(String, String)>,
    /// Its sandbox has no compiler (`--worker-without-compiler`).
    #[serde(default)]
    pub without_compiler: bool,
}

/// How `up` is asked to build the cluster.
#[derive(Debug, Clone)]
pub struct Plan {
    pub workers: usize,
    pub port: Option<u16>,
    /// `N:KEY=VALUE`: a property worker N advertises, replacing its own of
    /// that name (a pool name, or another toolchain's identity).
    pub properties: Vec<(usize, String, String)>,
    /// Workers whose sandbox has no compiler, and who advertise none.
    pub without_compiler: Vec<usize>,
    pub quota: Quota,
}

fn record_file() -> PathBuf {
    home::cache().join("cluster.json")
}

impl Cluster {
    fn save(&self) -> Result<()> {
        std::fs::create_dir_all(home::cache())?;
        files::write_atomically(&record_file(), serde_json::to_string_pretty(self)?.as_bytes(), Durability::Synced)
    }

    fn net(&self) -> Net {
        Net { id: self.id.clone(), subnet: self.subnet.clone() }
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    fn buildgrid(&self) -> Result<BuildGrid> {
        let bgd = deps::cluster()?.bgd().context("BuildGrid is not installed; run `cargo xtask deps --yes`")?;
        Ok(BuildGrid::under(&self.dir, bgd))
    }

    /// The scheduler's CAS directory (a test empties it).
    pub fn scheduler_cas(&self) -> PathBuf {
        BuildGrid::under(&self.dir, PathBuf::new()).cas
    }
}

/// The cluster `up` left, if any (running or not).
pub fn recorded() -> Result<Option<Cluster>> {
    match std::fs::read_to_string(record_file()) {
        Ok(t) => Ok(Some(serde_json::from_str(&t).with_context(|| format!("{} is damaged", record_file().display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("cannot read the cluster record"),
    }
}

pub fn up(plan: &Plan) -> Result<Cluster> {
    if let Some(c) = recorded()? {
        if c.scheduler.is_some_and(daemon::alive) {
            println!("cluster: already up at {}", c.url);
            return Ok(c);
        }
        println!("cluster: removing what a cluster left behind ({})", c.dir.display());
        down()?;
    }
    if !deps::is_root() {
        bail!("the cluster's workers live in network namespaces, which need root; run it as root");
    }
    let cfg = deps::cluster()?;
    if cfg.bgd().is_none() || deps::engine()?.binaries().is_none() || crate::exec::which("bwrap").is_none() {
        bail!("the cluster needs BuildGrid, buildbox-casd and bubblewrap; run `cargo xtask deps --yes`");
    }
    let id = format!("{:04x}", fastrand::u16(..));
    let net = Net { id: id.clone(), subnet: cfg.subnet.clone() };
    net.check_free()?;
    let dir = std::env::temp_dir().join(format!("thindist-cluster-{id}"));
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // PostgreSQL's user must pass through to its own directories.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o711))?;
    let port = plan.port.unwrap_or(cfg.port);
    let mut c = Cluster {
        id,
        subnet: cfg.subnet.clone(),
        dir,
        url: format!("grpc://{}:{port}", net.scheduler_addr()),
        bridge: false,
        postgres: None,
        scheduler: None,
        workers: Vec::new(),
    };
    c.save()?;
    match bring_up(&mut c, plan, &cfg.postgres, port) {
        Ok(()) => Ok(c),
        Err(e) => {
            eprintln!("cluster: could not come up; removing what was made");
            let _ = down();
            Err(e)
        }
    }
}

fn bring_up(c: &mut Cluster, plan: &Plan, pg_bin: &Path, port: u16) -> Result<()> {
    let net = c.net();
    c.bridge = true;
    c.save()?;
    net.add_bridge()?;
    let pg = Postgres::under(&c.dir);
    c.postgres = Some(pg.start(pg_bin, &c.log("postgres"))?);
    c.save()?;
    let grid = c.buildgrid()?;
    grid.prepare(&format!("{}:{port}", net.scheduler_addr()), &pg.url())?;
    c.scheduler = Some(grid.start(&c.url, &c.log("buildgrid"))?);
    c.save()?;
    println!("cluster: scheduler (BuildGrid) at {}, database {}", c.url, pg.socket_dir.display());
    let own = default_properties()?;
    for n in 1..=plan.workers {
        let bare = plan.without_compiler.contains(&n);
        let mut properties = own.clone();
        if bare {
            properties.retain(|(k, _)| k != PROPERTY);
        }
        for (_, key, value) in plan.properties.iter().filter(|(w, _, _)| *w == n) {
            properties.retain(|(k, _)| k != key);
            properties.push((key.clone(), value.clone()));
        }
        start_worker(c, n, properties, bare, plan.quota)?;
    }
    for w in &c.workers {
        wait_for_session(c, w)?;
    }
    println!("  build with: cargo xtask build --remote {}", c.url);
    Ok(())
}

/// What every worker advertises: the OS family REAPI names, and the
/// identity of the compiler it runs (for `--remote-toolchain-property`).
fn default_properties() -> Result<Vec<(String, String)>> {
    let clang = crate::toolchain::Toolchain::select(None)?.clang;
    let compiler = Compiler::identify(&clang)?;
    Ok(vec![("OSFamily".into(), "linux".into()), (PROPERTY.into(), compiler.property_value())])
}

fn start_worker(c: &mut Cluster, n: usize, properties: Vec<(String, String)>, bare: bool, quota: Quota) -> Result<()> {
    let net = c.net();
    let dir = c.dir.join(format!("w{n}"));
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    c.workers.push(WorkerRecord {
        n,
        namespace: net.namespace(n),
        address: net.worker_addr(n),
        dir: dir.clone(),
        casd: None,
        bot: None,
        properties: properties.clone(),
        without_compiler: bare,
    });
    c.save()?;
    net.add_worker(n)?;
    let engine_cfg = deps::engine()?;
    let bin = engine_cfg.binaries().context("buildbox-casd is not installed; run `cargo xtask deps --yes`")?;
    // One job at a time: a worker is one slot, as buildbox-worker's default.
    // Its CAS in front of the scheduler's; the result its execution service
    // records goes to the scheduler's action cache (it has none of its own).
    let scheduler = format!("http://{}", c.url.trim_start_matches("grpc://"));
    let mut binds = engine_cfg.binds.clone();
    if bare {
        binds.extend(no_compiler::hiding_binds(&dir, &engine_cfg.binds)?);
    }
    let casd = engine::casd(&bin, &binds, WORKER_CASD, 1, quota, &dir.join("tmp"))?
        .arg(format!("--cas-remote={scheduler}"))
        .arg(format!("--ac-remote={scheduler}"))
        .arg(dir.join("cas").display().to_string());
    let log = |name: &str| std::fs::File::create(dir.join(name)).context("cannot create a worker log");
    let casd_pid = net.inside(n, &casd).spawn_daemon(log("casd.log")?)?;
    c.workers.last_mut().expect("pushed").casd = Some(casd_pid);
    c.save()?;
    let exe = std::env::current_exe().context("cannot find the tool's own program")?;
    let mut bot = Cmd::new(exe)
        .args(["remote", "worker", "--scheduler", &c.url])
        .args(["--casd", &format!("grpc://{WORKER_CASD}"), "--bot-id", &format!("{}-w{n}", c.id)])
        .arg("--dir")
        .arg(dir.display().to_string());
    for (k, v) in &properties {
        bot = bot.arg("--property").arg(format!("{k}={v}"));
    }
    let bot_pid = net.inside(n, &bot).spawn_daemon(log("worker.log")?)?;
    c.workers.last_mut().expect("pushed").bot = Some(bot_pid);
    c.save()?;
    println!(
        "cluster: worker {n} at {} (namespace {}, casd and bot pids {casd_pid}, {bot_pid}){}",
        net.worker_addr(n),
        net.namespace(n),
        if bare { ", no compiler in its sandbox" } else { "" }
    );
    Ok(())
}

/// Waits until the worker's bot has a session with the scheduler.
fn wait_for_session(c: &Cluster, w: &WorkerRecord) -> Result<()> {
    let log = w.dir.join("worker.log");
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("bot session ") {
            return Ok(());
        }
        let gone = [w.casd, w.bot].into_iter().flatten().any(|p| !daemon::alive(p));
        if gone || started.elapsed() > Duration::from_secs(60) {
            let casd = std::fs::read_to_string(w.dir.join("casd.log")).unwrap_or_default();
            bail!(
                "worker {} of the cluster at {} did not start; its log:\n{text}\nits casd's log:\n{casd}",
                w.n,
                c.url
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What `status` shows of one worker.
#[derive(Debug, Serialize)]
pub struct WorkerStatus {
    pub n: usize,
    pub address: String,
    pub running: bool,
    pub jobs: u64,
    pub failed: u64,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub url: String,
    pub scheduler: bool,
    pub database: bool,
    pub dir: PathBuf,
    pub workers: Vec<WorkerStatus>,
}

pub fn status() -> Result<Status> {
    let c = recorded()?.context("no cluster is up; start one with `cargo xtask remote cluster up`")?;
    let workers = c
        .workers
        .iter()
        .map(|w| {
            let tally: worker::Tally = std::fs::read(worker::tally_file(&w.dir))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            WorkerStatus {
                n: w.n,
                address: w.address.clone(),
                running: [w.casd, w.bot].iter().all(|p| p.is_some_and(daemon::alive)),
                jobs: tally.ran,
                failed: tally.failed,
            }
        })
        .collect();
    Ok(Status {
        url: c.url.clone(),
        scheduler: c.scheduler.is_some_and(daemon::alive),
        database: c.postgres.is_some_and(daemon::alive),
        dir: c.dir.clone(),
        workers,
    })
}

/// Stops the scheduler and starts it again on the same database and CAS
/// (what an operator's upgrade does): jobs in flight survive in PostgreSQL.
pub fn restart_scheduler() -> Result<()> {
    let mut c = recorded()?.context("no cluster is up; start one with `cargo xtask remote cluster up`")?;
    if let Some(pid) = c.scheduler.take() {
        daemon::stop(pid);
    }
    c.save()?;
    let grid = c.buildgrid()?;
    let log = c.log("buildgrid");
    // The log of the earlier run is kept beside the new one.
    let _ = std::fs::rename(&log, c.log(&format!("buildgrid-{}", fastrand::u32(..))));
    c.scheduler = Some(grid.start(&c.url, &log)?);
    c.save()?;
    println!("cluster: scheduler restarted at {}", c.url);
    Ok(())
}

/// Removes everything the recorded cluster made; safe to run again.
pub fn down() -> Result<()> {
    let Some(c) = recorded()? else {
        println!("cluster: none is up");
        return Ok(());
    };
    let net = c.net();
    for w in &c.workers {
        for pid in [w.bot, w.casd].into_iter().flatten() {
            daemon::stop(pid);
        }
    }
    for pid in [c.scheduler, c.postgres].into_iter().flatten() {
        daemon::stop(pid);
    }
    for n in net.namespaces() {
        net.remove_worker(n);
    }
    if c.bridge {
        net.remove_bridge();
    }
    // Only the directory `up` made, named by its own record.
    if c.dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with("thindist-cluster-")) {
        if let Err(e) = std::fs::remove_dir_all(&c.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(e).with_context(|| format!("cannot remove {}", c.dir.display()));
            }
        }
    }
    std::fs::remove_file(record_file()).context("cannot remove the cluster record")?;
    println!("cluster: down (namespaces, bridge, processes and {} removed)", c.dir.display());
    Ok(())
}
