//! Where a compile's files sit in the action's input root, and its
//! command line with the trees' absolute paths replaced, so that the same
//! sources built in two places make the same action (and share hits).
//!
//! The object tree is `obj/` (the working directory), the source tree
//! `src/`, or the same `obj/` for an in-tree build; an uploaded compiler is
//! `toolchain/`.

use std::path::{Component, Path};

pub const WORKDIR: &str = "obj";

/// An uploaded toolchain's place in the input root, beside the trees.
pub const TOOLCHAIN: &str = "toolchain";
/// The same, as the working directory sees it.
pub const TOOLCHAIN_FROM_WORKDIR: &str = "../toolchain";

/// The source tree as the working directory sees it (out-of-tree builds).
const SRC_FROM_WORKDIR: &str = "../src";

pub struct TreeMap<'a> {
    pub srctree: &'a Path,
    pub objtree: &'a Path,
}

impl TreeMap<'_> {
    fn in_tree(&self) -> bool {
        self.srctree == self.objtree
    }

    /// An argument with each absolute tree path made relative to the working directory.
    pub fn rewrite_arg(&self, arg: &str) -> String {
        // The longer prefix first: an O= directory may sit inside the source tree.
        let mut trees = [(self.objtree, "."), (self.srctree, if self.in_tree() { "." } else { SRC_FROM_WORKDIR })];
        trees.sort_by_key(|(p, _)| std::cmp::Reverse(p.as_os_str().len()));
        let mut out = arg.to_string();
        for (tree, rel) in trees {
            let t = tree.display().to_string();
            if t.len() > 1 {
                out = replace_path_prefix(&out, &t, rel);
            }
        }
        out
    }

    /// The directories a path passes through before each `..`, as paths in
    /// the input root: the compiler walks them, so they must exist there.
    pub fn dirs_walked(&self, file: &str) -> Vec<String> {
        let p = Path::new(file);
        let mut out = Vec::new();
        for (i, c) in p.components().enumerate() {
            if c == Component::ParentDir && i > 0 {
                let before: std::path::PathBuf = p.components().take(i).collect();
                out.extend(self.input_path(&before.to_string_lossy()));
            }
        }
        out
    }

    /// A path the engine's compiler wrote (in a dependency file), as the
    /// local compile wrote it: the source tree absolute again.
    pub fn local_path(&self, path: &str) -> String {
        match path.strip_prefix(SRC_FROM_WORKDIR).filter(|rest| rest.starts_with('/') && !self.in_tree()) {
            Some(rest) => format!("{}{rest}", self.srctree.display()),
            None => path.to_string(),
        }
    }

    /// A file named on the command line (relative to the object tree or
    /// absolute), as a path inside the input root; None when it is outside both trees.
    pub fn input_path(&self, file: &str) -> Option<String> {
        let p = Path::new(file);
        if p.is_relative() {
            return clean(p).map(|r| format!("{WORKDIR}/{r}"));
        }
        let under = |tree: &Path, top: &str| p.strip_prefix(tree).ok().and_then(clean).map(|r| format!("{top}/{r}"));
        under(self.objtree, WORKDIR).or_else(|| under(self.srctree, if self.in_tree() { WORKDIR } else { "src" }))
    }
}

/// Replaces `prefix` where it stands for a whole path (followed by `/`,
/// `=` or the end), anywhere in the argument (`-I…`, `-f…-map=…=`).
pub fn replace_path_prefix(arg: &str, prefix: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(i) = rest.find(prefix) {
        let after = &rest[i + prefix.len()..];
        let whole = after.is_empty() || after.starts_with('/') || after.starts_with('=');
        out.push_str(&rest[..i]);
        out.push_str(if whole { with } else { prefix });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A relative path with `.` and `..` resolved as words, `/`-separated;
/// None when it climbs above where it starts.
fn clean(p: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_paths_become_relative() {
        let m = TreeMap { srctree: Path::new("/k/linux"), objtree: Path::new("/k/linux/out") };
        assert_eq!(m.rewrite_arg("-I/k/linux/mm"), "-I../src/mm");
        assert_eq!(m.rewrite_arg("-fmacro-prefix-map=/k/linux/="), "-fmacro-prefix-map=../src/=");
        assert_eq!(m.rewrite_arg("-I/k/linux/out/include"), "-I./include");
        assert_eq!(m.rewrite_arg("-I/k/linuxy/x"), "-I/k/linuxy/x", "only whole path components");
        assert_eq!(m.input_path("mm/a.o").as_deref(), Some("obj/mm/a.o"));
        assert_eq!(m.input_path("/k/linux/prof.afdo").as_deref(), Some("src/prof.afdo"));
        assert_eq!(m.input_path("/k/linux/out/x.bc").as_deref(), Some("obj/x.bc"));
        assert_eq!(m.input_path("../up.o"), None);
        assert_eq!(
            m.input_path("/k/linux/arch/x86/events/intel/../perf_event.h").as_deref(),
            Some("src/arch/x86/events/perf_event.h")
        );
        assert_eq!(m.dirs_walked("/k/linux/a/b/../../c.h"), ["src/a/b", "src/a"]);
        assert_eq!(m.input_path("/k/linux/../etc/passwd"), None);
        assert_eq!(m.input_path("/etc/passwd"), None);
        assert_eq!(m.local_path(&m.rewrite_arg("/k/linux/mm/a.c")), "/k/linux/mm/a.c", "and back");
        assert_eq!(m.local_path("../srcx/a.c"), "../srcx/a.c");
        let in_tree = TreeMap { srctree: Path::new("/k/linux"), objtree: Path::new("/k/linux") };
        assert_eq!(in_tree.rewrite_arg("-I/k/linux/mm"), "-I./mm");
        assert_eq!(in_tree.input_path("/k/linux/p.afdo").as_deref(), Some("obj/p.afdo"));
    }
}
