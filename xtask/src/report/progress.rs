//! Progress display: an indicatif bar on a terminal, plain periodic lines
//! otherwise (CI logs), nothing fancy when NO_COLOR is set. A byte counter
//! for long reads (`Progress`), and a make run's stages (`stage_bars`).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::kbuild::driver::{StageObserver, StageTime};
use crate::kbuild::stages::Stage;

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

/// The observer every command gives its make runs.
pub fn stage_bars(stages: &'static [Stage]) -> Box<dyn StageObserver> {
    Box::new(StageBars::new(stages))
}

/// The stages of a make run on screen: a spinner line per stage on a
/// terminal, a plain line every 15 seconds otherwise (CI logs).
struct StageBars {
    stages: &'static [Stage],
    bars: Vec<ProgressBar>,
    interactive: bool,
    started: Instant,
    last_plain: Instant,
}

impl StageBars {
    fn new(stages: &'static [Stage]) -> Self {
        let interactive = interactive();
        let multi = MultiProgress::with_draw_target(if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let colour = colour();
        let style =
            if colour { "{prefix:>11.cyan.bold} {msg} {elapsed:>4}" } else { "{prefix:>11} {msg} {elapsed:>4}" };
        let bars = stages
            .iter()
            .map(|s| {
                let b = multi.add(ProgressBar::new_spinner());
                b.set_style(ProgressStyle::with_template(style).expect("template"));
                b.set_prefix(s.label());
                b.set_message("waiting");
                b
            })
            .collect();
        Self { stages, bars, interactive, started: Instant::now(), last_plain: Instant::now() }
    }

    fn bar(&self, stage: Stage) -> &ProgressBar {
        let i = self.stages.iter().position(|s| *s == stage).expect("a stage of this pipeline");
        &self.bars[i]
    }
}

impl StageObserver for StageBars {
    fn update(&mut self, stage: Stage, steps: usize, total: Option<u64>, extra: &str) {
        let bar = self.bar(stage);
        let msg = match total {
            Some(t) => format!("{steps}/{t}{extra}"),
            None => format!("{steps}{extra}"),
        };
        if self.interactive {
            if bar.message() == "waiting" {
                bar.reset_elapsed();
                bar.enable_steady_tick(Duration::from_millis(250));
            }
            bar.set_message(msg);
        } else if self.last_plain.elapsed() >= PLAIN_INTERVAL {
            self.last_plain = Instant::now();
            eprintln!("build: {} {msg} ({}s)", stage.label(), self.started.elapsed().as_secs());
        }
    }

    fn finish_stage(&mut self, time: &StageTime) {
        let text = format!("{} steps in {:.1}s", time.steps, time.seconds);
        if self.interactive {
            self.bar(time.stage).finish_with_message(text);
        } else {
            eprintln!("build: {} done: {text}", time.stage.label());
        }
    }

    fn clear(&mut self) {
        for b in &self.bars {
            if !b.is_finished() {
                b.finish_and_clear();
            }
        }
    }
}
