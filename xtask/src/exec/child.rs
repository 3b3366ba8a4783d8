//! A long-running child (make, QEMU) in its own process group,
//! with everything it prints delivered line by line. (xshell runs commands
//! to completion; these two must be followed while they run.)

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};

use super::interrupt::{self, Guard};

pub struct Lines {
    pub child: GroupChild,
    pub lines: mpsc::Receiver<String>,
    /// A stop signal reaches the child's group while this lives.
    pub guard: Guard,
    readers: Vec<JoinHandle<()>>,
}

impl Lines {
    /// Waits until both output streams are drained.
    pub fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

/// A child leading a process group of its own. Dropped before it was waited
/// for (a caller that returns early with an error), it is killed with its
/// whole group and reaped, as hermit's xtask does with `KillChildOnDrop`:
/// make and its compilers never outlive the tool that followed them.
pub struct GroupChild {
    child: Child,
    reaped: bool,
}

impl GroupChild {
    /// Waits for it; returns its status and what it and its descendants used.
    pub fn wait_with_usage(&mut self) -> Result<(ExitStatus, Usage)> {
        let waited = wait_with_usage(&self.child);
        self.reaped = waited.is_ok();
        waited
    }
}

impl std::ops::Deref for GroupChild {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl std::ops::DerefMut for GroupChild {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        // try_wait knows a status `wait` already took; Err once wait4 reaped it.
        if !self.reaped && matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: SIGKILL to the process group this child leads.
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

/// Puts `cmd` in a process group of its own, which the tool stops with
/// SIGINT (exec/interrupt.rs). SIGINT is reset to its default there: a tool
/// started in the background by a shell without job control inherits it
/// ignored, and make keeps an ignored SIGINT ignored, so it would not stop.
pub(super) fn own_group(cmd: &mut Command) -> &mut Command {
    // SAFETY: signal(2) is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    cmd.process_group(0)
}

/// Starts `cmd` in its own process group with both output streams read
/// line by line into one channel.
pub(super) fn spawn(mut cmd: Command, name: &str) -> Result<Lines> {
    own_group(&mut cmd).stdout(Stdio::piped()).stderr(Stdio::piped());
    let (mut child, guard) = interrupt::start(name, true, || cmd.spawn())?;
    let (tx, lines) = mpsc::channel();
    let streams: [Option<Box<dyn Read + Send>>; 2] = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ];
    let readers = streams
        .into_iter()
        .flatten()
        .map(|stream| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).split(b'\n').map_while(|l| l.ok()) {
                    let text = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
                    if tx.send(text).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    Ok(Lines { child: GroupChild { child, reaped: false }, lines, guard, readers })
}

/// What a finished child and every descendant it waited for used.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub user_seconds: f64,
    pub sys_seconds: f64,
    /// The peak resident set of the largest single process in the tree
    /// (the kernel keeps the maximum over waited-for descendants), in MiB.
    pub peak_rss_mib: f64,
}

/// Waits for `child` with wait4(2), which also returns its resource usage.
/// The child is reaped here; do not wait for it again.
pub fn wait_with_usage(child: &Child) -> Result<(ExitStatus, Usage)> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own child with valid pointers.
        let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if got == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4 on the build");
        }
    }
    let usage = Usage {
        user_seconds: seconds(usage.ru_utime),
        sys_seconds: seconds(usage.ru_stime),
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
    };
    Ok((ExitStatus::from_raw(status), usage))
}

/// User+system CPU seconds this process has used so far (the tool's own
/// cost, without its children).
pub fn self_cpu_seconds() -> f64 {
    // SAFETY: rusage is plain data that getrusage fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage on ourselves with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn seconds(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}
