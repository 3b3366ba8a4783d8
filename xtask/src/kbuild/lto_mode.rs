//! The two ThinLTO modes a tree can be built in: the kernel's in-process
//! ThinLTO (`CONFIG_LTO_CLANG_THIN`, the back-end inside ld.lld) and the
//! distributed mode this tool is about (`CONFIG_LTO_CLANG_THIN_DIST`).

use serde::Serialize;

use crate::kbuild::kconfig::Values;
use crate::kbuild::layout::Layout;
use crate::kbuild::stages::Pipeline;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
