//! validate for loadable modules: every module `modules.order` names is a
//! native ELF relocatable of the architecture's machine with no LLVM IR left
//! in it, carries the kernel's vermagic in `.modinfo`, and needs only symbols
//! that vmlinux or another module exports (`Module.symvers`). A module built
//! in distributed mode has, in its own directory, a native object of that
//! machine next to the index of each of its objects.

use std::collections::BTreeSet;

use object::{Object, ObjectKind, ObjectSection, ObjectSymbol};

use crate::checks::validation::{Counted, Validation};
use crate::kbuild::artifact::{self, Kind};
use crate::kbuild::outputs::{Module, Outputs};

/// Every symbol `Module.symvers` lists as exported (by vmlinux or a module).
pub fn exported_symbols(symvers: &str) -> BTreeSet<String> {
    symvers.lines().filter_map(|l| l.split('\t').nth(1)).map(str::to_string).collect()
}

/// The `vermagic=` value of a `.modinfo` section (NUL-separated `key=value`).
pub fn vermagic(modinfo: &[u8]) -> Option<String> {
    modinfo
        .split(|b| *b == 0)
        .find_map(|f| f.strip_prefix(b"vermagic="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Checks one module's bytes; returns why it fails, if it does.
pub fn check_module(data: &[u8], machine: u16, release: &str, exported: &BTreeSet<String>) -> Vec<String> {
    match artifact::classify(data) {
        Kind::Elf { machine: m, kind: ObjectKind::Relocatable, has_bitcode_section } if m == machine => {
            if has_bitcode_section {
                return vec!["still carries an embedded bitcode section".into()];
            }
        }
        Kind::Elf { machine: m, .. } if m != machine => {
            return vec![format!("ELF for machine {m}, expected {machine} (wrong architecture)")]
        }
        other => return vec![format!("is {}, not a native relocatable module", other.describe())],
    }
    let Ok(file) = object::File::parse(data) else { return vec!["cannot be read as ELF".into()] };
    let mut why = Vec::new();
    let magic = file.section_by_name(".modinfo").and_then(|s| s.data().ok()).and_then(vermagic);
    match magic {
        None => why.push("has no .modinfo vermagic".into()),
        Some(m) if !m.starts_with(&format!("{release} ")) => {
            why.push(format!("vermagic `{m}` is not the kernel's (release {release})"))
        }
        Some(_) => {}
    }
    let missing: Vec<String> = file
        .symbols()
        .filter(|s| s.is_undefined())
        .filter_map(|s| s.name().ok().filter(|n| !n.is_empty()).map(str::to_string))
        .filter(|n| !exported.contains(n))
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
        why.push(format!("needs {} symbols nobody exports: {}", missing.len(), shown.join(", ")));
    }
    why
}

/// Checks the natives of a module built in distributed mode: each object
/// of its `.mod` with an index in its directory has a native ELF beside it.
fn validate_module_natives(outputs: &Outputs, module: &Module, machine: u16, v: &mut Validation) {
    let natives = outputs.module_natives(module);
    for native in &natives {
        match artifact::classify_file(&outputs.objtree.join(native)) {
            Ok(Kind::Elf { machine: m, kind: ObjectKind::Relocatable, has_bitcode_section: false }) if m == machine => {
                v.count(Counted::ModuleNative)
            }
            Ok(k) => v.fail(native, format!("is {}, expected a native ELF for machine {machine}", k.describe())),
            Err(_) => v.fail(native, "missing: the index is there, its native is not"),
        }
    }
    if natives.is_empty() {
        v.fail(outputs.module_dir(module), format!("no index for any object of {}.mod", module.stem));
    }
}

/// Adds the module checks of a build to `v` (nothing when it made no modules).
pub fn validate_modules(outputs: &Outputs, machine: u16, v: &mut Validation) {
    let objtree = outputs.objtree;
    let Some(modules) = outputs.modules() else { return };
    let release = std::fs::read_to_string(objtree.join("include/config/kernel.release")).unwrap_or_default();
    let symvers = match std::fs::read_to_string(objtree.join("Module.symvers")) {
        Ok(text) => exported_symbols(&text),
        Err(_) => {
            v.fail("Module.symvers", "missing: modpost did not run");
            BTreeSet::new()
        }
    };
    for module in modules {
        if objtree.join(outputs.module_dir(&module)).is_dir() {
            validate_module_natives(outputs, &module, machine, v);
        }
        let ko = &module.ko;
        let Ok(data) = std::fs::read(objtree.join(ko)) else {
            v.fail(ko, "missing module (named by modules.order)");
            continue;
        };
        let why = check_module(&data, machine, release.trim(), &symvers);
        if why.is_empty() {
            v.count(Counted::Module);
        }
        for w in why {
            v.fail(ko, w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::{Object as Writer, Symbol, SymbolSection};
    use object::{Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope};

    fn module(arch: Architecture, modinfo: &[u8], needs: &str) -> Vec<u8> {
        let mut w = Writer::new(BinaryFormat::Elf, arch, Endianness::Little);
        let info = w.add_section(vec![], b".modinfo".to_vec(), SectionKind::ReadOnlyData);
        w.append_section_data(info, modinfo, 1);
        w.add_symbol(Symbol {
            name: needs.as_bytes().to_vec(),
            value: 0,
            size: 0,
            kind: SymbolKind::Text,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Undefined,
            flags: SymbolFlags::None,
        });
        w.write().unwrap()
    }

    #[test]
    fn checks_machine_ir_vermagic_and_symbols() {
        let x86 = object::elf::EM_X86_64;
        let exported = exported_symbols("0x1234\t_printk\tvmlinux\tEXPORT_SYMBOL\t\n");
        let good = module(Architecture::X86_64, b"license=GPL\0vermagic=6.12.117 mod_unload \0", "_printk");
        assert_eq!(check_module(&good, x86, "6.12.117", &exported), Vec::<String>::new());
        let why = check_module(&good, x86, "6.12.118", &exported);
        assert!(why[0].contains("is not the kernel's"), "{why:?}");
        let lonely = module(Architecture::X86_64, b"vermagic=6.12.117 \0", "nobody_exports_me");
        let why = check_module(&lonely, x86, "6.12.117", &exported);
        assert!(why[0].contains("1 symbols nobody exports: nobody_exports_me"), "{why:?}");
        let arm = module(Architecture::Aarch64, b"vermagic=6.12.117 \0", "_printk");
        assert!(check_module(&arm, x86, "6.12.117", &exported)[0].contains("wrong architecture"));
        let ir = [0x42, 0x43, 0xC0, 0xDE, 0, 0];
        assert!(check_module(&ir, x86, "6.12.117", &exported)[0].contains("LLVM IR"));
    }
}
