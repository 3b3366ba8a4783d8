//! Check 5: touching one .c file runs its front-end compile, the thin-link,
//! only the back-end compiles whose IR or index changed, and the final link.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use anyhow::Result;

use super::{counted, Check, CheckResult, Ctx};
use crate::kbuild::rebuild::{touch_one_file, TOUCHED};
use crate::kbuild::stages::Stage;

fn hash_file(path: &Path) -> Option<u64> {
    let data = std::fs::read(path).ok()?;
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    Some(h.finish())
}

pub fn run(ctx: &Ctx) -> Result<CheckResult> {
    let (session, layout) = (ctx.session, ctx.session.layout);
    let ir = session.outputs().ir_objects();
    let index_hash = |o: &String| hash_file(&session.kb.path(&layout.index_of(o)));
    let before: Vec<Option<u64>> = ir.iter().map(index_hash).collect();
    touch_one_file(&session.tree.root)?;
    let run = session.make_ok("one-file")?;
    let targets = |stage: Stage| -> BTreeSet<String> {
        run.steps.iter().filter(|(s, c, _)| *s == stage && *c).map(|(_, _, st)| st.target.clone()).collect()
    };
    let (front, back) = (targets(Stage::FrontEnd), targets(Stage::BackEnd));
    let changed: BTreeSet<String> =
        ir.iter().zip(before).filter(|(o, b)| index_hash(o) != *b).map(|(o, _)| o.clone()).collect();
    // What may be rebuilt: natives of recompiled objects and of changed indexes.
    let allowed: BTreeSet<String> = front.iter().chain(&changed).map(|o| layout.native_of(o)).collect();
    let extra: Vec<String> = back.difference(&allowed).cloned().collect();
    let thinlink = run.steps.iter().any(|(s, _, _)| *s == Stage::ThinLink);
    let final_link = !counted(&run, Stage::FinalLink).is_empty();
    let ran = |yes: bool| if yes { "ran" } else { "did not run" };
    let summary = format!(
        "touched {TOUCHED}: {} front-end, thin-link {}, {} of {} back-end compiles ({} indexes changed), final link {}",
        front.len(),
        ran(thinlink),
        back.len(),
        ir.len(),
        changed.len(),
        ran(final_link)
    );
    let mut details = Vec::new();
    if !extra.is_empty() {
        details.push(format!(
            "{} natives rebuilt although neither their IR nor their index changed: {}",
            extra.len(),
            extra.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !thinlink || !final_link {
        details.push("the change did not reach the thin-link and the final link".into());
    }
    Ok(CheckResult::new(Check::OneFile, details.is_empty(), summary, details))
}
