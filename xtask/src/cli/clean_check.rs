//! `cargo xtask clean-check`: the build's bookkeeping on an in-tree build
//! (checks in checks/clean/, one file each).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

use crate::checks::clean::{self, Check, Ctx, Report};
use crate::cli::args::{ArchArg, ConfigArgs, Global, JsonArg, ToolArgs};
use crate::kbuild::session::Session;
use crate::tree::git;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cargo xtask clean-check --arch x86_64\n  cargo xtask clean-check --checks one-file,incremental --json cc.json"
)]
pub struct CleanCheckArgs {
    #[command(flatten)]
    pub arch: ArchArg,
    /// The config of the build it makes when the tree is not built yet.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Run only these checks (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub checks: Vec<Check>,
    #[command(flatten)]
    pub tools: ToolArgs,
    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: &CleanCheckArgs, global: &Global) -> Result<Report> {
    let mut spec = global.spec("clean-check", &args.arch, &args.tools)?;
    args.config.apply(&mut spec);
    let session = Session::open(spec, &global.load_state()?)?;
    let repo =
        git::open(&session.tree.root)?.context("clean-check needs the tree in git (setup imports a tarball as one)")?;
    let before = if session.is_built() {
        println!("the tree is already built: files it had before the build cannot be told apart; taking none");
        BTreeMap::new()
    } else {
        let before = git::untracked(&repo)?;
        session.configure()?;
        crate::report::build::build_validated(&session, None)?;
        before
    };
    let created: BTreeMap<String, bool> =
        git::untracked(&repo)?.into_iter().filter(|(k, _)| !before.contains_key(k)).collect();
    let ctx = Ctx { session: &session, repo: &repo, before: &before, created: &created };
    let checks = clean::run_checks(&ctx, |c| args.checks.is_empty() || args.checks.contains(&c))?;
    let ok = checks.iter().all(|r| r.ok);
    let report = Report {
        tree: session.tree.root.display().to_string(),
        version: session.tree.version.to_string(),
        layout: session.layout.name.clone(),
        arch: session.kb.arch.name.clone(),
        checks,
        ok,
    };
    report.print();
    args.json.write(&report)?;
    if !ok {
        let failed: Vec<String> = report.checks.iter().filter(|r| !r.ok).map(|r| format!("{:?}", r.check)).collect();
        bail!("clean-check failed: {}", failed.join(", "));
    }
    Ok(report)
}
