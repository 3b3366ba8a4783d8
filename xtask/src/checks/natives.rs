//! Whether two builds of the same tree made the same native objects, byte
//! for byte (a remote build against a local one).

use anyhow::Result;

use crate::checks::validate;
use crate::kbuild::session::Session;

/// How many natives were compared, and those that differ or are missing.
pub fn differing(a: &Session, b: &Session) -> Result<(usize, Vec<String>)> {
    let natives: Vec<String> =
        validate::ir_objects(&a.validation_target()).iter().map(|o| a.layout.native_of(o)).collect();
    let mut differ = Vec::new();
    for n in &natives {
        let same = match (std::fs::read(a.kb.path(n)), std::fs::read(b.kb.path(n))) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        };
        if !same {
            differ.push(n.clone());
        }
    }
    Ok((natives.len(), differ))
}
