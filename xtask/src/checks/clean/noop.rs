//! Check 4: a second make with nothing changed compiles and links nothing.

use anyhow::Result;

use super::{counted, Check, CheckResult, Ctx};
use crate::kbuild::stages::Stage;

pub fn run(ctx: &Ctx) -> Result<CheckResult> {
    let run = ctx.session.make_ok("noop")?;
    let work: Vec<String> = Stage::ALL.iter().flat_map(|s| counted(&run, *s)).collect();
    let summary = if work.is_empty() {
        "a second make compiled and linked nothing".to_string()
    } else {
        format!("a second make with nothing changed ran {} compile/link steps", work.len())
    };
    Ok(CheckResult::new(Check::Noop, work.is_empty(), summary, work.into_iter().take(20).collect()))
}
