//! bench incremental: no-op and one-file rebuild times of THIN_DIST next to
//! in-process ThinLTO, same tree and config.

use anyhow::Result;

use crate::home;
use crate::kbuild::lto_mode::ModePair;
use crate::kbuild::outdir;
use crate::kbuild::rebuild::{self, TOUCHED};
use crate::kbuild::session::{BuildSpec, Session};
use crate::tree::state::State;

/// Both modes of `spec` built from clean, then their no-op and one-file
/// rebuilds; the times and the ratios against the targets printed.
pub fn run(spec: &BuildSpec, state: &State) -> Result<()> {
    let root = home::cache().join("bench").join(format!("incremental-{}", spec.arch.name));
    let builds = ModePair::try_new(|mode| {
        let session = Session::open(spec.in_mode(mode, &root), state)?;
        outdir::fresh_dir(&session.kb.objtree)?;
        session.configure()?;
        Ok::<_, anyhow::Error>(session)
    })?;
    let full = builds.try_map(|_, b| b.make_ok("full").map(|r| r.seconds))?;
    let rows = rebuild::incremental(&builds)?;
    println!("bench incremental ({} tinyconfig, touched {TOUCHED}):", spec.arch.name);
    println!("  {:<11} {:>8} {:>8} {:>9}", "mode", "full", "no-op", "one-file");
    for (mode, inc) in rows.iter() {
        let full = full.get(mode);
        println!("  {:<11} {full:>7.1}s {:>7.1}s {:>8.1}s", mode.name(), inc.noop.seconds, inc.one_file.seconds);
    }
    let (inproc, dist) = (&rows.in_process, &rows.thin_dist);
    println!("  THIN_DIST no-op / full build: {:.3} (target <= 0.05)", dist.noop.seconds / full.thin_dist);
    println!(
        "  one-file THIN_DIST / in-process: {:.3} (target <= 0.5)",
        dist.one_file.seconds / inproc.one_file.seconds
    );
    Ok(())
}
