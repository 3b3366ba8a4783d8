//! thindist: put Clang's distributed ThinLTO (CONFIG_LTO_CLANG_THIN_DIST)
//! onto a Linux tree, build with it, and prove the result right.
//!
//! - `cli/`: one file per command (the leaves).
//! - `tree/`: the kernel tree, its version, tarball, git and the state file.
//! - `series/`: our patch series, their mails, applying and detecting them.
//! - `kbuild/`: architectures, layouts, toolchain, Kconfig, the make run and its stages.
//! - `exec/`: running child processes.
//! - `checks/`: validate, clean-check, boot, equivalence.
//! - `launcher/`: the compiler launcher make runs as `CC=` (back-end jobs to the engine).
//! - `remote/`: REAPI v2: client, digests, input roots, the local engine.
//! - `report/`: what is shown and written: progress, tables, JSON, SVG.
//! - `cache/`: what the tool keeps under its cache, and the limits on it.

pub mod cache;
pub mod checks;
pub mod cli;
pub mod deps;
pub mod exec;
pub mod files;
pub mod home;
pub mod kbuild;
pub mod launcher;
pub mod measure;
pub mod remote;
pub mod report;
pub mod series;
pub mod stats;
pub mod toolchain;
pub mod tree;
