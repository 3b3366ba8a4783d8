//! `bench launcher`: what the launcher adds to a call it runs here. A small
//! compile and a `--version` probe, each run directly and through
//! `thindist launch` (as make runs it, with a build's configuration and no
//! engine), in alternating order; medians of each, and their difference.

use std::time::Instant;

use anyhow::{Context, Result};

use crate::exec::Cmd;
use crate::home;
use crate::kbuild::outdir;
use crate::launcher::config::LaunchConfig;
use crate::stats::median;
use crate::toolchain::identity::Compiler;
use crate::toolchain::Toolchain;

pub fn run(samples: u32) -> Result<()> {
    let dir = home::cache().join("bench").join("launcher");
    outdir::fresh_dir(&dir)?;
    std::fs::write(dir.join("t.c"), "int f(int x) { return x + 1; }\n")?;
    let clang = Toolchain::select(None)?.clang;
    let cfg = LaunchConfig {
        endpoint: None,
        front_ends: false,
        no_cache: false,
        fallback: false,
        records: dir.join("jobs.jsonl"),
        srctree: dir.clone(),
        objtree: dir.clone(),
        compiler: Compiler::identify(&clang)?,
        max_batch: 0,
        salt: String::new(),
        scans: None,
        platform: Vec::new(),
        invocation: String::new(),
        legacy_outputs: false,
        toolchain: None,
    };
    let (key, value) = cfg.to_env();
    let exe = std::env::current_exe().context("cannot find thindist's own binary")?;
    let clang = clang.to_string_lossy().to_string();
    println!("bench launcher: {samples} runs of each, alternating, {}", exe.display());
    for (name, args) in [("compile", &["-O2", "-c", "-o", "t.o", "t.c"][..]), ("--version", &["--version"][..])] {
        let direct = Cmd::new(&clang).args(args).current_dir(&dir);
        let launched = Cmd::new(&exe).arg("launch").arg(&clang).args(args).current_dir(&dir).env(&key, &value);
        let (mut d, mut l) = (Vec::new(), Vec::new());
        for i in 0..samples {
            let order = if i % 2 == 0 { [&direct, &launched] } else { [&launched, &direct] };
            for c in order {
                let t = Instant::now();
                c.run_quiet()?;
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                if std::ptr::eq(c, &direct) {
                    d.push(ms)
                } else {
                    l.push(ms)
                }
            }
        }
        let (md, ml) = (median(&mut d).unwrap_or(f64::NAN), median(&mut l).unwrap_or(f64::NAN));
        println!(
            "  {name:<10} direct {md:>7.2} ms, through the launcher {ml:>7.2} ms: +{:.2} ms (target <= 5 ms)",
            ml - md
        );
    }
    Ok(())
}
