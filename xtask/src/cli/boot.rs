//! `cargo xtask boot`: builds (or reuses) a THIN_DIST kernel with the boot
//! fragment and boots it in QEMU to /init's marker.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::checks::boot::{self, BootReport, Outcome};
use crate::cli::args::{ArchArg, ConfigArgs, Global, JsonArg, ToolArgs};
use crate::home;
use crate::kbuild::session::Session;

#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  cargo xtask boot --arch riscv\n  cargo xtask boot --arch x86_64 --timeout 60 --json boot.json"
)]
pub struct BootArgs {
    #[command(flatten)]
    pub arch: ArchArg,
    /// Seconds to wait for the marker.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Build directory (O=); default: one per tree and arch under the cache.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Base config and more fragments, applied after the architecture's boot fragment.
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub tools: ToolArgs,
    /// Extra kernel command-line arguments, after the tool's own.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub append: Option<String>,
    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: &BootArgs, global: &Global) -> Result<BootReport> {
    let mut spec = global.spec("boot", &args.arch, &args.tools)?;
    let name = spec.tree.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "linux".into());
    let default_out = home::cache().join("builds").join(format!("{name}-{}-boot", spec.arch.name));
    spec.out = Some(args.out.clone().unwrap_or(default_out));
    let (qemu, boot_fragment) = boot::plan(&spec.arch)?;
    spec.fragments.push(boot_fragment);
    args.config.apply(&mut spec);
    let session = Session::open(spec, &global.load_state()?)?;
    let config = session.configure()?;
    boot::check_bootable(&qemu, &config)?;
    crate::report::build::build_validated(&session, None)?;
    let report = boot::boot_built(&session, &qemu, args.append.as_deref(), Duration::from_secs(args.timeout))?;
    boot::print(&report);
    args.json.write(&report)?;
    if report.outcome != Outcome::Booted {
        bail!(
            "boot check failed: {}\nlast {} console lines:\n{}",
            report.reason,
            report.console_tail.len(),
            report.console_tail.join("\n")
        );
    }
    Ok(report)
}
