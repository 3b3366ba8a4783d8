//! Check 8 (a build with modules): touching one source of a module built
//! from several objects recompiles that object and relinks that module
//! (modpost and modfinal included), and nothing of vmlinux or of any other
//! module.

use std::path::Path;

use anyhow::{bail, Result};

use super::{counted, Check, CheckResult, Ctx};
use crate::checks::modules::modules_of;
use crate::kbuild::rebuild::touch;
use crate::kbuild::stages::Stage;

/// The module with the most objects, and the first of them whose `.c` is in the tree.
fn pick_source(objtree: &Path, tree: &Path) -> Result<(String, String)> {
    let mut best: Option<(usize, String, String)> = None;
    for ko in modules_of(objtree).unwrap_or_default() {
        let stem = ko.trim_end_matches(".ko");
        let Ok(list) = std::fs::read_to_string(objtree.join(format!("{stem}.mod"))) else { continue };
        let objects: Vec<&str> = list.split_whitespace().collect();
        let source = objects.iter().map(|o| format!("{}.c", o.trim_end_matches(".o"))).find(|c| tree.join(c).is_file());
        if let Some(c) = source.filter(|_| best.as_ref().is_none_or(|(n, _, _)| objects.len() > *n)) {
            best = Some((objects.len(), stem.to_string(), c));
        }
    }
    match best {
        Some((_, module, source)) => Ok((module, source)),
        None => bail!("no module of this build has a .c source in the tree (read from its .mod file)"),
    }
}

pub fn run(ctx: &Ctx) -> Result<CheckResult> {
    let session = ctx.session;
    let (module, source) = pick_source(&session.kb.objtree, &session.tree.root)?;
    let object = format!("{}.o", source.trim_end_matches(".c"));
    touch(&session.tree.root, &source)?;
    let run = session.make_ok("module-one-file")?;
    let front = counted(&run, Stage::FrontEnd);
    let modules = counted(&run, Stage::Modules);
    let vmlinux: Vec<String> =
        [Stage::ThinLink, Stage::BackEnd, Stage::FinalLink].into_iter().flat_map(|s| counted(&run, s)).collect();
    let ours = |step: &String| {
        let target = step.rsplit(' ').next().unwrap_or_default();
        target.starts_with(&format!("{module}.")) || step.starts_with("MODPOST ")
    };
    let mut details = Vec::new();
    if front.len() != 1 || !front[0].ends_with(&format!(" {object}")) {
        details.push(format!("expected the front-end compile of {object} alone, ran: {}", front.join(", ")));
    }
    if !modules.iter().any(|s| s.ends_with(&format!(" {module}.ko"))) {
        details.push(format!("{module}.ko was not relinked"));
    }
    let others: Vec<&String> = modules.iter().filter(|s| !ours(s)).collect();
    if !others.is_empty() {
        details.push(format!(
            "other modules' steps ran: {}",
            others.iter().take(10).map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if !vmlinux.is_empty() {
        details.push(format!(
            "vmlinux steps ran for a module source: {}",
            vmlinux.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let summary = format!(
        "touched {source} ({module}.ko): {} front-end, {} module steps, {} vmlinux steps",
        front.len(),
        modules.len(),
        vmlinux.len()
    );
    Ok(CheckResult::new(Check::ModuleOneFile, details.is_empty(), summary, details))
}
