//! What a directory of the cache holds on disk: its bytes (allocated
//! blocks, as du counts them), its files and when it was last written.
//! Symbolic links are counted as themselves, never followed.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    pub bytes: u64,
    pub files: u64,
    /// The newest modification below it, in seconds since the epoch.
    pub newest: u64,
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn now() -> u64 {
    seconds(SystemTime::now())
}

/// A file of a pruned part: its path, size on disk and modification time.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub path: PathBuf,
    pub bytes: u64,
    pub modified: u64,
}

/// Every file below `dir` (none if it does not exist).
pub fn files(dir: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                out.push(Entry { path: e.path(), bytes: meta.blocks() * 512, modified: meta.mtime().max(0) as u64 });
            }
        }
    }
    out
}

/// The usage of `path`, a directory or a single file.
pub fn of(path: &Path) -> Usage {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Usage::default() };
    if !meta.is_dir() {
        return Usage { bytes: meta.blocks() * 512, files: 1, newest: meta.mtime().max(0) as u64 };
    }
    let files = files(path);
    Usage {
        bytes: files.iter().map(|f| f.bytes).sum(),
        files: files.len() as u64,
        newest: files.iter().map(|f| f.modified).max().unwrap_or(0),
    }
}

/// A size as people read it: `1.5 GiB`.
pub fn size(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_below_and_never_follows_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/one"), vec![1u8; 10_000]).unwrap();
        std::fs::write(dir.path().join("two"), b"2").unwrap();
        std::os::unix::fs::symlink("/usr", dir.path().join("a/usr")).unwrap();
        let u = of(dir.path());
        assert_eq!(u.files, 3);
        assert!(u.bytes >= 10_000 && u.bytes < 100_000, "{u:?}");
        assert!(u.newest + 60 > now());
        assert_eq!(of(&dir.path().join("missing")).files, 0);
        assert!(crate::files::free_bytes(dir.path()).is_some_and(|b| b > 0));
    }
}
