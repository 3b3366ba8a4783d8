//! Reading kbuild's quiet output (`  CC      init/main.o`) into the stages
//! of a ThinLTO build: four for a distributed build, three for in-process
//! ThinLTO, whose thin-link and back-end run inside the `vmlinux.o` link;
//! beside them, the modules' back-end (a series that builds modules in
//! distributed mode) and the modules' links.

use serde::Serialize;

use crate::kbuild::layout::Layout;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    FrontEnd,
    ThinLink,
    BackEnd,
    /// In-process ThinLTO's `vmlinux.o` link: thin-link and back-end inside ld.lld.
    LtoLink,
    FinalLink,
    /// Back-end compiles of modules' objects, into each module's own
    /// directory (`CC [M]  fs/configfs/configfs.thinlto/fs/configfs/dir.o`).
    /// They run among the front-end compiles, beside the vmlinux stages.
    ModuleBackEnd,
    /// Loadable modules after their compiles: module links (in-process
    /// ThinLTO inside `ld.lld -r` for a module of several objects), modpost,
    /// `.mod.o` and `.ko`. It runs beside the vmlinux stages, not after them.
    Modules,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::FrontEnd,
        Stage::ThinLink,
        Stage::BackEnd,
        Stage::LtoLink,
        Stage::FinalLink,
        Stage::ModuleBackEnd,
        Stage::Modules,
    ];

    /// A stage of module work, which runs beside vmlinux's stages rather
    /// than after one of them.
    pub fn beside_vmlinux(self) -> bool {
        matches!(self, Stage::ModuleBackEnd | Stage::Modules)
    }

    pub fn label(self) -> &'static str {
        match self {
            Stage::FrontEnd => "front-end",
            Stage::ThinLink => "thin-link",
            Stage::BackEnd => "back-end",
            Stage::LtoLink => "LTO link",
            Stage::FinalLink => "final link",
            Stage::ModuleBackEnd => "module back-end",
            Stage::Modules => "modules",
        }
    }
}

/// Where ThinLTO's back-end runs, which decides the stages a build goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipeline {
    /// CONFIG_LTO_CLANG_THIN_DIST: separate back-end compiles, named by the layout.
    Distributed(&'static Layout),
    /// CONFIG_LTO_CLANG_THIN: the linker does thin-link and back-end itself.
    InProcess,
}

impl Pipeline {
    pub fn stages(self) -> &'static [Stage] {
        match self {
            Pipeline::Distributed(_) => &[
                Stage::FrontEnd,
                Stage::ThinLink,
                Stage::BackEnd,
                Stage::FinalLink,
                Stage::ModuleBackEnd,
                Stage::Modules,
            ],
            Pipeline::InProcess => &[Stage::FrontEnd, Stage::LtoLink, Stage::FinalLink, Stage::Modules],
        }
    }
}

/// One quiet-output line: `  TOOL    target`, or `  TOOL [M] target` for a
/// module's step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// kbuild's tag: `CC`, `LD`, `MODPOST`, …
    pub tool: String,
    /// The `[M]` mark: a step of a loadable module.
    pub module: bool,
    pub target: String,
}

impl Step {
    /// Whether this is `tool`'s step, for a module (`[M]`) or not.
    pub fn is(&self, tool: &str, module: bool) -> bool {
        self.tool == tool && self.module == module
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.module { " [M]" } else { "" };
        write!(f, "{}{mark} {}", self.tool, self.target)
    }
}

pub fn parse_step(line: &str) -> Option<Step> {
    let rest = line.strip_prefix("  ")?;
    if rest.starts_with(' ') {
        return None;
    }
    let mut words = rest.split_whitespace();
    let tool = words.next()?.to_string();
    if !tool.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-') {
        return None;
    }
    let mut target = words.next()?.to_string();
    let module = target == "[M]";
    if module {
        target = words.next()?.to_string();
    }
    Some(Step { tool, module, target })
}

/// Follows a build's output and attributes every step to a stage. Stages
/// only move forward; an incremental build may skip some.
#[derive(Debug, Clone)]
pub struct Tracker {
    pub pipeline: Pipeline,
    pub stage: Stage,
}

