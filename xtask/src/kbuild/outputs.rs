//! One typed view of what a finished build made, every name from its
//! layout: the thin-link's inputs (IR objects), their indexes and natives,
//! the modules with their objects and natives, and the files a second build
//! of the same sources must make byte for byte. Validation, clean-check,
//! compare and the rebuilds read a build through it.

use std::path::Path;

use anyhow::Result;

use crate::kbuild::artifact::{self, Kind};
use crate::kbuild::layout::Layout;

/// A loadable module of a build, as `modules.order` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// `fs/configfs/configfs.ko`.
    pub ko: String,
    /// Its path without `.ko`: `fs/configfs/configfs`.
    pub stem: String,
}

/// The modules of a build, from `modules.order` (`dir/name.o` since Linux
/// 6.2, `dir/name.ko` before). None when the build made no modules.
pub fn modules(objtree: &Path) -> Option<Vec<Module>> {
    let order = std::fs::read_to_string(objtree.join("modules.order")).ok()?;
    let module = |l: &str| {
        let stem = l.strip_suffix(".o").or(l.strip_suffix(".ko")).unwrap_or(l).to_string();
        Module { ko: format!("{stem}.ko"), stem }
    };
    Some(order.lines().map(str::trim).filter(|l| !l.is_empty()).map(module).collect())
}

/// The objects a module is linked from, as its `.mod` file lists them;
/// none when there is no such file.
pub fn module_objects(objtree: &Path, module: &Module) -> Vec<String> {
    let list = std::fs::read_to_string(objtree.join(format!("{}.mod", module.stem))).unwrap_or_default();
    list.split_whitespace().map(str::to_string).collect()
}

/// A build's object tree read through its layout.
#[derive(Debug, Clone, Copy)]
pub struct Outputs<'a> {
    pub objtree: &'a Path,
    pub layout: &'static Layout,
}

impl<'a> Outputs<'a> {
    pub fn new(objtree: &'a Path, layout: &'static Layout) -> Self {
        Self { objtree, layout }
    }

    /// The IR archive's members, in order (IR objects and carried ones).
    pub fn archive_members(&self) -> Result<Vec<String>> {
        artifact::members(&self.objtree.join(&self.layout.ir_archive))
    }

    /// The lib.a members the thin-link was given between `--start-lib` and
    /// `--end-lib` (v3); empty for a layout without them; None when the
    /// back-end list is missing (the thin-link did not run).
    pub fn lib_members(&self) -> Option<Vec<String>> {
        if !self.layout.lib_members {
            return Some(Vec::new());
        }
        let list = std::fs::read_to_string(self.objtree.join(&self.layout.backend_list)).ok()?;
        let mut in_lib = false;
        let mut libs = Vec::new();
        for line in list.lines().map(str::trim) {
            match line {
                "--start-lib" => in_lib = true,
                "--end-lib" => in_lib = false,
                l if in_lib && !l.is_empty() => libs.push(l.to_string()),
                _ => {}
            }
        }
        Some(libs)
    }

    /// The IR objects the thin-link saw (archive members and lib members).
    pub fn ir_objects(&self) -> Vec<String> {
        let members = self.archive_members().unwrap_or_default();
        members
            .into_iter()
            .chain(self.lib_members().unwrap_or_default())
            .filter(|m| matches!(artifact::classify_file(&self.objtree.join(m)), Ok(Kind::Bitcode)))
            .collect()
    }

    pub fn modules(&self) -> Option<Vec<Module>> {
        modules(self.objtree)
    }

    pub fn module_objects(&self, module: &Module) -> Vec<String> {
        module_objects(self.objtree, module)
    }

    /// A module's directory of indexes and natives (`fs/configfs/configfs.thinlto`).
    pub fn module_dir(&self, module: &Module) -> String {
        self.layout.module_dir_of(&module.stem)
    }

    /// The natives of a module built in distributed mode: each object of its
    /// `.mod` with an index in the module's directory, as a path there.
    pub fn module_natives(&self, module: &Module) -> Vec<String> {
        let dir = self.module_dir(module);
        self.module_objects(module)
            .into_iter()
            .map(|object| format!("{dir}/{object}"))
            .filter(|native| self.objtree.join(self.layout.index_of(native)).is_file())
            .collect()
    }

    /// Every module and, for those built in distributed mode, their natives.
    pub fn module_outputs(&self) -> Vec<String> {
        let mut outputs = Vec::new();
        for m in self.modules().unwrap_or_default() {
            outputs.extend(self.module_natives(&m));
            outputs.push(m.ko);
        }
        outputs
    }

    /// What a second build of the same sources must make byte for byte:
    /// the natives of vmlinux's IR objects, then every module's natives and
    /// the module itself.
    pub fn to_compare(&self) -> Vec<String> {
        let natives = self.ir_objects().into_iter().map(|o| self.layout.native_of(&o));
        natives.chain(self.module_outputs()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_modules_order_of_both_eras() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(modules(dir.path()), None);
        std::fs::write(dir.path().join("modules.order"), "fs/configfs/configfs.o\nlib/test_hexdump.ko\n").unwrap();
        let kos: Vec<String> = modules(dir.path()).unwrap().into_iter().map(|m| m.ko).collect();
        assert_eq!(kos, ["fs/configfs/configfs.ko", "lib/test_hexdump.ko"]);
    }

    #[test]
    fn module_outputs_are_natives_with_an_index_then_the_module() {
        let dir = tempfile::tempdir().unwrap();
        let put = |path: &str, text: &str| {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        let outputs = Outputs::new(dir.path(), Layout::get("v3").unwrap());
        assert!(outputs.module_outputs().is_empty());
        put("modules.order", "fs/configfs/configfs.o\nlib/test_hexdump.o\n");
        // item.o has no index, so no native to compare.
        put("fs/configfs/configfs.mod", "fs/configfs/inode.o fs/configfs/dir.o fs/configfs/item.o\n");
        put("fs/configfs/configfs.thinlto/fs/configfs/inode.o.thinlto.bc", "");
        put("fs/configfs/configfs.thinlto/fs/configfs/dir.o.thinlto.bc", "");
        // Built in-process: no directory of natives, the module alone.
        put("lib/test_hexdump.mod", "lib/test_hexdump.o\n");
        assert_eq!(
            outputs.module_outputs(),
            [
                "fs/configfs/configfs.thinlto/fs/configfs/inode.o",
                "fs/configfs/configfs.thinlto/fs/configfs/dir.o",
                "fs/configfs/configfs.ko",
                "lib/test_hexdump.ko"
            ]
        );
    }

    #[test]
    fn lib_members_are_read_between_start_and_end_lib() {
        let dir = tempfile::tempdir().unwrap();
        let v3 = Layout::get("v3").unwrap();
        let outputs = Outputs::new(dir.path(), v3);
        assert_eq!(outputs.lib_members(), None, "no back-end list: the thin-link did not run");
        std::fs::write(dir.path().join(&v3.backend_list), "a.o\n--start-lib\nlib/x.o\nlib/y.o\n--end-lib\nb.o\n")
            .unwrap();
        assert_eq!(outputs.lib_members().unwrap(), ["lib/x.o", "lib/y.o"]);
    }
}
