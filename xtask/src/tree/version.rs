//! Kernel versions as the top-level Makefile states them.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context, Result};

/// `VERSION.PATCHLEVEL.SUBLEVEL` plus `EXTRAVERSION` (e.g. `-rc3`), which
/// takes no part in ordering: series fit kernel lines, not release candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub sublevel: u32,
    pub extra: String,
}

impl KernelVersion {
    /// Reads the four version variables from the text of a top-level Makefile.
    pub fn from_makefile(text: &str) -> Result<Self> {
        let var = |name: &str| -> Option<String> {
            text.lines().take(20).find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == name).then(|| value.trim().to_string())
            })
        };
        let number = |name: &str| -> Result<u32> {
            let value = var(name).with_context(|| format!("no `{name} =` line in the first 20 lines"))?;
            value.parse().with_context(|| format!("{name} is `{value}`, not a number"))
        };
        Ok(Self {
            major: number("VERSION")?,
            minor: number("PATCHLEVEL")?,
            sublevel: number("SUBLEVEL")?,
            extra: var("EXTRAVERSION").unwrap_or_default(),
        })
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}{}", self.major, self.minor, self.sublevel, self.extra)
    }
}

/// A kernel line such as `6.12`, as written in series.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelLine(pub u32, pub u32);

impl FromStr for KernelLine {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let Some((a, b)) = s.trim().split_once('.') else {
            bail!("`{s}` is not a kernel line like `6.12`");
        };
        Ok(Self(
            a.parse().with_context(|| format!("`{s}`: bad major number"))?,
            b.parse().with_context(|| format!("`{s}`: bad minor number"))?,
        ))
    }
}

impl fmt::Display for KernelLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_makefile_head() {
        let text = "# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\nNAME = Baby Opossum Posse\n";
        let v = KernelVersion::from_makefile(text).unwrap();
        assert_eq!((v.major, v.minor, v.sublevel), (6, 12, 117));
        assert_eq!(v.to_string(), "6.12.117");
    }

    #[test]
    fn keeps_extraversion() {
        let text = "VERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 0\nEXTRAVERSION = -rc2\n";
        assert_eq!(KernelVersion::from_makefile(text).unwrap().to_string(), "7.3.0-rc2");
    }

    #[test]
    fn rejects_non_kernel_makefile() {
        let err = KernelVersion::from_makefile("all:\n\tcc -o x x.c\n").unwrap_err();
        assert!(err.to_string().contains("VERSION"), "{err}");
        let err = KernelVersion::from_makefile("VERSION = six\n").unwrap_err();
        assert!(format!("{err:#}").contains("not a number"), "{err:#}");
    }

    #[test]
    fn kernel_lines_order_numerically() {
        let a: KernelLine = "6.9".parse().unwrap();
        let b: KernelLine = "6.12".parse().unwrap();
        assert!(a < b);
        assert!("6".parse::<KernelLine>().is_err());
        assert!("6.x".parse::<KernelLine>().is_err());
    }
}
