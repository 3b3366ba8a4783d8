//! Check 4: with nothing changed, a make after one that brought the tree up
//! to date compiles and links nothing. The first make is not judged: a tree
//! built by another command, or with another environment, may still have
//! work to do, and that is not a no-op rebuild's failure.

use anyhow::Result;

use super::{counted, Check, CheckResult, Ctx};
use crate::kbuild::stages::Stage;

pub fn run(ctx: &Ctx) -> Result<CheckResult> {
    let settle = ctx.session.make_ok("noop-settle")?;
    let settled: usize = Stage::ALL.iter().map(|s| counted(&settle, *s).len()).sum();
    let run = ctx.session.make_ok("noop")?;
    let work: Vec<String> = Stage::ALL.iter().flat_map(|s| counted(&run, *s)).collect();
    let before = match settled {
        0 => String::new(),
        n => format!(" (the make before it, which brought the tree up to date, ran {n} steps)"),
    };
    let summary = if work.is_empty() {
        format!("a make with nothing changed compiled and linked nothing{before}")
    } else {
        format!("a make with nothing changed ran {} compile/link steps{before}", work.len())
    };
    Ok(CheckResult::new(Check::Noop, work.is_empty(), summary, work.into_iter().take(20).collect()))
}
