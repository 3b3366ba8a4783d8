//! A front-end compile's exact inputs: the source, every header and file
//! the dependency scan names (generated headers of the object tree too),
//! and files flags name. A compile whose inputs the scan cannot name
//! (the assembler's `.incbin`, `__has_include` of a file that is not
//! included, a file outside both trees or reached through a symbolic
//! link) runs here.

use std::collections::BTreeSet;
use std::path::Path;

use crate::exec::Cmd;
use crate::launcher::action::{self, Mnemonic, NotDescribable, Prepared};
use crate::launcher::clang_args::FrontEndJob;
use crate::launcher::config::LaunchConfig;
use crate::launcher::includes::{self, Include, Names, SearchPath};
use crate::launcher::paths::TreeMap;
use crate::launcher::record::Scan;
use crate::launcher::scan_cache::{Entry, Slot};
use crate::launcher::{comments, depfile};
use crate::remote::input_root::InputRoot;

/// Text that reads a file the preprocessor does not report (assembler
/// directives), or whose meaning depends on files the dependency list may
/// not name (a `__has_include` of a file that is not then included).
const UNSCANNED_READS: &[&str] = &[".incbin", ".include", "__has_include", "#embed", "__has_embed"];

/// The first marker in `text` outside comments; a comment that mentions
/// a directive does not keep a compile here.
fn uses<'a>(text: &[u8], markers: &[&'a str]) -> Option<&'a str> {
    let found = |t: &[u8]| markers.iter().find(|m| memchr::memmem::find(t, m.as_bytes()).is_some()).copied();
    found(text).and_then(|_| found(&comments::strip(text)))
}

/// The action for a compile, or why there cannot be one. An earlier scan
/// of the same command is reused when nothing it depends on changed.
pub fn prepare(cfg: &LaunchConfig, job: &FrontEndJob, args: &[String]) -> Result<Prepared, NotDescribable> {
    let trees = action::trees(cfg)?;
    let slot = Slot::of(cfg, &trees, args);
    if let Some((slot, entry)) = slot.as_ref().and_then(|s| Some((s, s.load()?))) {
        // Any trouble (a file gone, a marker) is the scan's to judge.
        if let Ok((p, _)) = prepare_from(cfg, &trees, job, args, &entry.deps(&trees), Reading::Reuse) {
            if entry.holds(&trees, &p.input_root, &slot.search.probe(&entry.names(&trees))) {
                return Ok(p.scanned(Scan::Reused));
            }
        }
    }
    let listed = Cmd::new(&cfg.compiler.path)
        .args(depfile::scan_args(args, &["-M"]))
        .output_silent()
        .map_err(|_| NotDescribable("the dependency scan failed (the compile shows why)".into()))?;
    let inputs = depfile::parse(&String::from_utf8_lossy(&listed)).map(|r| r.prerequisites).unwrap_or_default();
    if !inputs.contains(&job.source) {
        return Err(NotDescribable(format!("the dependency scan does not name {}", job.source)));
    }
    let reading = if slot.is_some() { Reading::ScanKept } else { Reading::Scan };
    let (p, names) = prepare_from(cfg, &trees, job, args, &inputs, reading)?;
    if let (Some(slot), Some(mut names)) = (&slot, names) {
        if let Some(computed) = executed_includes(cfg, args, &names.computed_in) {
            computed.iter().for_each(|(file, inc)| names.names.add(file, inc));
            slot.store(&Entry::new(&trees, &inputs, &p.input_root, &names.names, &slot.search.probe(&names.names)));
        }
    }
    Ok(p.scanned(Scan::Ran))
}

/// The names a compile's files include, as far as their text tells.
struct Included {
    names: Names,
    /// Files whose names only preprocessing tells (a computed `#include`).
    computed_in: BTreeSet<String>,
}

/// The includes the preprocessor ran in the files that compute theirs
/// (`clang -E -dI`, on a scan that found such files); None if it cannot tell.
fn executed_includes(cfg: &LaunchConfig, args: &[String], files: &BTreeSet<String>) -> Option<Vec<(String, Include)>> {
    if files.is_empty() {
        return Some(Vec::new());
    }
    let out = Cmd::new(&cfg.compiler.path).args(depfile::scan_args(args, &["-E", "-dI"])).output_silent().ok()?;
    includes::executed(&out, &files.iter().map(String::as_str).collect())
}

/// What is read of a compile's files besides their bytes.
#[derive(Clone, Copy, PartialEq)]
enum Reading {
    /// A scan's files: every file is checked for reads the scan cannot follow.
    Scan,
    /// As `Scan`, and the names the files include, for the scan's entry.
    ScanKept,
    /// A kept scan's files: if they make its input root again, they are the
    /// bytes that were checked and read when it was kept.
    Reuse,
}

/// The action for a compile whose scan named `inputs`; with
/// `Reading::ScanKept`, the names those files include (None when that
/// cannot be known).
fn prepare_from(
    cfg: &LaunchConfig,
    trees: &TreeMap,
    job: &FrontEndJob,
    args: &[String],
    inputs: &[String],
    reading: Reading,
) -> Result<(Prepared, Option<Included>), NotDescribable> {
    let mut root = InputRoot::default();
    let bundle = action::toolchain(cfg)?;
    let mut included =
        (reading == Reading::ScanKept).then(|| Included { names: Names::default(), computed_in: BTreeSet::new() });
    for (i, file) in inputs.iter().chain(&job.files).enumerate() {
        let data = action::read(file)?;
        if let Some(m) = (reading != Reading::Reuse).then(|| uses(&data, UNSCANNED_READS)).flatten() {
            return Err(NotDescribable(format!("{file} uses `{m}`, which the dependency scan cannot follow")));
        }
        if let (Some(inc), true) = (included.as_mut(), i < inputs.len()) {
            match includes::directives(&data) {
                Some(found) => found.iter().for_each(|d| inc.names.add(file, d)),
                // The preprocessor's output names the file it runs a directive in; not so after `#line`.
                None if includes::renames_itself(&data) => included = None,
                None => _ = inc.computed_in.insert(file.clone()),
            }
        }
        // A header of the compiler's own, when it goes with the job.
        if bundle.is_some_and(|b| b.resource_path(Path::new(file)).is_some()) {
            continue;
        }
        action::add_read(&mut root, trees, file, data)?;
    }
    action::add_dirs(&mut root, trees, SearchPath::named(args).0.directories())?;
    let mut writes = vec![(job.output.as_str(), false)];
    writes.extend(job.depfile.as_deref().map(|d| (d, true)));
    Ok((action::build(cfg, trees, root, args, &writes, Mnemonic::CCompile)?, included))
}
