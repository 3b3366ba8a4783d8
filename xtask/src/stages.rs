//! Reading kbuild's quiet output (`  CC      init/main.o`) into the four
//! stages of a distributed ThinLTO build.

use serde::Serialize;

use crate::layout::Layout;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    FrontEnd,
    ThinLink,
    BackEnd,
    FinalLink,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::FrontEnd, Stage::ThinLink, Stage::BackEnd, Stage::FinalLink];

    pub fn label(self) -> &'static str {
        match self {
            Stage::FrontEnd => "front-end",
            Stage::ThinLink => "thin-link",
            Stage::BackEnd => "back-end",
            Stage::FinalLink => "final link",
        }
    }
}

/// One quiet-output line: `  TAG     target`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub tag: String,
    pub target: String,
}

pub fn parse_step(line: &str) -> Option<Step> {
    let rest = line.strip_prefix("  ")?;
    if rest.starts_with(' ') {
        return None;
    }
    let mut words = rest.split_whitespace();
    let mut tag = words.next()?.to_string();
    if !tag.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-') {
        return None;
    }
    let mut target = words.next()?.to_string();
    if target == "[M]" {
        tag.push_str(" [M]");
        target = words.next()?.to_string();
    }
    Some(Step { tag, target })
}

/// Follows a build's output and attributes every step to a stage. Stages
/// only move forward; an incremental build may skip some.
#[derive(Debug, Clone)]
pub struct Tracker {
    pub layout: Layout,
    pub stage: Stage,
}

impl Tracker {
    pub fn new(layout: Layout) -> Self {
        Self { layout, stage: Stage::FrontEnd }
    }

    /// The stage of this step, and whether it is a compile (or link) worth counting.
    pub fn observe(&mut self, step: &Step) -> (Stage, bool) {
        let t = step.target.as_str();
        let name = t.rsplit('/').next().unwrap_or(t);
        let next = if name == self.layout.thinlink_output() && step.tag == "LD" {
            Stage::ThinLink
        } else if self.layout.is_native(t) || t.ends_with(self.layout.native_archive()) && self.stage >= Stage::ThinLink {
            Stage::BackEnd
        } else if name == "vmlinux.o" && step.tag == "LD" {
            Stage::FinalLink
        } else {
            self.stage
        };
        self.stage = self.stage.max(next);
        let counted = match self.stage {
            Stage::FrontEnd => matches!(step.tag.as_str(), "CC" | "AS" | "CC [M]" | "AS [M]") && t.ends_with(".o"),
            Stage::ThinLink => step.tag == "LD",
            Stage::BackEnd => step.tag == "CC" && self.layout.is_native(t),
            Stage::FinalLink => step.tag == "LD",
        };
        (self.stage, counted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(layout: Layout, lines: &[&str]) -> Vec<(Stage, bool)> {
        let mut t = Tracker::new(layout);
        lines.iter().map(|l| t.observe(&parse_step(l).unwrap())).collect()
    }

    #[test]
    fn parses_quiet_lines() {
        assert_eq!(parse_step("  CC      init/main.o"), Some(Step { tag: "CC".into(), target: "init/main.o".into() }));
        assert_eq!(parse_step("  CC [M]  fs/x.o").unwrap().tag, "CC [M]");
        assert_eq!(parse_step("  CC     kernel/fork.o_thinlto_native").unwrap().target, "kernel/fork.o_thinlto_native");
        assert!(parse_step("make[1]: Entering directory '/x'").is_none());
        assert!(parse_step("init/main.c:12:1: error: expected ';'").is_none());
        assert!(parse_step("    continuation").is_none());
    }

    #[test]
    fn follows_v3_stages() {
        let got = run(
            Layout::V3,
            &[
                "  CC      init/main.o",
                "  AS      arch/x86/kernel/head_64.o",
                "  AR      vmlinux.a",
                "  GEN     .tmp_initcalls_thinlink.lds",
                "  LD      vmlinux.thinlink",
                "  CC     init/main.o_thinlto_native",
                "  AR      init/built-in.a_thinlto_native",
                "  AR      vmlinux.a_thinlto_native",
                "  LD      vmlinux.o",
                "  CC      init/version-timestamp.o",
                "  LD      vmlinux",
            ],
        );
        use Stage::*;
        assert_eq!(
            got,
            [
                (FrontEnd, true),
                (FrontEnd, true),
                (FrontEnd, false),
                (FrontEnd, false),
                (ThinLink, true),
                (BackEnd, true),
                (BackEnd, false),
                (BackEnd, false),
                (FinalLink, true),
                (FinalLink, false),
                (FinalLink, true)
            ]
        );
    }

    #[test]
    fn follows_mainline_stages() {
        use Stage::*;
        let got = run(
            Layout::Mainline,
            &["  CC      init/main.o", "  GEN     builtin.order", "  LD      vmlinux.thinlto-index", "  CC      init/main.thinlto-native.o", "  GEN     vmlinux.a", "  LD      vmlinux.o"],
        );
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [FrontEnd, FrontEnd, ThinLink, BackEnd, BackEnd, FinalLink]);
        assert_eq!(got.iter().filter(|g| g.1).count(), 4);
    }

    #[test]
    fn incremental_build_may_skip_stages() {
        use Stage::*;
        let got = run(Layout::V3, &["  CC      kernel/fork.o", "  LD      vmlinux.o", "  LD      vmlinux"]);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [FrontEnd, FinalLink, FinalLink]);
    }
}
