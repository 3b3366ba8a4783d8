//! Driving kbuild: architectures, the LLVM toolchain, Kconfig, configuring,
//! the make invocation and its stages (front-end, thin-link, back-end,
//! final link), and the build session every command goes through.

pub mod arch;
pub mod artifact;
pub mod configure;
pub mod driver;
pub mod execution;
pub mod kconfig;
pub mod layout;
pub mod lto_mode;
pub mod make;
pub mod outdir;
pub mod outputs;
pub mod rebuild;
pub mod session;
pub mod stages;
pub mod support;
