//! One line per compile the launcher saw, appended to the build's record
//! file: what ran where, when, and what it moved. The tool reads them for
//! the progress line, the report and the scale projection.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    FrontEnd,
    BackEnd,
}

/// Where a job ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Place {
    /// Executed by the engine.
    Remote,
    /// Answered by the engine's action cache.
    Hit,
    /// Run here by design (front-ends, jobs that cannot be described exactly).
    Local,
    /// Meant for the engine, run here because the engine failed.
    Fallback,
}

/// How a front-end compile sent to the engine got its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scan {
    /// The dependency scan ran.
    Ran,
    /// An earlier scan of the same command was reused: nothing it depends on changed.
    Reused,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    pub kind: Kind,
    pub place: Place,
    pub output: String,
    /// Seconds since the Unix epoch.
    pub start: f64,
    pub end: f64,
    /// The compile itself: the local compiler's wall time, or the engine's
    /// execution time.
    pub compile_seconds: f64,
    /// Time spent waiting on the engine's Execute (remote jobs): queueing,
    /// staging inputs and capturing outputs there, and the compile.
    #[serde(default)]
    pub engine_seconds: f64,
    #[serde(default)]
    pub uploaded: u64,
    #[serde(default)]
    pub downloaded: u64,
    /// Why a back-end job ran here, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_local: Option<String>,
    pub exit_code: i32,
    /// A front-end compile prepared for the engine: whether its scan ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<Scan>,
    /// Calls to the engine tried again for this job.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl JobRecord {
    /// The launcher's own time: everything but the compile and the wait on the engine.
    pub fn overhead(&self) -> f64 {
        (self.end - self.start - self.compile_seconds.max(self.engine_seconds)).max(0.0)
    }
}

/// Appends one record: a single write of one line, so concurrent
/// launchers never interleave within a line.
pub fn append(file: &Path, r: &JobRecord) -> Result<()> {
    let mut line = serde_json::to_vec(r)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    f.write_all(&line).with_context(|| format!("cannot write {}", file.display()))
}

/// Every record so far; a line cut short by a killed launcher is skipped.
pub fn read_all(file: &Path) -> Vec<JobRecord> {
    let Ok(text) = std::fs::read_to_string(file) else { return Vec::new() };
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("jobs.jsonl");
        let r = JobRecord {
            kind: Kind::BackEnd,
            place: Place::Hit,
            output: "a.o".into(),
            start: 10.0,
            end: 10.5,
            compile_seconds: 0.25,
            engine_seconds: 0.0,
            uploaded: 0,
            downloaded: 7,
            why_local: None,
            exit_code: 0,
            scan: Some(Scan::Reused),
            retries: 0,
        };
        append(&f, &r).unwrap();
        std::fs::OpenOptions::new().append(true).open(&f).unwrap().write_all(b"{\"kind\":\"back").unwrap();
        let all = read_all(&f);
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].place, all[0].overhead()), (Place::Hit, 0.25));
    }
}
