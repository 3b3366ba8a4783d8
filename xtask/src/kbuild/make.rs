//! One kbuild invocation context: tree, object tree, ARCH, LLVM, -j, the
//! environment make gets, and where compile jobs run. Every make call of
//! the tool is built here, arguments as arguments.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::exec::Cmd;
use crate::kbuild::arch::Arch;
use crate::kbuild::driver::{self, MakeRun, Observe};
use crate::kbuild::execution::Execution;
use crate::kbuild::stages::Pipeline;
use crate::toolchain::Toolchain;

#[derive(Debug, Clone)]
pub struct Kbuild {
    pub tree: PathBuf,
    /// Where outputs go: the tree itself, or an `O=` directory.
    pub objtree: PathBuf,
    pub arch: Arch,
    pub toolchain: Toolchain,
    pub jobs: usize,
    /// Variables for make's environment (never set on the tool's own process).
    pub env: Vec<(String, String)>,
    pub execution: Execution,
    /// Build the modules too when the config has CONFIG_MODULES=y.
    pub modules: bool,
    /// Who is shown the stages of a run.
    pub observe: Observe,
}

impl Kbuild {
    pub fn out_of_tree(&self) -> bool {
        self.objtree != self.tree
    }

    /// `make -C <tree> [O=<objtree>] LLVM=… ARCH=… -j N <targets>`.
    pub fn argv(&self, targets: &[String]) -> Vec<String> {
        let mut v = vec!["make".to_string(), "-C".to_string(), self.tree.display().to_string()];
        if self.out_of_tree() {
            v.push(format!("O={}", self.objtree.display()));
        }
        v.push(format!("LLVM={}", self.toolchain.llvm));
        v.push(format!("ARCH={}", self.arch.make_arch));
        v.push(format!("-j{}", self.jobs));
        v.extend(self.execution.make_vars());
        v.extend(targets.iter().cloned());
        v
    }

    /// What `build` makes: vmlinux and the architecture's boot image, and
    /// the modules when the config has them, as make's default target would.
    pub fn kernel_targets(&self) -> Vec<String> {
        let mut targets = vec!["vmlinux".to_string(), self.arch.image_target.clone()];
        if self.modules && self.config_has_modules() {
            targets.push("modules".to_string());
        }
        targets
    }

    /// Whether the object tree's .config enables loadable modules.
    pub fn config_has_modules(&self) -> bool {
        std::fs::read_to_string(self.path(".config")).is_ok_and(|c| c.lines().any(|l| l == "CONFIG_MODULES=y"))
    }

    pub fn command(&self, targets: &[String]) -> Cmd {
        Cmd::from_argv(&self.argv(targets)).envs(&self.env).envs(&self.execution.env())
    }

    /// A short make run (configuration and clean targets): output only on failure.
    pub fn make_quiet(&self, targets: &[&str]) -> Result<()> {
        let targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        self.command(&targets).run_quiet()
    }

    /// The kernel targets, followed stage by stage, everything logged.
    pub fn make(&self, pipeline: Pipeline, log: &Path) -> Result<MakeRun> {
        driver::run(
            &self.command(&self.kernel_targets()),
            &self.objtree,
            pipeline,
            log,
            self.execution.launch(),
            self.observe,
        )
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.objtree.join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kbuild(out: Option<&str>) -> Kbuild {
        let tree = PathBuf::from("/src/linux");
        Kbuild {
            objtree: out.map(PathBuf::from).unwrap_or_else(|| tree.clone()),
            tree,
            arch: Arch::load("riscv").unwrap(),
            toolchain: Toolchain { llvm: "-19".into(), clang: "clang-19".into(), lld: "ld.lld-19".into() },
            jobs: 2,
            env: vec![("LOCALVERSION".into(), String::new())],
            execution: Execution::Local,
            modules: true,
            observe: driver::unobserved,
        }
    }

    #[test]
    fn make_argv_in_tree_and_out_of_tree() {
        let k = kbuild(None);
        assert_eq!(
            k.argv(&k.kernel_targets()),
            ["make", "-C", "/src/linux", "LLVM=-19", "ARCH=riscv", "-j2", "vmlinux", "Image"]
        );
        let k = kbuild(Some("/tmp/o"));
        assert_eq!(k.argv(&["olddefconfig".into()])[..4], ["make", "-C", "/src/linux", "O=/tmp/o"]);
        assert_eq!(k.command(&[]).display(), "LOCALVERSION= make -C /src/linux O=/tmp/o LLVM=-19 ARCH=riscv -j2");
    }

    #[test]
    fn builds_modules_when_the_config_has_them_unless_told_not_to() {
        let out = tempfile::tempdir().unwrap();
        let mut k = kbuild(Some(out.path().to_str().unwrap()));
        std::fs::write(out.path().join(".config"), "# CONFIG_MODULES is not set\n").unwrap();
        assert_eq!(k.kernel_targets(), ["vmlinux", "Image"]);
        std::fs::write(out.path().join(".config"), "CONFIG_MODULES=y\nCONFIG_MODULE_UNLOAD=y\n").unwrap();
        assert_eq!(k.kernel_targets(), ["vmlinux", "Image", "modules"]);
        k.modules = false;
        assert_eq!(k.kernel_targets(), ["vmlinux", "Image"]);
    }
}
