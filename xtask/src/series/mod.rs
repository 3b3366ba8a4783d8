//! Patch series shipped in `patches/<name>/`, each described by a
//! `series.toml` that a person edits: which kernel lines it fits, which
//! artifact layout it produces, and its patches in order.

pub mod apply;
pub mod mbox;
pub mod setup;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::kbuild::layout::{Layout, Provider};
use crate::tree::version::{KernelLine, KernelVersion};

#[derive(Debug, Deserialize)]
struct SeriesFile {
    description: String,
    /// Oldest kernel line the series applies to, e.g. "6.12".
    min_kernel: String,
    /// Newest kernel line the series applies to.
    max_kernel: String,
    layout: String,
    patches: Vec<String>,
    #[serde(default)]
    notes: String,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub description: String,
    pub min_kernel: KernelLine,
    pub max_kernel: KernelLine,
    pub layout: &'static Layout,
    pub patches: Vec<PathBuf>,
    pub notes: String,
}

impl Series {
    pub fn load(dir: &Path) -> Result<Self> {
        let toml_path = dir.join("series.toml");
        let text =
            std::fs::read_to_string(&toml_path).with_context(|| format!("cannot read {}", toml_path.display()))?;
        let file: SeriesFile = toml_edit::de::from_str(&text)
            .with_context(|| format!("{} is not a valid series file", toml_path.display()))?;
        let name = dir.file_name().and_then(|n| n.to_str()).context("series directory has no name")?.to_string();
        let patches = file.patches.iter().map(|p| dir.join(p)).collect::<Vec<_>>();
        if patches.is_empty() {
            bail!("{} lists no patches", toml_path.display());
        }
        if let Some(missing) = patches.iter().find(|p| !p.is_file()) {
            bail!("{} lists {}, which does not exist", toml_path.display(), missing.display());
        }
        let series = Self {
            name,
            description: file.description,
            min_kernel: file.min_kernel.parse().with_context(|| format!("{}: min_kernel", toml_path.display()))?,
            max_kernel: file.max_kernel.parse().with_context(|| format!("{}: max_kernel", toml_path.display()))?,
            layout: Layout::get(&file.layout).with_context(|| format!("{}: layout", toml_path.display()))?,
            patches,
            notes: file.notes,
        };
        if series.min_kernel > series.max_kernel {
            bail!(
                "{}: min_kernel {} is newer than max_kernel {}",
                toml_path.display(),
                series.min_kernel,
                series.max_kernel
            );
        }
        Ok(series)
    }

    /// A series for a layout the kernel carries itself goes on top of the
    /// kernel's own implementation: applied only when asked for by name.
    pub fn is_opt_in(&self) -> bool {
        self.layout.provided_by == Provider::Kernel
    }

    pub fn fits(&self, version: &KernelVersion) -> bool {
        let line = KernelLine(version.major, version.minor);
        self.min_kernel <= line && line <= self.max_kernel
    }

    pub fn range(&self) -> String {
        if self.min_kernel == self.max_kernel {
            self.min_kernel.to_string()
        } else {
            format!("{}–{}", self.min_kernel, self.max_kernel)
        }
    }
}

