//! thindist: put Clang's distributed ThinLTO (CONFIG_LTO_CLANG_THIN_DIST)
//! onto a Linux tree, build with it, and prove the result right.
//!
//! Floors, from the roof down; each imports only floors below it
//! (docs/architecture.md):
//! - `cli/`: one file per command: its arguments, and one call below.
//! - `measure/`: compare and the benchmarks, side by side in one run.
//! - `report/`: what is shown and written: the build report, tables, JSON, SVG, progress.
//! - `checks/`: validate, clean-check, boot, equivalence.
//! - `series/`: our patch series, their mails, applying them, setup's workflow.
//! - `cache/`: what the tool keeps under its cache, and the limits on it.
//! - `kbuild/`: architectures, layouts, Kconfig, the session, make and its stages, a build's outputs.
//! - `launcher/`: the compiler launcher make runs as `CC=`, and a build's plan for it.
//! - `cluster/`: a multi-worker deployment on this machine (BuildGrid, PostgreSQL, workers in
//!   network namespaces, the project's Remote Workers API bot).
//! - `remote/`: a REAPI v2 client: endpoint, client, digests, input roots, the local engine.
//! - `toolchain/`, `tree/`, `deps/`: LLVM and the compiler's identity; the kernel tree and the
//!   state file; the packages the project needs.
//! - `exec/`, `files`, `stats`, `home`: child processes, atomic writes, the median, where things live.

pub mod cache;
pub mod checks;
pub mod cli;
pub mod cluster;
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