impl Tracker {
    pub fn new(pipeline: Pipeline) -> Self {
        Self { pipeline, stage: Stage::FrontEnd }
    }

    /// The stage of this step, and whether it is a compile (or link) worth
    /// counting. A module step is of the modules stage and leaves the
    /// vmlinux stages where they are.
    pub fn observe(&mut self, step: &Step) -> (Stage, bool) {
        if let Pipeline::Distributed(layout) = self.pipeline {
            if step.is("CC", true) && layout.in_module_dir(&step.target) {
                return (Stage::ModuleBackEnd, true);
            }
        }
        if is_module_step(step) {
            return (Stage::Modules, step.is("LD", true));
        }
        let t = step.target.as_str();
        let name = t.rsplit('/').next().unwrap_or(t);
        let links_vmlinux_o = name == "vmlinux.o" && step.is("LD", false);
        let next = match self.pipeline {
            Pipeline::Distributed(layout) => {
                if name == layout.thinlink_output && step.is("LD", false) {
                    Stage::ThinLink
                } else if layout.is_native(t)
                    || t.ends_with(layout.native_archive.as_str()) && self.stage >= Stage::ThinLink
                {
                    Stage::BackEnd
                } else if links_vmlinux_o {
                    Stage::FinalLink
                } else {
                    self.stage
                }
            }
            // The LTO link is one step; whatever kbuild prints next is after it.
            Pipeline::InProcess if links_vmlinux_o => Stage::LtoLink,
            Pipeline::InProcess if self.stage == Stage::LtoLink => Stage::FinalLink,
            Pipeline::InProcess => self.stage,
        };
        self.stage = self.stage.max(next);
        let counted = match self.stage {
            Stage::FrontEnd => matches!(step.tool.as_str(), "CC" | "AS") && t.ends_with(".o"),
            Stage::ThinLink | Stage::LtoLink | Stage::FinalLink => step.is("LD", false),
            Stage::BackEnd => {
                step.is("CC", false) && matches!(self.pipeline, Pipeline::Distributed(l) if l.is_native(t))
            }
            Stage::ModuleBackEnd | Stage::Modules => step.is("LD", true),
        };
        (self.stage, counted)
    }
}

