//! `compare` with real clang/lld: what a report of in-process ThinLTO and
//! THIN_DIST side by side with the small modules config must show (THIN_DIST
//! builds the modules in distributed mode: 6.12's patch 0012, linux-7's
//! 0002), both booted loading modules (CI's profile case on 7.3 and the
//! newcomer's 6.12 tree in `--long` run it); and compare's care for a
//! directory it did not make.

use serde_json::Value;

use std::path::Path;

use crate::fixtures::setup_612;
use crate::support::*;

fn stage_names(mode: &Value) -> Vec<&str> {
    mode["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect()
}

/// What a `compare --fragment modules.config --boot` run must show: both modes' stages inside their build's wall
/// time, CPU and memory figures, no-op and one-file rebuilds (a module
/// source's too, and every module linked again), both boots loading the two modules, THIN_DIST
/// validation and an equivalent verdict over the same symbols and the
/// three modules, and an SVG bar per stage.
pub fn check_compare(run: &Run, json: &Path, root: &Path) -> Result {
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let modes = report["modes"].as_array().unwrap();
    let names: Vec<&str> = modes.iter().map(|m| m["mode"].as_str().unwrap()).collect();
    check(names == ["in-process", "thin-dist"], format!("modes {names:?}"))?;
    let (inproc, dist) = (&modes[0], &modes[1]);
    check(
        stage_names(inproc) == ["front-end", "lto-link", "final-link", "modules"],
        format!("in-process stages {:?}", stage_names(inproc)),
    )?;
    check(
        stage_names(dist) == ["front-end", "thin-link", "back-end", "final-link", "module-back-end", "modules"],
        format!("thin-dist stages {:?}", stage_names(dist)),
    )?;
    for m in modes {
        let wall = m["wall_seconds"].as_f64().unwrap();
        let mut end = 0.0;
        for s in m["stages"].as_array().unwrap() {
            let (start, secs) = (s["start"].as_f64().unwrap(), s["seconds"].as_f64().unwrap());
            // Module stages run beside vmlinux's; vmlinux's follow one another.
            let beside = s["stage"].as_str().unwrap().starts_with("module");
            check(
                secs > 0.0 && (beside || start >= end - 0.01) && start + secs <= wall + 0.01,
                format!("{} stage {s} within the build's {wall}s", m["mode"]),
            )?;
            if !beside {
                end = start + secs;
            }
        }
        let cpu = m["usage"]["user_seconds"].as_f64().unwrap() + m["usage"]["sys_seconds"].as_f64().unwrap();
        // make's own CPU is ~1% of the wall time; a third shows its children were counted
        // (on an idle 2-core machine it is above the wall time, less when other work shares the cores).
        check(cpu > 0.3 * wall && cpu < 2.5 * wall, format!("{} CPU {cpu}s for {wall}s wall", m["mode"]))?;
        check(
            m["usage"]["peak_rss_mib"].as_f64().unwrap() > 50.0,
            format!("{} peak RSS {}", m["mode"], m["usage"]["peak_rss_mib"]),
        )?;
        let inc = &m["incremental"];
        check(
            inc["noop"]["steps"] == 0 && inc["noop"]["seconds"].as_f64().unwrap() < 0.1 * wall,
            format!("{} no-op {inc}", m["mode"]),
        )?;
        check(
            inc["one_file"]["steps"].as_u64().unwrap() >= 2,
            format!("{} one-file rebuild compiled and linked: {inc}", m["mode"]),
        )?;
        // A configfs source: its compile and the module's links, and with THIN_DIST its one native.
        let module_steps = if m["mode"] == "thin-dist" { 4 } else { 3 };
        check(
            inc["module_touched"].as_str().is_some_and(|t| t.starts_with("fs/configfs/"))
                && inc["module_one_file"]["steps"] == module_steps,
            format!("{} module one-file rebuild, {module_steps} steps: {inc}", m["mode"]),
        )?;
        check(m["boot"]["outcome"] == "booted", format!("{} boot: {}", m["mode"], m["boot"]["reason"]))?;
        // /init loaded the small modules config's two modules.
        check(m["boot"]["modules_loaded"] == 2, format!("{} booted loading two modules: {}", m["mode"], m["boot"]))?;
    }
    // Every module's objects touched: each build links its modules again
    // (configfs's links and three .ko); THIN_DIST also recompiles configfs's
    // six natives, which in-process ThinLTO redoes inside its `ld -r`.
    let relinked = |m: &Value| m["incremental"]["modules_relinked"]["steps"].as_u64().unwrap_or(0);
    check(
        relinked(inproc) >= 4 && relinked(dist) >= relinked(inproc) + 6,
        format!("modules relinked: {} and {} steps", relinked(inproc), relinked(dist)),
    )?;
    check(dist["validation"]["failures"].as_array().is_some_and(|f| f.is_empty()), "the thin-dist build validates")?;
    let e = &report["equivalence"];
    check(e["verdict"] == "equivalent", format!("verdict {} ({})", e["verdict"], e["reasons"]))?;
    check(
        e["symbols_in_process"].as_u64().unwrap() > 1000 && e["symbols_in_process"] == e["symbols_thin_dist"],
        format!("symbols {} / {}", e["symbols_in_process"], e["symbols_thin_dist"]),
    )?;
    let mods = &report["modules_equivalence"];
    check(
        mods["verdict"] == "equivalent" && mods["in_both"] == 3,
        format!("the three modules are equivalent: {mods}"),
    )?;
    let sections: Vec<&str> = e["sections"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    check(sections == [".text", ".data", ".rodata", ".bss"], format!("sections {sections:?}"))?;
    check(
        report["config_differences"].as_array().unwrap().is_empty(),
        format!("configs differ: {}", report["config_differences"]),
    )?;
    let svg = std::fs::read_to_string(root.join("compare.svg")).unwrap();
    check(
        svg.contains(">in-process</text>") && svg.contains(">thin-dist</text>") && svg.matches("<title>").count() == 10,
        "the SVG has both lanes and a bar per stage",
    )?;
    check(
        run.stdout.contains("verdict: equivalent") && run.stdout.contains("(in link)"),
        "the table shows the verdict and the in-link back-end",
    )
}

pub fn refuses_a_foreign_out_dir() -> Result {
    let (_d, state) = setup_612()?;
    let foreign = tempfile::tempdir().unwrap();
    std::fs::create_dir(foreign.path().join("in-process")).unwrap();
    std::fs::write(foreign.path().join("in-process/notes.txt"), "keep me").unwrap();
    xtask(&state, &["compare", "--out", foreign.path().to_str().unwrap()]).fails_with("was not made by thindist")?;
    let marker =
        foreign.path().join(".thindist-owned").exists() || foreign.path().join("in-process/.thindist-owned").exists();
    check(!marker && !foreign.path().join("thin-dist").exists(), "nothing was written into the user's directory")?;
    check(
        std::fs::read_to_string(foreign.path().join("in-process/notes.txt")).is_ok_and(|t| t == "keep me"),
        "the user's file is still there",
    )
}
