//! The kernel tree a user points us at: recognising it, its version, the
//! tarball it may come from, its git repository, and the tool's state file.

pub mod git;
pub mod kernel;
pub mod lock;
pub mod source;
pub mod state;
pub mod tarball;
pub mod version;
