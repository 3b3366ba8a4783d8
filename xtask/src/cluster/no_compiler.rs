//! A worker without a compiler (`up --worker-without-compiler N`): its
//! sandbox sees this machine's system with the LLVM installation and every
//! library the compiler loads (but the C library) covered by empty ones, as
//! a worker image without LLVM would be. Only a job that brings its compiler
//! (`--remote-toolchain-upload`) can compile there.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::toolchain::bundle::Bundle;
use crate::toolchain::identity::Compiler;

/// The sandbox binds (`HOST:SANDBOX`, after the usual `binds`) that cover
/// the compiler's files where the sandbox shows them; the empty directory
/// and file they bind are made under `dir`.
pub fn hiding_binds(dir: &Path, binds: &[String]) -> Result<Vec<String>> {
    let empty_dir = dir.join("empty");
    let empty_file = dir.join("empty-file");
    std::fs::create_dir_all(&empty_dir).with_context(|| format!("cannot create {}", empty_dir.display()))?;
    std::fs::write(&empty_file, b"").with_context(|| format!("cannot create {}", empty_file.display()))?;
    let clang = crate::toolchain::Toolchain::select(None)?.clang;
    let (installation, libraries) = compiler_files(&clang)?;
    let mut out = Vec::new();
    for (host, empty) in
        std::iter::once((installation, &empty_dir)).chain(libraries.into_iter().map(|l| (l, &empty_file)))
    {
        for seen in in_sandbox(&host, binds) {
            out.push(format!("{}:{}", empty.display(), seen.display()));
        }
    }
    Ok(out)
}

/// The compiler's installation directory, and the real files of the
/// libraries it loads from outside it.
fn compiler_files(clang: &Path) -> Result<(PathBuf, Vec<PathBuf>)> {
    let bundle = Bundle::of(&Compiler::identify(clang)?)?;
    let real = std::fs::canonicalize(clang)?;
    let installation = real.parent().and_then(Path::parent).context("the compiler is not in an installation's bin/")?;
    let mut libraries: Vec<PathBuf> = bundle
        .files
        .iter()
        .filter(|f| Path::new(&f.at).parent() == Some(Path::new(crate::toolchain::bundle::LIBRARIES)))
        .filter_map(|f| std::fs::canonicalize(&f.local).ok())
        .filter(|p| !p.starts_with(installation))
        .collect();
    libraries.sort();
    libraries.dedup();
    Ok((installation.to_path_buf(), libraries))
}

/// Where a host path appears in the sandbox, through each bind that holds it.
fn in_sandbox(host: &Path, binds: &[String]) -> Vec<PathBuf> {
    binds
        .iter()
        .filter_map(|b| b.split_once(':'))
        .filter_map(|(src, dst)| host.strip_prefix(src).ok().map(|rest| Path::new(dst).join(rest)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_path_is_covered_wherever_the_sandbox_shows_it() {
        let binds: Vec<String> = ["/usr:/usr", "/usr/lib:/lib", "/usr/lib64:/lib64", "/usr/bin:/bin"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            in_sandbox(Path::new("/usr/lib/llvm-19"), &binds),
            [PathBuf::from("/usr/lib/llvm-19"), PathBuf::from("/lib/llvm-19")]
        );
        assert_eq!(in_sandbox(Path::new("/opt/llvm"), &binds), Vec::<PathBuf>::new(), "not in the sandbox at all");
        assert_eq!(
            in_sandbox(Path::new("/usr/libexec/x"), &binds),
            [PathBuf::from("/usr/libexec/x")],
            "whole components"
        );
    }
}
