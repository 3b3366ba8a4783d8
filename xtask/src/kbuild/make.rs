//! One kbuild invocation context: tree, object tree, ARCH, LLVM, -j.
//! Every make call of the tool goes through here, arguments as arguments.

use std::path::{Path, PathBuf};

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::kbuild::arch::Arch;
use crate::kbuild::toolchain::Toolchain;

#[derive(Debug, Clone)]
pub struct Kbuild {
    pub tree: PathBuf,
    /// Where outputs go: the tree itself, or an `O=` directory.
    pub objtree: PathBuf,
    pub arch: Arch,
    pub toolchain: Toolchain,
    pub jobs: usize,
}

impl Kbuild {
    pub fn new(tree: &Path, out: Option<&Path>, arch: Arch, toolchain: Toolchain, jobs: Option<usize>) -> Result<Self> {
        let objtree = match out {
            Some(o) => {
                std::fs::create_dir_all(o)?;
                o.canonicalize()?
            }
            None => tree.to_path_buf(),
        };
        let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        Ok(Self { tree: tree.to_path_buf(), objtree, arch, toolchain, jobs })
    }

    pub fn out_of_tree(&self) -> bool {
        self.objtree != self.tree
    }

    /// `make -C <tree> [O=<objtree>] LLVM=… ARCH=… -j N <targets>`.
    pub fn argv(&self, targets: &[&str]) -> Vec<String> {
        let mut v = vec!["make".to_string(), "-C".to_string(), self.tree.display().to_string()];
        if self.out_of_tree() {
            v.push(format!("O={}", self.objtree.display()));
        }
        v.push(format!("LLVM={}", self.toolchain.llvm));
        v.push(format!("ARCH={}", self.arch.make_arch));
        v.push(format!("-j{}", self.jobs));
        v.extend(targets.iter().map(|t| t.to_string()));
        v
    }

    /// A short make run (configuration targets): output only on failure.
    pub fn make_quiet(&self, targets: &[&str]) -> Result<()> {
        let sh = Shell::new()?;
        let argv = self.argv(targets);
        let (prog, args) = argv.split_first().expect("make");
        let out = cmd!(sh, "{prog} {args...}").quiet().ignore_status().output()?;
        if !out.status.success() {
            anyhow::bail!(
                "`{}` failed:\n{}{}",
                argv.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.objtree.join(rel)
    }
}
