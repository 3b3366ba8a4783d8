//! One ThinLTO back-end job on the engine: its exact inputs (IR object,
//! index, every module the index imports from, files flags name), the
//! action (compiler identity included), the cache lookup, Execute, and the
//! native object written atomically with clang's own exit code and output.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use bazel_remote_apis::build::bazel::remote::execution::v2::{
    command::EnvironmentVariable, Action, ActionResult, Command, Digest,
};

use crate::launcher::clang_args::BackEndJob;
use crate::launcher::config::LaunchConfig;
use crate::launcher::paths::{TreeMap, WORKDIR};
use crate::launcher::record::Place;
use crate::remote::client::Client;
use crate::remote::input_root::{Blobs, InputRoot};
use crate::remote::{digest, index};

/// A job the engine answered.
pub struct Outcome {
    pub place: Place,
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub uploaded: u64,
    pub downloaded: u64,
    /// The engine's own execution time (0 for a cache hit).
    pub compile_seconds: f64,
    /// Time waiting on Execute.
    pub engine_seconds: f64,
}

/// Why a job cannot go to the engine: it then runs here, by design.
pub struct NotDescribable(pub String);

pub struct Prepared {
    action: Digest,
    blobs: Blobs,
    output: String,
}

/// The action for a job, or why there cannot be one.
pub fn prepare(cfg: &LaunchConfig, job: &BackEndJob, args: &[String]) -> Result<Prepared, NotDescribable> {
    let trees = TreeMap { srctree: &cfg.srctree, objtree: &cfg.objtree };
    let here = std::env::current_dir().map_err(|e| NotDescribable(e.to_string()))?;
    if here != cfg.objtree {
        return Err(NotDescribable(format!("run in {}, not the object tree", here.display())));
    }
    let mut root = InputRoot::default();
    let mut add = |file: &str| -> Result<(), NotDescribable> {
        let at = trees.input_path(file).ok_or_else(|| NotDescribable(format!("`{file}` is outside the trees")))?;
        let data = std::fs::read(file).map_err(|e| NotDescribable(format!("cannot read {file}: {e}")))?;
        root.add(&at, data, false).map_err(|e| NotDescribable(e.to_string()))
    };
    add(&job.input)?;
    add(&job.index)?;
    let index_bytes = std::fs::read(&job.index).map_err(|e| NotDescribable(e.to_string()))?;
    let modules = index::module_paths(&index_bytes).map_err(|e| NotDescribable(format!("{}: {e:#}", job.index)))?;
    for m in &modules {
        add(m)?;
    }
    for f in &job.files {
        add(f)?;
    }
    let output = trees
        .input_path(&job.output)
        .and_then(|p| p.strip_prefix(&format!("{WORKDIR}/")).map(str::to_string))
        .ok_or_else(|| NotDescribable(format!("output `{}` is outside the object tree", job.output)))?;
    let mut arguments = vec![cfg.compiler.path.display().to_string()];
    arguments.extend(args.iter().map(|a| trees.rewrite_arg(a)));
    let command = Command {
        arguments,
        environment_variables: vec![
            EnvironmentVariable { name: "PATH".into(), value: "/usr/bin:/bin".into() },
            // Not read by clang: it makes the compiler's identity part of the action.
            EnvironmentVariable { name: "THINDIST_COMPILER".into(), value: cfg.compiler.id.clone() },
        ],
        output_paths: vec![output.clone()],
        working_directory: WORKDIR.into(),
        ..Default::default()
    };
    let (command_digest, command_bytes) = digest::of_message(&command);
    let input_root = root.seal();
    let mut blobs = root.blobs;
    blobs.insert(command_digest.hash.clone(), (command_digest.clone(), command_bytes));
    let action = Action {
        command_digest: Some(command_digest),
        input_root_digest: Some(input_root),
        salt: cfg.salt.clone().into_bytes(),
        ..Default::default()
    };
    let (action_digest, action_bytes) = digest::of_message(&action);
    blobs.insert(action_digest.hash.clone(), (action_digest.clone(), action_bytes));
    Ok(Prepared { action: action_digest, blobs, output })
}

