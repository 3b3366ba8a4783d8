//! bench remote's figures: a row per build, the ratios against the
//! targets, on screen and as JSON.

use crate::checks::equivalence::Verdict;
use crate::launcher::record::Kind;
use crate::launcher::summary::RemoteSummary;
use crate::report::machine::Machine;

#[derive(Debug, serde::Serialize)]
pub struct RemoteRow {
    pub build: &'static str,
    pub wall_seconds: f64,
    pub frontend_seconds: f64,
    pub backend_seconds: f64,
    pub remote: Option<RemoteSummary>,
}

#[derive(Debug, serde::Serialize)]
pub struct RemoteBench {
    pub kernel: String,
    pub arch: String,
    pub config: String,
    pub engine: String,
    pub front_ends: bool,
    pub machine: Machine,
    pub rows: Vec<RemoteRow>,
    /// Natives and modules compared byte for byte (back-ends only on the
    /// engine: the IR is the same).
    pub natives_compared: usize,
    pub natives_differing: Vec<String>,
    /// Of those the same, how many only apart from their debug information
    /// (a profile's `-gmlt`: it names each build's own directory).
    #[serde(default)]
    pub natives_alike_apart_from_debug_info: usize,
    /// With front-ends on the engine the IR names the source as the engine
    /// saw it: vmlinux is judged by compare's equivalence instead.
    pub vmlinux_equivalence: Option<Verdict>,
    /// Why it is not equivalent, when it is not.
    pub vmlinux_differences: Vec<String>,
    pub cold_over_local_wall: f64,
    /// None with --no-warm.
    pub warm_over_local_wall: Option<f64>,
    pub warm_over_cold_backend: Option<f64>,
    /// The second checkout: hits among the jobs sent to the engine, and among all compiles.
    pub checkout_hit_rate: Option<f64>,
    pub checkout_hits_of_all: Option<f64>,
    pub one_file_remote_over_local: f64,
}

/// The rows the summary reads, found by name: `--no-warm` leaves one out.
pub const WARM: &str = "remote warm full";
pub const CHECKOUT: &str = "second checkout full";

/// The row of the build named `build`, if that build ran.
pub fn row_of<'a>(rows: &'a [RemoteRow], build: &str) -> Option<&'a RemoteRow> {
    rows.iter().find(|r| r.build == build)
}

pub fn print(r: &RemoteBench) {
    let what = if r.front_ends { "front- and back-ends" } else { "back-ends" };
    println!("bench remote: {} {} {}, {what} on engine {}", r.kernel, r.arch, r.config, r.engine);
    println!("  {:<20} {:>8} {:>9} {:>9}  jobs", "build", "wall", "front-end", "back-end");
    for row in &r.rows {
        let jobs = row
            .remote
            .as_ref()
            .map(|s| format!("front-ends {}; back-ends {}", s.line(Kind::FrontEnd), s.line(Kind::BackEnd)))
            .unwrap_or_else(|| "here (no launcher)".into());
        println!(
            "  {:<20} {:>7.1}s {:>8.1}s {:>8.1}s  {jobs}",
            row.build, row.wall_seconds, row.frontend_seconds, row.backend_seconds
        );
    }
    let ms = |v: Option<f64>| v.map(|m| format!("{m:.1} ms")).unwrap_or_else(|| "-".into());
    if let Some(s) = r.rows[1].remote.as_ref() {
        println!(
            "  cold build moved {:.1} MB up, {:.1} MB down; per executed job, median: launcher {}, engine beyond the compile {}",
            s.bytes_uploaded as f64 / 1e6,
            s.bytes_downloaded as f64 / 1e6,
            ms(s.median_overhead_ms),
            ms(s.median_engine_overhead_ms)
        );
    }
    if let Some(s) = row_of(&r.rows, WARM).and_then(|w| w.remote.as_ref()) {
        println!(
            "  warm build: a cache hit takes {} (median), {:.1} MB down",
            ms(s.median_hit_ms),
            s.bytes_downloaded as f64 / 1e6
        );
    }
    match r.vmlinux_equivalence {
        Some(Verdict::Equivalent) => println!("  vmlinux, remote vs local: equivalent"),
        Some(Verdict::Different) => {
            println!("  vmlinux, remote vs local: different: {}", r.vmlinux_differences.join("; "))
        }
        None => println!(
            "  natives and modules the same, remote vs local: {} of {}{}",
            r.natives_compared - r.natives_differing.len(),
            r.natives_compared,
            match r.natives_alike_apart_from_debug_info {
                0 => " (byte for byte)".to_string(),
                n => format!(" ({n} apart from their debug information, which names each build's directory)"),
            }
        ),
    }
    println!("  cold remote / local full wall:        {:.3} (target <= 1.10)", r.cold_over_local_wall);
    if let Some(w) = r.warm_over_cold_backend {
        println!("  warm / cold back-end stage:           {w:.3} (target <= 0.2)");
    }
    if let (true, Some(w)) = (r.front_ends, r.warm_over_local_wall) {
        println!("  warm remote / local full wall:        {w:.3} (target <= 0.25)");
    }
    if let (Some(sent), Some(all)) = (r.checkout_hit_rate, r.checkout_hits_of_all) {
        println!(
            "  second checkout: hits {:.1} % of the jobs sent, {:.1} % of all compiles (target >= 95 %)",
            sent * 100.0,
            all * 100.0
        );
    }
    println!(
        "  one-file rebuild remote / local:      {:.3} (target on mainline 7.x <= 0.5)",
        r.one_file_remote_over_local
    );
}
