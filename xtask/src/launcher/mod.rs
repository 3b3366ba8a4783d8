//! The compiler launcher, in the ccache/distcc convention: make runs
//! `CC="<thindist> launch <clang>"`. A ThinLTO back-end job goes to the
//! REAPI engine, and so does a front-end compile when the build asks for
//! it; every other call runs the real compiler unchanged (probes and
//! `--version` by exec, so the configuration sees the same compiler).
//! Compiles are recorded (start, end, where) for the report and the
//! scale projection.

pub mod action;
pub mod backend;
pub mod clang_args;
pub mod comments;
pub mod config;
pub mod depfile;
pub mod frontend;
pub mod includes;
pub mod paths;
pub mod plan;
pub mod record;
pub mod scan_cache;
pub mod summary;

use std::io::Write;

use anyhow::Result;

use crate::exec::Cmd;
use crate::remote::client::NoRoom;
use action::{NotDescribable, Prepared};
use clang_args::Kind;
use config::LaunchConfig;
use record::{JobRecord, Place};

/// Runs one compiler call; never returns.
pub fn main(argv: &[String]) -> ! {
    let Some((_, args)) = argv.split_first() else {
        say("no compiler given; make runs it as CC=\"<thindist> launch <clang>\"");
        std::process::exit(2);
    };
    let cmd = Cmd::from_argv(argv);
    let cfg = match LaunchConfig::from_env() {
        Ok(Some(c)) => c,
        Ok(None) => fail(cmd.exec()),
        Err(e) => fail(e),
    };
    let front_ends = cfg.front_ends && cfg.endpoint.is_some();
    let code = match clang_args::classify(args) {
        Kind::Other => fail(cmd.exec()),
        Kind::FrontEnd(job) if front_ends => {
            run_remote(&cfg, &cmd, record::Kind::FrontEnd, &job.output, || frontend::prepare(&cfg, &job, args))
        }
        Kind::FrontEnd(job) => {
            run_local(&cfg, &cmd, record::Kind::FrontEnd, job.output, Place::Local, None, record::now())
        }
        Kind::FrontEndLocal { output, why } => {
            let why = front_ends.then_some(why);
            run_local(&cfg, &cmd, record::Kind::FrontEnd, output, Place::Local, why, record::now())
        }
        Kind::BackEndLocal { output, why } => {
            run_local(&cfg, &cmd, record::Kind::BackEnd, output, Place::Local, Some(why), record::now())
        }
        Kind::BackEnd(job) if cfg.endpoint.is_some() => {
            run_remote(&cfg, &cmd, record::Kind::BackEnd, &job.output, || backend::prepare(&cfg, &job, args))
        }
        Kind::BackEnd(job) => {
            run_local(&cfg, &cmd, record::Kind::BackEnd, job.output, Place::Local, None, record::now())
        }
    };
    std::process::exit(code)
}

fn fail(e: anyhow::Error) -> ! {
    say(&format!("{e:#}"));
    std::process::exit(1)
}

