//! Ctrl-C while a child (make, QEMU) runs in its own process group: the
//! terminal's SIGINT reaches only us, so pass it on to the whole group,
//! which stops make and every compiler it started.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static CHILD_GROUP: AtomicI32 = AtomicI32::new(0);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Ctrl-C, SIGTERM and SIGHUP alike ("termination" feature of ctrlc).
        let _ = ctrlc::set_handler(|| {
            if CHILD_GROUP.load(Ordering::SeqCst) > 0 {
                INTERRUPTED.store(true, Ordering::SeqCst);
                signal_group(libc::SIGINT);
            } else {
                eprintln!("thindist: stopped by a signal");
                std::process::exit(130);
            }
        });
    });
}

/// Sends `signal` to the current child's process group, if there is one.
pub fn signal_group(signal: i32) {
    let group = CHILD_GROUP.load(Ordering::SeqCst);
    if group > 0 {
        // SAFETY: kill() on a process group we created; no memory is involved.
        unsafe {
            libc::kill(-group, signal);
        }
    }
}

/// While alive, Ctrl-C, SIGTERM and SIGHUP reach the process group led by
/// `pid` (make stops its compilers and deletes their half-written outputs);
/// with no child running, the tool stops at once.
pub struct Guard;

impl Guard {
    pub fn new(pid: u32) -> Self {
        install();
        INTERRUPTED.store(false, Ordering::SeqCst);
        CHILD_GROUP.store(pid as i32, Ordering::SeqCst);
        Guard
    }

    pub fn interrupted(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        CHILD_GROUP.store(0, Ordering::SeqCst);
    }
}
