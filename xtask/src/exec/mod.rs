//! Running other programs: the one way the tool starts a child process,
//! and how Ctrl-C reaches a child's whole process group.

pub mod child;
pub mod interrupt;
