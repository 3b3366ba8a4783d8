//! Check 3: `make mrproper` leaves nothing untracked beyond what was there before the build.

use anyhow::Result;

use super::{group, Check, CheckResult, Ctx};
use crate::tree::git;

pub fn run(ctx: &Ctx) -> Result<CheckResult> {
    ctx.session.kb.make_quiet(&["mrproper"])?;
    let left: Vec<String> = git::untracked(ctx.repo)?.into_keys().filter(|p| !ctx.before.contains_key(p)).collect();
    let summary = if left.is_empty() {
        "make mrproper left the tree as committed".to_string()
    } else {
        format!("{} files survive make mrproper", left.len())
    };
    let details = group(&left, ctx.session.layout).into_iter().map(|g| format!("left: {g}")).collect();
    Ok(CheckResult::new(Check::Mrproper, left.is_empty(), summary, details))
}
