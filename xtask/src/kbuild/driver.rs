//! Runs a kbuild make, following its stages (a clock per stage, and an
//! observer that shows them: `report::stage_bars` on screen), writing
//! everything it prints to a log. Ctrl-C stops its whole process group (see
//! interrupt); a run that ends early kills it (`exec::child::GroupChild`).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{LineWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::exec::child::Usage;
use crate::exec::Cmd;
use crate::kbuild::stages::{parse_step, Pipeline, Stage, Step, Tracker};
use crate::launcher::plan::Launch;
use crate::launcher::record::{self, JobRecord, Kind};
use crate::launcher::summary::RemoteSummary;

#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// Who is shown a make run's stages as they go. The driver knows no screen:
/// the command hands it one (`report::stage_bars`), or nobody watches.
pub trait StageObserver {
    /// `steps` done in `stage` (of `total`, when known); `extra` says where
    /// its compiles ran.
    fn update(&mut self, stage: Stage, steps: usize, total: Option<u64>, extra: &str);
    fn finish_stage(&mut self, time: &StageTime);
    /// The run ended: nothing more is shown.
    fn clear(&mut self);
}

/// Makes the observer of one run, for the stages of its pipeline.
pub type Observe = fn(&'static [Stage]) -> Box<dyn StageObserver>;

/// Nobody watches: the log and the report have it all.
pub fn unobserved(_: &'static [Stage]) -> Box<dyn StageObserver> {
    struct Nobody;
    impl StageObserver for Nobody {
        fn update(&mut self, _: Stage, _: usize, _: Option<u64>, _: &str) {}
        fn finish_stage(&mut self, _: &StageTime) {}
        fn clear(&mut self) {}
    }
    Box::new(Nobody)
}

/// How many back-end compiles the thin-link asked for, once it has run.
fn backend_total(objtree: &Path, pipeline: Pipeline) -> Option<u64> {
    let Pipeline::Distributed(layout) = pipeline else { return None };
    let text = std::fs::read_to_string(objtree.join(&layout.backend_list)).ok()?;
    Some(text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("--")).count() as u64)
}

/// Each stage's steps and times. A vmlinux stage lasts from its first step
/// until the next stage's first step; a module stage, which runs beside
/// vmlinux's, from its first step to its last.
struct StageClock {
    started: Instant,
    counts: [usize; Stage::ALL.len()],
    first_seen: [Option<Instant>; Stage::ALL.len()],
    beside_first: [Option<Instant>; Stage::ALL.len()],
    beside_last: [Option<Instant>; Stage::ALL.len()],
    current: Stage,
}

impl StageClock {
    fn new(started: Instant) -> Self {
        Self {
            started,
            counts: [0; Stage::ALL.len()],
            first_seen: [None; Stage::ALL.len()],
            beside_first: [None; Stage::ALL.len()],
            beside_last: [None; Stage::ALL.len()],
            current: Stage::FrontEnd,
        }
    }

    fn time(&self, stage: Stage, from: Instant, until: Instant) -> StageTime {
        StageTime {
            stage,
            steps: self.counts[stage as usize],
            start: from.duration_since(self.started).as_secs_f64(),
            seconds: until.duration_since(from).as_secs_f64(),
        }
    }

    /// Counts a step of `stage` seen `now`, while the vmlinux stages are at
    /// `vmlinux_stage`; returns the vmlinux stage it ended, if any.
    fn step(
        &mut self,
        stage: Stage,
        counted: bool,
        step: &Step,
        vmlinux_stage: Stage,
        now: Instant,
    ) -> Option<StageTime> {
        let i = stage as usize;
        self.counts[i] += usize::from(counted);
        if stage.beside_vmlinux() {
            // The modules stage's time starts with its first step after the
            // front-end (modpost on): a module of several objects is linked
            // among the compiles, which would make it span the whole build.
            if stage != Stage::Modules || vmlinux_stage != Stage::FrontEnd || step.is("MODPOST", false) {
                self.first_seen[i].get_or_insert(now);
            }
            self.beside_first[i].get_or_insert(now);
            self.beside_last[i] = Some(now);
            return None;
        }
        let ended = match stage != self.current {
            true => self.first_seen[self.current as usize].map(|f| self.time(self.current, f, now)),
            false => None,
        };
        self.current = stage;
        self.first_seen[i].get_or_insert(now);
        ended
    }

    fn steps(&self, stage: Stage) -> usize {
        self.counts[stage as usize]
    }

