//! What thindist measures, each side by side in one run: `compare` (both
//! LTO modes built, timed and judged) and the benchmarks (`overhead`,
//! `incremental`, `remote`, `launcher`, `projection`). The commands in
//! `cli/` turn their arguments into a build spec and call these; the
//! figures are shown and written through `report/`.

pub mod compare;
pub mod incremental;
pub mod launcher;
pub mod overhead;
pub mod projection;
pub mod remote;
