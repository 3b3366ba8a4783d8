//! `cargo xtask boot`: builds (or reuses) a THIN_DIST kernel with the boot
//! fragment, makes an initramfs whose /init prints a marker and powers
//! off, and runs it in QEMU. A kernel that links is not yet one that runs.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::exec::Cmd;
use crate::home;
use crate::kbuild::arch::Qemu;
use crate::kbuild::kconfig::Values;
use crate::kbuild::make::Kbuild;
use crate::kbuild::outputs;
use crate::kbuild::session::Session;

const INIT_C: &str = include_str!("init.c");
const MARKER: &str = "THINDIST-BOOT-OK";
const MODULE_FAILED: &str = "THINDIST-MODULE-FAILED";
const PANIC: &str = "Kernel panic - not syncing";
const TAIL: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Booted,
    KernelPanic,
    TimedOut,
    NoMarker,
    /// /init could not load a module the initramfs carries.
    ModuleFailed,
}

/// A module the boot check loads, from `configs/boot-modules.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootModule {
    /// The `.ko` in the object tree.
    pub path: String,
    /// A line it prints when it loads.
    #[serde(default)]
    pub says: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BootModules {
    module: Vec<BootModule>,
}

/// The modules to carry: those listed that the build made, in the list's
/// order; else the first module of the build; none for a build without modules.
pub fn modules_to_carry(objtree: &Path) -> Result<Vec<BootModule>> {
    let Some(built) = outputs::modules(objtree) else { return Ok(Vec::new()) };
    let file = home::project_root().join("configs/boot-modules.toml");
    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let listed: BootModules =
        toml_edit::de::from_str(&text).with_context(|| format!("{} is not a valid list of modules", file.display()))?;
    let carried: Vec<BootModule> = listed.module.into_iter().filter(|m| built.iter().any(|b| b.ko == m.path)).collect();
    Ok(match (carried.is_empty(), built.first()) {
        (true, Some(first)) => vec![BootModule { path: first.ko.clone(), says: None }],
        _ => carried,
    })
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BootReport {
    pub arch: String,
    pub kernel_version: String,
    pub series: String,
    pub layout: String,
    pub outcome: Outcome,
    pub reason: String,
    pub release: Option<String>,
    pub seconds_to_marker: Option<f64>,
    pub powered_off: bool,
    /// The modules /init loaded, as carried (`/m0.ko` is the first).
    pub modules: Vec<String>,
    /// What the marker says /init loaded.
    pub modules_loaded: Option<usize>,
    /// The lines the carried modules print that the console showed.
    pub module_lines_seen: Vec<String>,
    pub qemu: Vec<String>,
    pub console_tail: Vec<String>,
}

/// Options the boot check cannot do without, with what each is for.
fn requirements(qemu: &Qemu) -> Vec<(String, &'static str)> {
    vec![
        ("BLK_DEV_INITRD".to_string(), "initramfs support: the kernel could not unpack /init"),
        ("BINFMT_ELF".to_string(), "ELF binaries: the kernel could not run /init"),
        (qemu.console_config.clone(), "the serial console driver: the kernel would print nothing"),
    ]
}

/// An architecture's QEMU data and boot fragment, or why it has no boot check.
pub fn plan(arch: &crate::kbuild::arch::Arch) -> Result<(Qemu, PathBuf)> {
    let qemu = arch.qemu.clone().with_context(|| {
        format!("configs/arch/{}.toml has no [qemu] section: no boot check for {}", arch.name, arch.name)
    })?;
    let boot_fragment = arch
        .boot_fragment
        .clone()
        .with_context(|| format!("configs/arch/{}.toml names no boot_fragment", arch.name))?;
    Ok((qemu, home::configs().join(boot_fragment)))
}

/// Refuses, before anything is built, a config that cannot pass the boot check.
pub fn check_bootable(qemu: &Qemu, config: &Values) -> Result<()> {
    let missing: Vec<String> = requirements(qemu)
        .into_iter()
        .filter(|(sym, _)| config.get(sym) != "y")
        .map(|(sym, why)| format!("CONFIG_{sym} is not set ({why})"))
        .collect();
    if !missing.is_empty() {
        bail!("this kernel cannot pass the boot check, so it was not built or booted:\n  {}", missing.join("\n  "));
    }
    Ok(())
}

/// Boots a built kernel with the check's /init until the marker, a panic or the timeout.
pub fn boot_built(session: &Session, qemu: &Qemu, append: Option<&str>, timeout: Duration) -> Result<BootReport> {
    let work = session.kb.path("thindist-boot");
    std::fs::create_dir_all(&work)?;
    let modules = modules_to_carry(&session.kb.objtree)?;
    let initramfs = make_initramfs(&session.kb, &work, &modules)?;
    let image = session.kb.path(&session.kb.arch.image);
    let argv = qemu_argv(qemu, &image, &initramfs, append);
    println!("booting: {}", argv.join(" "));
    let says: Vec<String> = modules.iter().filter_map(|m| m.says.clone()).collect();
    let mut report = boot(&argv, timeout, &says)?;
    report.modules = modules.iter().map(|m| m.path.clone()).collect();
    let all_loaded = report.modules_loaded == Some(modules.len()) && report.module_lines_seen.len() == says.len();
    if report.outcome == Outcome::Booted && !all_loaded {
        let missing: Vec<&String> = says.iter().filter(|s| !report.module_lines_seen.contains(s)).collect();
        report.outcome = Outcome::ModuleFailed;
        report.reason = format!(
            "/init loaded {:?} of {} modules; module lines not seen: {missing:?}",
            report.modules_loaded,
            modules.len()
        );
    }
    report.arch = session.kb.arch.name.clone();
    report.kernel_version = session.tree.version.to_string();
    report.series = session.series.clone();
    report.layout = session.layout.name.clone();
    Ok(report)
}

/// A static /init built by the kernel's own clang for the target, in a newc cpio
/// with /dev/console, so the kernel can give init its console.
fn make_initramfs(kb: &Kbuild, work: &Path, modules: &[BootModule]) -> Result<PathBuf> {
    let source = work.join("init.c");
    let init = work.join("init");
    std::fs::write(&source, INIT_C)?;
    Cmd::new(&kb.toolchain.clang)
        .arg(format!("--target={}", kb.arch.clang_target))
        .args(["-O2", "-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-fno-pic", "-fuse-ld=lld"])
        .args(["-Wl,--build-id=none", "-o"])
        .arg(init.to_string_lossy())
        .arg(source.to_string_lossy())
        .run_quiet()
        .context("cannot compile the boot check's /init")?;
    let init_bytes = std::fs::read(&init)?;
    let cpio_path = work.join("initramfs.cpio");
    let mut entries = vec![
        (cpio::NewcBuilder::new("dev").mode(0o040755).nlink(2), Vec::new()),
        (cpio::NewcBuilder::new("dev/console").mode(0o020600).rdev_major(5).rdev_minor(1), Vec::new()),
        (cpio::NewcBuilder::new("init").mode(0o100755), init_bytes),
    ];
    for (i, m) in modules.iter().enumerate() {
        let data = std::fs::read(kb.path(&m.path)).with_context(|| format!("cannot read module {}", m.path))?;
        entries.push((cpio::NewcBuilder::new(&format!("m{i}.ko")).mode(0o100644), data));
    }
    let file = std::fs::File::create(&cpio_path)?;
    cpio::write_cpio(entries.into_iter().map(|(b, data)| (b, std::io::Cursor::new(data))), file)?;
    Ok(cpio_path)
}

fn qemu_argv(q: &Qemu, image: &Path, initramfs: &Path, append: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = vec![
        q.binary.clone(),
        "-M".into(),
        q.machine.clone(),
        "-cpu".into(),
        q.cpu.clone(),
        "-m".into(),
        "512".into(),
        "-smp".into(),
        "1".into(),
    ];
    v.extend(q.firmware.iter().cloned());
    v.extend(["-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot"].map(String::from));
    v.extend(["-kernel".into(), image.display().to_string(), "-initrd".into(), initramfs.display().to_string()]);
    let mut cmdline = format!("console={} panic=-1 rdinit=/init", q.console);
    if let Some(extra) = append {
        cmdline.push(' ');
        cmdline.push_str(extra);
    }
    v.extend(["-append".into(), cmdline]);
    v
}

/// What the console said so far, read line by line.
#[derive(Default)]
struct Console {
    tail: VecDeque<String>,
    outcome: Option<Outcome>,
    reason: String,
    release: Option<String>,
    seconds: Option<f64>,
    modules_loaded: Option<usize>,
    module_lines_seen: Vec<String>,
    /// After the marker or a panic, QEMU gets a moment to stop by itself.
    settle_until: Option<Instant>,
}

impl Console {
    /// Reads one line, `since` the boot started; the first marker, module
    /// failure or panic decides the outcome.
    fn read(&mut self, line: String, since: Instant, module_lines: &[String]) {
        for said in module_lines.iter().filter(|s| line.contains(s.as_str())) {
            if !self.module_lines_seen.contains(said) {
                self.module_lines_seen.push(said.clone());
            }
        }
        if self.outcome.is_none() {
            self.judge(&line, since);
        }
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    fn judge(&mut self, line: &str, since: Instant) {
        let settle = |s| Some(Instant::now() + Duration::from_secs(s));
        if let Some(rest) = line.split(MARKER).nth(1) {
            self.outcome = Some(Outcome::Booted);
            self.seconds = Some(since.elapsed().as_secs_f64());
            let word = |key: &str| rest.split_whitespace().find_map(|w| w.strip_prefix(key)).map(str::to_string);
            self.release = word("release=");
            self.modules_loaded = word("modules=").and_then(|n| n.parse().ok());
            self.reason = format!("marker seen after {:.1}s", since.elapsed().as_secs_f64());
            self.settle_until = settle(10);
        } else if let Some(rest) = line.split(MODULE_FAILED).nth(1) {
            self.outcome = Some(Outcome::ModuleFailed);
            self.reason = format!("/init could not load a module:{rest}");
            self.settle_until = settle(3);
        } else if line.contains(PANIC) {
            self.outcome = Some(Outcome::KernelPanic);
            let panic = line.split(PANIC).nth(1).unwrap_or("").trim_start_matches(':').trim();
            self.reason = format!("kernel panic: {panic}");
            self.settle_until = settle(3);
        }
    }
}

/// Runs QEMU until the marker, a panic, its exit or the timeout; QEMU never outlives this.
pub fn boot(argv: &[String], timeout: Duration, module_lines: &[String]) -> Result<BootReport> {
    let run = Cmd::from_argv(argv).follow().context("cannot start QEMU; install it with `cargo xtask deps --yes`")?;
    let (mut child, rx, guard) = (run.child, run.lines, run.guard);
    let start = Instant::now();
    let mut console = Console::default();
    loop {
        if guard.interrupted() {
            let _ = child.kill();
            let _ = child.wait();
            bail!("interrupted: QEMU was stopped");
        }
        let deadline = console.settle_until.unwrap_or(start + timeout);
        let wait = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(200));
        match rx.recv_timeout(wait) {
            Ok(line) => console.read(line, start, module_lines),
            Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => break,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let exited = child.try_wait()?.is_some();
    if !exited {
        let _ = child.kill();
    }
    let status = child.wait()?;
    let outcome = match console.outcome {
        Some(o) => o,
        None if !exited => {
            console.reason = format!("timed out after {}s without the marker", timeout.as_secs());
            Outcome::TimedOut
        }
        None => {
            console.reason = format!("QEMU exited ({status}) without the marker and without a kernel panic");
            Outcome::NoMarker
        }
    };
    Ok(BootReport {
        arch: String::new(),
        kernel_version: String::new(),
        series: String::new(),
        layout: String::new(),
        outcome,
        reason: console.reason,
        release: console.release,
        seconds_to_marker: console.seconds,
        powered_off: exited && outcome == Outcome::Booted,
        modules: Vec::new(),
        modules_loaded: console.modules_loaded,
        module_lines_seen: console.module_lines_seen,
        qemu: argv.to_vec(),
        console_tail: console.tail.into(),
    })
}

pub fn print(r: &BootReport) {
    println!("thindist boot: Linux {} ({}, layout {}) {}", r.kernel_version, r.series, r.layout, r.arch);
    println!("  outcome: {:?}: {}", r.outcome, r.reason);
    if let (Some(rel), Some(s)) = (&r.release, r.seconds_to_marker) {
        println!(
            "  kernel release seen: {rel}; time to marker: {s:.1}s; powered off by itself: {}",
            if r.powered_off { "yes" } else { "no (QEMU stopped)" }
        );
    }
    if !r.modules.is_empty() {
        println!(
            "  modules loaded by /init: {} of {} ({}); their lines seen: {:?}",
            r.modules_loaded.map(|n| n.to_string()).unwrap_or_else(|| "none".into()),
            r.modules.len(),
            r.modules.join(", "),
            r.module_lines_seen
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kbuild::arch::Arch;

    #[test]
    fn the_console_decides_on_the_first_marker_or_panic() {
        let (start, says) = (Instant::now(), ["configfs says hello".to_string()]);
        let mut c = Console::default();
        c.read("[    0.5] configfs says hello".into(), start, &says);
        c.read("THINDIST-BOOT-OK release=6.12.118 modules=3".into(), start, &says);
        c.read("Kernel panic - not syncing: Attempted to kill init!".into(), start, &says);
        assert_eq!(c.outcome, Some(Outcome::Booted), "the first decides");
        assert_eq!((c.release.as_deref(), c.modules_loaded), (Some("6.12.118"), Some(3)));
        assert_eq!((c.module_lines_seen.len(), c.tail.len()), (1, 3));
        let mut p = Console::default();
        p.read("Kernel panic - not syncing: VFS: Unable to mount root fs".into(), start, &[]);
        assert_eq!(p.outcome, Some(Outcome::KernelPanic));
        assert_eq!(p.reason, "kernel panic: VFS: Unable to mount root fs");
        assert!(p.settle_until.is_some());
    }

    #[test]
    fn carries_the_listed_modules_the_build_made() {
        let dir = tempfile::tempdir().unwrap();
        let paths = |d: &Path| modules_to_carry(d).unwrap().into_iter().map(|m| m.path).collect::<Vec<_>>();
        assert!(paths(dir.path()).is_empty());
        std::fs::write(dir.path().join("modules.order"), "lib/test-kstrtox.o\n").unwrap();
        assert_eq!(paths(dir.path()), ["lib/test-kstrtox.ko"]);
        std::fs::write(
            dir.path().join("modules.order"),
            "fs/configfs/configfs.o\nlib/test-kstrtox.o\nlib/test_hexdump.o\n",
        )
        .unwrap();
        let carried = modules_to_carry(dir.path()).unwrap();
        assert_eq!(
            carried.iter().map(|m| m.path.as_str()).collect::<Vec<_>>(),
            ["lib/test_hexdump.ko", "fs/configfs/configfs.ko"]
        );
        assert_eq!(carried[0].says.as_deref(), Some("test_hexdump: all"));
    }

    #[test]
    fn qemu_argv_per_arch() {
        let (image, initrd) = (Path::new("/o/Image"), Path::new("/o/initramfs.cpio"));
        let riscv = qemu_argv(&Arch::load("riscv").unwrap().qemu.unwrap(), image, initrd, Some("quiet"));
        assert_eq!(riscv[..3], ["qemu-system-riscv64", "-M", "virt"]);
        assert!(riscv.windows(2).any(|w| w == ["-bios", "default"]));
        assert_eq!(riscv.last().unwrap(), "console=ttyS0 panic=-1 rdinit=/init quiet");
        let x86 = qemu_argv(&Arch::load("x86_64").unwrap().qemu.unwrap(), image, initrd, None);
        assert!(x86.windows(2).any(|w| w == ["-M", "q35"]) && !x86.contains(&"-bios".to_string()));
        assert!(x86.windows(2).any(|w| w == ["-initrd", "/o/initramfs.cpio"]));
        let arm = qemu_argv(&Arch::load("arm64").unwrap().qemu.unwrap(), image, initrd, None);
        assert_eq!(arm[0], "qemu-system-aarch64");
        assert!(arm.last().unwrap().starts_with("console=ttyAMA0 "), "{arm:?}");
    }
}
