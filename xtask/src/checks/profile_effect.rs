//! Did an AutoFDO or Propeller profile act on both kernels, and alike? What
//! a profile leaves in a linked kernel, read from `vmlinux` and the modules:
//! - functions split in two, a `<name>.cold` part (machine function
//!   splitting under AutoFDO, the blocks a Propeller profile leaves out of
//!   its clusters) or `<name>.__part.<n>` (Propeller's further clusters);
//! - functions placed in `.text.hot`, `.text.unlikely` or `.text.split`: in
//!   `vmlinux` between the linker script's `__hot_text_start`/`_end` (and
//!   the unlikely and split pairs), in a module by its section's name;
//! - functions with a basic-block address map (`.llvm_bb_addr_map`,
//!   `CONFIG_PROPELLER_CLANG` without a profile), as `llvm-readobj` lists them.
//!
//! Each is a set of names (a module's prefixed with its path) per build;
//! the verdict wants a split or a map in both (`MARKS`), and every set the
//! same in both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use serde::{Deserialize, Serialize};

use crate::checks::equivalence::without_promotion_suffix;
use crate::exec::Cmd;
use crate::kbuild::outputs::modules;

/// What a profile can leave, in the order reports list them.
pub const KINDS: [&str; 5] = ["split (.cold)", "Propeller parts", "hot", "unlikely", "basic-block address map"];

/// The kinds only a profile (or Propeller's labels) makes: a kernel built
/// without one has none. Placement is compared but proves nothing alone:
/// `__cold` functions (`panic`) are in `.text.unlikely` in any build.
const MARKS: [&str; 3] = ["split (.cold)", "Propeller parts", "basic-block address map"];

/// The linker script's bounds of the grouped sections, per placement kind.
const REGIONS: [(&str, &str, &str); 3] = [
    ("hot", "__hot_text_start", "__hot_text_end"),
    ("unlikely", "__unlikely_text_start", "__unlikely_text_end"),
    ("split (.cold)", "__split_text_start", "__split_text_end"),
];

/// One build's effect: kind → the functions showing it.
pub type Effect = BTreeMap<&'static str, BTreeSet<String>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindComparison {
    pub kind: String,
    pub in_process: usize,
    pub thin_dist: usize,
    pub only_in_process: Vec<String>,
    pub only_thin_dist: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileComparison {
    /// `autofdo`, `propeller`: what the builds were configured with.
    pub profiles: Vec<String>,
    /// Every kind, in both builds.
    pub kinds: Vec<KindComparison>,
    /// Some kind is seen in both builds, and every kind names the same functions.
    pub applied_alike: bool,
    /// Why not, when not.
    pub reasons: Vec<String>,
}

impl ProfileComparison {
    pub fn summary(&self) -> String {
        let seen: Vec<String> = self
            .kinds
            .iter()
            .filter(|k| k.in_process + k.thin_dist > 0)
            .map(|k| format!("{} {}", k.thin_dist, k.kind))
            .collect();
        match self.applied_alike {
            true => format!("{} applied in both, alike: {}", self.profiles.join(" + "), seen.join(", ")),
            false => format!("{}: {}", self.profiles.join(" + "), self.reasons.join("; ")),
        }
    }
}

/// The effect in one object tree: its vmlinux and every module it built.
pub fn read_build(objtree: &Path, readobj: &Path) -> Result<Effect> {
    let mut effect = read_file(&objtree.join("vmlinux"), "", readobj)?;
    for m in modules(objtree).unwrap_or_default() {
        let one = read_file(&objtree.join(&m.ko), &format!("{}: ", m.ko), readobj)?;
        for (kind, names) in one {
            effect.entry(kind).or_default().extend(names);
        }
    }
    Ok(effect)
}

/// The effect in one ELF file, each name prefixed with `prefix`.
pub fn read_file(path: &Path, prefix: &str, readobj: &Path) -> Result<Effect> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = object::File::parse(&*data).with_context(|| format!("{} is not an object file", path.display()))?;
    let mut effect: Effect = KINDS.iter().map(|k| (*k, BTreeSet::new())).collect();
    let address_of = |name: &str| file.symbols().find(|s| s.name() == Ok(name)).map(|s| s.address());
    let regions: Vec<(&str, u64, u64)> = REGIONS
        .iter()
        .filter_map(|(kind, start, end)| Some((*kind, address_of(start)?, address_of(end)?)))
        .filter(|(_, s, e)| s < e)
        .collect();
    // A function's parts are NOTYPE symbols (`number.cold`, `f.llvm.<hash>.cold`), the function itself FUNC.
    let parts = |s: &object::Symbol| matches!(s.kind(), SymbolKind::Text | SymbolKind::Unknown);
    for sym in file.symbols().filter(|s| parts(s) && s.is_definition() && s.section_index().is_some()) {
        let full = sym.name().unwrap_or_default();
        let part = full.strip_suffix(".cold").map(|b| ("split (.cold)", b));
        let part = part.or_else(|| full.split_once(".__part.").map(|(b, _)| ("Propeller parts", b)));
        if let Some((kind, base)) = part {
            let (base, _) = without_promotion_suffix(base);
            effect.get_mut(kind).expect("a kind").insert(format!("{prefix}{base}"));
            continue;
        }
        if sym.kind() != SymbolKind::Text {
            continue;
        }
        let (name, _) = without_promotion_suffix(full);
        let placed = match file.kind() {
            object::ObjectKind::Relocatable => sym
                .section_index()
                .and_then(|i| file.section_by_index(i).ok())
                .and_then(|s| s.name().ok().map(section_placement))
                .flatten(),
            _ => regions.iter().find(|(_, s, e)| (*s..*e).contains(&sym.address())).map(|(k, _, _)| *k),
        };
        if let Some(kind) = placed.filter(|k| *k != "split (.cold)") {
            effect.get_mut(kind).expect("a kind").insert(format!("{prefix}{name}"));
        }
    }
    if file.section_by_name(".llvm_bb_addr_map").is_some() {
        let mapped = bb_addr_map_functions(path, readobj)?;
        effect
            .get_mut("basic-block address map")
            .expect("a kind")
            .extend(mapped.into_iter().map(|n| format!("{prefix}{n}")));
    }
    Ok(effect)
}

