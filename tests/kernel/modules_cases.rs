//! Loadable modules with THIN_DIST (issue #13): the small modules config
//! (`configs/modules.config`) built with its modules (in distributed mode,
//! patch 0012 of the 6.12 series), every `.ko` and module native validated,
//! validate biting on a broken module (the x86_64 fixture; boot::x86_64_612
//! boots it loading two modules).

use std::path::Path;

use crate::fixtures;
use crate::support::*;

/// `validate` on a built out dir fails naming `path` with `reason`.
fn validate_names(state: &Path, out: &Path, path: &str, reason: &str) -> Result {
    let run = xtask(state, &["validate", "--arch", "x86_64", "--out", out.to_str().unwrap()]);
    let line = format!("FAIL {path}: {reason}");
    check(run.code != 0 && run.stdout.contains(&line), format!("validate should say `{line}`:\n{}", run.all()))
}

/// The modules config builds vmlinux and its three modules (one of six
/// objects), with a modules stage; validate checks each `.ko` and module
/// native, and bites on IR in place of a module native, an IR object in
/// place of a `.ko`, a module of the wrong machine, and a module needing a
/// symbol nobody exports. Each file is put back after.
pub fn build_validate_and_bites() -> Result {
    let (_d, state) = fixtures::setup_612()?;
    let k = fixtures::kernel_612("x86_64")?;
    let counts = &k.report["validation"]["counts"];
    check(counts["module"] == 3, format!("three modules validated: {counts}"))?;
    // Patch 0012 builds modules in distributed mode: configfs's six objects and the two single ones.
    check(counts["module native"] == 8, format!("eight module natives validated: {counts}"))?;
    let stages: Vec<&str> =
        k.report["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    // A cached build may have nothing to do; one that compiled went through the modules stage.
    let compiled = k.report["stages"][0]["steps"].as_u64().unwrap_or(0) > 0;
    check(!compiled || stages.contains(&"modules"), format!("a modules stage: {stages:?}"))?;
    xtask(&state, &["validate", "--arch", "x86_64", "--out", k.out.to_str().unwrap()]).ok()?;

    {
        let native = "fs/configfs/configfs.thinlto/fs/configfs/dir.o";
        let _r = Restore::new(k.out.join(native));
        std::fs::copy(k.out.join("fs/configfs/inode.o"), k.out.join(native)).unwrap();
        validate_names(&state, &k.out, native, "is LLVM IR bitcode, expected a native ELF for machine 62")?;
    }
    let ko = "fs/configfs/configfs.ko";
    {
        let _r = Restore::new(k.out.join(ko));
        std::fs::copy(k.out.join("fs/configfs/inode.o"), k.out.join(ko)).unwrap();
        validate_names(&state, &k.out, ko, "is LLVM IR bitcode")?;
    }
    {
        let _r = Restore::new(k.out.join(ko));
        copy_as_machine(&k.out.join(ko), &k.out.join(ko), 183);
        validate_names(&state, &k.out, ko, "ELF for machine 183, expected 62 (wrong architecture)")?;
    }
    let symvers = k.out.join("Module.symvers");
    let _r = Restore::new(symvers.clone());
    let text = std::fs::read_to_string(&symvers).unwrap();
    let without: String =
        text.lines().filter(|l| !l.contains("\thex_dump_to_buffer\t")).map(|l| format!("{l}\n")).collect();
    check(without.len() < text.len(), "vmlinux exports hex_dump_to_buffer")?;
    std::fs::write(&symvers, without).unwrap();
    validate_names(&state, &k.out, "lib/test_hexdump.ko", "needs 1 symbols nobody exports: hex_dump_to_buffer")
}
