//! The terminal table of a compare: one column per mode, and the ratio.

use std::fmt::Write;

use crate::checks::equivalence::{Equivalence, SIZE_TOLERANCE};
use crate::checks::profile_effect::ProfileComparison;
use crate::kbuild::rebuild::Incremental;
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

/// The table being written: rows of a name, both modes and the ratio, and
/// lines of notes.
#[derive(Default)]
struct Table(String);

impl Table {
    fn row(&mut self, name: &str, x: String, y: String, q: String) {
        let _ = writeln!(self.0, "  {name:<34} {x:>12} {y:>12} {q:>10}");
    }

    /// A row of seconds in each mode, with their ratio.
    fn seconds(&mut self, name: &str, x: f64, y: f64) {
        self.row(name, secs(Some(x)), secs(Some(y)), ratio(Some(x), Some(y)));
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(self.0, "  {text}");
    }
}

pub fn render(r: &CompareReport) -> String {
    let (a, d) = (&r.modes.in_process, &r.modes.thin_dist);
    let mut t = Table::default();
    let _ = writeln!(
        t.0,
        "thindist compare: Linux {} ({}, layout {}) {} {}, LLVM={}, -j{}",
        r.kernel.version, r.kernel.series, r.kernel.layout, r.arch, r.config, r.toolchain.llvm, r.jobs
    );
    t.line(&format!("machine: {}", r.machine));
    t.row("", a.mode.name().into(), d.mode.name().into(), "ratio".into());
    stages(&mut t, a, d);
    t.row("wall time", secs(Some(a.wall_seconds)), secs(Some(d.wall_seconds)), format!("{:.3}", r.ratios.wall));
    t.row("CPU time (user+sys)", secs(Some(cpu(&a.usage))), secs(Some(cpu(&d.usage))), format!("{:.3}", r.ratios.cpu));
    t.row(
        "peak RSS, largest process",
        format!("{:.0} MiB", a.usage.peak_rss_mib),
        format!("{:.0} MiB", d.usage.peak_rss_mib),
        format!("{:.3}", r.ratios.peak_rss),
    );
    if let (Some(x), Some(y)) = (&a.incremental, &d.incremental) {
        rebuilds(&mut t, x, y);
    }
    equivalence(&mut t, &r.equivalence);
    notes(&mut t, r, a, d);
    t.0
}

/// Each stage's time; in-process ThinLTO's thin-link and back-end are inside its LTO link.
fn stages(t: &mut Table, a: &ModeReport, d: &ModeReport) {
    for s in Stage::ALL {
        let (x, y) = (stage(a, s), stage(d, s));
        if s.beside_vmlinux() && x.is_none() && y.is_none() {
            continue; // a config without modules, or modules built in-process
        }
        let in_link =
            matches!(s, Stage::ThinLink | Stage::BackEnd) && x.is_none() && stage(a, Stage::LtoLink).is_some();
        let name =
            if s == Stage::LtoLink { "LTO link (thin-link + back-end)".to_string() } else { s.label().to_string() };
        t.row(&name, if in_link { "(in link)".into() } else { secs(x) }, secs(y), ratio(x, y));
    }
}

fn rebuilds(t: &mut Table, x: &Incremental, y: &Incremental) {
    t.seconds("no-op rebuild", x.noop.seconds, y.noop.seconds);
    t.seconds(&format!("one-file rebuild ({})", x.touched), x.one_file.seconds, y.one_file.seconds);
    if let (Some(mx), Some(my), Some(source)) = (&x.module_one_file, &y.module_one_file, &x.module_touched) {
        t.seconds(&format!("one-file rebuild ({source})"), mx.seconds, my.seconds);
    }
    if let (Some(mx), Some(my)) = (&x.modules_relinked, &y.modules_relinked) {
        t.seconds("every module relinked", mx.seconds, my.seconds);
        t.seconds("  its CPU time (user+sys)", cpu(&mx.usage), cpu(&my.usage));
        let (px, py) = (mx.usage.peak_rss_mib, my.usage.peak_rss_mib);
        t.row("  its peak RSS", format!("{px:.0} MiB"), format!("{py:.0} MiB"), ratio(Some(px), Some(py)));
    }
}

