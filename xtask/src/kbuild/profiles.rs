//! AutoFDO and Propeller profiles as kbuild takes them (Linux 6.13+):
//! `CLANG_AUTOFDO_PROFILE=<file>` with `CONFIG_AUTOFDO_CLANG=y`, and
//! `CLANG_PROPELLER_PROFILE_PREFIX=<prefix>` (`<prefix>_cc_profile.txt`,
//! `<prefix>_ld_profile.txt`) with `CONFIG_PROPELLER_CLANG=y`.
//!
//! kbuild names a profile in the compile flags, but no dependency file
//! lists it (clang's `-MD` leaves `-fprofile-sample-use=` out), so a profile
//! edited in place rebuilds nothing. The build gets a copy named by its
//! content instead, inside the object tree: a changed profile is a changed
//! command line, which kbuild rebuilds, and a remote job finds it inside the
//! trees it sends.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest as _, Sha256};

use crate::files::{self, Durability};
use crate::kbuild::kconfig::Values;

/// Where the copies go, in the object tree (a dot name: the kernel's
/// `.gitignore` ignores it in an in-tree build).
pub const DIR: &str = ".thindist-profiles";

/// The two files a Propeller prefix names, as `scripts/Makefile.propeller` reads them.
pub const PROPELLER_SUFFIXES: [&str; 2] = ["_cc_profile.txt", "_ld_profile.txt"];

/// The profiles a build was asked for, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profiles {
    /// An AutoFDO (sample) profile: any format `llvm-profdata` writes, or its text format.
    pub autofdo: Option<PathBuf>,
    /// A Propeller profile prefix.
    pub propeller: Option<PathBuf>,
}

/// One profile copied into the object tree: what to copy where, and the
/// variable make gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub var: &'static str,
    /// The value of `var`: the copy (AutoFDO) or the copies' prefix (Propeller).
    pub value: PathBuf,
    /// (content, destination) of each file.
    pub files: Vec<(Vec<u8>, PathBuf)>,
}

impl Profiles {
    /// The config options the profiles need.
    pub fn options(&self) -> Values {
        let mut text = String::new();
        if self.autofdo.is_some() {
            text.push_str("CONFIG_AUTOFDO_CLANG=y\n");
        }
        if self.propeller.is_some() {
            text.push_str("CONFIG_PROPELLER_CLANG=y\n");
        }
        Values::parse(&text)
    }

    /// Reads the profiles and names their copies in `objtree`; refuses a
    /// tree without kbuild's support and a profile that is not there.
    pub fn stage(&self, tree: &Path, objtree: &Path) -> Result<Vec<Staged>> {
        let mut staged = Vec::new();
        if let Some(file) = &self.autofdo {
            need_support(tree, "autofdo", "--autofdo-profile")?;
            let bytes = std::fs::read(file)
                .with_context(|| format!("--autofdo-profile {}: cannot read the profile", file.display()))?;
            let dest = objtree.join(DIR).join(format!("autofdo-{}.afdo", content_name(&[&bytes])));
            staged.push(Staged { var: "CLANG_AUTOFDO_PROFILE", value: dest.clone(), files: vec![(bytes, dest)] });
        }
        if let Some(prefix) = &self.propeller {
            need_support(tree, "propeller", "--propeller-profile")?;
            let mut contents = Vec::new();
            for suffix in PROPELLER_SUFFIXES {
                let file = with_suffix(prefix, suffix);
                let bytes = std::fs::read(&file).with_context(|| {
                    format!(
                        "--propeller-profile {}: cannot read {} (a prefix names two files, {} and {})",
                        prefix.display(),
                        file.display(),
                        PROPELLER_SUFFIXES[0],
                        PROPELLER_SUFFIXES[1]
                    )
                })?;
                contents.push(bytes);
            }
            let name = content_name(&contents.iter().map(Vec::as_slice).collect::<Vec<_>>());
            let value = objtree.join(DIR).join(format!("propeller-{name}"));
            let files =
                contents.into_iter().zip(PROPELLER_SUFFIXES).map(|(b, s)| (b, with_suffix(&value, s))).collect();
            staged.push(Staged { var: "CLANG_PROPELLER_PROFILE_PREFIX", value, files });
        }
        Ok(staged)
    }
}

impl Staged {
    pub fn env(&self) -> (String, String) {
        (self.var.to_string(), self.value.display().to_string())
    }

