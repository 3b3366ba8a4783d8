//! `cargo xtask validate`: the artifact checks alone, on an existing build.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::cli::args::{ArchArg, Global, JsonArg, ToolArgs};
use crate::kbuild::session::Session;

#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  cargo xtask validate --arch riscv --out /tmp/riscv\n  cargo xtask validate --json checks.json"
)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub arch: ArchArg,
    /// The build's output directory (kbuild's O=); default: the tree itself.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: &ValidateArgs, global: &Global) -> Result<()> {
    let mut spec = global.spec("validate", &args.arch, &ToolArgs::default())?;
    spec.out = args.out.clone();
    spec.read_only = true;
    let session = Session::open(spec, &global.load_state()?)?;
    let objtree = &session.kb.objtree;
    if !objtree.join("vmlinux.o").exists() && !objtree.join(&session.layout.ir_archive).exists() {
        bail!(
            "{} holds no THIN_DIST build; run `cargo xtask build --arch {}` first",
            objtree.display(),
            args.arch.arch
        );
    }
    let v = crate::checks::validate::session(&session)?;
    println!("{} ({}, layout {}) {}", objtree.display(), args.arch.arch, session.layout, v.summary());
    args.json.write(&v)?;
    if !v.ok() {
        bail!("validation failed: {} problem(s)", v.failures.len());
    }
    Ok(())
}
