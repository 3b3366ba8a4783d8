//! Argument groups every command shares, declared once and flattened into
//! each command that takes them; and how a command finds its kernel tree.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::home;
use crate::kbuild::arch::Arch;
use crate::kbuild::session::BuildSpec;
use crate::report;
use crate::tree::state::State;

#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Kernel tree to work on, instead of the one `setup` remembered.
    #[arg(long, global = true, value_name = "DIR")]
    pub kernel: Option<PathBuf>,
    /// State file (default: $THINDIST_HOME/state.toml, ~/.cache/thindist/state.toml).
    #[arg(long, global = true, env = "THINDIST_STATE", value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// When another thindist run holds the tree or build directory, wait for it instead of stopping.
    #[arg(long, global = true)]
    pub wait: bool,
}

impl Global {
    pub fn state_file(&self) -> PathBuf {
        self.state.clone().unwrap_or_else(home::default_state_file)
    }

    pub fn load_state(&self) -> Result<State> {
        State::load(&self.state_file())
    }

    /// `--kernel`, else the tree `setup` made current.
    pub fn kernel_dir(&self) -> Result<PathBuf> {
        if let Some(k) = &self.kernel {
            return Ok(k.clone());
        }
        let state = self.load_state()?;
        state.current().with_context(|| {
            format!(
                "no kernel tree given and none set up yet ({} names none); run `cargo xtask setup <linux-dir|tarball>` or pass --kernel <dir>",
                state.path().display()
            )
        })
    }

    /// The build spec of a command: this tree, the architecture (loaded
    /// once here), the toolchain and jobs.
    pub fn spec(&self, command: &'static str, arch: &ArchArg, tools: &ToolArgs) -> Result<BuildSpec> {
        let mut spec = BuildSpec::new(command, self.kernel_dir()?, Arch::load(&arch.arch)?);
        spec.llvm = tools.llvm.clone();
        spec.jobs = tools.jobs;
        spec.wait = self.wait;
        Ok(spec)
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ArchArg {
    /// Architecture: a file under configs/ (x86_64, arm64, riscv, loongarch).
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Base config: a make target (tinyconfig, defconfig, allnoconfig, …) or a .config file.
    #[arg(long, default_value = "tinyconfig")]
    pub config: String,
    /// Config fragment to merge (repeatable): a file, or a name in the tree's kernel/configs or in configs/.
    #[arg(long, value_name = "FILE")]
    pub fragment: Vec<PathBuf>,
}

impl ConfigArgs {
    /// Puts the base config and fragments into a spec, after any the command adds first.
    pub fn apply(&self, spec: &mut BuildSpec) {
        spec.config = self.config.clone();
        spec.fragments.extend(self.fragment.iter().cloned());
    }
}

/// kbuild's toolchain and parallelism, shared by every command that builds.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ToolArgs {
    /// kbuild's LLVM=: 1, a suffix such as -19, or a bin/ directory. Default: newest clang-N on PATH.
    #[arg(long, allow_hyphen_values = true)]
    pub llvm: Option<String>,
    /// Parallel jobs (make -j, 1 to 4096). Default: the number of cores.
    #[arg(short = 'j', long, value_parser = parse_jobs)]
    pub jobs: Option<usize>,
}

/// GNU make blocks forever on its job pipe far above this, and `-j0` is not a count.
pub const MAX_JOBS: usize = 4096;

fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a job count from 1 to {MAX_JOBS}")),
    }
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct JsonArg {
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

impl JsonArg {
    pub fn write(&self, value: &impl serde::Serialize) -> Result<()> {
        if let Some(path) = &self.json {
            report::write_json(path, value)?;
            println!("  json: {}", path.display());
        }
        Ok(())
    }

    pub fn path(&self) -> Option<&Path> {
        self.json.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_counts_are_bounded() {
        assert_eq!(parse_jobs("8"), Ok(8));
        assert!(parse_jobs("0").unwrap_err().contains("from 1 to 4096"));
        assert!(parse_jobs("100000").is_err() && parse_jobs("x").is_err());
    }
}
