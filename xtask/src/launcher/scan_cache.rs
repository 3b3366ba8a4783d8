//! Dependency scans kept for the next build of the same command, as
//! reclient's scandeps service and ccache's direct mode keep them, but
//! reused only when the scan would give the same answer: the files it
//! named hold the same bytes (the same input root digest), and every place
//! clang's search tries for a name those files include holds what it held
//! (a file, a directory or nothing). A new header that would shadow one,
//! or one that appears where a lookup found nothing, makes the scan run
//! again. The names are kept with the scan, so reusing it reads no text.
//!
//! Entries are keyed by the command as the action names it (tree paths
//! relative), so a second checkout or another `O=` reuses them; paths in
//! an entry are written the same way. They live under the tool's cache.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use bazel_remote_apis::build::bazel::remote::execution::v2::Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::files::{self, Durability};
use crate::launcher::config::LaunchConfig;
use crate::launcher::includes::{Found, Names, SearchPath};
use crate::launcher::paths::TreeMap;
use crate::remote::digest;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The input root the scanned files made.
    root: String,
    /// The scan's files, as the command names them (tree paths relative).
    deps: Vec<String>,
    /// The names those files include.
    names: Names,
    /// What the places the search tried held, less the scan's own files.
    found: BTreeMap<String, Found>,
}
/// The cache slot of one compile command, with its search path.
pub struct Slot {
    file: PathBuf,
    pub search: SearchPath,
}

impl Slot {
    /// The slot of a compile; None when the cache is off or the command's
    /// search path is not known exactly (the scan then runs every time).
    pub fn of(cfg: &LaunchConfig, trees: &TreeMap, args: &[String]) -> Option<Self> {
        let dir = cfg.scans.as_ref()?;
        let search = SearchPath::of(args).ok()?;
        let mut h = Sha256::new();
        for part in ["thindist scan 1", cfg.compiler.id.as_str(), cfg.salt.as_str()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for a in args {
            h.update(trees.rewrite_arg(a).as_bytes());
            h.update([0]);
        }
        let key = hex::encode(h.finalize());
        Some(Self { file: dir.join(&key[..2]).join(format!("{}.json", &key[2..])), search })
    }

    pub fn load(&self) -> Option<Entry> {
        serde_json::from_slice(&std::fs::read(&self.file).ok()?).ok()
    }

    /// Written whole or not at all; a cache that cannot be written costs
    /// the next build a scan, nothing more.
    pub fn store(&self, entry: &Entry) {
        let Some(dir) = self.file.parent() else { return };
        if std::fs::create_dir_all(dir).is_ok() {
            let _ = files::write_atomically(
                &self.file,
                &serde_json::to_vec(entry).expect("serialisable"),
                Durability::Whole,
            );
        }
    }
}

impl Entry {
    /// A scan's result: its files (local paths), the root they made, the
    /// names they include and what the search found for them.
    pub fn new(
        trees: &TreeMap,
        deps: &[String],
        root: &Digest,
        names: &Names,
        found: &BTreeMap<String, Found>,
    ) -> Self {
        Self {
            root: digest::show(root),
            deps: deps.iter().map(|d| trees.rewrite_arg(d)).collect(),
            names: names.map_dirs(|d| trees.rewrite_arg(d)),
            found: others(trees, deps, found),
        }
    }

    /// The scan's files as local paths.
    pub fn deps(&self, trees: &TreeMap) -> Vec<String> {
        self.deps.iter().map(|d| trees.local_path(d)).collect()
    }

    /// The names the scan's files include, their directories local.
    pub fn names(&self, trees: &TreeMap) -> Names {
        self.names.map_dirs(|d| trees.local_path(d))
    }

    /// Whether the files made `root` again and the search found what it found.
    pub fn holds(&self, trees: &TreeMap, root: &Digest, found: &BTreeMap<String, Found>) -> bool {
        self.root == digest::show(root) && self.found == others(trees, &self.deps(trees), found)
    }
}

/// What the search found, less the scan's own files (read whole already),
/// as the command names them.
fn others(trees: &TreeMap, deps: &[String], found: &BTreeMap<String, Found>) -> BTreeMap<String, Found> {
    let deps: BTreeSet<&str> = deps.iter().map(String::as_str).collect();
    found
        .iter()
        .filter(|(p, f)| !(deps.contains(p.as_str()) && **f == Found::File))
        .map(|(p, f)| (trees.rewrite_arg(p), *f))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::launcher::includes::Include;

    #[test]
    fn an_entry_holds_only_while_every_place_tried_holds_what_it_held() {
        let dir = tempfile::tempdir().unwrap();
        let (src, obj) = (dir.path().join("src"), dir.path().join("obj"));
        std::fs::create_dir_all(src.join("inc")).unwrap();
        std::fs::create_dir_all(obj.join("include")).unwrap();
        std::fs::write(src.join("inc/a.h"), "").unwrap();
        let trees = TreeMap { srctree: &src, objtree: &obj };
        let args: Vec<String> =
            ["-nostdinc", &format!("-I{}/include", obj.display()), &format!("-I{}/inc", src.display())]
                .map(String::from)
                .to_vec();
        let search = SearchPath::of(&args).unwrap();
        let source = src.join("x.c").display().to_string();
        let mut names = Names::default();
        names.add(&source, &Include { name: "a.h".into(), quoted: false, next: false });
        let deps = vec![src.join("inc/a.h").display().to_string()];
        let root = digest::of(b"root");
        let entry = Entry::new(&trees, &deps, &root, &names, &search.probe(&names));
        assert_eq!(entry.deps, ["../src/inc/a.h"], "tree paths relative, as in the action");
        assert!(entry.found.is_empty(), "the scan's own file is not listed: {:?}", entry.found);
        assert_eq!((entry.deps(&trees), entry.names(&trees)), (deps, names));
        let holds = || entry.holds(&trees, &root, &search.probe(&entry.names(&trees)));
        assert!(holds());
        assert!(!entry.holds(&trees, &digest::of(b"other"), &search.probe(&entry.names(&trees))), "other bytes");
        let shadow = obj.join("include/a.h");
        std::fs::write(&shadow, "").unwrap();
        assert!(!holds(), "a header found first where none was");
        std::fs::remove_file(&shadow).unwrap();
        assert!(holds(), "as it was");
        std::fs::create_dir(&shadow).unwrap();
        assert!(!holds(), "a directory where nothing was");
        let moved = TreeMap { srctree: Path::new("/elsewhere/src"), objtree: Path::new("/elsewhere/obj") };
        assert_eq!(entry.deps(&moved), ["/elsewhere/src/inc/a.h"], "another checkout reads its own files");
    }
}
