//! Where a build's compile jobs run. The one seam for it: make's command
//! line gets whatever variables the chosen way needs (a compiler launcher
//! in make's `CC=`, as ccache and distcc use, for remote execution).

/// How compile jobs are executed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Jobs {
    /// make runs every compiler itself, on this machine.
    #[default]
    Local,
}

impl Jobs {
    /// Variables for make's command line.
    pub fn make_vars(self) -> Vec<String> {
        match self {
            Jobs::Local => Vec::new(),
        }
    }
}
