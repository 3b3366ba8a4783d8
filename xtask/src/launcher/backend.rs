//! A ThinLTO back-end job's exact inputs: the IR object, its index, every
//! module the index imports from, and files flags name.

use crate::launcher::action::{self, NotDescribable, Prepared};
use crate::launcher::clang_args::BackEndJob;
use crate::launcher::config::LaunchConfig;
use crate::remote::index;
use crate::remote::input_root::InputRoot;

/// The action for a job, or why there cannot be one.
pub fn prepare(cfg: &LaunchConfig, job: &BackEndJob, args: &[String]) -> Result<Prepared, NotDescribable> {
    let trees = action::trees(cfg)?;
    let mut root = InputRoot::default();
    action::add_input(&mut root, &trees, &job.input)?;
    let index_bytes = action::read(&job.index)?;
    let modules = index::module_paths(&index_bytes).map_err(|e| NotDescribable(format!("{}: {e:#}", job.index)))?;
    action::add_read(&mut root, &trees, &job.index, index_bytes)?;
    for file in modules.iter().chain(&job.files) {
        action::add_input(&mut root, &trees, file)?;
    }
    action::build(cfg, &trees, root, args, &[(&job.output, false)])
}
