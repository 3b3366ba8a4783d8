//! The LLVM toolchain: choosing it in kbuild's own `LLVM=` terms, finding
//! its programs on PATH, the compiler's identity (`identity`) and its
//! hermetic bundle for workers without one (`bundle`). Below both kbuild and
//! the REAPI client, which each look tools up.

pub mod bundle;
pub mod identity;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::exec::{path_dirs, which, Cmd};

#[derive(Debug, Clone)]
pub struct Toolchain {
    /// The value passed as `make LLVM=...`: `1`, `-19` or `/path/to/bin/`.
    pub llvm: String,
    pub clang: PathBuf,
    pub lld: PathBuf,
}

impl Toolchain {
    /// `wanted` as for kbuild's LLVM=; None picks the newest versioned clang
    /// on PATH that has a matching ld.lld, else plain `clang`.
    pub fn select(wanted: Option<&str>) -> Result<Self> {
        let llvm = match wanted {
            Some(w) => w.to_string(),
            None => newest_versioned().map(|v| format!("-{v}")).unwrap_or_else(|| "1".to_string()),
        };
        let (clang, lld) = if llvm == "1" {
            (which("clang"), which("ld.lld"))
        } else if let Some(suffix) = llvm.strip_prefix('-') {
            (which(&format!("clang-{suffix}")), which(&format!("ld.lld-{suffix}")))
        } else if llvm.ends_with('/') {
            let dir = Path::new(&llvm);
            (Some(dir.join("clang")).filter(|p| p.is_file()), Some(dir.join("ld.lld")).filter(|p| p.is_file()))
        } else {
            bail!("--llvm {llvm}: expected 1, a version suffix such as -19, or a directory ending in /");
        };
        let clang = clang.with_context(|| {
            format!("no clang for LLVM={llvm}; install clang-19 lld-19 llvm-19 (`cargo xtask deps --yes`)")
        })?;
        let lld = lld.with_context(|| format!("no ld.lld for LLVM={llvm}; install lld (`cargo xtask deps --yes`)"))?;
        Ok(Self { llvm, clang, lld })
    }

    /// Refuses a clang older than `min` (LLVM major version) and a clang and
    /// ld.lld of different LLVM releases, before any make runs.
    pub fn check(&self, min: u32) -> Result<()> {
        let (c, l) = (self.clang_version(), self.lld_version());
        let clang = llvm_major(&c, "clang version ")
            .with_context(|| format!("{} --version says `{c}`, which names no clang version", self.clang.display()))?;
        let lld = llvm_major(&l, "LLD ")
            .with_context(|| format!("{} --version says `{l}`, which names no LLD version", self.lld.display()))?;
        if clang < min {
            bail!(
                "{} is clang {clang} (`{c}`); distributed ThinLTO needs LLVM {min} or newer: install clang-19 lld-19 llvm-19 (`cargo xtask deps --yes`) and pass --llvm -19",
                self.clang.display()
            );
        }
        if clang != lld {
            bail!(
                "clang is LLVM {clang} (`{c}`) but ld.lld is LLVM {lld} (`{l}`): the thin-link's indexes and the back-end compiles must come from one LLVM; pass --llvm for a matching pair",
            );
        }
        Ok(())
    }

    /// Another program of this LLVM (`llvm-readobj`), named as kbuild's LLVM= names it.
    pub fn llvm_tool(&self, name: &str) -> PathBuf {
        match self.llvm.strip_prefix('-') {
            Some(suffix) => PathBuf::from(format!("{name}-{suffix}")),
            None if self.llvm.ends_with('/') => Path::new(&self.llvm).join(name),
            None => PathBuf::from(name),
        }
    }

    pub fn clang_version(&self) -> String {
        first_line(&self.clang, "--version")
    }

    pub fn lld_version(&self) -> String {
        first_line(&self.lld, "--version")
    }
}

/// The major version after `marker` in a `--version` line:
/// "Debian clang version 19.1.7 (3~deb12u1)" → 19, "Debian LLD 19.1.7 (…)" → 19.
pub fn llvm_major(line: &str, marker: &str) -> Option<u32> {
    let rest = &line[line.find(marker)? + marker.len()..];
    rest.split(['.', ' ', '-']).next()?.parse().ok()
}

/// The first line a tool prints for `arg` (`--version`).
pub fn first_line(tool: &Path, arg: &str) -> String {
    let out = Cmd::new(tool).arg(arg).read_any().unwrap_or_default();
    out.lines().next().unwrap_or_default().to_string()
}

/// The highest N with both clang-N and ld.lld-N on PATH.
fn newest_versioned() -> Option<u32> {
    let mut versions: Vec<u32> = path_dirs()
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.filter_map(|e| e.ok()))
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("clang-")?.parse().ok())
        .collect();
    versions.sort_unstable();
    versions.into_iter().rev().find(|v| which(&format!("ld.lld-{v}")).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_llvm_major_versions() {
        assert_eq!(llvm_major("Debian clang version 19.1.7 (3~deb12u1)", "clang version "), Some(19));
        assert_eq!(llvm_major("clang version 14.0.0", "clang version "), Some(14));
        assert_eq!(llvm_major("Debian LLD 19.1.7 (compatible with GNU linkers)", "LLD "), Some(19));
        assert_eq!(llvm_major("LLD 18.1.8-rc1", "LLD "), Some(18));
        assert_eq!(llvm_major("GNU ld (GNU Binutils) 2.40", "LLD "), None);
    }

    #[test]
    fn rejects_malformed_llvm() {
        assert!(Toolchain::select(Some("19")).unwrap_err().to_string().contains("expected 1"));
        assert!(Toolchain::select(Some("-999")).unwrap_err().to_string().contains("no clang for LLVM=-999"));
    }
}
