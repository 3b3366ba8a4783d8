//! Writing files so that a reader, a crash or a stop signal never leaves
//! half of one: the one way the tool replaces a file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

/// The temporary file being written, for a stop signal's handler to remove.
static PARTIAL: Mutex<Option<PathBuf>> = Mutex::new(None);

/// How far a write is taken before the rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The bytes reach the disk before the rename (state, records a person
    /// keeps): after a crash the old file or the new one, never an empty one.
    Synced,
    /// Rebuildable outputs (a compile's objects, scans): whole or absent.
    Whole,
}

/// Replaces `path` with `bytes` through a temporary file beside it and a
/// rename: a reader sees the old file or the new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8], durability: Durability) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().context("a file to write has no name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.thindist-{}", std::process::id()));
    *PARTIAL.lock().unwrap_or_else(|e| e.into_inner()) = Some(tmp.clone());
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if durability == Durability::Synced {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if durability == Durability::Synced {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    *PARTIAL.lock().unwrap_or_else(|e| e.into_inner()) = None;
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// Free bytes on the filesystem that holds `path` (for an unprivileged user).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs fills in plain data for a NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(c.as_ptr(), &mut s) } == 0).then(|| s.f_bavail * s.f_frsize)
}

/// Removes the file a write in progress left (called from a signal handler
/// just before the process exits).
pub fn remove_partial() {
    if let Some(p) = PARTIAL.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.toml");
        write_atomically(&path, b"current = \"/a\"\n", Durability::Synced).unwrap();
        write_atomically(&path, b"current = \"/b\"\n", Durability::Whole).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "current = \"/b\"\n");
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["state.toml"], "no temporary file is left");
        assert!(write_atomically(dir.path(), b"x", Durability::Whole).is_err(), "a directory is not replaced");
    }
}
