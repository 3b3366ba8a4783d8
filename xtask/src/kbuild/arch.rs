//! Per-architecture data from `configs/arch/<arch>.toml`: the code asks
//! these values instead of matching on architecture names; a new
//! architecture is a file there.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::home;

#[derive(Debug, Clone, Deserialize)]
pub struct Qemu {
    pub binary: String,
    pub machine: String,
    pub cpu: String,
    pub console: String,
    /// The Kconfig symbol of the console driver the boot needs.
    pub console_config: String,
    #[serde(default)]
    pub firmware: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Arch {
    #[serde(skip)]
    pub name: String,
    pub make_arch: String,
    pub elf_machine: u16,
    pub image: String,
    pub image_target: String,
    #[serde(default)]
    pub fragments: Vec<String>,
    /// Clang's --target for programs that run on this architecture.
    pub clang_target: String,
    pub boot_fragment: Option<String>,
    pub qemu: Option<Qemu>,
}

impl Arch {
    pub fn load(name: &str) -> Result<Self> {
        let known = known();
        if !known.iter().any(|k| k == name) {
            bail!("unknown architecture `{name}`; known: {}", known.join(", "));
        }
        let path = dir().join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("unknown architecture `{name}`: no {}; known: {}", path.display(), known.join(", "))
        })?;
        let mut arch: Arch = toml_edit::de::from_str(&text)
            .with_context(|| format!("{} is not a valid architecture file", path.display()))?;
        arch.name = name.to_string();
        Ok(arch)
    }

    pub fn fragment_paths(&self) -> Vec<PathBuf> {
        self.fragments.iter().map(|f| home::configs().join(f)).collect()
    }
}

fn dir() -> PathBuf {
    home::configs().join("arch")
}

/// The architectures: the TOML files of `configs/arch/`.
pub fn known() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_architectures_load() {
        let names = known();
        assert_eq!(names, ["arm64", "loongarch", "riscv", "x86_64"]);
        for n in &names {
            let a = Arch::load(n).unwrap();
            assert!(a.elf_machine > 0 && a.image.starts_with("arch/"), "{n}");
        }
        assert_eq!(Arch::load("riscv").unwrap().qemu.unwrap().firmware, ["-bios", "default"]);
        for bad in ["sparc", "deps", "../Cargo", "clean-check"] {
            let err = Arch::load(bad).unwrap_err().to_string();
            assert!(
                err.contains("unknown architecture") && err.contains("known: arm64, loongarch, riscv, x86_64"),
                "{err}"
            );
        }
    }
}
