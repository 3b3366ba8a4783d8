//! The compiler's identity, part of every action: its path, and one digest
//! over everything that decides what it makes — the driver binary, the
//! libraries of its LLVM installation that it loads (`libclang-cpp`,
//! `libLLVM`: the compiler is mostly there), and its resource directory's
//! headers — with its version line. Two clangs that differ in any of these
//! never share a cache entry. Computed once per build (and once per process).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::exec::Cmd;
use crate::toolchain;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compiler {
    /// Absolute path, as found on PATH (the engine's workers see the same path).
    pub path: PathBuf,
    /// `sha256:<digest of the driver, its LLVM libraries and resource headers> <version line>`.
    pub id: String,
}

/// The platform property a worker advertises for the compiler it has, and
/// an action asks for with `--remote-toolchain-property`: only a worker with
/// this very compiler takes the job.
pub const PROPERTY: &str = "thindist-toolchain";

impl Compiler {
    /// The value of `PROPERTY` for this compiler: its digest, short.
    pub fn property_value(&self) -> String {
        self.id.trim_start_matches("sha256:").chars().take(32).collect()
    }
}

/// Compilers identified by this process, by the path they were named by.
static KNOWN: Mutex<BTreeMap<PathBuf, Compiler>> = Mutex::new(BTreeMap::new());

impl Compiler {
    pub fn identify(name: &Path) -> Result<Self> {
        let path = resolve(name)?;
        if let Some(known) = KNOWN.lock().unwrap_or_else(|e| e.into_inner()).get(&path) {
            return Ok(known.clone());
        }
        let real = std::fs::canonicalize(&path).with_context(|| format!("cannot resolve {}", path.display()))?;
        let libraries = llvm_libraries(&real)?;
        let resource = toolchain::first_line(&path, "-print-resource-dir");
        let headers = headers(&Path::new(resource.trim()).join("include"))?;
        let line = toolchain::first_line(&path, "--version");
        let compiler =
            Self { path: path.clone(), id: format!("sha256:{} {}", digest(&real, &libraries, &headers)?, line.trim()) };
        KNOWN.lock().unwrap_or_else(|e| e.into_inner()).insert(path, compiler.clone());
        Ok(compiler)
    }
}

/// The installation a driver belongs to: `/usr/lib/llvm-19` for `/usr/lib/llvm-19/bin/clang`.
fn installation(real: &Path) -> Option<&Path> {
    real.parent()?.parent()
}

/// The libraries the driver loads from its LLVM installation, as the
/// dynamic loader resolves them (`ldd`), canonical and sorted. The system's
/// C and C++ runtime are not the compiler's.
fn llvm_libraries(real: &Path) -> Result<Vec<PathBuf>> {
    let listed = Cmd::new("ldd").arg(real.display().to_string()).read_any().unwrap_or_default();
    Ok(match installation(real) {
        Some(root) => under(&listed, root),
        None => Vec::new(),
    })
}

/// The paths of `ldd`'s output (`name => /path (0x…)`) that lie under
/// `root` as the loader names them (`bin/../lib/…`); Debian links them from
/// there into `/usr/lib/<triplet>`, and reading them follows the link.
fn under(ldd: &str, root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = ldd_paths(ldd).into_iter().map(|(_, p)| p).filter(|p| p.starts_with(root)).collect();
    found.sort();
    found.dedup();
    found
}

/// The libraries in `ldd`'s output that the loader found (`name => /path
/// (0x…)`): the name asked for, and the path with `..` resolved as words.
pub fn ldd_paths(ldd: &str) -> Vec<(String, PathBuf)> {
    ldd.lines()
        .filter_map(|l| l.split_once("=>"))
        .filter_map(|(name, rest)| Some((name.trim().to_string(), lexical(Path::new(rest.split_whitespace().next()?)))))
        // `libx.so => not found`: nothing to read.
        .filter(|(_, p)| p.is_absolute())
        .collect()
}

/// `a/bin/../lib/x` as `a/lib/x`, without asking the filesystem.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every file under the resource directory's `include/`, relative, sorted.
fn headers(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                files.push((rel.to_string_lossy().to_string(), p.clone()));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// One SHA-256 over the driver, each library (its name and bytes) and each
/// header (its relative name and bytes), in that order.
fn digest(driver: &Path, libraries: &[PathBuf], headers: &[(String, PathBuf)]) -> Result<String> {
    let mut h = Sha256::new();
    let mut add = |label: &str, file: &Path| -> Result<()> {
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        h.update(format!("{label}\0{}\0", bytes.len()));
        h.update(&bytes);
        Ok(())
    };
    add("driver", driver)?;
    for lib in libraries {
        add(&lib.file_name().unwrap_or_default().to_string_lossy(), lib)?;
    }
    for (name, file) in headers {
        add(name, file)?;
    }
    Ok(hex::encode(h.finalize()))
}

/// A compiler named on a command line, made absolute: a path as it is, a bare name from PATH.
pub fn resolve(name: &Path) -> Result<PathBuf> {
    if name.components().count() > 1 {
        return Ok(std::path::absolute(name)?);
    }
    crate::exec::which(&name.to_string_lossy()).with_context(|| format!("`{}` is not on PATH", name.display()))
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
        let real = std::fs::canonicalize(&tc.clang).unwrap();
        let libs = llvm_libraries(&real).unwrap();
        let names: Vec<String> = libs.iter().map(|l| l.file_name().unwrap().to_string_lossy().to_string()).collect();
        assert!(names.iter().any(|n| n.starts_with("libLLVM")), "clang's own LLVM is part of it: {names:?}");
        assert!(!names.iter().any(|n| n.starts_with("libc.so")), "the C library is not: {names:?}");
    }

    /// Two installations with the same driver and another libLLVM, or
    /// another header, are two compilers.
    #[test]
    fn another_libllvm_or_header_is_another_compiler() {
        let dir = tempfile::tempdir().unwrap();
        let install = |name: &str, llvm: &str, header: &str| {
            let root = dir.path().join(name);
            for (rel, text) in
                [("bin/clang", "driver"), ("lib/libLLVM.so.19.1", llvm), ("lib/clang/19/include/stddef.h", header)]
            {
                std::fs::create_dir_all(root.join(rel).parent().unwrap()).unwrap();
                std::fs::write(root.join(rel), text).unwrap();
            }
            let ldd = format!(
                "\tlinux-vdso.so.1 (0x1)\n\tlibLLVM.so.19.1 => {}/bin/../lib/libLLVM.so.19.1 (0x2)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x3)\n",
                root.display()
            );
            let libs = under(&ldd, &root);
            assert_eq!(libs, [root.join("lib/libLLVM.so.19.1")], "only the installation's own, as the loader names it");
            let headers = headers(&root.join("lib/clang/19/include")).unwrap();
            digest(&root.join("bin/clang"), &libs, &headers).unwrap()
        };
        let a = install("a", "LLVM one", "#define X 1");
        assert_eq!(a, install("b", "LLVM one", "#define X 1"), "the same files, the same compiler");
        assert_ne!(a, install("c", "LLVM two", "#define X 1"), "another libLLVM");
        assert_ne!(a, install("d", "LLVM one", "#define X 2"), "another resource header");
    }
}
