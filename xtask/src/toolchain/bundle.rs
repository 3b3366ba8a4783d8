//! A hermetic toolchain (`--remote-toolchain-upload`): the compiler laid
//! out as an LLVM installation — `bin/clang`, every library it loads but the
//! C library's in `lib/`, its resource directory's headers in `lib/clang/N/`
//! — so that a worker with no LLVM runs it from the action's input root. The
//! driver finds its own libraries by its run path (`$ORIGIN/../lib`), theirs
//! through `LD_LIBRARY_PATH`, and its headers beside itself, as it does where
//! it is installed. Hashed once per build: every action names the same files,
//! so the engine stores them once.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::exec::Cmd;
use crate::toolchain::identity::{self, Compiler};

/// The driver, in the bundle.
pub const DRIVER: &str = "bin/clang";
/// The libraries, in the bundle (the driver's run path).
pub const LIBRARIES: &str = "lib";

/// The system's C library: every worker has its own, and a compiler built
/// against an older one runs on a newer.
const C_LIBRARY: &[&str] =
    &["linux-vdso.so", "ld-linux", "libc.so", "libm.so", "libmvec.so", "libpthread.so", "libdl.so", "librt.so"];

/// The resource directory's parts a compile reads: headers, and the
/// sanitizers' ignore lists (`lib/` holds runtimes that only links use).
const RESOURCE_PARTS: &[&str] = &["include", "share"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub files: Vec<BundleFile>,
    /// The resource directory here, which compile flags name (`-isystem …/include`).
    pub resource_dir: PathBuf,
    /// Where it is in the bundle (`lib/clang/19`).
    pub resource_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleFile {
    /// Its path in the bundle.
    pub at: String,
    /// The file here whose bytes it is.
    pub local: PathBuf,
    /// SHA-256, hex, and the size: its REAPI digest.
    pub hash: String,
    pub size: i64,
    pub executable: bool,
}

impl Bundle {
    /// The compiler's bundle, every file hashed.
    pub fn of(compiler: &Compiler) -> Result<Self> {
        let real = std::fs::canonicalize(&compiler.path)
            .with_context(|| format!("cannot resolve {}", compiler.path.display()))?;
        let install = real.parent().and_then(Path::parent).context("the driver is not in an installation's bin/")?;
        let ldd = Cmd::new("ldd").arg(real.display().to_string()).read_any().unwrap_or_default();
        let resource_dir = PathBuf::from(crate::toolchain::first_line(&compiler.path, "-print-resource-dir").trim());
        let resource_at =
            resource_dir.strip_prefix(install).ok().and_then(|p| p.to_str()).map(str::to_string).with_context(
                || {
                    format!(
                    "{}'s resource directory {} is outside its installation {}: the bundled driver would not find it",
                    compiler.path.display(),
                    resource_dir.display(),
                    install.display()
                )
                },
            )?;
        let mut files = vec![(DRIVER.to_string(), real.clone(), true)];
        for (name, path) in libraries(&ldd) {
            files.push((format!("{LIBRARIES}/{name}"), path, false));
        }
        if files.len() == 1 {
            bail!("`ldd {}` named no library; the bundle cannot be made without it", real.display());
        }
        for part in RESOURCE_PARTS {
            for (rel, path) in walk(&resource_dir.join(part))? {
                files.push((format!("{resource_at}/{part}/{rel}"), path, false));
            }
        }
        let files = files
            .into_iter()
            .map(|(at, local, executable)| {
                let (hash, size) = hash_file(&local)?;
                Ok(BundleFile { at, local, hash, size, executable })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { files, resource_dir, resource_at })
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size as u64).sum()
    }

    /// `path` (a resource header, as a compile names it here) in the bundle.
    pub fn resource_path(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.resource_dir).ok()?.to_str()?;
        Some(format!("{}/{rel}", self.resource_at))
    }

    pub fn load(file: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a toolchain bundle", file.display()))
    }
}

/// The libraries `ldd` resolved, by the name the loader asks for, the C
/// library's left out; each read through its links.
fn libraries(ldd: &str) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = identity::ldd_paths(ldd)
        .into_iter()
        .filter(|(name, _)| !C_LIBRARY.iter().any(|c| name.starts_with(c)))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Every file under `dir`, by its relative path, sorted; none if it does not exist.
fn walk(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", d.display())),
        };
        for e in entries {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(rel) = p.strip_prefix(dir).ok().and_then(Path::to_str) {
                files.push((rel.to_string(), p.clone()));
            }
        }
    }
    files.sort();
    Ok(files)
}

fn hash_file(path: &Path) -> Result<(String, i64)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0i64;
    loop {
        let n = f.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as i64;
    }
    Ok((hex::encode(h.finalize()), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_takes_every_library_but_the_c_librarys() {
        let ldd = "\tlinux-vdso.so.1 (0x1)\n\
            \tlibclang-cpp.so.19.1 => /usr/lib/llvm-19/bin/../lib/libclang-cpp.so.19.1 (0x2)\n\
            \tlibLLVM.so.19.1 => /usr/lib/llvm-19/bin/../lib/libLLVM.so.19.1 (0x3)\n\
            \tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x4)\n\
            \tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x5)\n\
            \tlibz3.so.4 => /lib/x86_64-linux-gnu/libz3.so.4 (0x6)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x8)\n";
        let names: Vec<String> = libraries(ldd).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["libLLVM.so.19.1", "libclang-cpp.so.19.1", "libstdc++.so.6", "libz3.so.4"]);
        assert_eq!(libraries(ldd)[0].1, Path::new("/usr/lib/llvm-19/lib/libLLVM.so.19.1"));
    }

    /// This machine's clang, bundled: the driver, its LLVM, its headers,
    /// each hashed as the file is.
    #[test]
    fn this_machines_clang_is_bundled_as_an_installation() {
        let tc = crate::toolchain::Toolchain::select(None).expect("clang (cargo xtask deps)");
        let b = Bundle::of(&Compiler::identify(&tc.clang).unwrap()).unwrap();
        let at: Vec<&str> = b.files.iter().map(|f| f.at.as_str()).collect();
        assert_eq!(at[0], DRIVER);
        assert!(b.files[0].executable);
        assert!(at.iter().any(|a| a.starts_with("lib/libLLVM")), "{at:?}");
        assert!(!at.iter().any(|a| a.starts_with("lib/libc.so")), "{at:?}");
        assert!(b.resource_at.starts_with("lib/clang/"), "{}", b.resource_at);
        assert!(at.contains(&format!("{}/include/stddef.h", b.resource_at).as_str()));
        let stddef = b.resource_dir.join("include/stddef.h");
        assert_eq!(b.resource_path(&stddef), Some(format!("{}/include/stddef.h", b.resource_at)));
        assert_eq!(b.resource_path(Path::new("/usr/include/stdio.h")), None);
        let f = b.files.iter().find(|f| f.at.ends_with("include/stddef.h")).unwrap();
        assert_eq!(hash_file(&f.local).unwrap(), (f.hash.clone(), f.size));
    }
}
