//! Check 7: a native object deleted by hand is rebuilt by the next plain
//! make, byte for byte as it was, and nothing else is compiled.

use anyhow::{Context, Result};

use super::{counted, Check, CheckResult, Ctx};
use crate::kbuild::stages::Stage;

pub fn run(ctx: &Ctx) -> Result<CheckResult> {
    let (session, layout) = (ctx.session, ctx.session.layout);
    // Bring the tree up to date first: an earlier check may have left a
    // restored source newer than its build.
    session.make_ok("deleted-native-settle")?;
    let ir = session.outputs().ir_objects();
    // The object of the file one-file touches when there, else the first.
    let object =
        ir.iter().find(|o| o.as_str() == "kernel/fork.o").or(ir.first()).context("the build has no IR object")?;
    let native = layout.native_of(object);
    let path = session.kb.path(&native);
    let before = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    std::fs::remove_file(&path).with_context(|| format!("cannot delete {}", path.display()))?;
    let run = session.make_ok("deleted-native")?;
    let compiled = counted(&run, Stage::BackEnd);
    let after = std::fs::read(&path).ok();
    let mut details = Vec::new();
    match &after {
        None => details.push(format!("{native} is still missing after a plain make")),
        Some(bytes) if *bytes != before => details.push(format!("{native} was rebuilt with other content")),
        Some(_) => {}
    }
    let others: Vec<&String> = compiled.iter().filter(|s| !s.ends_with(&native)).collect();
    if !others.is_empty() {
        details.push(format!(
            "{} other back-end steps ran: {}",
            others.len(),
            others.iter().take(5).map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    let summary = match after {
        Some(_) => format!("deleted {native}: a plain make rebuilt it ({} back-end steps)", compiled.len()),
        None => format!("deleted {native}: a plain make did not rebuild it"),
    };
    Ok(CheckResult::new(Check::DeletedNative, details.is_empty(), summary, details))
}
