//! A build's plan for the launcher: the remote settings a command was
//! given, and the make variable and environment that put the launcher on
//! every compile.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::files::{self, Durability};
use crate::launcher::action;
use crate::launcher::config::LaunchConfig;
use crate::launcher::record::{self, JobRecord};
use crate::remote::endpoint::Endpoint;
use crate::remote::engine::{self, Probe};
use crate::toolchain::bundle::Bundle;
use crate::toolchain::identity::{self, Compiler};

/// What a command was asked to do remotely.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSpec {
    pub endpoint: Endpoint,
    pub no_cache: bool,
    pub fallback: bool,
    /// Front-end compiles go to the engine too.
    pub front_ends: bool,
    /// Action salt (benchmarks): empty for builds, which share the cache.
    pub salt: String,
    /// Platform properties the engine matches workers on (`--remote-platform KEY=VALUE`).
    pub platform: Vec<(String, String)>,
    /// Ask for a worker that advertises this very compiler (`thindist-toolchain`).
    pub route_by_toolchain: bool,
    /// Send the compiler with every action (`--remote-toolchain-upload`).
    pub upload_toolchain: bool,
}

/// The launcher set up for one build.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// make's `CC=`: the launcher, then the real compiler.
    pub cc: String,
    pub config: LaunchConfig,
}

impl Launch {
    /// Checks the engine (stopping, or with the fallback warning), names
    /// the compiler, and picks the record file.
    pub fn prepare(spec: &RemoteSpec, clang: &Path, srctree: &Path, objtree: &Path, records: PathBuf) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find thindist's own binary for the launcher")?;
        let exe = exe.display().to_string();
        if !exe.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c)) {
            bail!(
                "the launcher's path `{exe}` has characters make's shell would split; build thindist in a plain path"
            );
        }
        let compiler = Compiler::identify(clang)?;
        let platform = platform(spec, &compiler);
        let mut endpoint = Some(spec.endpoint.clone());
        let probe = match engine::probe(&spec.endpoint) {
            Ok(p) => p,
            Err(e) if spec.fallback => {
                eprintln!("warning: {e:#}; every back-end job runs here (--remote-fallback)");
                endpoint = None;
                Probe { max_batch: 0, legacy_outputs: false }
            }
            Err(e) => bail!(
                "{e:#}\n  start it (`cargo xtask remote start` for the engine on this machine), check --remote, or add --remote-fallback to build here"
            ),
        };
        let _ = std::fs::remove_file(&records);
        let toolchain = match (&endpoint, spec.upload_toolchain) {
            (Some(ep), true) => Some(upload_toolchain(ep, probe.max_batch, &compiler, &records)?),
            _ => None,
        };
        Ok(Self {
            cc: format!("{exe} launch {}", clang.display()),
            config: LaunchConfig {
                endpoint,
                no_cache: spec.no_cache,
                fallback: spec.fallback,
                front_ends: spec.front_ends,
                records,
                srctree: srctree.to_path_buf(),
                objtree: objtree.to_path_buf(),
                compiler,
                max_batch: probe.max_batch,
                legacy_outputs: probe.legacy_outputs,
                platform,
                invocation: uuid::Uuid::new_v4().to_string(),
                salt: spec.salt.clone(),
                scans: spec.front_ends.then(crate::home::scans),
                toolchain,
            },
        })
    }

    pub fn records_since(&self, start: f64) -> Vec<JobRecord> {
        record::read_all(&self.config.records).into_iter().filter(|r| r.start >= start).collect()
    }
}

/// Bundles the compiler, writes the bundle's manifest beside the build's
/// records for the launchers, and sends the engine what it lacks of it once,
/// before the first job; the manifest's path.
fn upload_toolchain(ep: &Endpoint, max_batch: usize, compiler: &Compiler, records: &Path) -> Result<PathBuf> {
    let bundle = Bundle::of(compiler)?;
    let manifest = records.with_extension("toolchain.json");
    files::write_atomically(&manifest, serde_json::to_string(&bundle)?.as_bytes(), Durability::Whole)?;
    let size = |n: u64| bytesize::ByteSize(n).display().iec().to_string();
    let sent = engine::upload(ep, max_batch, &action::toolchain_blobs(&bundle))
        .with_context(|| format!("cannot send the compiler {} to {}", compiler.path.display(), ep.url))?;
    println!(
        "toolchain: {} files, {}, go with every action; {} sent to {}",
        bundle.files.len(),
        size(bundle.bytes()),
        size(sent),
        ep.url
    );
    Ok(manifest)
}

/// The properties asked for: the user's, and the compiler's own when routing by it.
fn platform(spec: &RemoteSpec, compiler: &Compiler) -> Vec<(String, String)> {
    let mut properties = spec.platform.clone();
    if spec.route_by_toolchain {
        properties.push((identity::PROPERTY.to_string(), compiler.property_value()));
    }
    properties
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_by_toolchain_adds_the_compilers_own_property() {
        let compiler =
            Compiler { path: "/usr/bin/clang-19".into(), id: format!("sha256:{} clang version 19", "ab".repeat(32)) };
        let mut spec = RemoteSpec {
            endpoint: Endpoint { url: "grpc://127.0.0.1:1".into(), ..Default::default() },
            no_cache: false,
            fallback: false,
            front_ends: false,
            salt: String::new(),
            platform: vec![("OSFamily".into(), "linux".into())],
            route_by_toolchain: false,
            upload_toolchain: false,
        };
        assert_eq!(platform(&spec, &compiler), [("OSFamily".to_string(), "linux".to_string())]);
        spec.route_by_toolchain = true;
        let asked = platform(&spec, &compiler);
        assert_eq!(asked[1], ("thindist-toolchain".to_string(), "ab".repeat(16)));
    }
}
