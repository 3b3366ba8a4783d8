//! The two ThinLTO modes a tree can be built in: the kernel's in-process
//! ThinLTO (`CONFIG_LTO_CLANG_THIN`, the back-end inside ld.lld) and the
//! distributed mode this tool is about (`CONFIG_LTO_CLANG_THIN_DIST`).

use serde::{Deserialize, Serialize};

use crate::kbuild::kconfig::Values;
use crate::kbuild::layout::Layout;
use crate::kbuild::stages::Pipeline;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LtoMode {
    InProcess,
    ThinDist,
}

impl LtoMode {
    /// Both, in the order compare builds them.
    pub const BOTH: [LtoMode; 2] = [LtoMode::InProcess, LtoMode::ThinDist];

    pub fn name(self) -> &'static str {
        match self {
            LtoMode::InProcess => "in-process",
            LtoMode::ThinDist => "thin-dist",
        }
    }

    pub fn kconfig_symbol(self) -> &'static str {
        match self {
            LtoMode::InProcess => "LTO_CLANG_THIN",
            LtoMode::ThinDist => "LTO_CLANG_THIN_DIST",
        }
    }

    /// The options that select this mode; the other LTO choices are switched off by configure.
    pub fn options(self) -> Values {
        match self {
            LtoMode::InProcess => Values::parse("CONFIG_LTO_CLANG_THIN=y\n# CONFIG_LTO_CLANG_THIN_DIST is not set\n"),
            LtoMode::ThinDist => Values::parse("CONFIG_LTO_CLANG_THIN_DIST=y\n"),
        }
    }

    /// The stages a build in this mode goes through, on a tree of this layout.
    pub fn pipeline(self, layout: &'static Layout) -> Pipeline {
        match self {
            LtoMode::InProcess => Pipeline::InProcess,
            LtoMode::ThinDist => Pipeline::Distributed(layout),
        }
    }
}

impl std::fmt::Display for LtoMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One value per mode, side by side: what compare and the benchmarks build,
/// measure and judge in both. Written as a two-item list, in-process first
/// (the order the builds run in).
#[derive(Debug, Clone, PartialEq)]
pub struct ModePair<T> {
    pub in_process: T,
    pub thin_dist: T,
}

impl<T> ModePair<T> {
    /// Each mode's value, made in build order.
    pub fn try_new<E>(mut make: impl FnMut(LtoMode) -> Result<T, E>) -> Result<Self, E> {
        let in_process = make(LtoMode::InProcess)?;
        Ok(Self { in_process, thin_dist: make(LtoMode::ThinDist)? })
    }

    pub fn get(&self, mode: LtoMode) -> &T {
        match mode {
            LtoMode::InProcess => &self.in_process,
            LtoMode::ThinDist => &self.thin_dist,
        }
    }

    /// Both values with their modes, in build order.
    pub fn iter(&self) -> impl Iterator<Item = (LtoMode, &T)> {
        LtoMode::BOTH.into_iter().map(move |m| (m, self.get(m)))
    }

    pub fn map<U>(&self, mut f: impl FnMut(LtoMode, &T) -> U) -> ModePair<U> {
        ModePair {
            in_process: f(LtoMode::InProcess, &self.in_process),
            thin_dist: f(LtoMode::ThinDist, &self.thin_dist),
        }
    }

    pub fn into_map<U>(self, mut f: impl FnMut(LtoMode, T) -> U) -> ModePair<U> {
        ModePair { in_process: f(LtoMode::InProcess, self.in_process), thin_dist: f(LtoMode::ThinDist, self.thin_dist) }
    }

    /// `f` on each, in build order; the first error stops it.
    pub fn try_map<U, E>(&self, mut f: impl FnMut(LtoMode, &T) -> Result<U, E>) -> Result<ModePair<U>, E> {
        ModePair::try_new(|m| f(m, self.get(m)))
    }

    pub fn zip<U>(self, other: ModePair<U>) -> ModePair<(T, U)> {
        ModePair { in_process: (self.in_process, other.in_process), thin_dist: (self.thin_dist, other.thin_dist) }
    }
}

impl<T: Serialize> Serialize for ModePair<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [&self.in_process, &self.thin_dist].serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ModePair<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let [in_process, thin_dist] = <[T; 2]>::deserialize(d)?;
        Ok(Self { in_process, thin_dist })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_written_as_a_list_in_build_order() {
        let pair = ModePair::try_new(|m| Ok::<_, ()>(m.name().len())).unwrap();
        assert_eq!((pair.in_process, pair.thin_dist), (10, 9));
        assert_eq!(pair.iter().map(|(m, _)| m).collect::<Vec<_>>(), LtoMode::BOTH);
        let json = serde_json::to_string(&pair.map(|m, n| format!("{m}:{n}"))).unwrap();
        assert_eq!(json, r#"["in-process:10","thin-dist:9"]"#);
        let back: ModePair<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.thin_dist, "thin-dist:9");
        assert!(serde_json::from_str::<ModePair<u8>>("[1]").is_err());
    }
}