/// Section sizes, function bytes and symbols of both kernels.
fn equivalence(t: &mut Table, e: &Equivalence) {
    for s in &e.sections {
        t.row(
            &format!("{} bytes", s.name),
            s.in_process.to_string(),
            s.thin_dist.to_string(),
            format!("{:.4}", s.ratio),
        );
        if s.judged_by_symbols {
            t.row(
                &format!("  {} in symbols (judged)", s.name),
                s.symbol_bytes_in_process.to_string(),
                s.symbol_bytes_thin_dist.to_string(),
                format!("{:.4}", s.symbol_bytes_ratio),
            );
        }
    }
    t.row(
        "function bytes (sum of sizes)",
        e.function_bytes_in_process.to_string(),
        e.function_bytes_thin_dist.to_string(),
        format!("{:.4}", e.function_bytes_ratio),
    );
    t.row(
        "function + object symbols",
        e.symbols_in_process.to_string(),
        e.symbols_thin_dist.to_string(),
        String::new(),
    );
    t.row(
        "  of them .llvm.<hash> renamed",
        e.promoted_in_process.to_string(),
        e.promoted_thin_dist.to_string(),
        String::new(),
    );
    let listed = |v: &[String]| match v.is_empty() {
        true => "none".to_string(),
        false => v.iter().take(8).cloned().collect::<Vec<_>>().join(", "),
    };
    t.line(&format!("symbols only in in-process: {}", listed(&e.only_in_process)));
    t.line(&format!("symbols only in thin-dist:  {}", listed(&e.only_thin_dist)));
}

/// Modules, config, boots, validation, and the verdict.
fn notes(t: &mut Table, r: &CompareReport, a: &ModeReport, d: &ModeReport) {
    if let Some(m) = &r.modules_equivalence {
        t.line(&format!("modules: {}", m.summary()));
    }
    if let Some(p) = &r.profile {
        profile(t, p);
    }
    if !r.config_differences.is_empty() {
        t.line(&format!("config differs beyond the LTO choice: {}", r.config_differences.join("; ")));
    }
    if let (Some(x), Some(y)) = (&a.boot, &d.boot) {
        t.line(&format!("boot: in-process {:?} ({}), thin-dist {:?} ({})", x.outcome, x.reason, y.outcome, y.reason));
    }
    if let Some(v) = &d.validation {
        t.line(&format!("thin-dist validation: {}", v.summary().replace('\n', "; ")));
    }
    let e = &r.equivalence;
    let verdict = match e.reasons.is_empty() {
        true => format!(
            "equivalent: the same symbols, section sizes (.bss: its symbols) within {:.0}%",
            SIZE_TOLERANCE * 100.0
        ),
        false => format!("different: {}", e.reasons.join("; ")),
    };
    let profile = match &r.profile {
        Some(p) if p.applied_alike => ", profile applied in both",
        Some(_) => ", profile NOT applied alike",
        None => "",
    };
    t.line(&format!("verdict: {verdict}{profile}"));
}

/// What the profile did, kind by kind, in both builds.
fn profile(t: &mut Table, p: &ProfileComparison) {
    for k in p.kinds.iter().filter(|k| k.in_process + k.thin_dist > 0) {
        let same = match k.only_in_process.len() + k.only_thin_dist.len() {
            0 => "same".to_string(),
            n => format!("{n} differ"),
        };
        t.row(&format!("profile: {}", k.kind), k.in_process.to_string(), k.thin_dist.to_string(), same);
    }
    t.line(&format!("profile: {}", p.summary()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report compare wrote (docs/) reads back typed, as bench projection
    /// reads one, and renders its rows.
    #[test]
    fn a_written_report_reads_back_and_renders() {
        let path = crate::home::project_root().join("docs/compare-modules-612-idle.json");
        let report: CompareReport = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let table = render(&report);
        let row = |name: &str| table.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_default().to_string();
        assert!(row("one-file rebuild (kernel/fork.c)").ends_with("29.6s        11.4s      0.387"), "{table}");
        assert!(row("thin-link").contains("(in link)"), "{table}");
        assert!(row("every module relinked").ends_with("1.176"), "{table}");
        assert!(table.ends_with("verdict: equivalent: the same symbols, section sizes (.bss: its symbols) within 5%\n"));
    }
}