/// Module work after the compiles: `LD [M]`, modpost over the modules
/// (`MODPOST Module.symvers`; without modules it runs as `MODPOST
/// vmlinux.symvers`, a step of vmlinux's link), `*.mod.o`, and any `[M]`
/// step on something other than an object (`BTF [M] x.ko`).
fn is_module_step(step: &Step) -> bool {
    step.is("MODPOST", false) && step.target == "Module.symvers"
        || step.is("LD", true)
        || step.target.ends_with(".mod.o")
        || step.module && !step.target.ends_with(".o")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pipeline: Pipeline, lines: &[&str]) -> Vec<(Stage, bool)> {
        let mut t = Tracker::new(pipeline);
        lines.iter().map(|l| t.observe(&parse_step(l).unwrap())).collect()
    }

    #[test]
    fn parses_quiet_lines() {
        let main = Step { tool: "CC".into(), module: false, target: "init/main.o".into() };
        assert_eq!(parse_step("  CC      init/main.o"), Some(main));
        let module = parse_step("  CC [M]  fs/x.o").unwrap();
        assert!(module.is("CC", true) && !module.is("CC", false));
        assert_eq!(module.to_string(), "CC [M] fs/x.o");
        assert_eq!(parse_step("  CC     kernel/fork.o_thinlto_native").unwrap().target, "kernel/fork.o_thinlto_native");
        assert!(parse_step("make[1]: Entering directory '/x'").is_none());
        assert!(parse_step("init/main.c:12:1: error: expected ';'").is_none());
        assert!(parse_step("    continuation").is_none());
    }

    #[test]
    fn follows_v3_stages() {
        let got = run(
            Pipeline::Distributed(Layout::get("v3").unwrap()),
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
            Pipeline::Distributed(Layout::get("mainline").unwrap()),
            &[
                "  CC      init/main.o",
                "  GEN     builtin.order",
                "  LD      vmlinux.thinlto-index",
                "  CC      init/main.thinlto-native.o",
                "  GEN     vmlinux.a",
                "  LD      vmlinux.o",
            ],
        );
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            [FrontEnd, FrontEnd, ThinLink, BackEnd, BackEnd, FinalLink]
        );
        assert_eq!(got.iter().filter(|g| g.1).count(), 4);
    }

    #[test]
    fn module_steps_are_their_own_stage_beside_vmlinux() {
        use Stage::*;
        let got = run(
            Pipeline::Distributed(Layout::get("v3").unwrap()),
            &[
                "  CC [M]  fs/configfs/inode.o",
                "  LD [M]  fs/configfs/configfs.o",
                "  CC      init/main.o",
                "  LD      vmlinux.thinlink",
                "  MODPOST Module.symvers",
                "  CC [M]  fs/configfs/configfs.mod.o",
                "  CC     init/main.o_thinlto_native",
                "  LD [M]  fs/configfs/configfs.ko",
                "  LD      vmlinux.o",
            ],
        );
        assert_eq!(
            got,
            [
                (FrontEnd, true),
                (Modules, true),
                (FrontEnd, true),
                (ThinLink, true),
                (Modules, false),
                (Modules, false),
                (BackEnd, true),
                (Modules, true),
                (FinalLink, true)
            ]
        );
    }

    #[test]
    fn module_back_end_compiles_are_a_stage_of_their_own() {
        use Stage::*;
        for layout in ["v3", "mainline"] {
            let got = run(
                Pipeline::Distributed(Layout::get(layout).unwrap()),
                &[
                    "  CC [M]  fs/configfs/dir.o",
                    "  LD [M]  fs/configfs/configfs.o",
                    "  CC [M]  fs/configfs/configfs.thinlto/fs/configfs/dir.o",
                    "  CC [M]  lib/test_hexdump.o",
                    "  CC [M]  lib/test_hexdump.thinlto/lib/test_hexdump.o",
                    "  CC      init/main.o",
                ],
            );
            assert_eq!(
                got,
                [
                    (FrontEnd, true),
                    (Modules, true),
                    (ModuleBackEnd, true),
                    (FrontEnd, true),
                    (ModuleBackEnd, true),
                    (FrontEnd, true)
                ],
                "{layout}"
            );
        }
        // In-process ThinLTO has no such directory; the name alone does not make one.
        let got = run(Pipeline::InProcess, &["  CC [M]  fs/x.thinlto/fs/y.o"]);
        assert_eq!(got, [(FrontEnd, true)]);
    }

    #[test]
    fn modpost_without_modules_belongs_to_the_vmlinux_link() {
        use Stage::*;
        let got = run(
            Pipeline::InProcess,
            &["  CC      init/main.o", "  LD      vmlinux.o", "  MODPOST vmlinux.symvers", "  LD      vmlinux"],
        );
        assert!(got.iter().all(|(s, _)| *s != Modules), "{got:?}");
    }

    #[test]
    fn incremental_build_may_skip_stages() {
        use Stage::*;
        let got = run(
            Pipeline::Distributed(Layout::get("v3").unwrap()),
            &["  CC      kernel/fork.o", "  LD      vmlinux.o", "  LD      vmlinux"],
        );
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [FrontEnd, FinalLink, FinalLink]);
    }

    #[test]
    fn in_process_back_end_is_inside_the_vmlinux_o_link() {
        use Stage::*;
        let got = run(
            Pipeline::InProcess,
            &[
                "  CC      init/main.o",
                "  AR      vmlinux.a",
                "  LD      vmlinux.o",
                "  OBJCOPY modules.builtin.modinfo",
                "  LD      .tmp_vmlinux1",
                "  LD      vmlinux",
            ],
        );
        assert_eq!(
            got,
            [
                (FrontEnd, true),
                (FrontEnd, false),
                (LtoLink, true),
                (FinalLink, false),
                (FinalLink, true),
                (FinalLink, true)
            ]
        );
        assert!(got.iter().all(|(s, _)| Pipeline::InProcess.stages().contains(s)));
    }
}
