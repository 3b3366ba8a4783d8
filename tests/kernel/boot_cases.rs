//! `boot`: THIN_DIST kernels run to the marker in QEMU.

use serde_json::Value;

use crate::fixtures::{out_dir, setup_612, setup_73};
use crate::support::*;

/// Which config a boot case builds: the boot fragment alone, or with the
/// small modules config, whose two modules /init then loads.
#[derive(Clone, Copy, PartialEq)]
enum Modules {
    No,
    Load,
}

fn boot(state: &std::path::Path, arch: &str, out: &str, version: &str, modules: Modules) -> Result {
    let out = out_dir(out);
    let json = out.with_extension("json");
    let mut args = vec!["boot", "--arch", arch, "--out", out.to_str().unwrap(), "--json", json.to_str().unwrap()];
    if modules == Modules::Load {
        args.extend(["--fragment", "modules.config"]);
    }
    xtask(state, &args).ok()?;
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check(r["outcome"] == "booted", format!("outcome {}", r["outcome"]))?;
    let release = r["release"].as_str().unwrap_or_default();
    check(release.starts_with(version), format!("the kernel reported release {release}, expected {version}.*"))?;
    check(r["seconds_to_marker"].as_f64().is_some_and(|s| s > 0.0), "time to marker recorded")?;
    if modules == Modules::Load {
        check(r["modules_loaded"] == 2, format!("two modules loaded: {}", r["modules_loaded"]))?;
        let seen = r["module_lines_seen"].to_string();
        check(seen.contains("test_hexdump: all"), format!("the module's line is seen: {seen}"))?;
    }
    Ok(())
}

pub fn x86_64_612() -> Result {
    let (_d, state) = setup_612()?;
    boot(&state, "x86_64", "612-x86_64-boot", "6.12.", Modules::No)
}

/// With the modules config: /init loads its two modules.
pub fn riscv_612_modules() -> Result {
    let (_d, state) = setup_612()?;
    boot(&state, "riscv", "612-riscv-modules-boot", "6.12.", Modules::Load)
}

/// With the modules config: /init loads its two modules.
pub fn arm64_612_modules() -> Result {
    let (_d, state) = setup_612()?;
    boot(&state, "arm64", "612-arm64-modules-boot", "6.12.", Modules::Load)
}

/// 7.3 (mainline's THIN_DIST with series linux-7) with the modules config.
pub fn x86_64_73_modules() -> Result {
    let (_d, state) = setup_73()?;
    boot(&state, "x86_64", "73-x86_64-modules-boot", "7.3.", Modules::Load)
}

/// Long: 7.3 on arm64 with the modules config.
pub fn arm64_73_modules() -> Result {
    let (_d, state) = setup_73()?;
    boot(&state, "arm64", "73-arm64-modules-boot", "7.3.", Modules::Load)
}

/// Long: 7.3 on riscv with the modules config.
pub fn riscv_73_modules() -> Result {
    let (_d, state) = setup_73()?;
    boot(&state, "riscv", "73-riscv-modules-boot", "7.3.", Modules::Load)
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
/// (the boot command builds `612-x86_64-boot` if no case has yet).
pub fn panic_is_reported() -> Result {
    let (_d, state) = setup_612()?;
    let out = out_dir("612-x86_64-boot");
    let json = out.with_extension("panic.json");
    let run = xtask(
        &state,
        &[
            "boot",
            "--arch",
            "x86_64",
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
