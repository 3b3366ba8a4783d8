//! Are the two builds' modules the same programs? Every module `modules.order`
//! names in either build is compared as `equivalence` compares vmlinux: its
//! symbols by name and its main sections by size. Both modes link a module
//! the same way (in-process ThinLTO inside `ld.lld -r`), so besides the verdict
//! the report counts the modules that are byte for byte the same.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::checks::equivalence::{self, Image, Verdict};
use crate::kbuild::outputs::{modules, Module};

#[derive(Debug, Serialize, Deserialize)]
pub struct ModulesEquivalence {
    pub verdict: Verdict,
    /// Modules built by both modes.
    pub in_both: usize,
    /// Of those, the ones whose files are identical.
    pub byte_identical: usize,
    pub only_in_process: Vec<String>,
    pub only_thin_dist: Vec<String>,
    /// Modules built by both whose symbols or sections differ, with why.
    pub different: Vec<(String, Vec<String>)>,
}

/// Compares the modules of two object trees; None when neither made any.
pub fn compare(in_process: &Path, thin_dist: &Path) -> Result<Option<ModulesEquivalence>> {
    let (a, b) = (modules(in_process), modules(thin_dist));
    if a.is_none() && b.is_none() {
        return Ok(None);
    }
    let set = |m: Option<Vec<Module>>| m.unwrap_or_default().into_iter().map(|m| m.ko).collect::<BTreeSet<_>>();
    let (a, b) = (set(a), set(b));
    let mut report = ModulesEquivalence {
        verdict: Verdict::Equivalent,
        in_both: 0,
        byte_identical: 0,
        only_in_process: a.difference(&b).cloned().collect(),
        only_thin_dist: b.difference(&a).cloned().collect(),
        different: Vec::new(),
    };
    for ko in a.intersection(&b) {
        report.in_both += 1;
        let read = |root: &Path| std::fs::read(root.join(ko)).with_context(|| format!("cannot read {ko}"));
        if read(in_process)? == read(thin_dist)? {
            report.byte_identical += 1;
            continue;
        }
        let e = equivalence::compare(&Image::read(&in_process.join(ko))?, &Image::read(&thin_dist.join(ko))?);
        if e.verdict == Verdict::Different {
            report.different.push((ko.clone(), e.reasons));
        }
    }
    if !report.only_in_process.is_empty() || !report.only_thin_dist.is_empty() || !report.different.is_empty() {
        report.verdict = Verdict::Different;
    }
    Ok(Some(report))
}

impl ModulesEquivalence {
    /// One line for the compare table.
    pub fn summary(&self) -> String {
        let mut s = format!("{} in both, {} byte-identical", self.in_both, self.byte_identical);
        if !self.only_in_process.is_empty() {
            s.push_str(&format!("; only in-process: {}", self.only_in_process.join(", ")));
        }
        if !self.only_thin_dist.is_empty() {
            s.push_str(&format!("; only thin-dist: {}", self.only_thin_dist.join(", ")));
        }
        for (ko, why) in &self.different {
            s.push_str(&format!("; {ko} differs: {}", why.join(", ")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::{Object as Writer, Symbol, SymbolSection};
    use object::{Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope};

    /// A relocatable ELF defining one function.
    fn module(defines: &str) -> Vec<u8> {
        let mut w = Writer::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
        let text = w.add_section(vec![], b".text".to_vec(), SectionKind::Text);
        let offset = w.append_section_data(text, &[0xc3; 16], 16);
        w.add_symbol(Symbol {
            name: defines.as_bytes().to_vec(),
            value: offset,
            size: 16,
            kind: SymbolKind::Text,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Section(text),
            flags: SymbolFlags::None,
        });
        w.write().unwrap()
    }

    fn tree(modules: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let order: Vec<String> = modules.iter().map(|(m, _)| format!("{m}.o")).collect();
        std::fs::write(dir.path().join("modules.order"), order.join("\n")).unwrap();
        for (m, defines) in modules {
            std::fs::create_dir_all(dir.path().join(m).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(format!("{m}.ko")), module(defines)).unwrap();
        }
        dir
    }

    #[test]
    fn counts_identical_differing_and_missing_modules() {
        let a = tree(&[("fs/a", "a_init"), ("fs/b", "b_init")]);
        let b = tree(&[("fs/a", "a_init"), ("fs/b", "b_other"), ("fs/c", "c_init")]);
        let r = compare(a.path(), b.path()).unwrap().unwrap();
        assert_eq!((r.in_both, r.byte_identical), (2, 1));
        assert_eq!(r.only_thin_dist, vec!["fs/c.ko".to_string()]);
        assert!(r.only_in_process.is_empty());
        assert_eq!(r.different.len(), 1);
        assert_eq!(r.different[0].0, "fs/b.ko");
        assert_eq!(r.verdict, Verdict::Different);
    }

    #[test]
    fn the_same_modules_are_equivalent_and_no_modules_is_none() {
        let a = tree(&[("fs/a", "a_init")]);
        let b = tree(&[("fs/a", "a_init")]);
        let r = compare(a.path(), b.path()).unwrap().unwrap();
        assert_eq!((r.verdict, r.byte_identical), (Verdict::Equivalent, 1));
        let (x, y) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        assert!(compare(x.path(), y.path()).unwrap().is_none());
    }
}
