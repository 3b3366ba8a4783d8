//! Argument groups every command shares, declared once and flattened into
//! each command that takes them; and how a command finds its kernel tree.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::home;
use crate::kbuild::arch::Arch;
use crate::kbuild::profiles::Profiles;
use crate::kbuild::session::BuildSpec;
use crate::launcher::plan::RemoteSpec;
use crate::remote::endpoint::{Endpoint, Header};
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
        spec.remote = tools.remote.resolve(&self.load_state()?)?;
        spec.observe = report::progress::stage_bars;
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
    /// Make vmlinux and the boot image only, not the modules a config with
    /// CONFIG_MODULES=y has (make's default target builds both).
    #[arg(long)]
    pub vmlinux_only: bool,
    /// An AutoFDO profile (kbuild's CLANG_AUTOFDO_PROFILE; turns on CONFIG_AUTOFDO_CLANG, Linux 6.13+).
    #[arg(long, value_name = "FILE")]
    pub autofdo_profile: Option<PathBuf>,
    /// A Propeller profile prefix: PREFIX_cc_profile.txt and PREFIX_ld_profile.txt
    /// (kbuild's CLANG_PROPELLER_PROFILE_PREFIX; turns on CONFIG_PROPELLER_CLANG, Linux 6.13+).
    #[arg(long, value_name = "PREFIX")]
    pub propeller_profile: Option<PathBuf>,
}

impl ConfigArgs {
    /// Puts the base config and fragments into a spec, after any the command adds first.
    pub fn apply(&self, spec: &mut BuildSpec) {
        spec.config = self.config.clone();
        spec.fragments.extend(self.fragment.iter().cloned());
        spec.modules = !self.vmlinux_only;
        spec.profiles = Profiles { autofdo: self.autofdo_profile.clone(), propeller: self.propeller_profile.clone() };
    }

    /// The config as reports name it: `tinyconfig +kvm_guest.config +autofdo`.
    pub fn label(&self) -> String {
        std::iter::once(self.config.clone())
            .chain(self.fragment.iter().map(|f| format!("+{}", f.display())))
            .chain(self.profile_names().into_iter().map(|p| format!("+{p}")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `autofdo`, `propeller`: the profiles given, for names of reports and directories.
    pub fn profile_names(&self) -> Vec<&'static str> {
        [(self.autofdo_profile.is_some(), "autofdo"), (self.propeller_profile.is_some(), "propeller")]
            .into_iter()
            .filter_map(|(given, name)| given.then_some(name))
            .collect()
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
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Where ThinLTO back-end jobs run: a Remote Execution API (v2) engine.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Remote execution")]
pub struct RemoteArgs {
    /// Run back-end jobs on this REAPI engine: grpc://HOST:PORT or grpcs://HOST:PORT
    /// (also THINDIST_REMOTE, or [remote] url in the state file).
    #[arg(long, env = "THINDIST_REMOTE", value_name = "URL")]
    pub remote: Option<String>,
    /// The engine's instance name.
    #[arg(long, value_name = "NAME")]
    pub remote_instance: Option<String>,
    /// PEM CA certificate for a grpcs:// engine.
    #[arg(long, value_name = "FILE")]
    pub remote_ca: Option<PathBuf>,
    /// PEM client certificate (mutual TLS), with --remote-key.
    #[arg(long, value_name = "FILE")]
    pub remote_cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub remote_key: Option<PathBuf>,
    /// A file holding a bearer token (or set THINDIST_REMOTE_TOKEN; never on the command line).
    #[arg(long, value_name = "FILE")]
    pub remote_token_file: Option<PathBuf>,
    /// Do not look jobs up in the action cache: every job executes.
    #[arg(long)]
    pub remote_no_cache: bool,
    /// When the engine fails, run the job here with a warning instead of stopping.
    #[arg(long)]
    pub remote_fallback: bool,
    /// Send front-end compiles to the engine too, each after a local
    /// dependency scan (`clang -M`); compiles it cannot describe exactly run here.
    #[arg(long)]
    pub remote_front_ends: bool,
    /// A platform property the engine matches workers on (repeatable), as
    /// Bazel's exec_properties: `--remote-platform OSFamily=Linux
    /// --remote-platform container-image=docker://…`.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_property)]
    pub remote_platform: Vec<(String, String)>,
    /// Ask for workers that advertise this very compiler: the platform property
    /// `thindist-toolchain=<its digest>` (`cargo xtask remote toolchain` prints it for a worker's config).
    #[arg(long, conflicts_with = "remote_toolchain_upload")]
    pub remote_toolchain_property: bool,
    /// Send the compiler with every action: the driver, the libraries it
    /// loads and its headers, as one shared subtree of the input root (sent
    /// once), run from there; for workers with no LLVM installed.
    #[arg(long)]
    pub remote_toolchain_upload: bool,
    /// A header every call to the engine carries (repeatable): NAME=VALUE,
    /// NAME=@FILE (the file's content) or NAME=$VAR (a variable's), as hosted
    /// engines want: `x-buildbuddy-api-key=@~/.buildbuddy-key`. Never shown.
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_header)]
    pub remote_header: Vec<Header>,
    /// A credential helper, as Bazel's: run as `<helper> get` with the engine's
    /// URL on its input, it prints the headers to send and when they expire.
    #[arg(long, value_name = "PROGRAM")]
    pub remote_credential_helper: Option<PathBuf>,
}

fn parse_header(s: &str) -> Result<Header, String> {
    Header::try_from(s.to_string())
}

pub fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE (a platform property such as OSFamily=Linux)")),
    }
}

