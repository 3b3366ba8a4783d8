//! An action's input root as REAPI wants it: a Merkle tree of Directory
//! messages, names sorted, every file and directory a blob by digest.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Result};
use bazel_remote_apis::build::bazel::remote::execution::v2::{Digest, Directory, DirectoryNode, FileNode};

use crate::remote::digest;

/// Blobs by hash: what an action needs in the CAS.
pub type Blobs = HashMap<String, (Digest, Vec<u8>)>;

#[derive(Default)]
struct Dir {
    files: BTreeMap<String, (Digest, bool)>,
    dirs: BTreeMap<String, Dir>,
}

/// Files at relative, `/`-separated paths.
#[derive(Default)]
pub struct InputRoot {
    top: Dir,
    pub blobs: Blobs,
}

impl InputRoot {
    /// Adds a file; a path may not climb out of the root or be given twice
    /// with different contents.
    pub fn add(&mut self, path: &str, data: Vec<u8>, executable: bool) -> Result<()> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        if parts.is_empty() || parts.contains(&"..") || path.starts_with('/') {
            bail!("`{path}` is not a path inside the input root");
        }
        let d = digest::of(&data);
        let (name, dirs) = parts.split_last().expect("non-empty");
        let mut dir = &mut self.top;
        for p in dirs {
            dir = dir.dirs.entry(p.to_string()).or_default();
        }
        if let Some((old, _)) = dir.files.get(*name) {
            if old.hash != d.hash {
                bail!("`{path}` given twice with different contents");
            }
            return Ok(());
        }
        dir.files.insert(name.to_string(), (d.clone(), executable));
        self.blobs.insert(d.hash.clone(), (d, data));
        Ok(())
    }

    /// Makes a directory exist, empty if nothing is added under it.
    pub fn add_dir(&mut self, path: &str) -> Result<()> {
        let mut dir = &mut self.top;
        for p in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if p == ".." {
                bail!("`{path}` is not a path inside the input root");
            }
            dir = dir.dirs.entry(p.to_string()).or_default();
        }
        Ok(())
    }

    /// The root Directory's digest; every Directory message joins the blobs.
    pub fn seal(&mut self) -> Digest {
        let top = std::mem::take(&mut self.top);
        seal_dir(top, &mut self.blobs)
    }
}

fn seal_dir(dir: Dir, blobs: &mut Blobs) -> Digest {
    let directories =
        dir.dirs.into_iter().map(|(name, sub)| DirectoryNode { name, digest: Some(seal_dir(sub, blobs)) }).collect();
    let files = dir
        .files
        .into_iter()
        .map(|(name, (digest, is_executable))| FileNode {
            name,
            digest: Some(digest),
            is_executable,
            ..Default::default()
        })
        .collect();
    let (d, bytes) = digest::of_message(&Directory { files, directories, ..Default::default() });
    blobs.insert(d.hash.clone(), (d.clone(), bytes));
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn the_tree_is_sorted_and_content_addressed() {
        let mut a = InputRoot::default();
        a.add("obj/mm/b.o", b"B".to_vec(), false).unwrap();
        a.add("obj/a.o", b"A".to_vec(), false).unwrap();
        let mut b = InputRoot::default();
        b.add("obj/a.o", b"A".to_vec(), false).unwrap();
        b.add("obj/./mm/b.o", b"B".to_vec(), false).unwrap();
        let (ra, rb) = (a.seal(), b.seal());
        assert_eq!(ra, rb, "the order files are added in does not matter");
        let root = Directory::decode(a.blobs[&ra.hash].1.as_slice()).unwrap();
        assert_eq!(root.directories[0].name, "obj");
        let obj = Directory::decode(a.blobs[&root.directories[0].digest.as_ref().unwrap().hash].1.as_slice()).unwrap();
        assert_eq!(obj.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["a.o"]);
        assert_eq!(obj.directories[0].name, "mm");
        assert_eq!(a.blobs.len(), 2 + 3, "two files, three directories");
    }

    #[test]
    fn paths_stay_inside_and_do_not_conflict() {
        let mut r = InputRoot::default();
        assert!(r.add("../x", vec![], false).is_err());
        assert!(r.add("/abs", vec![], false).is_err());
        r.add("obj/x", b"1".to_vec(), false).unwrap();
        assert!(r.add("obj/x", b"2".to_vec(), false).unwrap_err().to_string().contains("twice"));
        r.add_dir("src/empty").unwrap();
        assert!(r.add_dir("src/../x").is_err());
        let root = r.seal();
        let top = Directory::decode(r.blobs[&root.hash].1.as_slice()).unwrap();
        assert_eq!(top.directories.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["obj", "src"]);
    }
}
