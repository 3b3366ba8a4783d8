//! The build report: what one make run did and what validation found, as
//! a human summary and the same facts as JSON.

use std::path::Path;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::checks::validate;
use crate::checks::validation::Validation;
use crate::exec::child::Usage;
use crate::kbuild::driver::{MakeRun, StageTime};
use crate::kbuild::session::Session;
use crate::launcher::record::Kind;
use crate::launcher::summary::RemoteSummary;
use crate::report::write_json;

/// How a build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BuildResult {
    #[serde(rename = "ok")]
    Ok,
    #[serde(rename = "build failed")]
    BuildFailed,
    #[serde(rename = "validation failed")]
    ValidationFailed,
}

impl BuildResult {
    pub fn name(self) -> &'static str {
        match self {
            BuildResult::Ok => "ok",
            BuildResult::BuildFailed => "build failed",
            BuildResult::ValidationFailed => "validation failed",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct KernelInfo {
    pub tree: String,
    pub version: String,
    pub series: String,
    pub layout: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ToolchainInfo {
    pub llvm: String,
    pub clang: String,
    pub lld: String,
}

#[derive(Debug, Serialize, Deserialize)]
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
    pub result: BuildResult,
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
            let retried = match r.retries {
                0 => String::new(),
                n => format!(", {n} calls to the engine tried again"),
            };
            println!(
                "  {:>11}  {:.1} MB up, {:.1} MB down{overhead}{retried}",
                "",
                r.bytes_uploaded as f64 / 1e6,
                r.bytes_downloaded as f64 / 1e6
            );
        }
        if let Some(v) = &self.validation {
            println!("  {}", v.summary().replace('\n', "\n  "));
        }
        println!("  log: {}", self.log);
        println!("  result: {}", self.result.name());
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }
}

impl KernelInfo {
    pub fn of(session: &Session) -> Self {
        KernelInfo {
            tree: session.tree.root.display().to_string(),
            version: session.tree.version.to_string(),
            series: session.series.clone(),
            layout: session.layout.name.clone(),
        }
    }
}

impl ToolchainInfo {
    pub fn of(session: &Session) -> Self {
        let t = &session.kb.toolchain;
        ToolchainInfo { llvm: t.llvm.clone(), clang: t.clang_version(), lld: t.lld_version() }
    }
}

/// A full make of the kernel targets, then validation; the report is
/// printed (and written as JSON) whatever happened.
pub fn build_validated(session: &Session, json: Option<&Path>) -> Result<BuildReport> {
    let made = session.make("full")?;
    let validation = if made.success { Some(validate::session(session)?) } else { None };
    let report = BuildReport::of(session, &made, validation);
    report.print();
    if let Some(path) = json {
        report.write_json(path)?;
        println!("  json: {}", path.display());
    }
    if !made.success {
        bail!("the build failed:\n{}\nfull output: {}", made.failure_summary(), made.log.display());
    }
    if report.result != BuildResult::Ok {
        bail!("the build finished but validation failed (see above)");
    }
    Ok(report)
}

impl BuildReport {
    /// The report of one make run (and its validation, if it ran).
    pub fn of(session: &Session, made: &MakeRun, validation: Option<Validation>) -> Self {
        let result = match &validation {
            _ if !made.success => BuildResult::BuildFailed,
            Some(v) if !v.ok() => BuildResult::ValidationFailed,
            _ => BuildResult::Ok,
        };
        BuildReport {
            kernel: KernelInfo::of(session),
            arch: session.kb.arch.name.clone(),
            config: session.base.name(),
            fragments: session.fragments.iter().map(|f| f.display().to_string()).collect(),
            objtree: session.kb.objtree.display().to_string(),
            toolchain: ToolchainInfo::of(session),
            commands: vec![made.argv.join(" ")],
            stages: made.stages.clone(),
            build_seconds: made.seconds,
            usage: made.usage,
            remote: made.remote.clone(),
            log: made.log.display().to_string(),
            validation,
            result,
        }
    }
}
