//! An action's input root as REAPI wants it: a Merkle tree of Directory
//! messages, names sorted, every file and directory a blob by digest.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bazel_remote_apis::build::bazel::remote::execution::v2::{Digest, Directory, DirectoryNode, FileNode};

use crate::remote::digest;

/// Blobs by hash: what an action needs in the CAS.
pub type Blobs = HashMap<String, (Digest, Blob)>;

/// A blob's bytes, or the file that holds them: read only if the CAS lacks
/// it (a toolchain's 100 MB library is sent once, not read by every job).
pub enum Blob {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl Blob {
    /// The bytes; a file's are checked against the digest it was given,
    /// so a file changed since it was hashed is never sent under the old one.
    pub fn load(&self, d: &Digest) -> Result<Cow<'_, [u8]>> {
        match self {
            Blob::Bytes(b) => Ok(Cow::Borrowed(b)),
            Blob::File(path) => {
                let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
                let got = digest::of(&data);
                if got != *d {
                    bail!(
                        "{} changed since the build began ({} then, {} now); start the build again",
                        path.display(),
                        digest::show(d),
                        digest::show(&got)
                    );
                }
                Ok(Cow::Owned(data))
            }
        }
    }
}

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
        let d = digest::of(&data);
        self.insert(path, d, Blob::Bytes(data), executable)
    }

    /// Adds a file by the digest it had when it was hashed; its bytes are
    /// read from `local` only when they are to be sent.
    pub fn add_file(&mut self, path: &str, d: Digest, local: &Path, executable: bool) -> Result<()> {
        self.insert(path, d, Blob::File(local.to_path_buf()), executable)
    }

    fn insert(&mut self, path: &str, d: Digest, blob: Blob, executable: bool) -> Result<()> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        if parts.is_empty() || parts.contains(&"..") || path.starts_with('/') {
            bail!("`{path}` is not a path inside the input root");
        }
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
        self.blobs.insert(d.hash.clone(), (d, blob));
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
    blobs.insert(d.hash.clone(), (d.clone(), Blob::Bytes(bytes)));
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn bytes<'a>(blobs: &'a Blobs, hash: &str) -> &'a [u8] {
        match &blobs[hash].1 {
            Blob::Bytes(b) => b,
            Blob::File(p) => panic!("{} was not read", p.display()),
        }
    }

    #[test]
    fn a_file_is_read_when_sent_and_must_be_what_was_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libLLVM.so");
        std::fs::write(&lib, b"LLVM").unwrap();
        let d = digest::of(b"LLVM");
        let mut r = InputRoot::default();
        r.add_file("toolchain/lib/libLLVM.so", d.clone(), &lib, false).unwrap();
        assert!(matches!(r.blobs[&d.hash].1, Blob::File(_)), "not read when added");
        assert_eq!(&*r.blobs[&d.hash].1.load(&d).unwrap(), b"LLVM");
        std::fs::write(&lib, b"LLVM 2").unwrap();
        let e = r.blobs[&d.hash].1.load(&d).unwrap_err().to_string();
        assert!(e.contains("changed since the build began"), "{e}");
    }

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
        let root = Directory::decode(bytes(&a.blobs, &ra.hash)).unwrap();
        assert_eq!(root.directories[0].name, "obj");
        let obj = Directory::decode(bytes(&a.blobs, &root.directories[0].digest.as_ref().unwrap().hash)).unwrap();
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
        let top = Directory::decode(bytes(&r.blobs, &root.hash)).unwrap();
        assert_eq!(top.directories.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["obj", "src"]);
    }
}
