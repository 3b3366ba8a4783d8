//! Runs a kbuild make, following its stages on screen, writing everything
//! it prints to a log; Ctrl-C stops its whole process group (see interrupt).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{LineWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::exec::child::{self, Usage};
use crate::exec::Cmd;
use crate::kbuild::stages::{parse_step, Pipeline, Stage, Step, Tracker};
use crate::launcher::record::{self, JobRecord, Kind};
use crate::remote::session::{Launch, RemoteSummary};
use crate::report::progress;

#[derive(Debug, Clone, Serialize)]
pub struct StageTime {
    pub stage: Stage,
    pub steps: usize,
    /// Seconds from the start of make to the stage's first step.
    pub start: f64,
    pub seconds: f64,
}

#[derive(Debug)]
pub struct MakeRun {
    pub argv: Vec<String>,
    pub log: PathBuf,
    pub stages: Vec<StageTime>,
    pub seconds: f64,
    /// CPU time of make and everything it ran, and the largest process's peak memory.
    pub usage: Usage,
    pub success: bool,
    /// The last lines printed, for a failure report.
    pub tail: Vec<String>,
    /// Every kbuild step the build printed, with its stage and whether it counted.
    pub steps: Vec<(Stage, bool, Step)>,
    /// Where compiles ran, when the launcher was on them.
    pub remote: Option<RemoteSummary>,
    /// The launchers' records of this run (for the scale projection).
    pub jobs: Vec<JobRecord>,
}

impl MakeRun {
    /// The failing compiler message, modpost's errors and make's error line, if any.
    pub fn failure_summary(&self) -> String {
        let diagnostics: Vec<&String> = self
            .tail
            .iter()
            .filter(|l| l.contains("error:") || l.starts_with("ERROR: ") || l.contains("Error ") || l.contains("*** "))
            .collect();
        let lines: Vec<&String> = if diagnostics.is_empty() { self.tail.iter().collect() } else { diagnostics };
        let start = lines.len().saturating_sub(25);
        lines[start..].iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
    }
}

/// How many back-end compiles the thin-link asked for, once it has run.
fn backend_total(objtree: &Path, pipeline: Pipeline) -> Option<u64> {
    let Pipeline::Distributed(layout) = pipeline else { return None };
    let text = std::fs::read_to_string(objtree.join(&layout.backend_list)).ok()?;
    Some(text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("--")).count() as u64)
}

struct StageBars {
    stages: &'static [Stage],
    bars: Vec<ProgressBar>,
    interactive: bool,
    last_plain: Instant,
}

impl StageBars {
    fn new(stages: &'static [Stage]) -> Self {
        let interactive = progress::interactive();
        let multi = MultiProgress::with_draw_target(if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let colour = progress::colour();
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
        Self { stages, bars, interactive, last_plain: Instant::now() }
    }

    fn bar(&self, stage: Stage) -> &ProgressBar {
        let i = self.stages.iter().position(|s| *s == stage).expect("a stage of this pipeline");
        &self.bars[i]
    }

    fn update(&mut self, stage: Stage, steps: usize, total: Option<u64>, started: Instant, extra: &str) {
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
        } else if self.last_plain.elapsed() >= Duration::from_secs(15) {
            self.last_plain = Instant::now();
            eprintln!("build: {} {msg} ({}s)", stage.label(), started.elapsed().as_secs());
        }
    }

    fn finish_stage(&self, stage: Stage, time: &StageTime) {
        let text = format!("{} steps in {:.1}s", time.steps, time.seconds);
        if self.interactive {
            self.bar(stage).finish_with_message(text);
        } else {
            eprintln!("build: {} done: {text}", stage.label());
        }
    }

    fn clear(&self) {
        for b in &self.bars {
            if !b.is_finished() {
                b.finish_and_clear();
            }
        }
    }
}

/// Runs a make command line and follows it.
/// The compiles' counts by place, re-read from the launchers' records at most once a second.
struct RemoteCounts<'a> {
    launch: &'a Launch,
    since: f64,
    read: Instant,
    summary: RemoteSummary,
}

impl RemoteCounts<'_> {
    /// ` (12 remote, 300 hits, 0 local)` for a stage of compiles.
    fn line(&mut self, stage: Stage) -> String {
        let kind = match stage {
            Stage::FrontEnd => Kind::FrontEnd,
            Stage::BackEnd | Stage::ModuleBackEnd => Kind::BackEnd,
            _ => return String::new(),
        };
        if self.read.elapsed() >= Duration::from_secs(1) {
            self.read = Instant::now();
            self.summary = RemoteSummary::of(None, &self.launch.records_since(self.since));
        }
        format!(" ({})", self.summary.line(kind))
    }
}

