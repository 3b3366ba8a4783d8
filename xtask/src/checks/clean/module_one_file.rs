//! Check 8 (a build with modules): touching one source of a module built
//! from several objects recompiles that object and relinks that module
//! (modpost and modfinal included), and nothing of vmlinux or of any other
//! module. Where the module is built in distributed mode (it has its own
//! directory of indexes and natives), the back-end compiles that object's
//! native alone: touching changes no index.

use anyhow::Result;

use super::{counted, Check, CheckResult, Ctx};
use crate::kbuild::rebuild::{module_source, touch};
use crate::kbuild::stages::Stage;

pub fn run(ctx: &Ctx) -> Result<CheckResult> {
    let session = ctx.session;
    let (module, source) = module_source(&session.kb.objtree, &session.tree.root)?;
    let object = format!("{}.o", source.trim_end_matches(".c"));
    touch(&session.tree.root, &source)?;
    let run = session.make_ok("module-one-file")?;
    let front = counted(&run, Stage::FrontEnd);
    let modules = counted(&run, Stage::Modules);
    let module_backend = counted(&run, Stage::ModuleBackEnd);
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
    let dir = session.layout.module_dir_of(&module);
    if session.kb.path(&dir).is_dir() {
        let native = format!("CC [M] {dir}/{object}");
        if module_backend != [native.clone()] {
            details.push(format!(
                "expected the module back-end of {object} alone ({native}), ran: {}",
                module_backend.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    } else if !module_backend.is_empty() {
        details.push(format!("module back-end compiles ran without {dir}/: {}", module_backend.join(", ")));
    }
    if !vmlinux.is_empty() {
        details.push(format!(
            "vmlinux steps ran for a module source: {}",
            vmlinux.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let summary = format!(
        "touched {source} ({module}.ko): {} front-end, {} module back-end, {} module steps, {} vmlinux steps",
        front.len(),
        module_backend.len(),
        modules.len(),
        vmlinux.len()
    );
    Ok(CheckResult::new(Check::ModuleOneFile, details.is_empty(), summary, details))
}
