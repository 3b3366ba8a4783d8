//! bench overhead: the same tinyconfig built from clean through raw make and
//! through the tool's make driver, in alternating order.

use std::fs::File;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::exec::child::self_cpu_seconds;
use crate::home;
use crate::kbuild::outdir;
use crate::kbuild::session::{BuildSpec, Session};
use crate::stats::median;
use crate::tree::state::State;

/// One clean build: raw make (output to a file) or through the driver.
/// Returns wall seconds and, for the driver, the CPU seconds the tool itself used.
fn timed_build(spec: &BuildSpec, state: &State, driver: bool, run: usize) -> Result<(f64, f64)> {
    let root = home::cache().join("bench").join(format!("overhead-{}", spec.arch.name));
    let spec = BuildSpec { out: Some(root.join("build")), log_dir: root.clone(), ..spec.clone() };
    let session = Session::open(spec, state)?;
    outdir::fresh_dir(&session.kb.objtree)?;
    session.configure()?;
    if driver {
        let cpu = self_cpu_seconds();
        let made = session.make(&format!("driver-{run}"))?;
        if !made.success {
            bail!("the driven build failed; see {}", made.log.display());
        }
        return Ok((made.seconds, self_cpu_seconds() - cpu));
    }
    let log = session.log_path(&format!("raw-{run}"));
    let started = Instant::now();
    let (status, _) = session.kb.command(&session.kb.kernel_targets()).run_to_file(File::create(&log)?)?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("raw make failed; see {}", log.display());
    }
    Ok((seconds, 0.0))
}

/// `pairs` pairs of clean builds of `spec`, raw make and the driver, in ABBA
/// order; each pair and the median ratio printed.
pub fn run(spec: &BuildSpec, state: &State, pairs: u32) -> Result<()> {
    let mut rows = Vec::new();
    for pair in 0..pairs as usize {
        // ABBA: an even pair starts with raw make, an odd one with the driver.
        let order = if pair % 2 == 0 { [false, true] } else { [true, false] };
        let mut raw = 0.0;
        let mut driven = (0.0, 0.0);
        for driver in order {
            let t = timed_build(spec, state, driver, pair)?;
            if driver {
                driven = t;
            } else {
                raw = t.0;
            }
        }
        println!(
            "  pair {}: raw {raw:.1}s, driver {:.1}s, ratio {:.3}, driver's own CPU {:.2}s",
            pair + 1,
            driven.0,
            driven.0 / raw,
            driven.1
        );
        rows.push((raw, driven.0, driven.1));
    }
    let mut ratios: Vec<f64> = rows.iter().map(|(r, d, _)| d / r).collect();
    let mut own: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let (lo, hi) = (ratios.iter().cloned().fold(f64::MAX, f64::min), ratios.iter().cloned().fold(f64::MIN, f64::max));
    println!("bench overhead ({} tinyconfig, {pairs} pairs, alternating order):", spec.arch.name);
    println!(
        "  ratio driver / raw make: median {:.3} (min {lo:.3}, max {hi:.3}); target <= 1.02",
        median(&mut ratios).unwrap_or(f64::NAN)
    );
    println!("  the driver's own CPU time per build: median {:.2}s", median(&mut own).unwrap_or(f64::NAN));
    Ok(())
}
