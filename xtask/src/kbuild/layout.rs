//! The two artifact layouts of distributed ThinLTO, and how to tell which
//! one a tree has. Every check asks the layout for names instead of
//! hard-coding either one.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Result};

use crate::tree::kernel::KernelTree;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The v3 posting and our series: `*.o_thinlto_native`, `vmlinux.thinlink`.
    V3,
    /// Mainline 7.2+: `*.thinlto-native.o`, `vmlinux.thinlto-index`.
    Mainline,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::V3 => "v3",
            Layout::Mainline => "mainline",
        }
    }

    /// The native object the back-end makes from an IR object.
    pub fn native_of(self, ir_object: &str) -> String {
        match self {
            Layout::V3 => format!("{ir_object}_thinlto_native"),
            Layout::Mainline => match ir_object.strip_suffix(".o") {
                Some(stem) => format!("{stem}.thinlto-native.o"),
                None => format!("{ir_object}.thinlto-native.o"),
            },
        }
    }

    /// The thin-link index written next to each IR object (same in both).
    pub fn index_of(self, ir_object: &str) -> String {
        format!("{ir_object}.thinlto.bc")
    }

    /// The thin archive whose members are the front-end (IR) objects.
    pub fn ir_archive(self) -> &'static str {
        match self {
            Layout::V3 => "vmlinux.a",
            Layout::Mainline => "built-in-fixup.a",
        }
    }

    /// The thin archive whose members are the native objects the final link reads.
    pub fn native_archive(self) -> &'static str {
        match self {
            Layout::V3 => "vmlinux.a_thinlto_native",
            Layout::Mainline => "vmlinux.a",
        }
    }

    /// The file the thin-link writes once it has run.
    pub fn thinlink_output(self) -> &'static str {
        match self {
            Layout::V3 => "vmlinux.thinlink",
            Layout::Mainline => "vmlinux.thinlto-index",
        }
    }

    /// Whether a path is any artifact the distributed mode adds: natives,
    /// native archives, indexes, thin-link outputs and lists, their
    /// temporary files, and the `.cmd` files kbuild keeps for them.
    pub fn is_thin_dist_artifact(self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        if let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".cmd")) {
            return self.is_thin_dist_artifact(inner);
        }
        let own: &[&str] = match self {
            Layout::V3 => &[
                "vmlinux.thinlink",
                ".vmlinux_thinlto_bc_files",
                ".tmp_initcalls_thinlink.lds",
                "vmlinux.a_thinlto_native",
            ],
            Layout::Mainline => &["vmlinux.thinlto-index", "builtin.order", "built-in-fixup.a"],
        };
        self.is_native(path)
            || name.ends_with(".o.thinlto.bc")
            || own.contains(&name)
            || path.contains(".tmp_thinlto_index/")
    }

    /// Whether a path is a back-end output of this layout.
    pub fn is_native(self, path: &str) -> bool {
        match self {
            Layout::V3 => path.ends_with(".o_thinlto_native") || path.ends_with(".a_thinlto_native"),
            Layout::Mainline => path.ends_with(".thinlto-native.o"),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "v3" => Ok(Layout::V3),
            "mainline" => Ok(Layout::Mainline),
            other => bail!("unknown layout `{other}`: expected `v3` or `mainline`"),
        }
    }
}

/// What a tree already has of distributed ThinLTO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeSupport {
    /// Mainline's own implementation (Linux 7.2+).
    Mainline,
    /// A series of ours (v3 layout) is applied.
    OurSeries,
    /// Neither: a series must be applied.
    Absent,
}

impl TreeSupport {
    pub fn detect(tree: &KernelTree) -> TreeSupport {
        if !tree.declares_thin_dist() {
            TreeSupport::Absent
        } else if tree.path("scripts/Makefile.thinlto").is_file() {
            TreeSupport::Mainline
        } else if tree.path("scripts/Makefile.vmlinux_thinlink").is_file() {
            TreeSupport::OurSeries
        } else {
            // Declared but neither implementation is there: treat as absent so
            // that applying a series reports the conflict precisely.
            TreeSupport::Absent
        }
    }

    pub fn layout(self) -> Option<Layout> {
        match self {
            TreeSupport::Mainline => Some(Layout::Mainline),
            TreeSupport::OurSeries => Some(Layout::V3),
            TreeSupport::Absent => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::version::KernelVersion;

    #[test]
    fn native_names_follow_each_layout() {
        assert_eq!(Layout::V3.native_of("init/main.o"), "init/main.o_thinlto_native");
        assert_eq!(Layout::Mainline.native_of("init/main.o"), "init/main.thinlto-native.o");
        assert_eq!(Layout::V3.index_of("init/main.o"), "init/main.o.thinlto.bc");
        assert!(Layout::V3.is_native("lib/lib.a_thinlto_native"));
        assert!(!Layout::V3.is_native("init/main.thinlto-native.o"));
        assert!(Layout::Mainline.is_native("init/main.thinlto-native.o"));
        assert_eq!("mainline".parse::<Layout>().unwrap(), Layout::Mainline);
        assert!(Layout::V3.is_thin_dist_artifact("init/.main.o_thinlto_native.cmd"));
        assert!(Layout::V3.is_thin_dist_artifact("init/main.o.thinlto.bc"));
        assert!(Layout::V3.is_thin_dist_artifact(".vmlinux_thinlto_bc_files"));
        assert!(
            !Layout::V3.is_thin_dist_artifact("init/main.o") && !Layout::V3.is_thin_dist_artifact("init/.main.o.cmd")
        );
        assert!(Layout::Mainline.is_thin_dist_artifact(".vmlinux.thinlto-index.cmd"));
        assert!(!Layout::Mainline.is_thin_dist_artifact("vmlinux.thinlink"));
        assert!("v4".parse::<Layout>().is_err());
    }

    fn fake_tree(files: &[(&str, &str)]) -> (tempfile::TempDir, KernelTree) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let tree = KernelTree {
            root: dir.path().to_path_buf(),
            version: KernelVersion { major: 6, minor: 12, sublevel: 0, extra: String::new() },
        };
        (dir, tree)
    }

    #[test]
    fn detects_each_implementation() {
        let kconfig = "config LTO_CLANG_THIN\n\tbool\n\nconfig LTO_CLANG_THIN_DIST\n\tbool\n";
        let (_d, t) = fake_tree(&[("arch/Kconfig", "config LTO_CLANG_THIN\n")]);
        assert_eq!(TreeSupport::detect(&t), TreeSupport::Absent);
        let (_d, t) = fake_tree(&[("arch/Kconfig", kconfig), ("scripts/Makefile.thinlto", "")]);
        assert_eq!(TreeSupport::detect(&t), TreeSupport::Mainline);
        let (_d, t) = fake_tree(&[("arch/Kconfig", kconfig), ("scripts/Makefile.vmlinux_thinlink", "")]);
        assert_eq!(TreeSupport::detect(&t), TreeSupport::OurSeries);
        // Makefile.thinlto alone, without the option, is not the feature.
        let (_d, t) = fake_tree(&[("arch/Kconfig", "config LTO_CLANG_THIN\n"), ("scripts/Makefile.thinlto", "")]);
        assert_eq!(TreeSupport::detect(&t), TreeSupport::Absent);
    }
}