/// One message of the launcher's, written in one `write` call: make runs
/// launchers side by side on one pipe, and `eprintln!` writes a formatted
/// line in pieces, which two launchers failing at once spliced into one
/// unreadable line (seen when the engine died under `-j2`).
fn say(message: &str) {
    let line = format!("thindist launch: {message}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn status_code(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

/// Runs the compiler here, timed, and records it as a job the launcher
/// began at `start` (before a scan, or an engine that failed).
fn run_local(
    cfg: &LaunchConfig,
    cmd: &Cmd,
    kind: record::Kind,
    output: String,
    place: Place,
    why: Option<String>,
    start: f64,
) -> i32 {
    let began = record::now();
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
        compile_seconds: end - began,
        engine_seconds: 0.0,
        uploaded: 0,
        downloaded: 0,
        why_local: why,
        exit_code: code,
        scan: None,
        retries: 0,
    };
    note(cfg, &r);
    code
}

fn note(cfg: &LaunchConfig, r: &JobRecord) {
    if let Err(e) = record::append(&cfg.records, r) {
        say(&format!("warning: {e:#}"));
    }
}

/// A compile for the engine: its action, or here with the reason it has none.
fn run_remote(
    cfg: &LaunchConfig,
    cmd: &Cmd,
    kind: record::Kind,
    output: &str,
    prepare: impl FnOnce() -> Result<Prepared, NotDescribable>,
) -> i32 {
    // The job begins with its preparation: a front-end's scan is the launcher's time.
    let start = record::now();
    let prepared = match prepare() {
        Ok(p) => p,
        Err(NotDescribable(why)) => {
            return run_local(cfg, cmd, kind, output.to_string(), Place::Local, Some(why), start)
        }
    };
    stop_cleanly();
    match remote(cfg, &prepared) {
        Ok(o) => {
            let _ = std::io::stdout().write_all(&o.stdout);
            let _ = std::io::stderr().write_all(&o.stderr);
            let r = JobRecord {
                kind,
                place: o.place,
                output: output.to_string(),
                start,
                end: record::now(),
                compile_seconds: o.compile_seconds,
                engine_seconds: o.engine_seconds,
                uploaded: o.uploaded,
                downloaded: o.downloaded,
                why_local: None,
                exit_code: o.exit_code,
                scan: prepared.scan,
                retries: o.retries,
            };
            note(cfg, &r);
            o.exit_code
        }
        Err(e) if cfg.fallback => {
            say(&format!("warning: the remote engine failed for {output}: {e:#}; running it here (--remote-fallback)"));
            run_local(cfg, cmd, kind, output.to_string(), Place::Fallback, Some(format!("{e:#}")), start)
        }
        Err(e) => {
            let url = cfg.endpoint.as_ref().map(|e| e.url.as_str()).unwrap_or_default();
            match e.downcast_ref::<NoRoom>() {
                Some(no_room) => say(&no_room_message(url, output, no_room)),
                None => say(&format!(
                    "error: the remote engine at {url} failed for {output}: {e:#}; check it (`cargo xtask remote status`) and run the build again, or add --remote-fallback to run such jobs here"
                )),
            }
            1
        }
    }
}

/// The engine had no room for a job's blobs (evicted twice, or refused):
/// why that happens, the free space where it can be seen (the engine on
/// this machine), and what to do.
fn no_room_message(url: &str, output: &str, no_room: &NoRoom) -> String {
    let what = match no_room {
        NoRoom::Lost(detail) => format!(
            "lost the blobs of {output} twice ({detail}): its CAS evicts blobs when its disk runs low or its size limit is reached, and it did between the upload and the job"
        ),
        NoRoom::Refused(detail) => format!(
            "refused a blob of {output} for lack of space ({detail}): its CAS is smaller than the job's inputs, or its disk is full"
        ),
    };
    let local = crate::remote::engine::running().ok().flatten().filter(|r| r.url == url);
    let free = match &local {
        Some(r) => {
            let free = crate::files::free_bytes(&r.cas).unwrap_or(0);
            let free = bytesize::ByteSize(free).display().iec();
            format!(" {free} are free on the filesystem of its CAS ({}).", r.cas.display())
        }
        None => " Its disk is on its own machine: ask its operator.".to_string(),
    };
    format!(
        "error: the remote engine at {url} {what}.{free} Free disk space there; if the disk has room, the engine's size limit is too small for this build: raise it (for `cargo xtask remote start`, `[cache] engine_max_size` in the state file, then `remote stop` and `remote start`; `cargo xtask cache` shows what the cache holds). Then run the build again."
    )
}

fn remote(cfg: &LaunchConfig, p: &Prepared) -> Result<action::Outcome> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(action::run(cfg, p))
}

/// Ctrl-C, SIGTERM or SIGHUP while a job is with the engine: no partial
/// output stays behind.
fn stop_cleanly() {
    let _ = ctrlc::set_handler(|| {
        crate::files::remove_partial();
        std::process::exit(130);
    });
}
