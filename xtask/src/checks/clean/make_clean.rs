//! Check 2: `make clean` leaves no THIN_DIST artifact behind.

use anyhow::Result;

use super::{group, Check, CheckResult, Ctx};
use crate::tree::git;

pub fn run(ctx: &Ctx) -> Result<CheckResult> {
    let layout = ctx.session.layout;
    ctx.session.kb.make_quiet(&["clean"])?;
    let left: Vec<String> = git::untracked(ctx.repo)?.into_keys().filter(|p| layout.is_thin_dist_artifact(p)).collect();
    let summary = if left.is_empty() {
        "make clean removed every THIN_DIST artifact".to_string()
    } else {
        format!("{} THIN_DIST files survive make clean", left.len())
    };
    let details = group(&left, layout).into_iter().map(|g| format!("left: {g}")).collect();
    Ok(CheckResult::new(Check::Clean, left.is_empty(), summary, details))
}