/// `.text.hot.<fn>` → hot, `.text.unlikely.<fn>` → unlikely, `.text.split.<fn>` → split.
fn section_placement(section: &str) -> Option<&'static str> {
    let rest = section.strip_prefix(".text.")?;
    [("hot", "hot"), ("unlikely", "unlikely"), ("split", "split (.cold)")]
        .into_iter()
        .find(|(p, _)| rest == *p || rest.starts_with(&format!("{p}.")))
        .map(|(_, kind)| kind)
}

/// The functions `llvm-readobj --bb-addr-map` lists (`Name: <function>`).
fn bb_addr_map_functions(path: &Path, readobj: &Path) -> Result<BTreeSet<String>> {
    let out = Cmd::new(readobj).arg("--bb-addr-map").arg(path.display().to_string()).read()?;
    Ok(out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Name: "))
        .map(|n| without_promotion_suffix(n).0.to_string())
        .collect())
}

/// The two builds' effects side by side.
pub fn compare(profiles: Vec<String>, in_process: &Effect, thin_dist: &Effect) -> ProfileComparison {
    let empty = BTreeSet::new();
    let kinds: Vec<KindComparison> = KINDS
        .iter()
        .map(|kind| {
            let (a, d) = (in_process.get(kind).unwrap_or(&empty), thin_dist.get(kind).unwrap_or(&empty));
            KindComparison {
                kind: kind.to_string(),
                in_process: a.len(),
                thin_dist: d.len(),
                only_in_process: a.difference(d).cloned().collect(),
                only_thin_dist: d.difference(a).cloned().collect(),
            }
        })
        .collect();
    let mut reasons = Vec::new();
    let marks = |k: &&KindComparison| MARKS.contains(&k.kind.as_str()) && k.in_process > 0 && k.thin_dist > 0;
    if !kinds.iter().any(|k| marks(&k)) {
        reasons.push("the profile left no mark in both kernels (no split or mapped function)".to_string());
    }
    for k in kinds.iter().filter(|k| !k.only_in_process.is_empty() || !k.only_thin_dist.is_empty()) {
        let few = |v: &[String]| v.iter().take(6).cloned().collect::<Vec<_>>().join(", ");
        reasons.push(format!(
            "{}: {} only in-process ({}), {} only thin-dist ({})",
            k.kind,
            k.only_in_process.len(),
            few(&k.only_in_process),
            k.only_thin_dist.len(),
            few(&k.only_thin_dist)
        ));
    }
    ProfileComparison { profiles, applied_alike: reasons.is_empty(), kinds, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effect(split: &[&str], hot: &[&str]) -> Effect {
        let mut e: Effect = KINDS.iter().map(|k| (*k, BTreeSet::new())).collect();
        e.insert("split (.cold)", split.iter().map(|s| s.to_string()).collect());
        e.insert("hot", hot.iter().map(|s| s.to_string()).collect());
        e
    }

    #[test]
    fn alike_only_when_something_acted_and_every_kind_agrees() {
        let a = effect(&["number", "m.ko: f"], &["number"]);
        let c = compare(vec!["autofdo".into()], &a, &a);
        assert!(c.applied_alike, "{:?}", c.reasons);
        assert!(c.summary().contains("2 split (.cold)"), "{}", c.summary());
        let none = compare(vec!["autofdo".into()], &effect(&[], &[]), &effect(&[], &[]));
        assert!(!none.applied_alike && none.reasons[0].contains("no mark"));
        // Placement alone (`__cold` functions, any build has them) is no proof the profile acted.
        let placed_only = effect(&[], &["panic"]);
        assert!(!compare(vec!["autofdo".into()], &placed_only, &placed_only).applied_alike);
        let d = compare(vec!["autofdo".into()], &a, &effect(&["number"], &["number"]));
        assert!(!d.applied_alike);
        assert!(d.reasons[0].contains("1 only in-process (m.ko: f)"), "{:?}", d.reasons);
    }

    #[test]
    fn module_sections_name_their_placement() {
        assert_eq!(section_placement(".text.hot.number"), Some("hot"));
        assert_eq!(section_placement(".text.unlikely.f"), Some("unlikely"));
        assert_eq!(section_placement(".text.split.f"), Some("split (.cold)"));
        assert_eq!(section_placement(".text.hotplug_cpu"), None);
        assert_eq!(section_placement(".text"), None);
    }
}
