//! `build` and `validate` with real clang/lld: 6.12 with our series on four
//! architectures, 7.3 with mainline's layout, and the failure paths. Each
//! build is its architecture's fixture, which the boot cases boot.

use std::path::Path;

use crate::fixtures::{self, out_dir, setup_612};
use crate::support::*;

fn build_612(arch: &str) -> Result {
    let k = fixtures::kernel_612(arch)?;
    check(
        k.report["kernel"]["series"] == "linux-6.12" && k.report["kernel"]["layout"] == "v3",
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
    let k = fixtures::kernel_73_x86_64()?;
    let version = k.report["kernel"]["version"].as_str().unwrap_or_default();
    check(k.report["kernel"]["layout"] == "mainline" && version.starts_with("7.3"), "mainline layout reported")
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

/// Corrupted artifacts of the `612-x86_64` fixture are caught and named
/// (a native marked aarch64 stands in for a wrong machine); restored after.
pub fn validate_catches_corruption() -> Result {
    let out = fixtures::kernel_612("x86_64")?.out;
    let (_d, state) = setup_612()?;
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
        let _r = Restore::new(out.join(&native));
        copy_as_machine(&out.join(&native), &out.join(&native), 183);
        let run = xtask(&state, &["validate", "--arch", "x86_64", "--out", o]);
        check(
            run.code != 0 && run.stdout.contains(&format!("FAIL {native}: ELF for machine 183, expected 62")),
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

/// A compile error: the build fails and names the file (in the `612-x86_64` fixture's dir).
pub fn build_failure_names_file() -> Result {
    let out = fixtures::kernel_612("x86_64")?.out;
    let (_d, state) = setup_612()?;
    let tree = tree_612();
    let file = tree.join("kernel/fork.c");
    let run = {
        let _r = Restore::new(file.clone());
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("\nint thindist_injected_error = ;\n");
        std::fs::write(&file, text).unwrap();
        let args = fixtures::build_args("x86_64", &out);
        xtask(&state, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let run = run.fails_with("the build failed")?;
    check(
        run.stderr.contains("kernel/fork.c:") && run.stderr.contains("error: expected expression"),
        "names file and error",
    )?;
    check(run.stderr.contains("full output: ") && run.stderr.contains(".log"), "points at the log")
}
