//! `build` and `validate` with real clang/lld: 6.12 with our series on four
//! architectures, 7.3 with mainline's layout, and the failure paths.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use crate::support::*;

pub fn out_dir(name: &str) -> PathBuf {
    test_home().join("builds").join(name)
}

/// The 6.12 test tree with our series applied; returns its state file.
pub fn setup_612() -> std::result::Result<(tempfile::TempDir, PathBuf), libtest_mimic::Failed> {
    let (dir, state) = state_file();
    xtask(&state, &["setup", tarball_612().to_str().unwrap()]).ok()?;
    Ok((dir, state))
}

fn build(state: &Path, arch: &str, out: &Path, extra: &[&str]) -> Result<Value> {
    let json = out.with_extension("json");
    let mut args = vec!["build", "--arch", arch, "--out", out.to_str().unwrap(), "--json", json.to_str().unwrap()];
    args.extend_from_slice(extra);
    xtask(state, &args).ok()?;
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check(report["result"] == "ok", format!("result: {}", report["result"]))?;
    let counts = &report["validation"]["counts"];
    let (ir, native) = (counts["ir"].as_u64().unwrap_or(0), counts["native"].as_u64().unwrap_or(0));
    let lib_ir = counts["lib-ir"].as_u64().unwrap_or(0);
    check(ir > 100 && native == ir + lib_ir, format!("ir {ir} + lib-ir {lib_ir} vs native {native}"))?;
    check(counts["vmlinux"] == 1 && counts["boot image"] == 1, "vmlinux and the boot image are checked")?;
    check(report["toolchain"]["clang"].as_str().unwrap_or("").contains("clang version"), "toolchain recorded")?;
    let stages: Vec<&str> = report["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    let compiled =
        report["stages"][0]["stage"] == "front-end" && report["stages"][0]["steps"].as_u64().unwrap_or(0) > 0;
    // A build that compiled goes through all four stages; a cached one may do nothing or only relink.
    if compiled {
        check(stages == ["front-end", "thin-link", "back-end", "final-link"], format!("stages {stages:?}"))?;
    }
    Ok(report)
}

fn build_612(arch: &str) -> Result {
    let (_d, state) = setup_612()?;
    let report = build(&state, arch, &out_dir(&format!("612-{arch}")), &[])?;
    check(
        report["kernel"]["series"] == "linux-6.12" && report["kernel"]["layout"] == "v3",
        "series and layout reported",
    )
}

pub fn x86_64_612() -> Result {
    build_612("x86_64")
}

pub fn arm64_612() -> Result {
    build_612("arm64")
}

pub fn riscv_612() -> Result {
    build_612("riscv")
}

pub fn loongarch_612() -> Result {
    build_612("loongarch")
}

pub fn x86_64_73_mainline() -> Result {
    let (_d, state) = state_file();
    xtask(&state, &["setup", tarball_73().to_str().unwrap()]).ok()?;
    let report = build(&state, "x86_64", &out_dir("73-x86_64"), &[])?;
    check(
        report["kernel"]["layout"] == "mainline" && report["kernel"]["version"].as_str().unwrap().starts_with("7.3"),
        "mainline layout reported",
    )
}

/// Puts a file back as it was, contents and mtime, when dropped.
struct Restore {
    path: PathBuf,
    bytes: Option<Vec<u8>>,
    mtime: Option<SystemTime>,
}

impl Restore {
    fn new(path: PathBuf) -> Self {
        let bytes = std::fs::read(&path).ok();
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        Self { path, bytes, mtime }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        match &self.bytes {
            Some(b) => {
                std::fs::write(&self.path, b).unwrap();
                if let Some(t) = self.mtime {
                    std::fs::File::options().write(true).open(&self.path).unwrap().set_modified(t).unwrap();
                }
            }
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

fn first_ir_member(out: &Path) -> String {
    let list = std::fs::read_to_string(out.join(".vmlinux_thinlto_bc_files")).unwrap();
    list.lines()
        .find(|l| {
            l.ends_with(".o") && std::fs::read(out.join(l)).map(|d| d.starts_with(b"BC\xC0\xDE")).unwrap_or(false)
        })
        .unwrap()
        .to_string()
}

/// Corrupted artifacts are caught and named; the build is restored after.
pub fn validate_catches_corruption() -> Result {
    let (_d, state) = setup_612()?;
    let out = out_dir("612-x86_64");
    let o = out.to_str().unwrap();
    xtask(&state, &["validate", "--arch", "x86_64", "--out", o]).ok()?;
    let ir = first_ir_member(&out);
    let native = format!("{ir}_thinlto_native");
    {
        let _r = Restore::new(out.join(&native));
        std::fs::copy(out.join(&ir), out.join(&native)).unwrap();
        let run = xtask(&state, &["validate", "--arch", "x86_64", "--out", o]);
        check(
            run.code != 0 && run.stdout.contains(&format!("FAIL {native}: is LLVM IR bitcode")),
            "IR in place of a native is named",
        )?;
    }
    {
        let riscv = out_dir("612-riscv");
        let other = first_ir_member(&riscv);
        let _r = Restore::new(out.join(&native));
        std::fs::copy(riscv.join(format!("{other}_thinlto_native")), out.join(&native)).unwrap();
        let run = xtask(&state, &["validate", "--arch", "x86_64", "--out", o]);
        check(
            run.code != 0 && run.stdout.contains(&format!("FAIL {native}: ELF for machine 243, expected 62")),
            "wrong machine is named",
        )?;
    }
    {
        let index = format!("{ir}.thinlto.bc");
        let _r = Restore::new(out.join(&index));
        std::fs::remove_file(out.join(&index)).unwrap();
        let run = xtask(&state, &["validate", "--arch", "x86_64", "--out", o]);
        check(
            run.code != 0 && run.stdout.contains(&format!("FAIL {index}: missing ThinLTO index")),
            "missing index is named",
        )?;
    }
    xtask(&state, &["validate", "--arch", "x86_64", "--out", o]).ok().map(|_| ())
}

/// A config where THIN_DIST cannot survive: clear reason, nothing built.
pub fn dropped_option_is_explained() -> Result {
    let (_d, state) = setup_612()?;
    let out = out_dir("612-x86_64-gcov");
    let _ = std::fs::remove_dir_all(&out);
    let frag = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(frag.path(), "CONFIG_DEBUG_FS=y\nCONFIG_GCOV_KERNEL=y\n").unwrap();
    let run = xtask(
        &state,
        &["build", "--arch", "x86_64", "--out", out.to_str().unwrap(), "--fragment", frag.path().to_str().unwrap()],
    );
    let run = run.fails_with("CONFIG_LTO_CLANG_THIN_DIST: asked y, got n")?;
    check(run.stderr.contains("HAS_LTO_CLANG depends on `!GCOV_KERNEL`"), "names the failed dependency")?;
    check(
        run.stderr.contains("Nothing was built")
            && !out.join("vmlinux.o").exists()
            && !out.join("init/main.o").exists(),
        "no build ran",
    )
}

/// A compile error: the build fails and names the file.
pub fn build_failure_names_file() -> Result {
    let (_d, state) = setup_612()?;
    let tree = tree_612();
    let file = tree.join("kernel/fork.c");
    let run = {
        let _r = Restore::new(file.clone());
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("\nint thindist_injected_error = ;\n");
        std::fs::write(&file, text).unwrap();
        xtask(&state, &["build", "--arch", "x86_64", "--out", out_dir("612-x86_64").to_str().unwrap()])
    };
    let run = run.fails_with("the build failed")?;
    check(
        run.stderr.contains("kernel/fork.c:") && run.stderr.contains("error: expected expression"),
        "names file and error",
    )?;
    check(run.stderr.contains("full output: ") && run.stderr.contains(".log"), "points at the log")
}
