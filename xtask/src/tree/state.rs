//! The tool's memory between commands: which kernel tree is current, and
//! per tree its series and what `setup --revert` needs (the layout is
//! always read from the tree itself).
//! A TOML file a person may edit; toml_edit keeps their comments and keys.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use toml_edit::{value, DocumentMut, Item, Table};

use crate::files::{self, Durability};

const HEADER: &str = "# thindist state: the kernel trees set up and which one commands use by default.\n# You may edit this file; comments and unknown keys are kept.\n";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreeRecord {
    /// The series applied, or the layout's name when the tree has the feature itself.
    pub series: String,
    /// The branch our series was committed on, if any.
    pub branch: Option<String>,
    /// Where `--revert` returns: the branch (if HEAD was on one) and commit.
    pub original_branch: Option<String>,
    pub original_commit: Option<String>,
    /// The branch's tip right after setup applied the series: commits above it are the user's.
    pub applied_head: Option<String>,
}

pub struct State {
    path: PathBuf,
    doc: DocumentMut,
    /// No file yet: the first save writes the header comment above the keys.
    fresh: bool,
}

impl State {
    pub fn load(path: &Path) -> Result<Self> {
        let (doc, fresh) = match std::fs::read_to_string(path) {
            Ok(text) => {
                let doc = text
                    .parse::<DocumentMut>()
                    .with_context(|| format!("{} is not valid TOML; fix or delete it", path.display()))?;
                check_types(&doc)
                    .with_context(|| format!("{} is not a thindist state file; fix or delete it", path.display()))?;
                (doc, false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (DocumentMut::new(), true),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(Self { path: path.to_path_buf(), doc, fresh })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A table of the file read as `T`; None when the file has no such table.
    pub fn section<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let Some(t) = self.doc.get(name) else { return Ok(None) };
        let t = t.as_table_like().with_context(|| format!("`{name}` must be a table"))?;
        let mut table = Table::new();
        for (k, v) in t.iter() {
            table.insert(k, v.clone());
        }
        Ok(Some(toml_edit::de::from_str(&table.to_string())?))
    }

    pub fn current(&self) -> Option<PathBuf> {
        self.doc.get("current").and_then(Item::as_str).map(PathBuf::from)
    }

    pub fn clear_current(&mut self) {
        self.doc.remove("current");
    }

    pub fn set_current(&mut self, tree: &Path) {
        self.doc["current"] = value(tree.to_string_lossy().as_ref());
    }

    fn trees(&mut self) -> &mut Table {
        if !self.doc.contains_table("tree") {
            let mut t = Table::new();
            t.set_implicit(true);
            self.doc["tree"] = Item::Table(t);
        }
        self.doc["tree"].as_table_mut().expect("tree is a table")
    }

    pub fn tree(&self, tree: &Path) -> Option<TreeRecord> {
        let t = self.doc.get("tree")?.get(tree.to_string_lossy().as_ref())?;
        let s = |k: &str| t.get(k).and_then(Item::as_str).map(str::to_string);
        Some(TreeRecord {
            series: s("series").unwrap_or_default(),
            branch: s("branch"),
            original_branch: s("original_branch"),
            original_commit: s("original_commit"),
            applied_head: s("applied_head"),
        })
    }

    /// Writes the record's keys, leaving any other keys of that table alone.
    pub fn set_tree(&mut self, tree: &Path, record: &TreeRecord) {
        let key = tree.to_string_lossy().to_string();
        let trees = self.trees();
        if !trees.contains_table(&key) {
            trees.insert(&key, Item::Table(Table::new()));
        }
        let t = trees[&key].as_table_mut().expect("tree entry is a table");
        t["series"] = value(&record.series);
        for (k, v) in [
            ("branch", &record.branch),
            ("original_branch", &record.original_branch),
            ("original_commit", &record.original_commit),
            ("applied_head", &record.applied_head),
        ] {
            match v {
                Some(v) => t[k] = value(v),
                None => {
                    t.remove(k);
                }
            }
        }
    }

    pub fn remove_tree(&mut self, tree: &Path) {
        self.trees().remove(tree.to_string_lossy().as_ref());
    }

    /// Writes the whole file atomically: a temporary file beside it, synced,
    /// renamed over the old one, and the directory synced. A failure (a full
    /// disk) leaves the previous file as it was.
    pub fn save(&self) -> Result<()> {
        let header = if self.fresh { HEADER } else { "" };
        files::write_atomically(&self.path, format!("{header}{}", self.doc).as_bytes(), Durability::Synced)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// The keys thindist reads must have the types it writes; anything else
/// is refused rather than read as empty and then overwritten.
fn check_types(doc: &DocumentMut) -> Result<()> {
    if let Some(c) = doc.get("current") {
        if c.as_str().is_none() {
            bail!("`current` must be a string (a tree's path)");
        }
    }
    let Some(trees) = doc.get("tree") else { return Ok(()) };
    let trees = trees.as_table_like().context("`tree` must be a table of trees")?;
    for (path, entry) in trees.iter() {
        let entry = entry.as_table_like().with_context(|| format!("`tree.\"{path}\"` must be a table"))?;
        for key in ["series", "branch", "original_branch", "original_commit", "applied_head"] {
            if entry.get(key).is_some_and(|v| v.as_str().is_none()) {
                bail!("`{key}` of tree {path} must be a string");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_comments_and_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.toml");
        let tree = Path::new("/src/linux");
        let mut st = State::load(&path).unwrap();
        assert!(st.current().is_none());
        let rec = TreeRecord {
            series: "linux-6.12".into(),
            branch: Some("thindist/linux-6.12".into()),
            original_branch: Some("main".into()),
            original_commit: Some("abc".into()),
            applied_head: Some("def".into()),
        };
        st.set_current(tree);
        st.set_tree(tree, &rec);
        st.save().unwrap();

        // A person edits it: a comment and a key of their own.
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace("series = ", "# my note\nmine = 3\nseries = ");
        std::fs::write(&path, text).unwrap();

        let mut st = State::load(&path).unwrap();
        assert_eq!(st.current().unwrap(), tree);
        assert_eq!(st.tree(tree).unwrap(), rec);
        let reverted =
            TreeRecord { branch: None, original_branch: None, original_commit: None, applied_head: None, ..rec };
        st.set_tree(tree, &reverted);
        st.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("# my note") && text.contains("mine = 3") && text.starts_with("# thindist state"),
            "{text}"
        );
        assert!(!text.contains("original_commit"), "{text}");
        assert_eq!(State::load(&path).unwrap().tree(tree).unwrap(), reverted);
    }

    #[test]
    fn wrongly_typed_values_are_refused_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.toml");
        for text in ["current = 3\n", "tree = 1\n", "[tree.\"/src/linux\"]\nseries = [1]\n"] {
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", State::load(&path).err().unwrap());
            assert!(err.contains("is not a thindist state file") && err.contains("must be"), "{err}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
    }

    #[test]
    fn broken_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.toml");
        std::fs::write(&path, "current = [").unwrap();
        let err = State::load(&path).err().unwrap().to_string();
        assert!(err.contains("not valid TOML"), "{err}");
    }
}