pub fn run(cmd: &Cmd, objtree: &Path, pipeline: Pipeline, log: &Path, launch: Option<&Launch>) -> Result<MakeRun> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Line-buffered: the log follows the build while it runs and holds
    // everything up to the moment a build is stopped.
    let file = File::create(log).with_context(|| format!("cannot create log {}", log.display()))?;
    let mut log_file = LineWriter::new(file);
    writeln!(log_file, "$ {}", cmd.display())?;

    let mut run = cmd.follow()?;

    let started = Instant::now();
    let since = record::now();
    let mut remote_counts = launch.map(|launch| RemoteCounts {
        launch,
        since,
        read: Instant::now() - Duration::from_secs(2),
        summary: RemoteSummary::default(),
    });
    let mut tracker = Tracker::new(pipeline);
    let mut display = StageBars::new(pipeline.stages());
    let mut counts = [0usize; Stage::ALL.len()];
    let mut first_seen: [Option<Instant>; Stage::ALL.len()] = [None; Stage::ALL.len()];
    let mut total_backend = None;
    let mut tail: VecDeque<String> = VecDeque::with_capacity(200);
    let mut current = Stage::FrontEnd;
    // Module stages run beside vmlinux's: from their first step to their last.
    let mut beside_first: [Option<Instant>; Stage::ALL.len()] = [None; Stage::ALL.len()];
    let mut beside_last: [Option<Instant>; Stage::ALL.len()] = [None; Stage::ALL.len()];
    let mut steps = Vec::new();

    for line in run.lines.iter() {
        writeln!(log_file, "{line}")?;
        if tail.len() == 200 {
            tail.pop_front();
        }
        tail.push_back(line.clone());
        let Some(step) = parse_step(&line) else { continue };
        let (stage, counted) = tracker.observe(&step);
        steps.push((stage, counted, step.clone()));
        let now = Instant::now();
        // Module steps run beside the vmlinux stages: they do not end one.
        // The stage's time starts with its first step after the front-end
        // (modpost on): a module of several objects is linked among the
        // compiles, which would make it span the whole build.
        if stage.beside_vmlinux() {
            if stage != Stage::Modules || tracker.stage != Stage::FrontEnd || step.tag == "MODPOST" {
                first_seen[stage as usize].get_or_insert(now);
            }
            beside_first[stage as usize].get_or_insert(now);
            beside_last[stage as usize] = Some(now);
            counts[stage as usize] += usize::from(counted);
            display.update(stage, counts[stage as usize], None, started, "");
            continue;
        }
        if stage != current {
            if let Some(f) = first_seen[current as usize] {
                let time = StageTime {
                    stage: current,
                    steps: counts[current as usize],
                    start: f.duration_since(started).as_secs_f64(),
                    seconds: now.duration_since(f).as_secs_f64(),
                };
                display.finish_stage(current, &time);
            }
            current = stage;
        }
        let i = stage as usize;
        first_seen[i].get_or_insert(now);
        if counted {
            counts[i] += 1;
        }
        if stage == Stage::BackEnd && total_backend.is_none() {
            total_backend = backend_total(objtree, pipeline);
        }
        let total = if stage == Stage::BackEnd { total_backend } else { None };
        let extra = remote_counts.as_mut().map(|r| r.line(stage)).unwrap_or_default();
        display.update(stage, counts[i], total, started, &extra);
    }
    run.join_readers();
    let (status, usage) = child::wait_with_usage(&run.child)?;
    let seconds = started.elapsed().as_secs_f64();
    // A vmlinux stage lasts from its first step until the next stage's
    // first step; a module stage from its first step to its last.
    let end = Instant::now();
    let seen: Vec<(Stage, Instant)> = Stage::ALL
        .iter()
        .filter(|s| !s.beside_vmlinux())
        .filter_map(|s| first_seen[*s as usize].map(|t| (*s, t)))
        .collect();
    let mut stages: Vec<StageTime> = seen
        .iter()
        .enumerate()
        .map(|(k, (s, t))| {
            let until = seen.get(k + 1).map(|n| n.1).unwrap_or(end);
            StageTime {
                stage: *s,
                steps: counts[*s as usize],
                start: t.duration_since(started).as_secs_f64(),
                seconds: until.duration_since(*t).as_secs_f64(),
            }
        })
        .collect();
    if status.success() {
        if let Some(last) = stages.last() {
            display.finish_stage(last.stage, last);
        }
    }
    for stage in Stage::ALL.into_iter().filter(|s| s.beside_vmlinux()) {
        let i = stage as usize;
        let (Some(first), Some(last)) = (first_seen[i].or(beside_first[i]), beside_last[i]) else { continue };
        let time = StageTime {
            stage,
            steps: counts[i],
            start: first.duration_since(started).as_secs_f64(),
            seconds: last.duration_since(first).as_secs_f64(),
        };
        if status.success() {
            display.finish_stage(stage, &time);
        }
        stages.push(time);
    }
    display.clear();
    writeln!(log_file, "# exit: {status}, {seconds:.1}s")?;
    log_file.flush()?;
    if run.guard.interrupted() {
        bail!(
            "interrupted (Ctrl-C, SIGTERM or SIGHUP): make and its compilers were stopped; run the same command again to continue (log: {})",
            log.display()
        );
    }
    let jobs = launch.map(|l| l.records_since(since)).unwrap_or_default();
    let remote = launch.map(|l| RemoteSummary::of(l.config.endpoint.as_ref(), &jobs));
    Ok(MakeRun {
        remote,
        jobs,
        argv: cmd.argv().to_vec(),
        log: log.to_path_buf(),
        stages,
        seconds,
        usage,
        success: status.success(),
        tail: tail.into(),
        steps,
    })
}
