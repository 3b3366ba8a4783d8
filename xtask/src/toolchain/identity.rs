//! The compiler's identity, part of every action: its path, the digest of
//! its binary and its version line, so that another clang never shares a
//! cache entry with this one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::toolchain;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compiler {
    /// Absolute path, as found on PATH (the engine's workers see the same path).
    pub path: PathBuf,
    /// `sha256:<binary digest> <version line>`.
    pub id: String,
}

impl Compiler {
    pub fn identify(name: &Path) -> Result<Self> {
        let path = resolve(name)?;
        let real = std::fs::canonicalize(&path)?;
        let bytes = std::fs::read(&real).with_context(|| format!("cannot read {}", real.display()))?;
        let line = toolchain::first_line(&path, "--version");
        Ok(Self { path, id: format!("sha256:{} {}", hex::encode(Sha256::digest(&bytes)), line.trim()) })
    }
}

/// A compiler named on a command line, made absolute: a path as it is, a bare name from PATH.
pub fn resolve(name: &Path) -> Result<PathBuf> {
    if name.components().count() > 1 {
        return Ok(std::path::absolute(name)?);
    }
    toolchain::which(&name.to_string_lossy()).with_context(|| format!("`{}` is not on PATH", name.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_names_the_binary_and_its_version() {
        let tc = crate::toolchain::Toolchain::select(None).expect("clang (cargo xtask deps)");
        let c = Compiler::identify(&tc.clang).unwrap();
        assert!(c.path.is_absolute());
        assert!(c.id.starts_with("sha256:") && c.id.contains("clang version"), "{}", c.id);
        assert!(resolve(Path::new("no-such-compiler-xyz")).is_err());
    }
}
