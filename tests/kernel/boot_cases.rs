//! `boot`: THIN_DIST kernels run to the marker in QEMU.

use serde_json::Value;

use crate::fixtures::{self, out_dir, setup_612, setup_73};
use crate::support::*;

/// Boots `out` (with the small modules config, so that a fixture built by
/// `fixtures::kernel_*` boots as it is) and checks the report: the marker,
/// the release, and /init's two modules loaded.
fn boot(state: &std::path::Path, arch: &str, out: &std::path::Path, version: &str) -> Result {
    let json = out.with_extension("boot.json");
    let o = out.to_str().unwrap();
    let args = ["boot", "--arch", arch, "--fragment", "modules.config", "--out", o, "--json", json.to_str().unwrap()];
    xtask(state, &args).ok()?;
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check(r["outcome"] == "booted", format!("outcome {}: {}", r["outcome"], r["reason"]))?;
    let release = r["release"].as_str().unwrap_or_default();
    check(release.starts_with(version), format!("the kernel reported release {release}, expected {version}.*"))?;
    check(r["seconds_to_marker"].as_f64().is_some_and(|s| s > 0.0), "time to marker recorded")?;
    check(r["modules_loaded"] == 2, format!("two modules loaded: {}", r["modules_loaded"]))?;
    let seen = r["module_lines_seen"].to_string();
    check(seen.contains("test_hexdump: all"), format!("the module's line is seen: {seen}"))
}

/// A fixture boots as it was built: `boot` reuses it (vmlinux is not relinked).
fn boot_fixture(state: &std::path::Path, kernel: fixtures::Kernel, arch: &str, version: &str) -> Result {
    let mtime = |p: &str| std::fs::metadata(kernel.out.join(p)).and_then(|m| m.modified()).ok();
    let before = mtime("vmlinux");
    boot(state, arch, &kernel.out, version)?;
    check(before.is_some() && mtime("vmlinux") == before, "boot relinked the fixture's vmlinux")
}

/// 6.12 x86_64: /init loads two modules with finit_module(2), one of six objects.
pub fn x86_64_612() -> Result {
    let (_d, state) = setup_612()?;
    boot_fixture(&state, fixtures::kernel_612("x86_64")?, "x86_64", "6.12.")
}

/// Long: 6.12 on riscv (OpenSBI), the build::riscv_612 fixture.
pub fn riscv_612_modules() -> Result {
    let (_d, state) = setup_612()?;
    boot_fixture(&state, fixtures::kernel_612("riscv")?, "riscv", "6.12.")
}

/// 6.12 on arm64, the build::arm64_612 fixture.
pub fn arm64_612_modules() -> Result {
    let (_d, state) = setup_612()?;
    boot_fixture(&state, fixtures::kernel_612("arm64")?, "arm64", "6.12.")
}

/// 7.3 (mainline's THIN_DIST), the build::x86_64_73_mainline fixture.
pub fn x86_64_73_modules() -> Result {
    let (_d, state) = setup_73()?;
    boot_fixture(&state, fixtures::kernel_73_x86_64()?, "x86_64", "7.3.")
}

/// Long: 7.3 on arm64 with the modules config.
pub fn arm64_73_modules() -> Result {
    let (_d, state) = setup_73()?;
    boot(&state, "arm64", &out_dir("73-arm64-modules-boot"), "7.3.")
}

/// Long: 7.3 on riscv with the modules config.
pub fn riscv_73_modules() -> Result {
    let (_d, state) = setup_73()?;
    boot(&state, "riscv", &out_dir("73-riscv-modules-boot"), "7.3.")
}

/// Without initramfs support there is nothing to run: said before any build.
pub fn without_initramfs_fails_fast() -> Result {
    let (_d, state) = setup_612()?;
    let out = out_dir("612-x86_64-noinitrd");
    let _ = std::fs::remove_dir_all(&out);
    let frag = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(frag.path(), "# CONFIG_BLK_DEV_INITRD is not set\n").unwrap();
    let run = xtask(
        &state,
        &["boot", "--arch", "x86_64", "--out", out.to_str().unwrap(), "--fragment", frag.path().to_str().unwrap()],
    );
    run.fails_with("CONFIG_BLK_DEV_INITRD is not set (initramfs support")?;
    check(!out.join("vmlinux.o").exists() && !out.join("init/main.o").exists(), "nothing was built")
}

/// A kernel that panics is reported as a panic, with the panic's words
/// (the `612-x86_64` fixture, booted with an /init that is not there).
pub fn panic_is_reported() -> Result {
    let (_d, state) = setup_612()?;
    let out = fixtures::kernel_612("x86_64")?.out;
    let json = out.with_extension("panic.json");
    let run = xtask(
        &state,
        &[
            "boot",
            "--arch",
            "x86_64",
            "--fragment",
            "modules.config",
            "--out",
            out.to_str().unwrap(),
            "--append",
            "rdinit=/thindist-missing",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let run = run.fails_with("boot check failed: kernel panic:")?;
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check(r["outcome"] == "kernel-panic", format!("outcome {}", r["outcome"]))?;
    check(run.stderr.contains("last ") && run.stderr.contains("console lines"), "shows the console tail")
}
