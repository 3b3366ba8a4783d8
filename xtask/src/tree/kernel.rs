//! Recognising a Linux source tree.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::tree::version::KernelVersion;

#[derive(Debug, Clone)]
pub struct KernelTree {
    pub root: PathBuf,
    pub version: KernelVersion,
}

impl KernelTree {
    /// Accepts a directory only if it looks like a kernel: a top-level
    /// Makefile with the version variables, a Kconfig and scripts/.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            bail!("{} is not a directory; give the top of a Linux source tree or a source tarball", dir.display());
        }
        let root = dir.canonicalize().with_context(|| format!("cannot resolve {}", dir.display()))?;
        let missing: Vec<&str> =
            ["Makefile", "Kconfig", "scripts/Kbuild.include"].into_iter().filter(|p| !root.join(p).is_file()).collect();
        if !missing.is_empty() {
            bail!(
                "{} is not a Linux source tree: missing {}; give the directory that holds the kernel's top-level Makefile",
                root.display(),
                missing.join(", ")
            );
        }
        let makefile = std::fs::read_to_string(root.join("Makefile"))?;
        let version = KernelVersion::from_makefile(&makefile).with_context(|| {
            format!("{} is not a Linux source tree: its Makefile has no kernel version", root.display())
        })?;
        Ok(Self { root, version })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Whether `arch/Kconfig` declares the THIN_DIST option (ours or mainline's).
    pub fn declares_thin_dist(&self) -> bool {
        std::fs::read_to_string(self.path("arch/Kconfig"))
            .map(|k| k.lines().any(|l| l.trim_end() == "config LTO_CLANG_THIN_DIST"))
            .unwrap_or(false)
    }
}
