//! What is shown and written: the build report (`build`), compare's report,
//! tables, the SVG timeline, progress, the scale-out projection; every
//! `--json` through `write_json`.

pub mod build;
pub mod cache;
pub mod cluster;
pub mod compare;
pub mod machine;
pub mod progress;
pub mod projection;
pub mod remote_bench;
pub mod table;
pub mod timeline;

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

pub use build::{BuildReport, BuildResult, KernelInfo, ToolchainInfo};

/// Writes any report as pretty JSON: the one format every `--json` uses.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}
