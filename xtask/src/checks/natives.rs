//! Whether two builds of the same tree made the same native objects and
//! modules, byte for byte (a remote build against a local one).

use anyhow::Result;

use crate::kbuild::session::Session;

/// How many files were compared (vmlinux's natives, then each module's
/// natives and `.ko`), and those that differ or are missing.
pub fn differing(a: &Session, b: &Session) -> Result<(usize, Vec<String>)> {
    let files = a.outputs().to_compare();
    let differ = files
        .iter()
        .filter(|f| match (std::fs::read(a.kb.path(f)), std::fs::read(b.kb.path(f))) {
            (Ok(x), Ok(y)) => x != y,
            _ => true,
        })
        .cloned()
        .collect();
    Ok((files.len(), differ))
}
