//! The parts that grow with every build (logs, kept dependency scans) kept
//! within the limits: what was not written for `max_age_days` goes, then
//! the oldest until the rest fits `max_size`. A file written in the last
//! hour stays whatever the limits: a build may be writing it now.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use super::limits::Limits;
use super::usage::{self, Entry};

const DAY: u64 = 24 * 3600;
const IN_USE: u64 = 3600;

/// The indices of `entries` that go, oldest first.
pub fn select(entries: &[Entry], limits: &Limits, now: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| (entries[i].modified, entries[i].path.clone()));
    let mut kept: u64 = entries.iter().map(|e| e.bytes).sum();
    let mut out = Vec::new();
    for i in order {
        let e = &entries[i];
        if e.modified + IN_USE > now {
            continue;
        }
        let old = e.modified + limits.max_age_days * DAY <= now;
        if old || kept > limits.max_size.as_u64() {
            kept -= e.bytes;
            out.push(i);
        }
    }
    out
}

#[derive(Debug, Default, Serialize)]
pub struct Pruned {
    pub files: u64,
    pub bytes: u64,
    /// What the parts still hold after.
    pub kept_bytes: u64,
    pub paths: Vec<PathBuf>,
}

/// Applies the limits to the files below `dirs` together; with `dry_run`
/// says what would go and removes nothing. Directories left empty go too.
pub fn prune(dirs: &[PathBuf], limits: &Limits, dry_run: bool) -> Result<Pruned> {
    let entries: Vec<Entry> = dirs.iter().flat_map(|d| usage::files(d)).collect();
    let chosen = select(&entries, limits, usage::now());
    let mut p = Pruned { kept_bytes: entries.iter().map(|e| e.bytes).sum(), ..Default::default() };
    for i in chosen {
        let e = &entries[i];
        if !dry_run {
            match std::fs::remove_file(&e.path) {
                Ok(()) => {}
                // Gone meanwhile (another run pruned it): nothing to do.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err).with_context(|| format!("cannot remove {}", e.path.display())),
            }
        }
        p.files += 1;
        p.bytes += e.bytes;
        p.kept_bytes -= e.bytes;
        p.paths.push(e.path.clone());
    }
    if !dry_run {
        for d in dirs {
            remove_empty_dirs_below(d);
        }
    }
    Ok(p)
}

fn remove_empty_dirs_below(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_dirs_below(&e.path());
            // Fails, as meant, unless it is empty.
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytesize::ByteSize;

    fn entry(name: &str, bytes: u64, days_ago: u64, now: u64) -> Entry {
        Entry { path: PathBuf::from(name), bytes, modified: now - days_ago * DAY }
    }

    #[test]
    fn old_files_go_then_the_oldest_past_the_size() {
        let now = 100 * DAY;
        let limits = Limits { max_age_days: 30, max_size: ByteSize(250), ..Limits::default() };
        let entries = vec![
            entry("new", 100, 0, now),
            entry("old", 10, 40, now),
            entry("week", 100, 7, now),
            entry("month", 100, 20, now),
            entry("day", 100, 1, now),
        ];
        let names = |v: Vec<usize>| v.into_iter().map(|i| entries[i].path.display().to_string()).collect::<Vec<_>>();
        // 410 bytes: "old" for its age, then "month" and "week" until 200 are left.
        assert_eq!(names(select(&entries, &limits, now)), ["old", "month", "week"]);
        // A file written within the hour stays even past the size.
        let tiny = Limits { max_size: ByteSize(0), ..limits };
        assert_eq!(names(select(&entries, &tiny, now)), ["old", "month", "week", "day"]);
        let roomy = Limits { max_size: ByteSize::gib(1), ..limits };
        assert_eq!(names(select(&entries, &roomy, now)), ["old"]);
    }

    #[test]
    fn prunes_on_disk_and_drops_empty_directories() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("ab/old.json");
        std::fs::create_dir_all(old.parent().unwrap()).unwrap();
        std::fs::write(&old, b"{}").unwrap();
        let month_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(31 * DAY);
        std::fs::File::options().write(true).open(&old).unwrap().set_modified(month_ago).unwrap();
        std::fs::write(dir.path().join("fresh.log"), b"x").unwrap();
        let limits = Limits::default();
        let dry = prune(&[dir.path().to_path_buf()], &limits, true).unwrap();
        assert_eq!((dry.files, old.exists()), (1, true));
        let done = prune(&[dir.path().to_path_buf()], &limits, false).unwrap();
        assert_eq!(done.paths, std::slice::from_ref(&old));
        assert!(!old.exists() && !dir.path().join("ab").exists() && dir.path().join("fresh.log").exists());
    }
}
