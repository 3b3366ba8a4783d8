//! A ThinLTO back-end job's exact inputs: the IR object, its index, every
//! module the index imports from, and files flags name.

use crate::launcher::action::{self, Mnemonic, NotDescribable, Prepared};
use crate::launcher::clang_args::BackEndJob;
use crate::launcher::config::LaunchConfig;
use crate::launcher::includes::SearchPath;
use crate::launcher::paths::TreeMap;
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
    add_search_dirs(&mut root, &trees, args)?;
    action::build(cfg, &trees, root, args, &[(&job.output, false)], Mnemonic::ThinLtoBackend)
}

/// A back-end compile reads no header, but it keeps the front-end's `-I`
/// flags, and clang checks that each directory exists
/// (`-Wmissing-include-dirs`, an error in drm's `-Werror`). Those the
/// command names are enough: any other is outside the trees.
fn add_search_dirs(root: &mut InputRoot, trees: &TreeMap, args: &[String]) -> Result<(), NotDescribable> {
    action::add_dirs(root, trees, SearchPath::named(args).0.directories())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_dirs_that_exist_here_exist_on_the_engine() {
        let t = tempfile::tempdir().unwrap();
        let (src, obj) = (t.path().join("src"), t.path().join("obj"));
        std::fs::create_dir_all(src.join("drivers/gpu/drm")).unwrap();
        std::fs::create_dir_all(&obj).unwrap();
        let trees = TreeMap { srctree: &src, objtree: &obj };
        let at = |p: &str| src.join(p).display().to_string();
        let args: Vec<String> = vec![
            "-nostdinc".into(),
            format!("-I{}", at("drivers/gpu/drm")),
            "-I".into(),
            at("missing"),
            "-isystem".into(),
            "/usr/lib".into(),
        ];
        let mut root = InputRoot::default();
        assert!(add_search_dirs(&mut root, &trees, &args).is_ok());
        let mut expected = InputRoot::default();
        expected.add_dir("src/drivers/gpu/drm").unwrap();
        let (got, want) = (root.seal(), expected.seal());
        assert_eq!(got, want, "the existing directory only, and nothing outside the trees");
        assert_ne!(got, InputRoot::default().seal());
        // Without -nostdinc the search path is not all on the command line; what it names still counts.
        let mut lenient = InputRoot::default();
        assert!(add_search_dirs(&mut lenient, &trees, &args[1..]).is_ok());
        assert_eq!(lenient.seal(), want);
    }
}
