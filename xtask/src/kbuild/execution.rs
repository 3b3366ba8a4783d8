//! Where a build's compile jobs run. The one seam for it: make's command
//! line gets whatever variables the chosen way needs (the compiler launcher
//! in make's `CC=`, as ccache and distcc use, for remote execution).

use crate::launcher::plan::Launch;

/// How compile jobs are executed (make's `-j` count is `Kbuild::jobs`; what
/// the launchers ran is in their job records).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Execution {
    /// make runs every compiler itself, on this machine.
    #[default]
    Local,
    /// Every compile goes through the launcher; back-end jobs go to the engine.
    Launcher(Box<Launch>),
}

impl Execution {
    /// Variables for make's command line.
    pub fn make_vars(&self) -> Vec<String> {
        match self {
            Execution::Local => Vec::new(),
            Execution::Launcher(l) => vec![format!("CC={}", l.cc)],
        }
    }

    /// Variables for make's environment, passed down to every compile.
    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            Execution::Local => Vec::new(),
            Execution::Launcher(l) => vec![l.config.to_env()],
        }
    }

    pub fn launch(&self) -> Option<&Launch> {
        match self {
            Execution::Local => None,
            Execution::Launcher(l) => Some(l),
        }
    }
}
