//! The compare report: both modes' builds side by side, their ratios and
//! the equivalence verdict. Shown by table.rs, drawn by timeline.rs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::launcher::summary::RemoteSummary;
use crate::report::projection::Projection;

use crate::checks::boot::BootReport;
use crate::checks::equivalence::Equivalence;
use crate::checks::module_equivalence::ModulesEquivalence;
use crate::checks::profile_effect::ProfileComparison;
use crate::checks::validation::Validation;
use crate::exec::child::Usage;
use crate::kbuild::driver::StageTime;
use crate::kbuild::lto_mode::{LtoMode, ModePair};
use crate::kbuild::rebuild::Incremental;
use crate::report::machine::Machine;
use crate::report::{KernelInfo, ToolchainInfo};

#[derive(Debug, Serialize, Deserialize)]
pub struct ModeReport {
    pub mode: LtoMode,
    pub kconfig: String,
    pub objtree: String,
    pub log: String,
    /// The launchers' records of this build (with --remote): the scale-out projection's input.
    #[serde(default)]
    pub job_records: Option<PathBuf>,
    pub wall_seconds: f64,
    /// user+sys of make and everything it ran; peak RSS of the largest single process.
    pub usage: Usage,
    /// In-process ThinLTO shows `lto-link` where THIN_DIST shows `thin-link` and `back-end`.
    pub stages: Vec<StageTime>,
    pub incremental: Option<Incremental>,
    pub boot: Option<BootReport>,
    /// The THIN_DIST build's artifact checks.
    pub validation: Option<Validation>,
}

/// thin-dist divided by in-process.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ratios {
    pub wall: f64,
    pub cpu: f64,
    pub peak_rss: f64,
    pub noop: Option<f64>,
    pub one_file: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CompareReport {
    pub kernel: KernelInfo,
    pub arch: String,
    pub config: String,
    pub fragments: Vec<String>,
    pub toolchain: ToolchainInfo,
    pub jobs: usize,
    pub machine: Machine,
    /// Each full build starts from an empty O= directory.
    pub modes: ModePair<ModeReport>,
    pub ratios: Ratios,
    pub equivalence: Equivalence,
    /// The modules, when the config builds any.
    pub modules_equivalence: Option<ModulesEquivalence>,
    /// With AutoFDO or Propeller configured: what the profile did in each build.
    #[serde(default)]
    pub profile: Option<ProfileComparison>,
    /// Config symbols that differ beyond the LTO choice itself (expected: none).
    pub config_differences: Vec<String>,
    /// With --remote: where each mode's compiles ran, and the scale-out projection.
    pub remote: ModePair<Option<RemoteSummary>>,
    pub projection: Option<Projection>,
}

pub fn cpu(u: &Usage) -> f64 {
    u.user_seconds + u.sys_seconds
}

impl Ratios {
    pub fn of(in_process: &ModeReport, thin_dist: &ModeReport) -> Self {
        let (a, d) = (in_process, thin_dist);
        let rebuild =
            |pick: fn(&Incremental) -> f64| Some(pick(d.incremental.as_ref()?) / pick(a.incremental.as_ref()?));
        Ratios {
            wall: d.wall_seconds / a.wall_seconds,
            cpu: cpu(&d.usage) / cpu(&a.usage),
            peak_rss: d.usage.peak_rss_mib / a.usage.peak_rss_mib,
            noop: rebuild(|i| i.noop.seconds),
            one_file: rebuild(|i| i.one_file.seconds),
        }
    }
}
