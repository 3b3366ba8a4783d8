//! The artifact layouts of distributed ThinLTO, as data: one file per
//! layout under `configs/layouts/` names every file a layout's build makes.
//! Every check asks the layout for names; adding a layout is a TOML file.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::home;

/// Who puts the layout's implementation into a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// The kernel carries it itself (mainline 7.2+): nothing to apply.
    Kernel,
    /// A series of ours applies it.
    Series,
}

/// How the final link gets objects the back-end does not compile (assembly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Carried {
    /// Copied under the native name, byte for byte.
    Copy,
    /// Used as they are.
    AsIs,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    #[serde(skip)]
    pub name: String,
    pub description: String,
    pub provided_by: Provider,
    /// A file, relative to the tree, that only this implementation has.
    pub detect: String,
    /// The oldest LLVM (major version) this implementation builds with.
    pub min_llvm: u32,
    native: String,
    index: String,
    pub ir_archive: String,
    pub native_archive: String,
    pub thinlink_output: String,
    pub backend_list: String,
    pub lib_members: bool,
    pub carried: Carried,
    pub native_suffixes: Vec<String>,
    pub index_suffix: String,
    files: Vec<String>,
    dirs: Vec<String>,
    /// Ends the name of a module's own directory of indexes and natives
    /// (`fs/configfs/configfs.thinlto/`), where a series builds modules
    /// in distributed mode too.
    module_dir: String,
}

impl PartialEq for Layout {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Layout {}

/// Fills `{object}` and `{stem}` (the object's path without `.o`).
fn fill(pattern: &str, object: &str) -> String {
    let stem = object.strip_suffix(".o").unwrap_or(object);
    pattern.replace("{object}", object).replace("{stem}", stem)
}

impl Layout {
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let mut layout: Layout = toml_edit::de::from_str(text)?;
        layout.name = name.to_string();
        for (key, pattern) in [("native", &layout.native), ("index", &layout.index)] {
            if !pattern.contains("{object}") && !pattern.contains("{stem}") {
                bail!("`{key} = \"{pattern}\"` names no {{object}} or {{stem}}");
            }
        }
        Ok(layout)
    }

    /// The native object the back-end makes from an IR object.
    pub fn native_of(&self, ir_object: &str) -> String {
        fill(&self.native, ir_object)
    }

    /// The thin-link index written for an IR object.
    pub fn index_of(&self, ir_object: &str) -> String {
        fill(&self.index, ir_object)
    }

    /// Whether a path is a back-end output of this layout.
    pub fn is_native(&self, path: &str) -> bool {
        self.native_suffixes.iter().any(|s| path.ends_with(s.as_str()))
    }

    /// A module's directory of indexes and natives, from its path without
    /// `.ko` (`fs/configfs/configfs` -> `fs/configfs/configfs.thinlto`).
    pub fn module_dir_of(&self, module: &str) -> String {
        format!("{module}{}", self.module_dir.trim_end_matches('/'))
    }

    /// Whether a path is in a module's directory of indexes and natives.
    pub fn in_module_dir(&self, path: &str) -> bool {
        path.contains(self.module_dir.as_str())
    }

    /// The suffixes that name per-object artifacts: natives and indexes.
    pub fn artifact_suffixes(&self) -> impl Iterator<Item = &str> {
        self.native_suffixes.iter().map(String::as_str).chain([self.index_suffix.as_str()])
    }

