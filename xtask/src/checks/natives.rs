//! Whether two builds of the same sources made the same native objects and
//! modules: byte for byte, or, where the objects carry debug information,
//! in every section but that. Debug information records where the build
//! ran (the compile's directory, the source's absolute path: `-g`, and
//! AutoFDO's `-gmlt` in every profiled compile), so two object trees (a
//! remote build against a local one, clean-check's scratch tree against
//! the user's) can agree no closer; the code, data and their relocations
//! must still be the same bytes.

use std::path::{Path, PathBuf};

use anyhow::Result;
use object::{Object, ObjectSection};

use crate::kbuild::session::Session;

/// How one output of two builds compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Likeness {
    Identical,
    /// Both carry debug information, and every other section is the same.
    ApartFromDebugInfo,
    Different,
}

/// A debug section or its relocations.
fn is_debug(name: &str) -> bool {
    [".debug", ".rela.debug", ".rel.debug"].iter().any(|p| name.starts_with(p))
}

pub fn likeness(a: &[u8], b: &[u8]) -> Likeness {
    if a == b {
        return Likeness::Identical;
    }
    let (Ok(fa), Ok(fb)) = (object::File::parse(a), object::File::parse(b)) else {
        return Likeness::Different;
    };
    match (Sections::read(&fa), Sections::read(&fb)) {
        (Some(x), Some(y)) if x.debug && y.debug && x.kept == y.kept => Likeness::ApartFromDebugInfo,
        _ => Likeness::Different,
    }
}

/// A file's sections in order with their bytes, the debug ones left out.
struct Sections {
    kept: Vec<(String, Vec<u8>)>,
    /// Whether it had any.
    debug: bool,
}

impl Sections {
    /// None: a section that cannot be read.
    fn read(f: &object::File) -> Option<Self> {
        let mut s = Sections { kept: Vec::new(), debug: false };
        for section in f.sections() {
            let name = section.name().ok()?.to_string();
            if is_debug(&name) {
                s.debug = true;
            } else {
                s.kept.push((name, section.data().ok()?.to_vec()));
            }
        }
        Some(s)
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
                " ({n} of them apart from their debug information, which names the directories each build ran in)"
            ),
        }
    }
}

/// `files` (paths relative to each build) of build `a` against build `b`.
pub fn compare(files: &[String], a: impl Fn(&str) -> PathBuf, b: impl Fn(&str) -> PathBuf) -> Compared {
    let mut c = Compared { files: files.len(), ..Default::default() };
    for f in files {
        let read = |p: &Path| std::fs::read(p).ok();
        match (read(&a(f)), read(&b(f))) {
            (Some(x), Some(y)) => match likeness(&x, &y) {
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
    Ok(compare(&a.outputs().to_compare(), |f| a.kb.path(f), |f| b.kb.path(f)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::Object as Writer;
    use object::{Architecture, BinaryFormat, Endianness, SectionKind};

    /// A relocatable x86_64 ELF object with this code and, if given, this debug string table.
    fn elf(code: &[u8], debug_str: Option<&[u8]>) -> Vec<u8> {
        let mut o = Writer::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
        let text = o.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
        o.append_section_data(text, code, 16);
        if let Some(s) = debug_str {
            let d = o.add_section(Vec::new(), b".debug_str".to_vec(), SectionKind::Debug);
            o.append_section_data(d, s, 1);
        }
        o.write().unwrap()
    }

    #[test]
    fn debug_information_alone_may_differ() {
        let here = elf(&[0x55, 0xc3], Some(b"/home/a/linux/kernel/fork.c\0"));
        let there = elf(&[0x55, 0xc3], Some(b"/srv/build/linux-scratch/kernel/fork.c\0"));
        assert_eq!(likeness(&here, &here.clone()), Likeness::Identical);
        assert_eq!(likeness(&here, &there), Likeness::ApartFromDebugInfo);
        // Other code is another object, whatever its debug information says.
        let stale = elf(&[0x90, 0xc3], Some(b"/home/a/linux/kernel/fork.c\0"));
        assert_eq!(likeness(&here, &stale), Likeness::Different);
        // Without debug information on both sides, only the bytes count.
        assert_eq!(likeness(&elf(&[0xc3], None), &elf(&[0xc3], Some(b"x\0"))), Likeness::Different);
        assert_eq!(likeness(b"not an object", b"not an object either"), Likeness::Different);
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
        let c = compare(&files, |f| a.join(f), |f| b.join(f));
        assert_eq!((c.files, c.apart_from_debug_info), (4, 1));
        assert_eq!(c.differing, ["stale.o", "gone.o"]);
        assert!(c.debug_note().contains("1 of them"));
    }
}