    /// Writes the copies that are not there yet (their names are their
    /// content), and removes the copies of this kind an earlier profile
    /// left: a build uses one of each, and a real profile can be tens of
    /// megabytes, which every edit would otherwise add to the object tree.
    pub fn write(&self) -> Result<()> {
        for (bytes, dest) in &self.files {
            if std::fs::read(dest).ok().as_deref() != Some(bytes.as_slice()) {
                files::write_atomically(dest, bytes, Durability::Whole)?;
            }
        }
        let Some(dir) = self.files.first().and_then(|(_, d)| d.parent()) else { return Ok(()) };
        let kind = if self.var == "CLANG_AUTOFDO_PROFILE" { "autofdo-" } else { "propeller-" };
        for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let path = entry?.path();
            let ours = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(kind));
            if ours && !self.files.iter().any(|(_, d)| *d == path) {
                std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        Ok(())
    }
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// 16 hex digits of the SHA-256 over the files' contents, each length-prefixed.
fn content_name(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// AutoFDO and Propeller came to kbuild in Linux 6.13 (`scripts/Makefile.autofdo`, `.propeller`).
fn need_support(tree: &Path, what: &str, flag: &str) -> Result<()> {
    let makefile = format!("scripts/Makefile.{what}");
    if !tree.join(&makefile).is_file() {
        bail!(
            "{flag}: {} has no {makefile}, so kbuild cannot use the profile (it came in Linux 6.13); \
             use a 6.13 or newer tree, or build without {flag}",
            tree.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_copied_under_a_name_from_its_content() {
        let t = tempfile::tempdir().unwrap();
        let (tree, obj) = (t.path().join("linux"), t.path().join("out"));
        std::fs::create_dir_all(tree.join("scripts")).unwrap();
        std::fs::write(tree.join("scripts/Makefile.autofdo"), "").unwrap();
        let prof = t.path().join("p.afdo");
        std::fs::write(&prof, "number:10:1\n 1: 10\n").unwrap();
        let p = Profiles { autofdo: Some(prof.clone()), propeller: None };
        let first = p.stage(&tree, &obj).unwrap();
        assert_eq!(first[0].var, "CLANG_AUTOFDO_PROFILE");
        assert!(first[0].value.starts_with(obj.join(DIR)));
        first[0].write().unwrap();
        assert_eq!(std::fs::read(&first[0].value).unwrap(), std::fs::read(&prof).unwrap());
        // The same content keeps its name; an edit gives another, so kbuild's flags change.
        assert_eq!(p.stage(&tree, &obj).unwrap(), first);
        std::fs::write(&prof, "number:20:1\n 1: 20\n").unwrap();
        let second = p.stage(&tree, &obj).unwrap();
        assert_ne!(second[0].value, first[0].value);
        // Its copy replaces the first; another kind's copy stays.
        let other = obj.join(DIR).join("propeller-0123456789abcdef_cc_profile.txt");
        std::fs::write(&other, "v1\n").unwrap();
        second[0].write().unwrap();
        assert!(second[0].value.is_file() && !first[0].value.exists() && other.is_file());
        assert_eq!(p.options().get("AUTOFDO_CLANG"), "y");
        assert_eq!(p.options().get("PROPELLER_CLANG"), "n");
    }

    #[test]
    fn a_propeller_prefix_names_both_files_and_an_old_tree_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let (tree, obj) = (t.path().join("linux"), t.path().join("out"));
        std::fs::create_dir_all(tree.join("scripts")).unwrap();
        let prefix = t.path().join("prop");
        std::fs::write(t.path().join("prop_cc_profile.txt"), "v1\nf number\nc 0\n").unwrap();
        let p = Profiles { autofdo: None, propeller: Some(prefix.clone()) };
        let err = p.stage(&tree, &obj).unwrap_err().to_string();
        assert!(err.contains("Makefile.propeller") && err.contains("6.13"), "{err}");
        std::fs::write(tree.join("scripts/Makefile.propeller"), "").unwrap();
        let err = format!("{:#}", p.stage(&tree, &obj).unwrap_err());
        assert!(err.contains("prop_ld_profile.txt"), "{err}");
        std::fs::write(t.path().join("prop_ld_profile.txt"), "number\n").unwrap();
        let s = p.stage(&tree, &obj).unwrap().remove(0);
        s.write().unwrap();
        let cc = with_suffix(&s.value, "_cc_profile.txt");
        assert_eq!(std::fs::read_to_string(cc).unwrap(), "v1\nf number\nc 0\n");
        assert_eq!(s.env().0, "CLANG_PROPELLER_PROFILE_PREFIX");
    }
}
