//! Options every command shares, and how a command finds its kernel tree.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::home;
use crate::tree::state::State;

#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Kernel tree to work on, instead of the one `setup` remembered.
    #[arg(long, global = true, value_name = "DIR")]
    pub kernel: Option<PathBuf>,
    /// State file (default: $THINDIST_HOME/state.toml, ~/.cache/thindist/state.toml).
    #[arg(long, global = true, env = "THINDIST_STATE", value_name = "FILE")]
    pub state: Option<PathBuf>,
}

impl Global {
    pub fn state_file(&self) -> PathBuf {
        self.state.clone().unwrap_or_else(home::default_state_file)
    }

    pub fn load_state(&self) -> Result<State> {
        State::load(&self.state_file())
    }

    /// `--kernel`, else the tree `setup` made current.
    pub fn kernel_dir(&self) -> Result<PathBuf> {
        if let Some(k) = &self.kernel {
            return Ok(k.clone());
        }
        let state = self.load_state()?;
        state.current().with_context(|| {
            format!(
                "no kernel tree given and none set up yet ({} names none); run `cargo xtask setup <linux-dir|tarball>` or pass --kernel <dir>",
                state.path().display()
            )
        })
    }
}
