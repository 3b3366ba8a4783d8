//! The scheduler: BuildGrid with its SQL scheduler on PostgreSQL, serving
//! Execution, the Bots service its workers call, a CAS on disk and an
//! action cache, on the bridge's address.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::exec::{daemon, Cmd};
use crate::remote::endpoint::Endpoint;
use crate::remote::engine;
use crate::toolchain::identity::PROPERTY;

/// How long a worker may stay silent before its jobs go to another one.
pub const BOT_KEEPALIVE_S: u32 = 20;

pub struct BuildGrid {
    pub bgd: PathBuf,
    pub config: PathBuf,
    pub cas: PathBuf,
}

impl BuildGrid {
    pub fn under(dir: &Path, bgd: PathBuf) -> Self {
        BuildGrid { bgd, config: dir.join("buildgrid.yml"), cas: dir.join("cas") }
    }

    /// Writes the configuration and creates the schema.
    pub fn prepare(&self, listen: &str, database: &str) -> Result<()> {
        std::fs::create_dir(&self.cas).with_context(|| format!("cannot create {}", self.cas.display()))?;
        std::fs::write(&self.config, config(listen, database, &self.cas))
            .with_context(|| format!("cannot write {}", self.config.display()))?;
        Cmd::new(&self.bgd).args(["migrate", "apply", database]).run_quiet().context("bgd migrate apply failed")
    }

    /// Starts the server; returns its pid once it answers at `url`.
    pub fn start(&self, url: &str, log: &Path) -> Result<u32> {
        let file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let pid =
            Cmd::new(&self.bgd).args(["server", "start"]).arg(self.config.display().to_string()).spawn_daemon(file)?;
        let ep = Endpoint { url: url.to_string(), ..Default::default() };
        let started = Instant::now();
        loop {
            match engine::probe(&ep) {
                Ok(_) => return Ok(pid),
                Err(_) if daemon::alive(pid) && started.elapsed() < Duration::from_secs(60) => {
                    std::thread::sleep(Duration::from_millis(300))
                }
                Err(e) => {
                    daemon::stop(pid);
                    let tail = std::fs::read_to_string(log).unwrap_or_default();
                    bail!("BuildGrid did not come up ({e:#}); its log ({}):\n{tail}", log.display());
                }
            }
        }
    }
}

/// BuildGrid's configuration: one unnamed instance; jobs match workers on
/// OSFamily, ISA, Pool (RBE's name for a group of workers) and the
/// toolchain property; `container-image` is accepted and not matched (the
/// workers have none).
fn config(listen: &str, database: &str, cas: &Path) -> String {
    format!(
        r#"# Written by `cargo xtask remote cluster up`.
server:
  - !channel
    address: "{listen}"
    insecure-mode: true
authorization:
  method: none
connections:
  - !sql-connection &sql
    connection-string: "{database}"
    pool-size: 5
    max-overflow: 10
storages:
  - !disk-storage &cas
    path: "{cas}"
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 1000000
    allow-updates: true
    cache-failed-actions: false
schedulers:
  - !sql-scheduler &scheduler
    sql: *sql
    storage: *cas
    action-cache: *ac
    bot-session-keepalive-timeout: {BOT_KEEPALIVE_S}
    # A kernel's back-end jobs take about a second. With the default assigner
    # (a pass every 1 s, jittered) each waited about as long again for a
    # worker; with proactive fetching a worker reporting a finished lease gets
    # the next job in the same call. BuildGrid then answers an idle worker at
    # once instead of holding its call: the worker paces itself (`worker.rs`).
    assigners:
      - !priority-age-assigner
        interval: 0.05
    proactive-fetch-to-capacity: true
    property-set: !dynamic-property-set
      match-property-keys: [OSFamily, ISA, Pool, {PROPERTY}]
      wildcard-property-keys: [container-image]
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !execution
        scheduler: *scheduler
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
thread-pool-size: 32
"#,
        cas = cas.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_matches_jobs_on_the_toolchain_and_assigns_quickly() {
        let text = config("198.51.100.1:50071", "postgresql+psycopg://bgd@/postgres?host=/s", Path::new("/c"));
        assert!(text.contains("address: \"198.51.100.1:50071\""));
        assert!(text.contains(&format!("match-property-keys: [OSFamily, ISA, Pool, {PROPERTY}]")));
        assert!(text.contains("interval: 0.05") && text.contains("proactive-fetch-to-capacity: true"));
        assert!(text.contains(&format!("bot-session-keepalive-timeout: {BOT_KEEPALIVE_S}")));
    }
}
