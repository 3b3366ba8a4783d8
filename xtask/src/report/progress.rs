//! Progress display: an indicatif bar on a terminal, plain periodic lines
//! otherwise (CI logs), nothing fancy when NO_COLOR is set.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a non-terminal run prints a line about long work.
const PLAIN_INTERVAL: Duration = Duration::from_secs(15);

pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A progress bar that stops its plain-line reporter when dropped.
pub struct Progress {
    pub bar: ProgressBar,
    stop: Arc<AtomicBool>,
    reporter: Option<thread::JoinHandle<()>>,
}

impl Progress {
    /// A byte-counting bar; `len` of 0 means the total is not known yet.
    pub fn new(label: &str, len: u64) -> Self {
        let bar = if len == 0 { ProgressBar::new_spinner() } else { ProgressBar::new(len) };
        let stop = Arc::new(AtomicBool::new(false));
        let mut reporter = None;
        if interactive() {
            let template = if colour() {
                "{msg:>12.cyan.bold} [{bar:40.cyan/blue}] {bytes}/{total_bytes} {elapsed}"
            } else {
                "{msg:>12} [{bar:40}] {bytes}/{total_bytes} {elapsed}"
            };
            bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
            bar.enable_steady_tick(Duration::from_millis(200));
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
            let (b, s, label) = (bar.clone(), stop.clone(), label.to_string());
            reporter = Some(thread::spawn(move || plain_lines(&b, &s, &label)));
        }
        bar.set_message(label.to_string());
        Self { bar, stop, reporter }
    }

    pub fn finish(mut self, summary: &str) {
        self.halt();
        if interactive() {
            self.bar.finish_and_clear();
        }
        println!("{summary}");
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(r) = self.reporter.take() {
            let _ = r.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.halt();
        self.bar.finish_and_clear();
    }
}

fn plain_lines(bar: &ProgressBar, stop: &AtomicBool, label: &str) {
    let start = Instant::now();
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(100));
        if last.elapsed() < PLAIN_INTERVAL {
            continue;
        }
        last = Instant::now();
        let (pos, len) = (bar.position(), bar.length().unwrap_or(0));
        eprintln!("{label}: {} / {} MiB ({}s)", pos >> 20, len >> 20, start.elapsed().as_secs());
    }
}
