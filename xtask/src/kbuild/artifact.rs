//! What a build file is: LLVM bitcode, an ELF object of some machine and
//! type, or something else; and the member list of a (thin) archive.

use std::path::Path;

use anyhow::{Context, Result};
use object::read::archive::ArchiveFile;
use object::read::elf::{ElfFile32, ElfFile64, FileHeader};
use object::{Endianness, FileKind, Object, ObjectKind};

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Bitcode,
    Elf { machine: u16, kind: ObjectKind, has_bitcode_section: bool },
    Other,
}

impl Kind {
    pub fn describe(&self) -> String {
        match self {
            Kind::Bitcode => "LLVM IR bitcode".into(),
            Kind::Elf { machine, kind, .. } => format!("ELF {kind:?} for machine {machine}"),
            Kind::Other => "neither ELF nor bitcode".into(),
        }
    }
}

pub fn is_bitcode(data: &[u8]) -> bool {
    // Raw bitcode ('BC' 0xC0DE) or the bitcode wrapper (0x0B17C0DE).
    data.starts_with(&[0x42, 0x43, 0xC0, 0xDE]) || data.starts_with(&[0xDE, 0xC0, 0x17, 0x0B])
}

pub fn classify(data: &[u8]) -> Kind {
    if is_bitcode(data) {
        return Kind::Bitcode;
    }
    fn elf<H: FileHeader<Endian = Endianness>>(f: &object::read::elf::ElfFile<H>) -> Kind {
        let machine = f.elf_header().e_machine(f.endian());
        let has_bitcode_section = [".llvmbc", ".llvm.lto"].iter().any(|n| f.section_by_name(n).is_some());
        Kind::Elf { machine, kind: f.kind(), has_bitcode_section }
    }
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => ElfFile64::<Endianness>::parse(data).map(|f| elf(&f)).unwrap_or(Kind::Other),
        Ok(FileKind::Elf32) => ElfFile32::<Endianness>::parse(data).map(|f| elf(&f)).unwrap_or(Kind::Other),
        _ => Kind::Other,
    }
}

pub fn classify_file(path: &Path) -> Result<Kind> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(classify(&data))
}

/// Member names of an archive, in order (for a thin archive, the paths of
/// the files it refers to, relative to the archive's directory).
pub fn members(archive: &Path) -> Result<Vec<String>> {
    let data = std::fs::read(archive).with_context(|| format!("cannot read {}", archive.display()))?;
    let file = ArchiveFile::parse(&*data).with_context(|| format!("{} is not an archive", archive.display()))?;
    file.members()
        .map(|m| {
            let m = m.with_context(|| format!("{}: bad member", archive.display()))?;
            Ok(String::from_utf8_lossy(m.name()).into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_bitcode_magic() {
        assert_eq!(classify(&[0x42, 0x43, 0xC0, 0xDE, 1, 2]), Kind::Bitcode);
        assert_eq!(classify(&[0xDE, 0xC0, 0x17, 0x0B, 0, 0]), Kind::Bitcode);
        assert_eq!(classify(b"!<thin>\n"), Kind::Other);
    }

    #[test]
    fn reads_this_test_binary_as_elf() {
        let exe = std::env::current_exe().unwrap();
        match classify_file(&exe).unwrap() {
            Kind::Elf { machine, has_bitcode_section, .. } => {
                assert_eq!(machine, object::elf::EM_X86_64);
                assert!(!has_bitcode_section);
            }
            k => panic!("{k:?}"),
        }
    }
}
