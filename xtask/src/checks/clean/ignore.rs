//! Check 1: every file the build made is ignored by the tree's .gitignore.

use anyhow::Result;

use super::{group, Check, CheckResult, Ctx};

pub fn run(ctx: &Ctx) -> Result<CheckResult> {
    let exposed: Vec<String> = ctx.created.iter().filter(|(_, ignored)| !**ignored).map(|(p, _)| p.clone()).collect();
    let details = group(&exposed, ctx.session.layout).into_iter().map(|g| format!("not ignored: {g}")).collect();
    let summary = if exposed.is_empty() {
        format!("all {} files the build made are ignored", ctx.created.len())
    } else {
        format!("{} of {} files the build made are not ignored by .gitignore", exposed.len(), ctx.created.len())
    };
    Ok(CheckResult::new(Check::Ignore, exposed.is_empty(), summary, details))
}
