//! What a ThinLTO back-end job reads: its index names, in the module string
//! table, every module it imports from (and itself). Those paths are the
//! job's exact IR inputs, as reclient takes them from the `.imports` file.

use anyhow::{bail, Context, Result};
use llvm_bitcode::bitcode::{BitcodeElement, Payload};
use llvm_bitcode::Bitcode;

/// LLVMBitCodes.h: MODULE_STRTAB_BLOCK_ID and its MST_CODE_ENTRY record.
const MODULE_STRTAB_BLOCK: u32 = 19;
const MST_CODE_ENTRY: u64 = 1;

/// The module paths an index names, in the order it lists them.
pub fn module_paths(index: &[u8]) -> Result<Vec<String>> {
    let bc = Bitcode::new(index).map_err(|e| anyhow::anyhow!("{e:?}")).context("not LLVM bitcode")?;
    let mut paths = Vec::new();
    let mut stack: Vec<&BitcodeElement> = bc.elements.iter().collect();
    let mut found = false;
    while let Some(e) = stack.pop() {
        let BitcodeElement::Block(b) = e else { continue };
        if b.id != MODULE_STRTAB_BLOCK {
            stack.extend(b.elements.iter());
            continue;
        }
        found = true;
        for r in b.elements.iter().filter_map(BitcodeElement::as_record).filter(|r| r.id == MST_CODE_ENTRY) {
            paths.push(entry_name(r)?);
        }
    }
    if !found {
        bail!("no module string table: not a ThinLTO index");
    }
    Ok(paths)
}

/// An entry is [module id, name chars…]; the chars are either the record's
/// trailing fields or its array/char6 payload, depending on the abbreviation.
fn entry_name(r: &llvm_bitcode::bitcode::Record) -> Result<String> {
    let mut r = r.clone();
    let chars: Vec<u8> = match r.take_payload() {
        Some(Payload::Char6String(s)) => s.into_bytes(),
        Some(Payload::Array(a)) => a.iter().map(|&c| c as u8).collect(),
        Some(Payload::Blob(b)) => b,
        None => r.fields().iter().skip(1).map(|&c| c as u8).collect(),
    };
    String::from_utf8(chars).context("a module path that is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Cmd;

    /// A real thin-link: two IR objects, one importing from the other.
    #[test]
    fn an_index_names_the_modules_it_imports() {
        let clang = crate::toolchain::Toolchain::select(None).expect("clang and lld (cargo xtask deps)");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.c"), "int b(int);\nint a(int x) { return b(x) + 1; }\n").unwrap();
        std::fs::write(dir.path().join("sub/b.c"), "int b(int x) { return x * 3; }\n").unwrap();
        for (src, obj) in [("a.c", "a.o"), ("sub/b.c", "sub/b.o")] {
            Cmd::new(&clang.clang)
                .args(["-O2", "-flto=thin", "-c", src, "-o", obj])
                .current_dir(dir.path())
                .run()
                .unwrap();
        }
        Cmd::new(&clang.lld)
            .args(["-r", "--thinlto-index-only", "a.o", "sub/b.o", "-o", "/dev/null"])
            .current_dir(dir.path())
            .run()
            .unwrap();
        let index = std::fs::read(dir.path().join("a.o.thinlto.bc")).unwrap();
        let mut paths = module_paths(&index).unwrap();
        paths.sort();
        assert_eq!(paths, ["a.o", "sub/b.o"]);
        assert!(module_paths(b"not bitcode").is_err());
    }
}
