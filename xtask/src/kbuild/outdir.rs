//! Output directories thindist makes and may empty again: they carry a
//! marker file; a directory without it belongs to the user.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// Marks a directory as thindist's own, so it may be emptied for a fresh build.
const OWNED: &str = ".thindist-owned";

/// Makes `dir` an empty directory of ours. A directory with other content
/// that thindist did not make is left alone: the user may need it.
pub fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?.next().is_none();
        if !empty && !dir.join(OWNED).exists() {
            bail!("{} exists and was not made by thindist; give a new or empty directory", dir.display());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join(OWNED), "made by thindist; emptied by the next run that uses it\n")?;
    Ok(())
}
