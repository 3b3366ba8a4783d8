//! The compiler launcher, in the ccache/distcc convention: make runs
//! `CC="<thindist> launch <clang>"`. A ThinLTO back-end job goes to the
//! REAPI engine; every other call runs the real compiler unchanged (probes
//! and `--version` by exec, so the configuration sees the same compiler).
//! Compiles are recorded (start, end, where) for the report and the
//! scale projection.

pub mod backend;
pub mod clang_args;
pub mod config;
pub mod paths;
pub mod record;

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::exec::Cmd;
use backend::NotDescribable;
use clang_args::Kind;
use config::LaunchConfig;
use record::{JobRecord, Place};

/// Runs one compiler call; never returns.
pub fn main(argv: &[String]) -> ! {
    let Some((_, args)) = argv.split_first() else {
        eprintln!("thindist launch: no compiler given; make runs it as CC=\"<thindist> launch <clang>\"");
        std::process::exit(2);
    };
    let cmd = Cmd::from_argv(argv);
    let cfg = match LaunchConfig::from_env() {
        Ok(Some(c)) => c,
        Ok(None) => fail(cmd.exec()),
        Err(e) => fail(e),
    };
    let code = match clang_args::classify(args) {
        Kind::Other => fail(cmd.exec()),
        Kind::Compile { output } => run_local(&cfg, &cmd, record::Kind::FrontEnd, output, Place::Local, None),
        Kind::BackEndLocal { output, why } => {
            run_local(&cfg, &cmd, record::Kind::BackEnd, output, Place::Local, Some(why))
        }
        Kind::BackEnd(job) => run_backend(&cfg, &cmd, args, &job),
    };
    std::process::exit(code)
}

fn fail(e: anyhow::Error) -> ! {
    eprintln!("thindist launch: {e:#}");
    std::process::exit(1)
}

fn status_code(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

/// Runs the compiler here, timed, and records it.
fn run_local(
    cfg: &LaunchConfig,
    cmd: &Cmd,
    kind: record::Kind,
    output: String,
    place: Place,
    why: Option<String>,
) -> i32 {
    let start = record::now();
    let code = match cmd.status() {
        Ok(s) => status_code(s),
        Err(e) => fail(e),
    };
    let end = record::now();
    let r = JobRecord {
        kind,
        place,
        output,
        start,
        end,
        compile_seconds: end - start,
        engine_seconds: 0.0,
        uploaded: 0,
        downloaded: 0,
        why_local: why,
        exit_code: code,
    };
    note(cfg, &r);
    code
}

fn note(cfg: &LaunchConfig, r: &JobRecord) {
    if let Err(e) = record::append(&cfg.records, r) {
        eprintln!("thindist launch: warning: {e:#}");
    }
}

fn run_backend(cfg: &LaunchConfig, cmd: &Cmd, args: &[String], job: &clang_args::BackEndJob) -> i32 {
    if cfg.endpoint.is_none() {
        return run_local(cfg, cmd, record::Kind::BackEnd, job.output.clone(), Place::Local, None);
    }
    let prepared = match backend::prepare(cfg, job, args) {
        Ok(p) => p,
        Err(NotDescribable(why)) => {
            return run_local(cfg, cmd, record::Kind::BackEnd, job.output.clone(), Place::Local, Some(why))
        }
    };
    stop_cleanly();
    let start = record::now();
    match remote(cfg, &prepared, Path::new(&job.output)) {
        Ok(o) => {
            let _ = std::io::stdout().write_all(&o.stdout);
            let _ = std::io::stderr().write_all(&o.stderr);
            let r = JobRecord {
                kind: record::Kind::BackEnd,
                place: o.place,
                output: job.output.clone(),
                start,
                end: record::now(),
                compile_seconds: o.compile_seconds,
                engine_seconds: o.engine_seconds,
                uploaded: o.uploaded,
                downloaded: o.downloaded,
                why_local: None,
                exit_code: o.exit_code,
            };
            note(cfg, &r);
            o.exit_code
        }
        Err(e) if cfg.fallback => {
            eprintln!(
                "thindist launch: warning: the remote engine failed for {}: {e:#}; running it here (--remote-fallback)",
                job.output
            );
            run_local(cfg, cmd, record::Kind::BackEnd, job.output.clone(), Place::Fallback, Some(format!("{e:#}")))
        }
        Err(e) => {
            let url = cfg.endpoint.as_ref().map(|e| e.url.as_str()).unwrap_or_default();
            eprintln!(
                "thindist launch: error: the remote engine at {url} failed for {}: {e:#}; check it (`cargo xtask remote status`) and run the build again, or add --remote-fallback to run such jobs here",
                job.output
            );
            1
        }
    }
}

fn remote(cfg: &LaunchConfig, p: &backend::Prepared, out: &Path) -> Result<backend::Outcome> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(backend::run(cfg, p, out))
}

/// Ctrl-C, SIGTERM or SIGHUP while a job is with the engine: no partial
/// native stays behind.
fn stop_cleanly() {
    let _ = ctrlc::set_handler(|| {
        if let Some(p) = backend::PARTIAL.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = std::fs::remove_file(p);
        }
        std::process::exit(130);
    });
}
