//! Check 2: `make clean` leaves no THIN_DIST artifact behind, and no module
//! artifact (`configs/clean-check.toml` names them) when the build made modules.

use anyhow::{Context, Result};
use serde::Deserialize;

use super::{group, Check, CheckResult, Ctx};
use crate::home;
use crate::tree::git;

#[derive(Debug, Deserialize)]
struct ModuleArtifacts {
    module_artifacts: Vec<String>,
}

/// Endings of the files kbuild makes for loadable modules.
fn module_artifacts() -> Result<Vec<String>> {
    let path = home::configs().join("clean-check.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let parsed: ModuleArtifacts =
        toml_edit::de::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    Ok(parsed.module_artifacts)
}

pub fn run(ctx: &Ctx) -> Result<CheckResult> {
    let layout = ctx.session.layout;
    let modules = module_artifacts()?;
    let is_module_artifact = |p: &str| {
        let name = p.rsplit('/').next().unwrap_or(p);
        let name = name.strip_prefix('.').and_then(|n| n.strip_suffix(".cmd")).unwrap_or(name);
        modules.iter().any(|m| name.ends_with(m.as_str()))
    };
    ctx.session.kb.make_quiet(&["clean"])?;
    let left: Vec<String> = git::untracked(ctx.repo)?
        .into_keys()
        .filter(|p| layout.is_thin_dist_artifact(p) || is_module_artifact(p))
        .collect();
    let summary = if left.is_empty() {
        "make clean removed every THIN_DIST and module artifact".to_string()
    } else {
        format!("{} THIN_DIST or module files survive make clean", left.len())
    };
    let details = group(&left, layout).into_iter().map(|g| format!("left: {g}")).collect();
    Ok(CheckResult::new(Check::Clean, left.is_empty(), summary, details))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_module_artifacts_parse() {
        let endings = module_artifacts().unwrap();
        assert!(endings.iter().any(|e| e == ".ko") && endings.iter().any(|e| e == "modules.order"), "{endings:?}");
    }
}
