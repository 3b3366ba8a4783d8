//! What the tool tells the launchers of one build, through one environment
//! variable that make passes down to every compile it runs.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::remote::endpoint::Endpoint;
use crate::toolchain::identity::Compiler;

pub const ENV: &str = "THINDIST_LAUNCH";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchConfig {
    /// None: record compiles only, run everything here.
    pub endpoint: Option<Endpoint>,
    /// Send front-end compiles to the engine too, not only back-end jobs.
    #[serde(default)]
    pub front_ends: bool,
    /// Skip the action-cache lookup (every job executes).
    pub no_cache: bool,
    /// Run a job here when the engine fails, instead of failing it.
    pub fallback: bool,
    /// The build's record file (one line per compile).
    pub records: PathBuf,
    pub srctree: PathBuf,
    pub objtree: PathBuf,
    pub compiler: Compiler,
    /// The engine's batch limit, asked once by the tool.
    pub max_batch: usize,
    /// REAPI's action salt: a benchmark's cold build shares no cache entry.
    #[serde(default)]
    pub salt: String,
    /// Where front-end dependency scans are kept for reuse (None: every compile is scanned).
    #[serde(default)]
    pub scans: Option<PathBuf>,
    /// Platform properties the engine matches workers on (`--remote-platform`).
    #[serde(default)]
    pub platform: Vec<(String, String)>,
    /// The build's id, the same in every job's RequestMetadata.
    #[serde(default)]
    pub invocation: String,
    /// The engine speaks REAPI 2.0: outputs go in output_files, not output_paths.
    #[serde(default)]
    pub legacy_outputs: bool,
    /// The compiler goes with every action (`--remote-toolchain-upload`):
    /// its bundle's manifest, written by the tool for this build.
    #[serde(default)]
    pub toolchain: Option<PathBuf>,
}

impl LaunchConfig {
    pub fn to_env(&self) -> (String, String) {
        (ENV.to_string(), serde_json::to_string(self).expect("serialisable"))
    }

    /// The build's configuration, if this launcher runs under the tool.
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var(ENV) {
            Ok(v) => {
                Ok(Some(serde_json::from_str(&v).with_context(|| format!("{ENV} is not a launcher configuration"))?))
            }
            Err(_) => Ok(None),
        }
    }
}
