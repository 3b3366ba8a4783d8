//! Configuring a THIN_DIST kernel: base config, fragments, the option set
//! with kbuild's own scripts/config, olddefconfig, then proof that every
//! asked-for option survived, or why it did not.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::exec::Cmd;
use crate::home;
use crate::kbuild::kconfig::{self, Values};
use crate::kbuild::make::Kbuild;

/// The base: a make target (`tinyconfig`, `defconfig`, …) or a file.
#[derive(Debug, Clone)]
pub enum BaseConfig {
    Target(String),
    File(PathBuf),
}

impl BaseConfig {
    pub fn parse(s: &str) -> Result<Self> {
        let p = Path::new(s);
        if p.is_file() {
            return Ok(BaseConfig::File(p.canonicalize()?));
        }
        if s.ends_with("config") && !s.contains('/') {
            return Ok(BaseConfig::Target(s.to_string()));
        }
        bail!("--config {s}: neither a config target (tinyconfig, defconfig, allnoconfig, …) nor an existing file")
    }

    pub fn name(&self) -> String {
        match self {
            BaseConfig::Target(t) => t.clone(),
            BaseConfig::File(p) => p.display().to_string(),
        }
    }
}

/// The members of the kernel's LTO choice: the build's mode picks one.
const LTO_CHOICE: [&str; 4] = ["LTO_NONE", "LTO_CLANG_FULL", "LTO_CLANG_THIN", "LTO_CLANG_THIN_DIST"];

/// A fragment that picks another LTO choice than the mode's fights the
/// mode itself: said plainly, before anything runs.
fn refuse_other_lto_choice(wanted: &Values, mode_options: &Values) -> Result<()> {
    let ours: Vec<&str> = LTO_CHOICE.iter().copied().filter(|s| mode_options.get(s) == "y").collect();
    for sym in LTO_CHOICE {
        if wanted.get(sym) == "y" && !ours.contains(&sym) {
            bail!(
                "a fragment asks CONFIG_{sym}=y, but this build's mode is itself the LTO choice (CONFIG_{}=y); \
                 drop that line from the fragment (compare builds in-process ThinLTO for you)",
                ours.first().copied().unwrap_or("LTO_CLANG_THIN_DIST")
            );
        }
    }
    Ok(())
}

pub fn configure(kb: &Kbuild, base: &BaseConfig, fragments: &[PathBuf], extra: &Values) -> Result<Values> {
    // Fragments are appended: Kconfig takes the last value of a symbol.
    let mut wanted_text = String::new();
    for f in fragments {
        let text = std::fs::read_to_string(f).with_context(|| format!("cannot read fragment {}", f.display()))?;
        wanted_text.push_str(&text);
        wanted_text.push('\n');
    }
    refuse_other_lto_choice(&Values::parse(&wanted_text), extra)?;
    let dot_config = kb.path(".config");
    match base {
        BaseConfig::Target(t) => kb.make_quiet(&[t])?,
        BaseConfig::File(f) => {
            std::fs::copy(f, &dot_config)
                .with_context(|| format!("cannot copy {} to {}", f.display(), dot_config.display()))?;
        }
    }
    if !wanted_text.is_empty() {
        let mut cfg = std::fs::read_to_string(&dot_config)?;
        cfg.push_str(&wanted_text);
        std::fs::write(&dot_config, cfg)?;
    }
    // The LTO choice: switch off its other members, switch on ours.
    let script = kb.tree.join("scripts/config");
    let mut script_args: Vec<String> = vec!["--file".into(), dot_config.display().to_string()];
    for other in LTO_CHOICE.iter().filter(|s| extra.get(s) != "y") {
        script_args.extend(["-d".into(), other.to_string()]);
    }
    for (sym, val) in extra.iter() {
        match val.as_str() {
            "y" => script_args.extend(["-e".into(), sym.clone()]),
            "m" => script_args.extend(["-m".into(), sym.clone()]),
            "n" => script_args.extend(["-d".into(), sym.clone()]),
            v => script_args.extend(["--set-val".into(), sym.clone(), v.to_string()]),
        }
    }
    Cmd::new(&script).args(&script_args).run_quiet().context("scripts/config failed")?;
    kb.make_quiet(&["olddefconfig"])?;

    let got = Values::parse(&std::fs::read_to_string(&dot_config)?);
    let mut wanted = Values::parse(&wanted_text);
    for (k, v) in extra.iter() {
        wanted = Values::parse(&format!("{}\nCONFIG_{k}={v}\n", values_text(&wanted)));
    }
    let lost = kconfig::dropped(&wanted, &got);
    if !lost.is_empty() {
        let mut msg = String::from("Kconfig dropped options this build needs:\n");
        for (sym, want, have) in &lost {
            msg.push_str(&format!("  CONFIG_{sym}: asked {want}, got {have}\n"));
            for line in kconfig::explain(&kb.tree, sym, &got) {
                msg.push_str(&format!("    {line}\n"));
            }
        }
        msg.push_str("Nothing was built. Fix the fragment or the toolchain (clang and ld.lld of the same LLVM, integrated assembler).");
        bail!(msg);
    }
    Ok(got)
}

fn values_text(v: &Values) -> String {
    v.iter().map(|(k, v)| format!("CONFIG_{k}={v}\n")).collect()
}

/// A fragment as given, or by bare name as kbuild finds them (`make
/// tinyconfig kvm_guest.config`): the tree's kernel/configs, then ours.
pub fn find_fragment(tree: &Path, given: &Path) -> Result<PathBuf> {
    if given.is_file() {
        return Ok(given.to_path_buf());
    }
    let bare = given.components().count() == 1;
    let in_tree = tree.join("kernel/configs");
    let candidates = [in_tree.join(given), home::configs().join(given)];
    match candidates.iter().find(|c| bare && c.is_file()) {
        Some(found) => Ok(found.clone()),
        None if bare => bail!(
            "config fragment {} not found (looked in the current directory, in {} and in {})",
            given.display(),
            in_tree.display(),
            home::configs().display()
        ),
        None => bail!("config fragment {} not found", given.display()),
    }
}