    /// Whether a path is any artifact the distributed mode adds: natives,
    /// native archives, indexes, thin-link outputs and lists, their
    /// temporary files, and the `.cmd` files kbuild keeps for them.
    pub fn is_thin_dist_artifact(&self, path: &str) -> bool {
        if self.in_module_dir(path) {
            return true;
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        if let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".cmd")) {
            return self.is_thin_dist_artifact(inner);
        }
        self.is_native(path)
            || name.ends_with(self.index_suffix.as_str())
            || self.files.iter().any(|f| f == name)
            || self.dirs.iter().any(|d| path.contains(d.as_str()))
    }

    /// Reads a layout file: `configs/layouts/<name>.toml`.
    pub fn load(path: &Path) -> Result<Self> {
        let name = path.file_stem().and_then(|s| s.to_str()).context("a layout file needs a name")?;
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(name, &text).with_context(|| format!("{} is not a valid layout file", path.display()))
    }

    /// Every layout the project ships, sorted by name; read once.
    pub fn all() -> Result<&'static [Layout]> {
        static ALL: OnceLock<Vec<Layout>> = OnceLock::new();
        if let Some(all) = ALL.get() {
            return Ok(all);
        }
        let dir = home::configs().join("layouts");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let layouts = paths.iter().map(|p| Self::load(p)).collect::<Result<Vec<_>>>()?;
        Ok(ALL.get_or_init(|| layouts))
    }

    /// The layout of that name.
    pub fn get(name: &str) -> Result<&'static Layout> {
        let all = Self::all()?;
        match all.iter().find(|l| l.name == name) {
            Some(l) => Ok(l),
            None => bail!(
                "unknown layout `{name}`: expected one of {} (files in configs/layouts/)",
                all.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_layouts_name_their_files() {
        let names: Vec<&str> = Layout::all().unwrap().iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["mainline", "v3"]);
        let (v3, main) = (Layout::get("v3").unwrap(), Layout::get("mainline").unwrap());
        assert_eq!(v3.native_of("init/main.o"), "init/main.o_thinlto_native");
        assert_eq!(main.native_of("init/main.o"), "init/main.thinlto-native.o");
        assert_eq!(v3.index_of("init/main.o"), "init/main.o.thinlto.bc");
        assert!(v3.is_native("lib/lib.a_thinlto_native"));
        assert!(!v3.is_native("init/main.thinlto-native.o"));
        assert!(main.is_native("init/main.thinlto-native.o"));
        assert!(v3.is_thin_dist_artifact("init/.main.o_thinlto_native.cmd"));
        assert!(v3.is_thin_dist_artifact("init/main.o.thinlto.bc"));
        assert!(v3.is_thin_dist_artifact(".vmlinux_thinlto_bc_files"));
        assert!(v3.is_thin_dist_artifact(".tmp_thinlto_index/init/main.o.thinlto.bc"));
        assert!(!v3.is_thin_dist_artifact("init/main.o") && !v3.is_thin_dist_artifact("init/.main.o.cmd"));
        assert!(main.is_thin_dist_artifact(".vmlinux.thinlto-index.cmd"));
        assert_eq!(v3.module_dir_of("fs/configfs/configfs"), "fs/configfs/configfs.thinlto");
        for l in [v3, main] {
            assert!(l.is_thin_dist_artifact("fs/configfs/configfs.thinlto/fs/configfs/.dir.o.cmd"));
            assert!(l.is_thin_dist_artifact("fs/configfs/configfs.thinlto/natives"));
            assert!(!l.is_thin_dist_artifact("fs/configfs/configfs.o"));
        }
        assert!(!main.is_thin_dist_artifact("vmlinux.thinlink"));
        assert_eq!((v3.provided_by, main.provided_by), (Provider::Series, Provider::Kernel));
        assert_eq!((v3.carried, main.carried), (Carried::Copy, Carried::AsIs));
        assert!(Layout::get("v4").unwrap_err().to_string().contains("expected one of mainline, v3"));
    }

    #[test]
    fn a_layout_file_is_checked() {
        let v3 = std::fs::read_to_string(home::configs().join("layouts/v3.toml")).unwrap();
        assert!(Layout::parse("x", &v3.replace("{object}_thinlto_native", "vmlinux.native")).is_err());
        let err = Layout::parse("x", &format!("{v3}\nsurprise = 1\n")).unwrap_err();
        assert!(format!("{err:#}").contains("surprise"), "{err:#}");
    }
}
