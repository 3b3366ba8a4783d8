//! Proving a build right: artifact validation, clean-check's bookkeeping
//! checks, the QEMU boot check, and in-process/THIN_DIST equivalence.

pub mod boot;
pub mod clean;
pub mod equivalence;
pub mod module_equivalence;
pub mod modules;
pub mod natives;
pub mod profile_effect;
pub mod validate;
pub mod validation;