    /// Every stage seen, vmlinux's in order, then the module stages.
    fn times(&self, end: Instant) -> Vec<StageTime> {
        let seen: Vec<(Stage, Instant)> = Stage::ALL
            .iter()
            .filter(|s| !s.beside_vmlinux())
            .filter_map(|s| self.first_seen[*s as usize].map(|t| (*s, t)))
            .collect();
        let mut times: Vec<StageTime> = seen
            .iter()
            .enumerate()
            .map(|(k, (s, t))| self.time(*s, *t, seen.get(k + 1).map(|n| n.1).unwrap_or(end)))
            .collect();
        for stage in Stage::ALL.into_iter().filter(|s| s.beside_vmlinux()) {
            let i = stage as usize;
            if let (Some(first), Some(last)) = (self.first_seen[i].or(self.beside_first[i]), self.beside_last[i]) {
                times.push(self.time(stage, first, last));
            }
        }
        times
    }
}

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

/// make's log: line-buffered, so that it follows the build while it runs
/// and holds everything up to the moment a build is stopped.
fn open_log(log: &Path, cmd: &Cmd) -> Result<LineWriter<File>> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = File::create(log).with_context(|| format!("cannot create log {}", log.display()))?;
    let mut writer = LineWriter::new(file);
    writeln!(writer, "$ {}", cmd.display())?;
    Ok(writer)
}

/// The last lines make printed, for a failure report.
struct Tail(VecDeque<String>);

impl Tail {
    const LINES: usize = 200;

    fn push(&mut self, line: &str) {
        if self.0.len() == Self::LINES {
            self.0.pop_front();
        }
        self.0.push_back(line.to_string());
    }
}

/// Runs a make command line and follows it: stages timed and shown, every
/// line logged, the launchers' records of the run collected. Returning
/// early (the log cannot be written) kills make's group.
pub fn run(
    cmd: &Cmd,
    objtree: &Path,
    pipeline: Pipeline,
    log: &Path,
    launch: Option<&Launch>,
    observe: Observe,
) -> Result<MakeRun> {
    let mut log_file = open_log(log, cmd)?;
    let mut run = cmd.follow()?;
    let started = Instant::now();
    let since = record::now();
    let mut remote_counts = launch.map(|launch| RemoteCounts {
        launch,
        since,
        read: Instant::now() - Duration::from_secs(2),
        summary: RemoteSummary::default(),
    });
    let (mut tracker, mut clock, mut shown) =
        (Tracker::new(pipeline), StageClock::new(started), observe(pipeline.stages()));
    let (mut tail, mut steps, mut total_backend) = (Tail(VecDeque::with_capacity(Tail::LINES)), Vec::new(), None);
    for line in run.lines.iter() {
        writeln!(log_file, "{line}")?;
        tail.push(&line);
        let Some(step) = parse_step(&line) else { continue };
        let vmlinux_stage = tracker.stage;
        let (stage, counted) = tracker.observe(&step);
        if let Some(ended) = clock.step(stage, counted, &step, vmlinux_stage, Instant::now()) {
            shown.finish_stage(&ended);
        }
        steps.push((stage, counted, step));
        if stage == Stage::BackEnd && total_backend.is_none() {
            total_backend = backend_total(objtree, pipeline);
        }
        let total = if stage == Stage::BackEnd { total_backend } else { None };
        let extra = match stage.beside_vmlinux() {
            true => String::new(),
            false => remote_counts.as_mut().map(|r| r.line(stage)).unwrap_or_default(),
        };
        shown.update(stage, clock.steps(stage), total, &extra);
    }
    run.join_readers();
    let (status, usage) = run.child.wait_with_usage()?;
    let seconds = started.elapsed().as_secs_f64();
    let stages = clock.times(Instant::now());
    if status.success() {
        // The last vmlinux stage and the module stages end with the run.
        let last_vmlinux = stages.iter().rposition(|t| !t.stage.beside_vmlinux());
        for (k, t) in stages.iter().enumerate() {
            if Some(k) == last_vmlinux || t.stage.beside_vmlinux() {
                shown.finish_stage(t);
            }
        }
    }
    shown.clear();
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
    let (argv, log, tail) = (cmd.argv().to_vec(), log.to_path_buf(), tail.0.into());
    Ok(MakeRun { remote, jobs, argv, log, stages, seconds, usage, success: status.success(), tail, steps })
}
