//! Whether two builds of the same sources made the same native objects and
//! modules: byte for byte, or, where the objects carry debug information,
//! in everything else. Debug information records where the build ran (the
//! compile's directory, the source's absolute path: `-g`, and AutoFDO's
//! `-gmlt` in every profiled compile), and through it the IR module's hash,
//! which ThinLTO puts in every promoted local's name (`foo.llvm.<hash>`). So
//! two object trees (a remote build against a local one in another `O=`,
//! clean-check's scratch tree against the user's) can agree no closer than
//! this: the same sections with the same bytes, the same symbols and the
//! same relocations, the hashes of promoted names aside.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SymbolSection};

use crate::kbuild::kconfig::Values;
use crate::kbuild::session::Session;

/// How one output of two builds compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Likeness {
    Identical,
    /// Everything but the debug information, and what it changes, is the same.
    ApartFromDebugInfo,
    Different,
}

/// Whether a build's objects record where it ran: debug information, which
/// AutoFDO turns on (`-gmlt`) where the config does not. A data-only object
/// has no debug section of its own, but its IR's hash still names its
/// promoted strings (`.str.llvm.<hash>`): what counts is the build's config.
pub fn records_paths(config: &Values) -> bool {
    config.get("DEBUG_INFO") == "y" || config.get("AUTOFDO_CLANG") == "y"
}

/// A debug section or its relocations.
fn is_debug(name: &str) -> bool {
    [".debug", ".rela.debug", ".rel.debug"].iter().any(|p| name.starts_with(p))
}

/// Sections read through their meaning rather than their bytes: the symbol
/// and string tables (read as symbols), relocations (read per section),
/// LLVM's address-significance table (symbol indices, for the linker's
/// ICF), and a module's build ID (a digest of all its bytes, debug ones too).
fn is_table(name: &str) -> bool {
    [".symtab", ".strtab", ".shstrtab", ".llvm_addrsig", ".note.gnu.build-id"].contains(&name)
        || name.starts_with(".rela")
        || name.starts_with(".rel.")
}

