//! validate for loadable modules: every module `modules.order` names is a
//! native ELF relocatable of the architecture's machine with no LLVM IR left
//! in it, carries the kernel's vermagic in `.modinfo`, and needs only symbols
//! that vmlinux or another module exports (`Module.symvers`). A module built
//! in distributed mode has, in its own directory, a native object of that
//! machine next to the index of each of its objects.

use std::collections::BTreeSet;
use std::path::Path;

use object::{Object, ObjectKind, ObjectSection, ObjectSymbol};

use crate::checks::artifact::{self, Kind};
use crate::checks::validate::Validation;
use crate::kbuild::layout::Layout;

/// The `.ko` files of a build, from `modules.order` (`dir/name.o` since
/// Linux 6.2, `dir/name.ko` before). None when the build made no modules.
pub fn modules_of(objtree: &Path) -> Option<Vec<String>> {
    let order = std::fs::read_to_string(objtree.join("modules.order")).ok()?;
    let ko = |l: &str| format!("{}.ko", l.strip_suffix(".o").or(l.strip_suffix(".ko")).unwrap_or(l));
    Some(order.lines().map(str::trim).filter(|l| !l.is_empty()).map(ko).collect())
}

/// The objects a module is linked from, as its `.mod` file lists them
/// (`module` is its path without `.ko`); none when there is no such file.
pub fn module_objects(objtree: &Path, module: &str) -> Vec<String> {
    let list = std::fs::read_to_string(objtree.join(format!("{module}.mod"))).unwrap_or_default();
    list.split_whitespace().map(str::to_string).collect()
}

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

/// The natives of a module built in distributed mode: each object of its
/// `.mod` with an index in the module's directory `dir`, as a path in `dir`.
pub fn module_natives(objtree: &Path, stem: &str, dir: &str) -> Vec<String> {
    module_objects(objtree, stem)
        .into_iter()
        .map(|object| format!("{dir}/{object}"))
        .filter(|native| objtree.join(format!("{native}.thinlto.bc")).is_file())
        .collect()
}

/// Every module of a build and, for those built in distributed mode, their
/// natives: what a second build of the same tree must make byte for byte.
pub fn module_outputs(objtree: &Path, layout: &Layout) -> Vec<String> {
    let mut outputs = Vec::new();
    for ko in modules_of(objtree).unwrap_or_default() {
        let stem = ko.trim_end_matches(".ko");
        outputs.extend(module_natives(objtree, stem, &layout.module_dir_of(stem)));
        outputs.push(ko);
    }
    outputs
}

/// Checks the natives of a module built in distributed mode: each object
/// of its `.mod` with an index in `dir` has a native ELF beside it.
fn validate_module_natives(objtree: &Path, stem: &str, dir: &str, machine: u16, v: &mut Validation) {
    let natives = module_natives(objtree, stem, dir);
    for native in &natives {
        match artifact::classify_file(&objtree.join(native)) {
            Ok(Kind::Elf { machine: m, kind: ObjectKind::Relocatable, has_bitcode_section: false }) if m == machine => {
                v.count("module native")
            }
            Ok(k) => v.fail(native, format!("is {}, expected a native ELF for machine {machine}", k.describe())),
            Err(_) => v.fail(native, "missing: the index is there, its native is not"),
        }
    }
    if natives.is_empty() {
        v.fail(dir, format!("no index for any object of {stem}.mod"));
    }
}

/// Adds the module checks of a build to `v` (nothing when it made no modules).
pub fn validate_modules(objtree: &Path, machine: u16, layout: &Layout, v: &mut Validation) {
    let Some(modules) = modules_of(objtree) else { return };
    let release = std::fs::read_to_string(objtree.join("include/config/kernel.release")).unwrap_or_default();
    let symvers = match std::fs::read_to_string(objtree.join("Module.symvers")) {
        Ok(text) => exported_symbols(&text),
        Err(_) => {
            v.fail("Module.symvers", "missing: modpost did not run");
            BTreeSet::new()
        }
    };
    for ko in modules {
        let stem = ko.trim_end_matches(".ko");
        let dir = layout.module_dir_of(stem);
        if objtree.join(&dir).is_dir() {
            validate_module_natives(objtree, stem, &dir, machine, v);
        }
        let Ok(data) = std::fs::read(objtree.join(&ko)) else {
            v.fail(&ko, "missing module (named by modules.order)");
            continue;
        };
        let why = check_module(&data, machine, release.trim(), &symvers);
        if why.is_empty() {
            v.count("module");
        }
        for w in why {
            v.fail(&ko, w);
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

    #[test]
    fn reads_modules_order_of_both_eras() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(modules_of(dir.path()), None);
        std::fs::write(dir.path().join("modules.order"), "fs/configfs/configfs.o\nlib/test_hexdump.ko\n").unwrap();
        assert_eq!(modules_of(dir.path()).unwrap(), ["fs/configfs/configfs.ko", "lib/test_hexdump.ko"]);
    }

    #[test]
    fn module_outputs_are_natives_with_an_index_then_the_module() {
        let dir = tempfile::tempdir().unwrap();
        let put = |path: &str, text: &str| {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        let layout = Layout::get("v3").unwrap();
        assert!(module_outputs(dir.path(), layout).is_empty());
        put("modules.order", "fs/configfs/configfs.o\nlib/test_hexdump.o\n");
        // item.o has no index, so no native to compare.
        put("fs/configfs/configfs.mod", "fs/configfs/inode.o fs/configfs/dir.o fs/configfs/item.o\n");
        put("fs/configfs/configfs.thinlto/fs/configfs/inode.o.thinlto.bc", "");
        put("fs/configfs/configfs.thinlto/fs/configfs/dir.o.thinlto.bc", "");
        // Built in-process: no directory of natives, the module alone.
        put("lib/test_hexdump.mod", "lib/test_hexdump.o\n");
        assert_eq!(
            module_outputs(dir.path(), layout),
            [
                "fs/configfs/configfs.thinlto/fs/configfs/inode.o",
                "fs/configfs/configfs.thinlto/fs/configfs/dir.o",
                "fs/configfs/configfs.ko",
                "lib/test_hexdump.ko"
            ]
        );
    }
}
