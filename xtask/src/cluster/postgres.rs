//! The scheduler's database: PostgreSQL from a private data directory,
//! listening on a Unix socket only (no TCP port), local connections
//! trusted. PostgreSQL refuses to run as root, so as root it runs as the
//! `postgres` user its Debian package made.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::exec::{daemon, Cmd};

/// The database role BuildGrid connects as.
const ROLE: &str = "bgd";

pub struct Postgres {
    pub data: PathBuf,
    pub socket_dir: PathBuf,
}

impl Postgres {
    pub fn under(dir: &Path) -> Self {
        Postgres { data: dir.join("pg"), socket_dir: dir.join("pg-socket") }
    }

    /// The SQLAlchemy URL BuildGrid takes: the `postgres` database over the socket.
    pub fn url(&self) -> String {
        format!("postgresql+psycopg://{ROLE}@/postgres?host={}", self.socket_dir.display())
    }

    /// initdb, then the server in the background; returns its pid once the
    /// socket answers.
    pub fn start(&self, bin: &Path, log: &Path) -> Result<u32> {
        for d in [&self.data, &self.socket_dir] {
            std::fs::create_dir(d).with_context(|| format!("cannot create {}", d.display()))?;
            as_owner_of_data(d)?;
        }
        let top = self.data.parent().context("data directory at /")?;
        as_user(Cmd::new(bin.join("initdb")))
            .args([
                "-D",
                &self.data.display().to_string(),
                "-U",
                ROLE,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ])
            .current_dir(top)
            .run_quiet()
            .context("initdb failed")?;
        let server = as_user(Cmd::new(bin.join("postgres")))
            .args(["-D", &self.data.display().to_string(), "-c", "listen_addresses=", "-k"])
            .arg(self.socket_dir.display().to_string())
            .current_dir(top);
        let file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let pid = server.spawn_daemon(file)?;
        let socket = self.socket_dir.join(".s.PGSQL.5432");
        let started = Instant::now();
        while !socket.exists() {
            if !daemon::alive(pid) || started.elapsed() > Duration::from_secs(30) {
                daemon::stop(pid);
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                bail!("PostgreSQL did not come up; its log ({}):\n{tail}", log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(pid)
    }
}

/// The postgres user, when the tool runs as root.
fn postgres_user() -> Option<(u32, u32)> {
    if !crate::deps::is_root() {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

fn as_user(cmd: Cmd) -> Cmd {
    match postgres_user() {
        Some(_) => {
            Cmd::new("setpriv").args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).args(cmd.argv())
        }
        None => cmd,
    }
}

/// A directory PostgreSQL's user owns (as root: handed to `postgres`).
fn as_owner_of_data(dir: &Path) -> Result<()> {
    if let Some((uid, gid)) = postgres_user() {
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))
            .with_context(|| format!("cannot give {} to the postgres user", dir.display()))?;
    } else if crate::deps::is_root() {
        bail!("PostgreSQL does not run as root and there is no `postgres` user; run `cargo xtask deps --yes` (postgresql-15 makes it)");
    }
    Ok(())
}
