//! Are the two kernels the same program? Their function and object symbols
//! (by name, with how often each name occurs) and the sizes of their main
//! sections, read from both `vmlinux` files, or from a module's two `.ko`.
//!
//! ThinLTO renames a local symbol it promotes to `name.llvm.<hash>`, the
//! hash taken from the module's identifier, which differs between the modes
//! (an archive member inside ld.lld, an object path for a back-end compile);
//! names are compared without that suffix.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use serde::{Deserialize, Serialize};

pub const SECTIONS: [&str; 4] = [".text", ".data", ".rodata", ".bss"];

/// A section may differ in size by this fraction before the verdict says
/// "different". The modes lay code and data out differently: ld.lld's
/// in-process code generator puts every function and object in a section of
/// its own (so calls between functions stay rel32 and each object is aligned
/// on its own), a back-end compile does not. Measured on x86_64 tinyconfig:
/// .data 2.4%, .bss 0.9%; missing code or data would be far more.
pub const SIZE_TOLERANCE: f64 = 0.05;

/// A difference of at most this many bytes is within tolerance whatever
/// the ratio: a small module's sections are tens of bytes, and a zero-sized
/// object (`struct lock_class_key` without lockdep) takes 0 bytes from
/// ld.lld's code generator and 1 from a back-end compile (configfs.ko's
/// `.bss` symbols: 20 vs 22 bytes).
pub const SIZE_SLACK_BYTES: u64 = 64;

/// The main section a section of a relocatable object (a module) is part
/// of: `.text.<function>` of `.text`, as the module loader lays them out;
/// ld.lld's in-process code generator gives every function and object a
/// section of its own, a back-end compile does not. Sections named
/// `.<main>..<x>` are the kernel's own (`.data..percpu`), not part of it.
fn main_section(name: &str, relocatable: bool) -> Option<&'static str> {
    SECTIONS.iter().copied().find(|main| {
        name == *main
            || relocatable
                && name.strip_prefix(main).and_then(|r| r.strip_prefix('.')).is_some_and(|r| !r.starts_with('.'))
    })
}

/// Sections judged by the bytes of their symbols, not their extent. `.bss`
/// has no bytes beyond its objects, and its extent holds linker-script
/// padding: on x86_64 with AMD_MEM_ENCRYPT (defconfig) `BSS_DECRYPTED`
/// aligns inside it to 2 MiB, so it grows by whatever `.data` and `.text`
/// leave of that boundary (1056768 vs 1372160 bytes on 6.12 defconfig, with
/// the same 3999 objects of 671374 vs 672062 bytes).
pub const JUDGED_BY_SYMBOLS: [&str; 1] = [".bss"];

/// In a module, `.text` is judged by its symbols too: the in-process `.ko`
/// has a section per function, sized without the padding between them,
/// where a back-end compile's one `.text` holds it (crypto_hash.ko: 4024
/// vs 4424 bytes of sections for the same functions).
pub const JUDGED_BY_SYMBOLS_IN_MODULES: [&str; 2] = [".text", ".bss"];

/// What compare reads of one vmlinux.
#[derive(Debug, Default)]
pub struct Image {
    /// Function (STT_FUNC) and object (STT_OBJECT) symbols: name -> how many.
    pub symbols: BTreeMap<String, usize>,
    /// How many symbol names carried ThinLTO's `.llvm.<hash>` suffix.
    pub promoted: usize,
    /// The sizes of all function symbols added up: the code, without padding.
    pub function_bytes: u64,
    pub sections: BTreeMap<String, u64>,
    /// Per section of `SECTIONS`, the sizes of the symbols defined in it added up.
    pub symbol_bytes: BTreeMap<String, u64>,
    /// A relocatable object (a module), not a linked kernel.
    pub relocatable: bool,
}

