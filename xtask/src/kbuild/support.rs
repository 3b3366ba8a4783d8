//! What a tree already has of distributed ThinLTO: which layout's
//! implementation, put there by the kernel itself or by a series of ours.

use anyhow::Result;

use crate::kbuild::layout::{Layout, Provider};
use crate::tree::kernel::KernelTree;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeSupport {
    /// The kernel's own implementation (mainline 7.2+).
    Kernel(&'static Layout),
    /// A series of ours is applied.
    OurSeries(&'static Layout),
    /// Neither: a series must be applied.
    Absent,
}

impl TreeSupport {
    /// A tree has a layout when arch/Kconfig declares THIN_DIST and the
    /// layout's own file is there; declared without either file, it is
    /// absent, so that applying a series reports the conflict precisely.
    pub fn detect(tree: &KernelTree) -> Result<TreeSupport> {
        if !tree.declares_thin_dist() {
            return Ok(TreeSupport::Absent);
        }
        let found = Layout::all()?.iter().find(|l| tree.path(&l.detect).is_file());
        Ok(match found {
            Some(l) if l.provided_by == Provider::Kernel => TreeSupport::Kernel(l),
            Some(l) => TreeSupport::OurSeries(l),
            None => TreeSupport::Absent,
        })
    }

    pub fn layout(self) -> Option<&'static Layout> {
        match self {
            TreeSupport::Kernel(l) | TreeSupport::OurSeries(l) => Some(l),
            TreeSupport::Absent => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::version::KernelVersion;

    fn fake_tree(files: &[(&str, &str)]) -> (tempfile::TempDir, KernelTree) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let version = KernelVersion { major: 6, minor: 12, sublevel: 0, extra: String::new() };
        let tree = KernelTree { root: dir.path().to_path_buf(), version };
        (dir, tree)
    }

    #[test]
    fn detects_each_implementation() {
        let kconfig = "config LTO_CLANG_THIN\n\tbool\n\nconfig LTO_CLANG_THIN_DIST\n\tbool\n";
        let (mainline, v3) = (Layout::get("mainline").unwrap(), Layout::get("v3").unwrap());
        let (_d, t) = fake_tree(&[("arch/Kconfig", "config LTO_CLANG_THIN\n")]);
        assert_eq!(TreeSupport::detect(&t).unwrap(), TreeSupport::Absent);
        let (_d, t) = fake_tree(&[("arch/Kconfig", kconfig), (&mainline.detect, "")]);
        assert_eq!(TreeSupport::detect(&t).unwrap(), TreeSupport::Kernel(mainline));
        let (_d, t) = fake_tree(&[("arch/Kconfig", kconfig), (&v3.detect, "")]);
        assert_eq!(TreeSupport::detect(&t).unwrap(), TreeSupport::OurSeries(v3));
        // The implementation's file alone, without the option, is not the feature.
        let (_d, t) = fake_tree(&[("arch/Kconfig", "config LTO_CLANG_THIN\n"), (&mainline.detect, "")]);
        assert_eq!(TreeSupport::detect(&t).unwrap(), TreeSupport::Absent);
    }
}