/// Every series under `patches_dir`, sorted by name.
pub fn load_all(patches_dir: &Path) -> Result<Vec<Series>> {
    let mut all = Vec::new();
    let entries = std::fs::read_dir(patches_dir)
        .with_context(|| format!("cannot read patch directory {}", patches_dir.display()))?;
    for entry in entries {
        let dir = entry?.path();
        if dir.join("series.toml").is_file() {
            all.push(Series::load(&dir)?);
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// The opt-in series that fit a kernel which has its own implementation.
pub fn opt_in_for<'a>(all: &'a [Series], version: &KernelVersion, layout: &Layout) -> Vec<&'a Series> {
    all.iter().filter(|s| s.is_opt_in() && s.layout == layout && s.fits(version)).collect()
}

/// The series named by the user, or the one that fits the kernel (never an
/// opt-in one).
pub fn select<'a>(all: &'a [Series], version: &KernelVersion, named: Option<&str>) -> Result<&'a Series> {
    if let Some(name) = named {
        return all.iter().find(|s| s.name == name).with_context(|| {
            let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
            format!("no series named `{name}`; available: {}", names.join(", "))
        });
    }
    let fitting: Vec<&Series> = all.iter().filter(|s| !s.is_opt_in() && s.fits(version)).collect();
    match fitting.as_slice() {
        [one] => Ok(one),
        [] => {
            let ranges: Vec<String> =
                all.iter().filter(|s| !s.is_opt_in()).map(|s| format!("{} (Linux {})", s.name, s.range())).collect();
            bail!(
                "no patch series fits Linux {version}; supported: {}. Linux 7.2 and later need no series (mainline has the feature); pick one with --series to try anyway",
                ranges.join(", ")
            )
        }
        many => {
            let names: Vec<&str> = many.iter().map(|s| s.name.as_str()).collect();
            bail!("several series fit Linux {version}: {}; choose one with --series", names.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_series(root: &Path, name: &str, min: &str, max: &str) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("0001-x.patch"), "").unwrap();
        std::fs::write(
            dir.join("series.toml"),
            format!(
                "# edited by hand\ndescription = \"test\"\nmin_kernel = \"{min}\"\nmax_kernel = \"{max}\"\nlayout = \"v3\"\npatches = [\"0001-x.patch\"]\nextra_key = 1\n"
            ),
        )
        .unwrap();
    }

    fn v(major: u32, minor: u32) -> KernelVersion {
        KernelVersion { major, minor, sublevel: 3, extra: String::new() }
    }

    #[test]
    fn selects_by_kernel_line() {
        let root = tempfile::tempdir().unwrap();
        write_series(root.path(), "linux-6.12", "6.12", "6.12");
        write_series(root.path(), "v3", "6.15", "6.16");
        let all = load_all(root.path()).unwrap();
        assert_eq!(select(&all, &v(6, 12), None).unwrap().name, "linux-6.12");
        assert_eq!(select(&all, &v(6, 16), None).unwrap().name, "v3");
        let err = select(&all, &v(6, 1), None).unwrap_err().to_string();
        assert!(err.contains("linux-6.12 (Linux 6.12)") && err.contains("v3 (Linux 6.15–6.16)"), "{err}");
        assert_eq!(select(&all, &v(6, 1), Some("v3")).unwrap().name, "v3");
        assert!(select(&all, &v(6, 12), Some("nope")).unwrap_err().to_string().contains("available: linux-6.12, v3"));
    }

    #[test]
    fn overlapping_series_must_be_named() {
        let root = tempfile::tempdir().unwrap();
        write_series(root.path(), "a", "6.10", "6.14");
        write_series(root.path(), "b", "6.12", "6.12");
        let all = load_all(root.path()).unwrap();
        assert!(select(&all, &v(6, 12), None).unwrap_err().to_string().contains("--series"));
    }

    #[test]
    fn rejects_bad_series_files() {
        let root = tempfile::tempdir().unwrap();
        write_series(root.path(), "bad", "6.14", "6.12");
        assert!(load_all(root.path()).unwrap_err().to_string().contains("newer than"));
        let dir = root.path().join("bad");
        std::fs::remove_file(dir.join("0001-x.patch")).unwrap();
        std::fs::write(
            dir.join("series.toml"),
            "description=\"\"\nmin_kernel=\"6.1\"\nmax_kernel=\"6.2\"\nlayout=\"v3\"\npatches=[\"0001-x.patch\"]\n",
        )
        .unwrap();
        assert!(Series::load(&dir).unwrap_err().to_string().contains("does not exist"));
    }

    /// The series shipped in the repository load and do not overlap.
    #[test]
    fn shipped_series_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../patches");
        let all = load_all(&dir).unwrap();
        assert!(all.iter().any(|s| s.name == "v3"));
        assert!(all.iter().any(|s| s.fits(&v(6, 12))));
        for line in [(6, 12), (6, 15)] {
            select(&all, &v(line.0, line.1), None).unwrap();
        }
        // 7.x has its own THIN_DIST: our series for it is only applied by name.
        let mainline = Layout::get("mainline").unwrap();
        let extra: Vec<&str> = opt_in_for(&all, &v(7, 3), mainline).iter().map(|s| s.name.as_str()).collect();
        assert_eq!(extra, ["linux-7"]);
        assert!(select(&all, &v(7, 3), None).is_err());
        assert_eq!(select(&all, &v(7, 3), Some("linux-7")).unwrap().name, "linux-7");
    }
}
