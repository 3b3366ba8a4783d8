//! Driving kbuild: architectures, layouts and what a tree has, Kconfig,
//! configuring, the make invocation and its stages (front-end, thin-link,
//! back-end, final link), the build session every command goes through,
//! and one typed view of what a build made (`outputs`).

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
pub mod profiles;
pub mod rebuild;
pub mod session;
pub mod stages;
pub mod support;
