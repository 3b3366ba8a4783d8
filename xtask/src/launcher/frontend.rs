//! A front-end compile's exact inputs: the source, every header and file
//! the dependency scan names (generated headers of the object tree too),
//! and files flags name. A compile whose inputs the scan cannot name
//! (the assembler's `.incbin`, `__has_include` of a file that is not
//! included, a file outside both trees or reached through a symbolic
//! link) runs here.

use crate::exec::Cmd;
use crate::launcher::action::{self, NotDescribable, Prepared};
use crate::launcher::clang_args::FrontEndJob;
use crate::launcher::config::LaunchConfig;
use crate::launcher::{comments, deps};
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

/// The action for a compile, or why there cannot be one.
pub fn prepare(cfg: &LaunchConfig, job: &FrontEndJob, args: &[String]) -> Result<Prepared, NotDescribable> {
    let trees = action::trees(cfg)?;
    let listed = Cmd::new(&cfg.compiler.path)
        .args(deps::scan_args(args))
        .output_silent()
        .map_err(|_| NotDescribable("the dependency scan failed (the compile shows why)".into()))?;
    let mut root = InputRoot::default();
    let inputs = deps::parse(&String::from_utf8_lossy(&listed)).map(|r| r.prerequisites).unwrap_or_default();
    if !inputs.contains(&job.source) {
        return Err(NotDescribable(format!("the dependency scan does not name {}", job.source)));
    }
    for file in inputs.iter().chain(&job.files) {
        let data = action::read(file)?;
        if let Some(m) = uses(&data, UNSCANNED_READS) {
            return Err(NotDescribable(format!("{file} uses `{m}`, which the dependency scan cannot follow")));
        }
        action::add_read(&mut root, &trees, file, data)?;
    }
    let mut writes = vec![(job.output.as_str(), false)];
    writes.extend(job.depfile.as_deref().map(|d| (d, true)));
    action::build(cfg, &trees, root, args, &writes)
}
