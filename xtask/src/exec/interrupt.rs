//! Stop signals (Ctrl-C, SIGTERM, SIGHUP) at any moment of a command. The
//! handler is installed when the command starts, and a signal is never
//! forgotten: once one came, no further child starts. A child is started
//! and registered under one lock, so a signal reaches either the running
//! child (make and QEMU in their own process group, which stops make and
//! every compiler it started) or, with none running, stops the tool at
//! once; it cannot fall between the two.

use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

/// Where a stop signal goes on: a process group the tool made, or a child
/// left in the tool's own group (installers and the test runner, which a
/// terminal's Ctrl-C reaches anyway).
#[derive(Debug, Clone, Copy)]
enum Target {
    Group(i32),
    Process(i32),
}

struct Running {
    target: Target,
    what: String,
}

/// The child running now, if any, and the one that ran last.
struct Children {
    running: Option<Running>,
    last: Option<String>,
}

static CHILDREN: Mutex<Children> = Mutex::new(Children { running: None, last: None });
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn children() -> std::sync::MutexGuard<'static, Children> {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the handler; every command but the compiler launcher (which
/// make's process group stops like any compiler) calls it first. SIGINT is
/// taken even when the tool inherited it ignored (a shell without job
/// control starting it in the background): an explicit `kill -INT` is meant.
/// SIGHUP inherited ignored (`nohup`) stays ignored.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: reading the disposition with a null new action changes nothing.
        let hup_ignored = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
        };
        // Ctrl-C, SIGTERM and SIGHUP alike ("termination" feature of ctrlc);
        // the handler runs on a thread of its own, not in signal context.
        let _ = ctrlc::set_handler(on_signal);
        if hup_ignored {
            // SAFETY: signal(2) restoring the disposition the tool was given.
            unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
        }
        INSTALLED.store(true, Ordering::SeqCst);
    });
}

/// Whether the handler is installed: in the tool, not in the launcher,
/// whose children stay in make's process group, where make's stop reaches them.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::SeqCst)
}

fn on_signal() {
    let children = children();
    INTERRUPTED.store(true, Ordering::SeqCst);
    match &children.running {
        Some(r) => deliver(r.target, libc::SIGINT),
        None => {
            // Exits with the lock held: no child can start after this.
            let after = children.last.as_deref().map(|w| format!(" (after `{w}` ended)")).unwrap_or_default();
            eprintln!("thindist: stopped by a signal (Ctrl-C, SIGTERM or SIGHUP){after}");
            std::process::exit(130);
        }
    }
}

fn deliver(target: Target, signal: i32) {
    // SAFETY: kill(2) on a child or process group the tool started; no memory is involved.
    unsafe {
        match target {
            Target::Group(g) => libc::kill(-g, signal),
            Target::Process(p) => libc::kill(p, signal),
        };
    }
}

/// Whether a stop signal has come during this command.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Refuses to go on once a stop signal came (before work that starts no child).
pub fn refuse_if_interrupted(what: &str) -> Result<()> {
    if interrupted() {
        bail!("stopped by a signal (Ctrl-C, SIGTERM or SIGHUP) before {what}");
    }
    Ok(())
}

/// Starts a child with `spawn` and registers it, both under the lock the
/// handler takes; refused once a stop signal came. `own_group`: the child
/// leads a process group of its own (the signal goes to the whole group).
pub fn start(what: &str, own_group: bool, spawn: impl FnOnce() -> std::io::Result<Child>) -> Result<(Child, Guard)> {
    let mut children = children();
    if interrupted() {
        bail!("stopped by a signal (Ctrl-C, SIGTERM or SIGHUP) before `{what}` started");
    }
    let child = spawn().with_context(|| format!("cannot start {what}"))?;
    let pid = child.id() as i32;
    let target = if own_group { Target::Group(pid) } else { Target::Process(pid) };
    children.running = Some(Running { target, what: what.to_string() });
    Ok((child, Guard { _private: () }))
}

/// While alive, a stop signal reaches the registered child; dropped when it has ended.
pub struct Guard {
    _private: (),
}

impl Guard {
    pub fn interrupted(&self) -> bool {
        interrupted()
    }

    /// An error saying that `what` was stopped by a signal, if it was.
    pub fn check(&self, what: &str) -> Result<()> {
        if self.interrupted() {
            bail!("stopped by a signal (Ctrl-C, SIGTERM or SIGHUP) while `{what}` ran");
        }
        Ok(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut children = children();
        if let Some(r) = children.running.take() {
            children.last = Some(r.what);
        }
    }
}