/// A name without ThinLTO's promotion suffix, and whether it had one.
pub fn without_promotion_suffix(name: &str) -> (&str, bool) {
    match name.rsplit_once(".llvm.") {
        Some((base, hash)) if !base.is_empty() && !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_digit()) => {
            (base, true)
        }
        _ => (name, false),
    }
}

impl Image {
    pub fn read(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let file = object::File::parse(&*data).with_context(|| format!("{} is not an object file", path.display()))?;
        let mut image = Image::default();
        let relocatable = file.kind() == object::ObjectKind::Relocatable;
        image.relocatable = relocatable;
        let mut section_names = std::collections::HashMap::new();
        for section in file.sections() {
            if let Some(main) = section.name().ok().and_then(|n| main_section(n, relocatable)) {
                section_names.insert(section.index(), main.to_string());
                *image.sections.entry(main.to_string()).or_insert(0) += section.size();
            }
        }
        for sym in file.symbols() {
            if !matches!(sym.kind(), SymbolKind::Text | SymbolKind::Data) || !sym.is_definition() {
                continue;
            }
            if let Some(section) = sym.section_index().and_then(|i| section_names.get(&i)) {
                *image.symbol_bytes.entry(section.clone()).or_insert(0) += sym.size();
            }
            let (name, promoted) = without_promotion_suffix(sym.name().unwrap_or_default());
            if name.is_empty() {
                continue;
            }
            *image.symbols.entry(name.to_string()).or_insert(0) += 1;
            image.promoted += promoted as usize;
            if sym.kind() == SymbolKind::Text {
                image.function_bytes += sym.size();
            }
        }
        Ok(image)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Equivalent,
    Different,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SectionSizes {
    pub name: String,
    pub in_process: u64,
    pub thin_dist: u64,
    /// thin-dist / in-process
    pub ratio: f64,
    /// The sizes of the symbols defined in the section added up, in each kernel.
    pub symbol_bytes_in_process: u64,
    pub symbol_bytes_thin_dist: u64,
    pub symbol_bytes_ratio: f64,
    /// Whether the verdict reads `symbol_bytes_ratio` (see `JUDGED_BY_SYMBOLS`) rather than `ratio`.
    pub judged_by_symbols: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Equivalence {
    pub verdict: Verdict,
    /// Why the verdict is "different" (empty when equivalent).
    pub reasons: Vec<String>,
    pub symbols_in_process: usize,
    pub symbols_thin_dist: usize,
    /// Names compared without their `.llvm.<hash>` suffix, in each kernel.
    pub promoted_in_process: usize,
    pub promoted_thin_dist: usize,
    /// Function sizes added up, in each kernel; thin-dist / in-process.
    pub function_bytes_in_process: u64,
    pub function_bytes_thin_dist: u64,
    pub function_bytes_ratio: f64,
    pub only_in_process: Vec<String>,
    pub only_thin_dist: Vec<String>,
    /// Names in both whose number of definitions differs: name, in-process, thin-dist.
    pub count_differs: Vec<(String, usize, usize)>,
    pub sections: Vec<SectionSizes>,
}

/// How many symbol names the report lists in full; the counts are always exact.
const LISTED: usize = 50;

/// thin-dist / in-process; two empty sections are the same size.
fn ratio(in_process: u64, thin_dist: u64) -> f64 {
    match (in_process, thin_dist) {
        (0, 0) => 1.0,
        (0, _) => f64::INFINITY,
        (a, b) => b as f64 / a as f64,
    }
}

pub fn compare(in_process: &Image, thin_dist: &Image) -> Equivalence {
    let only =
        |a: &Image, b: &Image| a.symbols.keys().filter(|k| !b.symbols.contains_key(*k)).cloned().collect::<Vec<_>>();
    let only_in_process = only(in_process, thin_dist);
    let only_thin_dist = only(thin_dist, in_process);
    let count_differs: Vec<(String, usize, usize)> = in_process
        .symbols
        .iter()
        .filter_map(|(k, a)| thin_dist.symbols.get(k).filter(|b| *b != a).map(|b| (k.clone(), *a, *b)))
        .collect();
    let sections: Vec<SectionSizes> = SECTIONS
        .iter()
        .filter_map(|n| {
            let (a, b) = (*in_process.sections.get(*n)?, *thin_dist.sections.get(*n)?);
            let symbols = |i: &Image| i.symbol_bytes.get(*n).copied().unwrap_or(0);
            let (sa, sb) = (symbols(in_process), symbols(thin_dist));
            Some(SectionSizes {
                name: n.to_string(),
                in_process: a,
                thin_dist: b,
                ratio: ratio(a, b),
                symbol_bytes_in_process: sa,
                symbol_bytes_thin_dist: sb,
                symbol_bytes_ratio: ratio(sa, sb),
                judged_by_symbols: if in_process.relocatable && thin_dist.relocatable {
                    JUDGED_BY_SYMBOLS_IN_MODULES.contains(n)
                } else {
                    JUDGED_BY_SYMBOLS.contains(n)
                },
            })
        })
        .collect();

    let mut reasons = Vec::new();
    if !only_in_process.is_empty() {
        reasons.push(format!("{} symbols only in the in-process kernel", only_in_process.len()));
    }
    if !only_thin_dist.is_empty() {
        reasons.push(format!("{} symbols only in the thin-dist kernel", only_thin_dist.len()));
    }
    if !count_differs.is_empty() {
        reasons.push(format!("{} symbol names defined a different number of times", count_differs.len()));
    }
    for s in &sections {
        let (what, r, a, b) = if s.judged_by_symbols {
            (" (its symbols)", s.symbol_bytes_ratio, s.symbol_bytes_in_process, s.symbol_bytes_thin_dist)
        } else {
            ("", s.ratio, s.in_process, s.thin_dist)
        };
        if (r - 1.0).abs() > SIZE_TOLERANCE && a.abs_diff(b) > SIZE_SLACK_BYTES {
            reasons.push(format!(
                "{}{what} differs by more than {:.0}%: {a} vs {b} bytes",
                s.name,
                SIZE_TOLERANCE * 100.0,
            ));
        }
    }
    for n in SECTIONS {
        if in_process.sections.contains_key(n) != thin_dist.sections.contains_key(n) {
            reasons.push(format!("{n} exists in only one kernel"));
        }
    }
    let verdict = if reasons.is_empty() { Verdict::Equivalent } else { Verdict::Different };
    Equivalence {
        verdict,
        reasons,
        symbols_in_process: in_process.symbols.values().sum(),
        symbols_thin_dist: thin_dist.symbols.values().sum(),
        promoted_in_process: in_process.promoted,
        promoted_thin_dist: thin_dist.promoted,
        function_bytes_in_process: in_process.function_bytes,
        function_bytes_thin_dist: thin_dist.function_bytes,
        function_bytes_ratio: ratio(in_process.function_bytes, thin_dist.function_bytes),
        only_in_process: only_in_process.into_iter().take(LISTED).collect(),
        only_thin_dist: only_thin_dist.into_iter().take(LISTED).collect(),
        count_differs: count_differs.into_iter().take(LISTED).collect(),
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(symbols: &[(&str, usize)], text: u64) -> Image {
        Image {
            symbols: symbols.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
            sections: [(".text".to_string(), text), (".bss".to_string(), 0)].into_iter().collect(),
            ..Image::default()
        }
    }

    /// An image whose .bss spans `extent` bytes holding `objects` bytes of symbols.
    fn with_bss(extent: u64, objects: u64) -> Image {
        let mut i = image(&[("a", 1)], 1000);
        i.sections.insert(".bss".into(), extent);
        i.symbol_bytes.insert(".bss".into(), objects);
        i
    }

    #[test]
    fn bss_is_judged_by_its_symbols_not_its_padding() {
        let e = compare(&with_bss(1056768, 671374), &with_bss(1372160, 672062));
        assert_eq!(e.verdict, Verdict::Equivalent, "{:?}", e.reasons);
        let e = compare(&with_bss(1056768, 671374), &with_bss(1056768, 500000));
        assert_eq!(e.verdict, Verdict::Different);
        assert!(e.reasons[0].starts_with(".bss (its symbols) differs"), "{:?}", e.reasons);
    }

    #[test]
    fn promotion_suffix_is_dropped_only_when_it_is_one() {
        assert_eq!(without_promotion_suffix(".str.1.llvm.11537522500101175818"), (".str.1", true));
        assert_eq!(without_promotion_suffix("cpu_init.llvm.42"), ("cpu_init", true));
        assert_eq!(without_promotion_suffix("x.llvm.fn"), ("x.llvm.fn", false));
        assert_eq!(without_promotion_suffix(".llvm.12"), (".llvm.12", false));
        assert_eq!(without_promotion_suffix("start_kernel"), ("start_kernel", false));
    }

    #[test]
    fn same_symbols_and_sizes_are_equivalent() {
        let a = image(&[("start_kernel", 1), ("__func__", 3)], 1000);
        let e = compare(&a, &image(&[("start_kernel", 1), ("__func__", 3)], 1030));
        assert_eq!(e.verdict, Verdict::Equivalent, "{:?}", e.reasons);
        assert_eq!(e.symbols_in_process, 4);
        assert_eq!(e.sections[0].ratio, 1.03);
        assert_eq!(e.sections[1].ratio, 1.0, "two empty sections are the same size");
    }

    #[test]
    fn symbols_in_one_kernel_only_are_named() {
        let e = compare(&image(&[("a", 1), ("b", 1), ("c", 2)], 10), &image(&[("a", 1), ("d", 1), ("c", 1)], 10));
        assert_eq!(e.verdict, Verdict::Different);
        assert_eq!(e.only_in_process, ["b"]);
        assert_eq!(e.only_thin_dist, ["d"]);
        assert_eq!(e.count_differs, [("c".to_string(), 2, 1)]);
        assert_eq!(e.reasons.len(), 3);
    }

    #[test]
    fn a_section_beyond_the_tolerance_is_a_difference() {
        let e = compare(&image(&[("a", 1)], 10000), &image(&[("a", 1)], 10600));
        assert_eq!(e.verdict, Verdict::Different);
        assert!(e.reasons[0].starts_with(".text differs"), "{:?}", e.reasons);
        // Beyond 5% but within a few bytes: a zero-sized object counted as 1 byte.
        let e = compare(&with_bss(64, 20), &with_bss(64, 22));
        assert_eq!(e.verdict, Verdict::Equivalent, "{:?}", e.reasons);
    }

    #[test]
    fn a_modules_text_is_judged_by_its_functions() {
        let module = |text: u64| {
            let mut i = image(&[("a", 1)], text);
            i.symbol_bytes.insert(".text".into(), 3900);
            i.relocatable = true;
            i
        };
        let e = compare(&module(4024), &module(4424));
        assert_eq!(e.verdict, Verdict::Equivalent, "{:?}", e.reasons);
        let (mut a, mut b) = (module(4024), module(4424));
        (a.relocatable, b.relocatable) = (false, false);
        assert_eq!(compare(&a, &b).verdict, Verdict::Different, "a kernel's .text is judged by its extent");
    }

    #[test]
    fn a_modules_sections_are_counted_with_their_main_section() {
        for (name, main) in [(".text.configfs_create", Some(".text")), (".rodata.str1.1", Some(".rodata"))] {
            assert_eq!(main_section(name, true), main);
            assert_eq!(main_section(name, false), None, "a linked kernel has merged them");
        }
        assert_eq!(main_section(".data..percpu", true), None);
        assert_eq!(main_section(".bss", false), Some(".bss"));
        assert_eq!(main_section(".textual", true), None);
    }
}
