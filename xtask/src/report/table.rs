//! The terminal table of a compare: one column per mode, and the ratio.

use std::fmt::Write;

use crate::kbuild::stages::Stage;
use crate::report::compare::{cpu, CompareReport, ModeReport};

fn secs(v: Option<f64>) -> String {
    v.map_or("-".into(), |s| format!("{s:.1}s"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(d)) if a > 0.0 => format!("{:.3}", d / a),
        _ => String::new(),
    }
}

fn stage(m: &ModeReport, s: Stage) -> Option<f64> {
    m.stages.iter().find(|t| t.stage == s).map(|t| t.seconds)
}

pub fn render(r: &CompareReport) -> String {
    let (a, d) = (&r.modes.in_process, &r.modes.thin_dist);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "thindist compare: Linux {} ({}, layout {}) {} {}, LLVM={}, -j{}",
        r.kernel.version, r.kernel.series, r.kernel.layout, r.arch, r.config, r.toolchain.llvm, r.jobs
    );
    let _ = writeln!(out, "  machine: {}", r.machine);
    let mut row = |name: &str, x: String, y: String, q: String| {
        let _ = writeln!(out, "  {name:<34} {x:>12} {y:>12} {q:>10}");
    };
    row("", a.mode.name().into(), d.mode.name().into(), "ratio".into());
    for s in Stage::ALL {
        let (x, y) = (stage(a, s), stage(d, s));
        if s.beside_vmlinux() && x.is_none() && y.is_none() {
            continue; // a config without modules, or modules built in-process
        }
        let in_link =
            matches!(s, Stage::ThinLink | Stage::BackEnd) && x.is_none() && stage(a, Stage::LtoLink).is_some();
        let name =
            if s == Stage::LtoLink { "LTO link (thin-link + back-end)".to_string() } else { s.label().to_string() };
        row(&name, if in_link { "(in link)".into() } else { secs(x) }, secs(y), ratio(x, y));
    }
    row("wall time", secs(Some(a.wall_seconds)), secs(Some(d.wall_seconds)), format!("{:.3}", r.ratios.wall));
    row("CPU time (user+sys)", secs(Some(cpu(&a.usage))), secs(Some(cpu(&d.usage))), format!("{:.3}", r.ratios.cpu));
    row(
        "peak RSS, largest process",
        format!("{:.0} MiB", a.usage.peak_rss_mib),
        format!("{:.0} MiB", d.usage.peak_rss_mib),
        format!("{:.3}", r.ratios.peak_rss),
    );
    if let (Some(x), Some(y)) = (&a.incremental, &d.incremental) {
        row(
            "no-op rebuild",
            secs(Some(x.noop.seconds)),
            secs(Some(y.noop.seconds)),
            ratio(Some(x.noop.seconds), Some(y.noop.seconds)),
        );
        row(
            &format!("one-file rebuild ({})", x.touched),
            secs(Some(x.one_file.seconds)),
            secs(Some(y.one_file.seconds)),
            ratio(Some(x.one_file.seconds), Some(y.one_file.seconds)),
        );
        if let (Some(mx), Some(my), Some(source)) = (&x.module_one_file, &y.module_one_file, &x.module_touched) {
            row(
                &format!("one-file rebuild ({source})"),
                secs(Some(mx.seconds)),
                secs(Some(my.seconds)),
                ratio(Some(mx.seconds), Some(my.seconds)),
            );
        }
        if let (Some(mx), Some(my)) = (&x.modules_relinked, &y.modules_relinked) {
            row(
                "every module relinked",
                secs(Some(mx.seconds)),
                secs(Some(my.seconds)),
                ratio(Some(mx.seconds), Some(my.seconds)),
            );
            let (cx, cy) = (cpu(&mx.usage), cpu(&my.usage));
            row("  its CPU time (user+sys)", secs(Some(cx)), secs(Some(cy)), ratio(Some(cx), Some(cy)));
            let (px, py) = (mx.usage.peak_rss_mib, my.usage.peak_rss_mib);
            row("  its peak RSS", format!("{px:.0} MiB"), format!("{py:.0} MiB"), ratio(Some(px), Some(py)));
        }
    }
    let e = &r.equivalence;
    for s in &e.sections {
        row(&format!("{} bytes", s.name), s.in_process.to_string(), s.thin_dist.to_string(), format!("{:.4}", s.ratio));
        if s.judged_by_symbols {
            row(
                &format!("  {} in symbols (judged)", s.name),
                s.symbol_bytes_in_process.to_string(),
                s.symbol_bytes_thin_dist.to_string(),
                format!("{:.4}", s.symbol_bytes_ratio),
            );
        }
    }
    row(
        "function bytes (sum of sizes)",
        e.function_bytes_in_process.to_string(),
        e.function_bytes_thin_dist.to_string(),
        format!("{:.4}", e.function_bytes_ratio),
    );
    row("function + object symbols", e.symbols_in_process.to_string(), e.symbols_thin_dist.to_string(), String::new());
    row(
        "  of them .llvm.<hash> renamed",
        e.promoted_in_process.to_string(),
        e.promoted_thin_dist.to_string(),
        String::new(),
    );
    let listed = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
        }
    };
    let _ = writeln!(out, "  symbols only in in-process: {}", listed(&e.only_in_process));
    let _ = writeln!(out, "  symbols only in thin-dist:  {}", listed(&e.only_thin_dist));
    if let Some(m) = &r.modules_equivalence {
        let _ = writeln!(out, "  modules: {}", m.summary());
    }
    if !r.config_differences.is_empty() {
        let _ = writeln!(out, "  config differs beyond the LTO choice: {}", r.config_differences.join("; "));
    }
    if let (Some(x), Some(y)) = (&a.boot, &d.boot) {
        let _ = writeln!(
            out,
            "  boot: in-process {:?} ({}), thin-dist {:?} ({})",
            x.outcome, x.reason, y.outcome, y.reason
        );
    }
    if let Some(v) = &d.validation {
        let _ = writeln!(out, "  thin-dist validation: {}", v.summary().replace('\n', "; "));
    }
    let verdict = if e.reasons.is_empty() {
        format!(
            "equivalent: the same symbols, section sizes (.bss: its symbols) within {:.0}%",
            crate::checks::equivalence::SIZE_TOLERANCE * 100.0
        )
    } else {
        format!("different: {}", e.reasons.join("; "))
    };
    let _ = writeln!(out, "  verdict: {verdict}");
    out
}
