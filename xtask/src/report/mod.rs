//! The build report: a human summary and the same facts as JSON.

pub mod compare;
pub mod machine;
pub mod progress;
pub mod projection;
pub mod table;
pub mod timeline;

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::checks::validate::Validation;
use crate::exec::child::Usage;
use crate::kbuild::driver::StageTime;
use crate::launcher::record::Kind;
use crate::remote::session::RemoteSummary;

#[derive(Debug, Serialize)]
pub struct KernelInfo {
    pub tree: String,
    pub version: String,
    pub series: String,
    pub layout: String,
}

#[derive(Debug, Serialize)]
pub struct ToolchainInfo {
    pub llvm: String,
    pub clang: String,
    pub lld: String,
}

#[derive(Debug, Serialize)]
pub struct BuildReport {
    pub kernel: KernelInfo,
    pub arch: String,
    pub config: String,
    pub fragments: Vec<String>,
    pub objtree: String,
    pub toolchain: ToolchainInfo,
    pub commands: Vec<String>,
    pub stages: Vec<StageTime>,
    pub build_seconds: f64,
    /// CPU time of make and all it ran, and the largest process's peak memory.
    pub usage: Usage,
    /// Where the compiles ran, when the launcher was on them (--remote).
    pub remote: Option<RemoteSummary>,
    pub log: String,
    pub validation: Option<Validation>,
    pub result: String,
}

impl BuildReport {
    pub fn print(&self) {
        println!(
            "thindist build: Linux {} ({}, layout {}) {} {}",
            self.kernel.version, self.kernel.series, self.kernel.layout, self.arch, self.config
        );
        println!("  toolchain: {} / {}", self.toolchain.clang, self.toolchain.lld);
        println!("  objtree:   {}", self.objtree);
        for s in &self.stages {
            println!("  {:>11}: {:>5} steps {:>7.1}s", s.stage.label(), s.steps, s.seconds);
        }
        println!("  {:>11}: {:>19.1}s", "total", self.build_seconds);
        if let Some(r) = &self.remote {
            let endpoint = r.endpoint.as_deref().unwrap_or("engine unreachable");
            println!("  {:>11}: back-end jobs {} ({endpoint})", "remote", r.line_with_seconds(Kind::BackEnd));
            println!("  {:>11}  front-end compiles {}", "", r.line_with_seconds(Kind::FrontEnd));
            let ms = |label: &str, v: Option<f64>| v.map(|m| format!(", {label} {m:.0} ms")).unwrap_or_default();
            let overhead = ms("launcher per remote job", r.median_overhead_ms)
                + &ms("engine beyond the compile", r.median_engine_overhead_ms)
                + &ms("per hit", r.median_hit_ms);
            println!(
                "  {:>11}  {:.1} MB up, {:.1} MB down{overhead}",
                "",
                r.bytes_uploaded as f64 / 1e6,
                r.bytes_downloaded as f64 / 1e6
            );
        }
        if let Some(v) = &self.validation {
            println!("  {}", v.summary().replace('\n', "\n  "));
        }
        println!("  log: {}", self.log);
        println!("  result: {}", self.result);
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }
}

/// Writes any report as pretty JSON: the one format every `--json` uses.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}
