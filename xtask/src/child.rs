//! Starting a long-running child (make, QEMU) in its own process group,
//! with everything it prints delivered line by line. (xshell runs commands
//! to completion; these two must be followed while they run.)

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};

pub struct Lines {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
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

pub fn spawn(argv: &[String]) -> Result<Lines> {
    let (prog, args) = argv.split_first().context("empty command")?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {prog}"))?;
    let (tx, lines) = mpsc::channel();
    let streams: [Option<Box<dyn Read + Send>>; 2] =
        [child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>), child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>)];
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
    Ok(Lines { child, lines, readers })
}