/// `name` with each ThinLTO promotion suffix's hash left out (`.llvm.<digits>`).
fn unpromoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find(".llvm.") {
        let after = &rest[i + ".llvm.".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&rest[..i + ".llvm.".len()]);
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// Byte for byte, or, for a build whose objects record its paths, by what they hold.
pub fn likeness(a: &[u8], b: &[u8], records_paths: bool) -> Likeness {
    if a == b {
        return Likeness::Identical;
    }
    if !records_paths {
        return Likeness::Different;
    }
    let (Ok(fa), Ok(fb)) = (object::File::parse(a), object::File::parse(b)) else {
        return Likeness::Different;
    };
    match (Contents::read(&fa), Contents::read(&fb)) {
        (Some(x), Some(y)) if x == y => Likeness::ApartFromDebugInfo,
        _ => Likeness::Different,
    }
}

/// What an object holds apart from its debug information, promoted names
/// without their hash, each list sorted.
#[derive(PartialEq)]
struct Contents {
    /// Each section's name and bytes.
    sections: Vec<(String, Vec<u8>)>,
    /// Each symbol: name, section, value, size, kind and scope.
    symbols: Vec<(String, String, u64, u64, String)>,
    /// Each relocation: its section, offset, target, addend and kind.
    relocations: Vec<(String, u64, String, i64, String)>,
}

impl Contents {
    /// None: a part that cannot be read.
    fn read(f: &object::File) -> Option<Self> {
        let mut c = Contents { sections: Vec::new(), symbols: Vec::new(), relocations: Vec::new() };
        let section_name = |i| f.section_by_index(i).ok().and_then(|s| s.name().ok().map(unpromoted));
        for s in f.sections() {
            let name = s.name().ok()?;
            if is_debug(name) || is_table(name) {
                continue;
            }
            let name = unpromoted(name);
            for (offset, r) in s.relocations() {
                let target = match r.target() {
                    RelocationTarget::Symbol(i) => {
                        let sym = f.symbol_by_index(i).ok()?;
                        match sym.section_index() {
                            Some(si) if sym.kind() == object::SymbolKind::Section => section_name(si)?,
                            _ => unpromoted(sym.name().ok()?),
                        }
                    }
                    RelocationTarget::Section(si) => section_name(si)?,
                    other => format!("{other:?}"),
                };
                c.relocations.push((name.clone(), offset, target, r.addend(), format!("{:?}", r.flags())));
            }
            c.sections.push((name, s.data().ok()?.to_vec()));
        }
        for sym in f.symbols() {
            let section = match sym.section() {
                SymbolSection::Section(i) => section_name(i)?,
                other => format!("{other:?}"),
            };
            let kind = format!("{:?} {:?}", sym.kind(), sym.scope());
            c.symbols.push((unpromoted(sym.name().ok()?), section, sym.address(), sym.size(), kind));
        }
        c.sections.sort();
        c.symbols.sort();
        c.relocations.sort();
        Some(c)
    }
}

/// Two builds' outputs compared: how many, those that differ or are
/// missing, and how many were alike only apart from debug information.
#[derive(Debug, Default)]
pub struct Compared {
    pub files: usize,
    pub differing: Vec<String>,
    pub apart_from_debug_info: usize,
}

impl Compared {
    /// " (N of them apart from their debug information, which names the build's directories)", or "".
    pub fn debug_note(&self) -> String {
        match self.apart_from_debug_info {
            0 => String::new(),
            n => format!(
                " ({n} of them apart from their debug information, which names the directory each build ran in, \
                 and the hashes it gives promoted names)"
            ),
        }
    }
}

/// `files` (paths relative to each build) of build `a` against build `b`,
/// builds whose objects record their paths or not (`records_paths`).
pub fn compare(
    files: &[String],
    a: impl Fn(&str) -> PathBuf,
    b: impl Fn(&str) -> PathBuf,
    records_paths: bool,
) -> Compared {
    let mut c = Compared { files: files.len(), ..Default::default() };
    for f in files {
        let read = |p: &Path| std::fs::read(p).ok();
        match (read(&a(f)), read(&b(f))) {
            (Some(x), Some(y)) => match likeness(&x, &y, records_paths) {
                Likeness::Identical => {}
                Likeness::ApartFromDebugInfo => c.apart_from_debug_info += 1,
                Likeness::Different => c.differing.push(f.clone()),
            },
            _ => c.differing.push(f.clone()),
        }
    }
    c
}

/// vmlinux's natives, then each module's natives and `.ko`, of two builds of the same tree.
pub fn differing(a: &Session, b: &Session) -> Result<Compared> {
    let paths = records_paths(&config_of(a)?);
    Ok(compare(&a.outputs().to_compare(), |f| a.kb.path(f), |f| b.kb.path(f), paths))
}

/// A build's `.config`.
pub fn config_of(s: &Session) -> Result<Values> {
    let path = s.kb.path(".config");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Values::parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::Object as Writer;
    use object::{Architecture, BinaryFormat, Endianness, SectionKind};

    /// A relocatable x86_64 ELF object with this code and, if given, this
    /// debug string table; with `promoted`, a local `helper.llvm.<promoted>`
    /// in its own section, which the code calls.
    fn elf_with(code: &[u8], debug_str: Option<&[u8]>, promoted: Option<&str>) -> Vec<u8> {
        use object::write::{Relocation, Symbol, SymbolSection as At};
        use object::{RelocationEncoding, RelocationFlags, RelocationKind, SymbolFlags, SymbolKind, SymbolScope};
        let mut o = Writer::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
        let text = o.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
        o.append_section_data(text, code, 16);
        if let Some(hash) = promoted {
            let name = format!("helper.llvm.{hash}");
            let own = o.add_section(Vec::new(), format!(".text.{name}").into_bytes(), SectionKind::Text);
            o.append_section_data(own, &[0xc3], 16);
            let sym = o.add_symbol(Symbol {
                name: name.into_bytes(),
                value: 0,
                size: 1,
                kind: SymbolKind::Text,
                scope: SymbolScope::Linkage,
                weak: false,
                section: At::Section(own),
                flags: SymbolFlags::None,
            });
            let flags = RelocationFlags::Generic {
                kind: RelocationKind::Relative,
                encoding: RelocationEncoding::Generic,
                size: 32,
            };
            o.add_relocation(text, Relocation { offset: 0, symbol: sym, addend: -4, flags }).unwrap();
        }
        if let Some(s) = debug_str {
            let d = o.add_section(Vec::new(), b".debug_str".to_vec(), SectionKind::Debug);
            o.append_section_data(d, s, 1);
        }
        o.write().unwrap()
    }

    fn elf(code: &[u8], debug_str: Option<&[u8]>) -> Vec<u8> {
        elf_with(code, debug_str, None)
    }

    /// Debug information that names another directory changes the IR
    /// module's hash, and with it every promoted name: alike; the same
    /// objects without debug information: different.
    #[test]
    fn promoted_names_may_differ_with_debug_information() {
        let call = [0xe8, 0, 0, 0, 0, 0xc3];
        let here = elf_with(&call, Some(b"/home/a/linux\0"), Some("1234"));
        let there = elf_with(&call, Some(b"/srv/scratch/linux\0"), Some("987654321"));
        assert_eq!(likeness(&here, &there, true), Likeness::ApartFromDebugInfo);
        // A data-only object has no debug section, and its promoted names still differ.
        let (plain, other) = (elf_with(&call, None, Some("1234")), elf_with(&call, None, Some("987654321")));
        assert_eq!(likeness(&plain, &other, true), Likeness::ApartFromDebugInfo);
        // A build that records no paths is compared byte for byte.
        assert_eq!(likeness(&plain, &other, false), Likeness::Different);
        // A call to another function is another object.
        let elsewhere = elf_with(&call, Some(b"/srv/scratch/linux\0"), Some("x"));
        assert_eq!(likeness(&here, &elsewhere, true), Likeness::Different);
        assert_eq!(unpromoted(".text.f.llvm.42.cold"), ".text.f.llvm..cold");
        assert_eq!(unpromoted("g.llvm.x"), "g.llvm.x");
        let config = |text: &str| records_paths(&Values::parse(text));
        assert!(config("CONFIG_AUTOFDO_CLANG=y\n") && config("CONFIG_DEBUG_INFO=y\n"));
        assert!(!config("CONFIG_PROPELLER_CLANG=y\n"));
    }

    #[test]
    fn debug_information_alone_may_differ() {
        let here = elf(&[0x55, 0xc3], Some(b"/home/a/linux/kernel/fork.c\0"));
        let there = elf(&[0x55, 0xc3], Some(b"/srv/build/linux-scratch/kernel/fork.c\0"));
        assert_eq!(likeness(&here, &here.clone(), false), Likeness::Identical);
        assert_eq!(likeness(&here, &there, true), Likeness::ApartFromDebugInfo);
        assert_eq!(likeness(&here, &there, false), Likeness::Different);
        // Other code is another object, whatever its debug information says.
        let stale = elf(&[0x90, 0xc3], Some(b"/home/a/linux/kernel/fork.c\0"));
        assert_eq!(likeness(&here, &stale, true), Likeness::Different);
        assert_eq!(likeness(b"not an object", b"not an object either", true), Likeness::Different);
    }

    #[test]
    fn compared_outputs_count_each_kind() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir(d).unwrap();
        }
        let put = |d: &Path, n: &str, bytes: Vec<u8>| std::fs::write(d.join(n), bytes).unwrap();
        put(&a, "same.o", elf(&[0xc3], None));
        put(&b, "same.o", elf(&[0xc3], None));
        put(&a, "paths.o", elf(&[0xc3], Some(b"/a\0")));
        put(&b, "paths.o", elf(&[0xc3], Some(b"/b/c\0")));
        put(&a, "stale.o", elf(&[0xc3], None));
        put(&b, "stale.o", elf(&[0x90], None));
        put(&a, "gone.o", elf(&[0xc3], None));
        let files: Vec<String> = ["same.o", "paths.o", "stale.o", "gone.o"].map(String::from).to_vec();
        let c = compare(&files, |f| a.join(f), |f| b.join(f), true);
        assert_eq!((c.files, c.apart_from_debug_info), (4, 1));
        assert_eq!(c.differing, ["stale.o", "gone.o"]);
        assert!(c.debug_note().contains("1 of them"));
    }
}