impl RemoteArgs {
    /// The flags, else THINDIST_REMOTE (clap reads it), else the state
    /// file's [remote]; None builds with no launcher at all.
    pub fn resolve(&self, state: &State) -> Result<Option<RemoteSpec>> {
        let from_state = Endpoint::from_state(state)?;
        let mut ep = match (&self.remote, from_state) {
            (Some(url), _) => Endpoint { url: url.clone(), ..Default::default() },
            (None, Some(ep)) => ep,
            (None, None) => {
                let given = self.remote_instance.is_some()
                    || self.remote_ca.is_some()
                    || self.remote_cert.is_some()
                    || self.remote_token_file.is_some()
                    || self.remote_no_cache
                    || self.remote_fallback
                    || self.remote_front_ends
                    || !self.remote_platform.is_empty()
                    || !self.remote_header.is_empty()
                    || self.remote_credential_helper.is_some()
                    || self.remote_toolchain_property
                    || self.remote_toolchain_upload;
                if given {
                    anyhow::bail!("remote options were given without an engine; add --remote grpc://HOST:PORT");
                }
                return Ok(None);
            }
        };
        let set = |slot: &mut Option<PathBuf>, v: &Option<PathBuf>| {
            if v.is_some() {
                *slot = v.clone();
            }
        };
        if let Some(i) = &self.remote_instance {
            ep.instance = i.clone();
        }
        set(&mut ep.ca, &self.remote_ca);
        set(&mut ep.cert, &self.remote_cert);
        set(&mut ep.key, &self.remote_key);
        set(&mut ep.token_file, &self.remote_token_file);
        ep.headers.extend(self.remote_header.iter().cloned());
        set(&mut ep.credential_helper, &self.remote_credential_helper);
        ep.dial()?;
        Ok(Some(RemoteSpec {
            endpoint: ep,
            no_cache: self.remote_no_cache,
            fallback: self.remote_fallback,
            front_ends: self.remote_front_ends,
            salt: String::new(),
            platform: self.remote_platform.clone(),
            route_by_toolchain: self.remote_toolchain_property,
            upload_toolchain: self.remote_toolchain_upload,
        }))
    }
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
