//! bench projection: the scale-out projection of a finished `compare
//! --remote`, again, from its report and the job records it names.

use std::path::Path;

use anyhow::{Context, Result};

use crate::report::compare::CompareReport;
use crate::report::projection::{self, Measured};

/// Reads a compare directory's report and the job records each of its
/// builds names.
pub fn run(dir: &Path) -> Result<()> {
    let text = std::fs::read_to_string(dir.join("compare.json")).with_context(|| {
        format!("{} has no compare.json; run `cargo xtask compare --remote …` first", dir.display())
    })?;
    let report: CompareReport = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a compare report of this thindist", dir.join("compare.json").display()))?;
    let measured = report.modes.try_map(|mode, m| {
        let records = m.job_records.as_ref().with_context(|| {
            format!("compare.json names no job records of the {mode} build: compare ran without --remote")
        })?;
        Ok::<_, anyhow::Error>(Measured::of(m.wall_seconds, &crate::launcher::record::read_all(records), report.jobs))
    })?;
    projection::project(&measured.thin_dist, &measured.in_process).print();
    Ok(())
}
