//! Daemons the tool starts and stops (the engine, the cluster's services):
//! whether one still runs, and stopping it.

use std::time::{Duration, Instant};

/// Whether the process runs: a killed engine whose parent has not reaped it
/// yet (a zombie) is dead.
pub fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only asks whether the process exists.
    if unsafe { libc::kill(pid as i32, 0) } != 0 {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the parenthesised command name.
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X'))
}

/// SIGTERM, then SIGKILL if it has not gone after ten seconds.
pub fn stop(pid: u32) {
    // SAFETY: plain signals to a pid we started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let t = Instant::now();
    while alive(pid) && t.elapsed() < Duration::from_secs(10) {
        reap(pid);
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive(pid) {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        std::thread::sleep(Duration::from_millis(200));
    }
    reap(pid);
}

/// A daemon started by this very process (a test) is its child: collect it.
fn reap(pid: u32) {
    // SAFETY: non-blocking wait on one pid.
    unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), libc::WNOHANG) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zombie_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(300));
        assert!(!alive(pid), "exited, not yet reaped");
        child.wait().unwrap();
        assert!(alive(std::process::id()));
    }
}