/// The temporary file being written, removed if the launcher is stopped.
pub static PARTIAL: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Looks the action up, else uploads what is missing and executes it; writes the output.
pub async fn run(cfg: &LaunchConfig, p: &Prepared, out_path: &Path) -> Result<Outcome> {
    let ep = cfg.endpoint.as_ref().context("no remote engine configured")?;
    let client = Client::connect(ep, cfg.max_batch).await?;
    let inline = vec![p.output.clone()];
    let mut uploaded = 0;
    let mut engine_seconds = 0.0;
    let cached = match cfg.no_cache {
        true => None,
        // A cached failure is not trusted: the job runs again.
        false => client.action_result(&p.action, &inline).await?.filter(|r| r.exit_code == 0),
    };
    let (result, place) = match cached {
        Some(r) => (r, Place::Hit),
        None => {
            uploaded = client.upload_missing(&p.blobs).await?;
            let waited = std::time::Instant::now();
            // The lookup was just made (or not wanted): the engine need not repeat it.
            let resp = client.execute(&p.action, true).await?;
            engine_seconds = waited.elapsed().as_secs_f64();
            let place = if resp.cached_result { Place::Hit } else { Place::Remote };
            (resp.result.context("the engine returned no action result")?, place)
        }
    };
    let mut downloaded = 0u64;
    let stdout = blob_or_inline(&client, &result.stdout_raw, result.stdout_digest.as_ref(), &mut downloaded).await?;
    let stderr = blob_or_inline(&client, &result.stderr_raw, result.stderr_digest.as_ref(), &mut downloaded).await?;
    if result.exit_code == 0 {
        let file = result
            .output_files
            .iter()
            .find(|f| f.path == p.output)
            .with_context(|| format!("the engine's result has no {}", p.output))?;
        let d = file.digest.as_ref().context("an output without a digest")?;
        let data = blob_or_inline(&client, &file.contents, Some(d), &mut downloaded).await?;
        write_atomically(out_path, &data)?;
    }
    Ok(Outcome {
        place,
        exit_code: result.exit_code,
        stdout,
        stderr,
        uploaded,
        downloaded,
        compile_seconds: if place == Place::Remote { execution_seconds(&result) } else { 0.0 },
        engine_seconds,
    })
}

async fn blob_or_inline(client: &Client, inline: &[u8], d: Option<&Digest>, downloaded: &mut u64) -> Result<Vec<u8>> {
    let Some(d) = d.filter(|d| d.size_bytes > 0) else { return Ok(inline.to_vec()) };
    let data = match inline.is_empty() {
        true => client.read(d).await?,
        false => crate::remote::client::verify(d, inline.to_vec())?,
    };
    *downloaded += data.len() as u64;
    Ok(data)
}

fn execution_seconds(r: &ActionResult) -> f64 {
    let Some(m) = &r.execution_metadata else { return 0.0 };
    let t = |ts: &Option<bazel_remote_apis::google::protobuf::Timestamp>| {
        ts.as_ref().map(|t| t.seconds as f64 + t.nanos as f64 * 1e-9)
    };
    match (t(&m.execution_start_timestamp), t(&m.execution_completed_timestamp)) {
        (Some(a), Some(b)) if b >= a => b - a,
        _ => 0.0,
    }
}

/// Temporary file and rename: a native is whole or absent.
fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let name = path.file_name().context("an output without a file name")?.to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.thindist-{}", std::process::id()));
    *PARTIAL.lock().unwrap_or_else(|e| e.into_inner()) = Some(tmp.clone());
    let written = std::fs::write(&tmp, data).and_then(|()| std::fs::rename(&tmp, path));
    *PARTIAL.lock().unwrap_or_else(|e| e.into_inner()) = None;
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        bail!("cannot write {}: {e}", path.display());
    }
    Ok(())
}
