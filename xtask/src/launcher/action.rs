//! One compile as a REAPI action, whatever its stage: the command (compiler
//! identity included, tree paths made relative), the input root, the cache
//! lookup, Execute, and the outputs written atomically, with clang's own
//! exit code and output.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result};

use bazel_remote_apis::build::bazel::remote::execution::v2::{
    command::EnvironmentVariable, platform::Property, Action, ActionResult, Command, Digest, Platform, RequestMetadata,
    ToolDetails,
};
use bazel_remote_apis::google::protobuf::Duration as ProtoDuration;

use crate::files::{self, Durability};
use crate::launcher::config::LaunchConfig;
use crate::launcher::depfile;
use crate::launcher::paths::{self, TreeMap, TOOLCHAIN, TOOLCHAIN_FROM_WORKDIR, WORKDIR};
use crate::launcher::record::{Place, Scan};
use crate::remote::client::{Client, NoRoom};
use crate::remote::digest;
use crate::remote::input_root::{Blob, Blobs, InputRoot};
use crate::remote::retry::Policy;
use crate::toolchain::bundle::{self, Bundle, BundleFile};

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
    /// Calls to the engine tried again (a restart, a dropped stream).
    pub retries: u32,
}

/// The longest a compile may run on the engine (REAPI's Action.timeout);
/// the wait on Execute ends a minute after it.
const ACTION_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What kind of compile an action is, for the engine's UI (RequestMetadata's
/// mnemonic, as Bazel's `CppCompile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mnemonic {
    /// A front-end compile of a C or assembler source.
    CCompile,
    /// A ThinLTO back-end job: IR and its index to a native object.
    ThinLtoBackend,
}

impl Mnemonic {
    fn name(self) -> &'static str {
        match self {
            Mnemonic::CCompile => "CCompile",
            Mnemonic::ThinLtoBackend => "ThinLtoBackend",
        }
    }
}

/// Why a job cannot go to the engine: it then runs here, by design.
pub struct NotDescribable(pub String);

impl NotDescribable {
    pub fn of(e: impl std::fmt::Display) -> Self {
        Self(e.to_string())
    }
}

/// A file the compile writes: where the engine puts it, where it goes here.
pub struct Output {
    in_root: String,
    local: PathBuf,
    /// A make dependency file: its paths are turned back into the local ones.
    depfile: bool,
}

pub struct Prepared {
    action: Digest,
    mnemonic: Mnemonic,
    /// The compile's own output (`-o`), which names the job to the engine.
    target: String,
    blobs: Blobs,
    outputs: Vec<Output>,
    pub input_root: Digest,
    /// A front-end compile: whether its dependency scan ran or was reused.
    pub scan: Option<Scan>,
}

impl Prepared {
    pub fn scanned(self, how: Scan) -> Self {
        Self { scan: Some(how), ..self }
    }
}

/// The trees of a build, checked to be where the compiler runs.
pub fn trees(cfg: &LaunchConfig) -> Result<TreeMap<'_>, NotDescribable> {
    let here = std::env::current_dir().map_err(NotDescribable::of)?;
    if here != cfg.objtree {
        return Err(NotDescribable(format!("run in {}, not the object tree", here.display())));
    }
    Ok(TreeMap { srctree: &cfg.srctree, objtree: &cfg.objtree })
}

/// An input's bytes; one that cannot be read keeps the job here.
pub fn read(file: &str) -> Result<Vec<u8>, NotDescribable> {
    std::fs::read(file).map_err(|e| NotDescribable(format!("cannot read {file}: {e}")))
}

/// Adds a file named on the command line or by the compiler to the input root.
pub fn add_input(root: &mut InputRoot, trees: &TreeMap, file: &str) -> Result<(), NotDescribable> {
    add_read(root, trees, file, read(file)?)
}

/// Adds a file already read. A path with `..` in it is resolved as words
/// there, so it must be the same file here: no symbolic link on the way.
pub fn add_read(root: &mut InputRoot, trees: &TreeMap, file: &str, data: Vec<u8>) -> Result<(), NotDescribable> {
    let at = trees
        .input_path(file)
        .ok_or_else(|| NotDescribable(format!("`{file}` is outside the source and object trees")))?;
    let walked = trees.dirs_walked(file);
    if !walked.is_empty() {
        let real = std::fs::canonicalize(file).map_err(NotDescribable::of)?;
        if trees.input_path(&real.to_string_lossy()).as_ref() != Some(&at) {
            return Err(NotDescribable(format!("`{file}` passes through a symbolic link")));
        }
    }
    for dir in walked {
        root.add_dir(&dir).map_err(NotDescribable::of)?;
    }
    root.add(&at, data, false).map_err(NotDescribable::of)
}

/// Makes each directory that exists here, in the trees, exist on the
/// engine too (empty unless files are added under it): clang checks the
/// directories of its search path (`-Wmissing-include-dirs`). One outside
/// the trees (clang's own headers) is where the sandbox binds it.
pub fn add_dirs<'a>(
    root: &mut InputRoot,
    trees: &TreeMap,
    dirs: impl Iterator<Item = &'a str>,
) -> Result<(), NotDescribable> {
    for dir in dirs.filter(|d| Path::new(d).is_dir()) {
        if let Some(at) = trees.input_path(dir) {
            for walked in trees.dirs_walked(dir).iter().chain([&at]) {
                root.add_dir(walked).map_err(NotDescribable::of)?;
            }
        }
    }
    Ok(())
}

/// The action of a compile: its command line with the trees' paths made
/// relative, its input root, and the files it writes (`(file, is a depfile)`).
pub fn build(
    cfg: &LaunchConfig,
    trees: &TreeMap,
    mut root: InputRoot,
    args: &[String],
    writes: &[(&str, bool)],
    mnemonic: Mnemonic,
) -> Result<Prepared, NotDescribable> {
    let mut outputs = Vec::new();
    for (file, depfile) in writes {
        let in_root = trees
            .input_path(file)
            .and_then(|p| p.strip_prefix(&format!("{WORKDIR}/")).map(str::to_string))
            .ok_or_else(|| NotDescribable(format!("output `{file}` is outside the object tree")))?;
        outputs.push(Output { in_root, local: PathBuf::from(file), depfile: *depfile });
    }
    let target = writes.first().map(|(f, _)| f.to_string()).unwrap_or_default();
    // REAPI wants the output paths sorted.
    outputs.sort_by(|a, b| a.in_root.cmp(&b.in_root));
    let bundle = toolchain(cfg)?;
    let mut environment = vec![
        ("PATH", "/usr/bin:/bin".to_string()),
        // Not read by clang: it makes the compiler's identity part of the action.
        ("THINDIST_COMPILER", cfg.compiler.id.clone()),
    ];
    let mut arguments = match bundle {
        Some(b) => {
            add_toolchain(&mut root, b)?;
            // The libraries' own libraries (libLLVM's libz3, libxml2, …) are found here too.
            environment.push(("LD_LIBRARY_PATH", format!("{TOOLCHAIN_FROM_WORKDIR}/{}", bundle::LIBRARIES)));
            vec![format!("{TOOLCHAIN_FROM_WORKDIR}/{}", bundle::DRIVER)]
        }
        None => vec![cfg.compiler.path.display().to_string()],
    };
    arguments.extend(args.iter().map(|a| in_bundle(bundle, trees.rewrite_arg(a))));
    // REAPI wants the variables sorted by name.
    environment.sort();
    let environment_variables =
        environment.into_iter().map(|(name, value)| EnvironmentVariable { name: name.into(), value }).collect();
    // Command's platform and output_files are REAPI 2.0's (deprecated since):
    // set for engines of that version, as Bazel does.
    #[allow(deprecated)]
    let command = Command {
        arguments,
        environment_variables,
        working_directory: WORKDIR.into(),
        platform: platform(&cfg.platform),
        ..Default::default()
    };
    let paths = outputs.iter().map(|o| o.in_root.clone()).collect();
    #[allow(deprecated)]
    let command = match cfg.legacy_outputs {
        // An engine of REAPI 2.0 reads output_files; 2.1 and later output_paths.
        true => Command { output_files: paths, ..command },
        false => Command { output_paths: paths, ..command },
    };
    let (command_digest, command_bytes) = digest::of_message(&command);
    let input_root = root.seal();
    let mut blobs = root.blobs;
    blobs.insert(command_digest.hash.clone(), (command_digest.clone(), Blob::Bytes(command_bytes)));
    let action = Action {
        command_digest: Some(command_digest),
        input_root_digest: Some(input_root.clone()),
        salt: cfg.salt.clone().into_bytes(),
        platform: platform(&cfg.platform),
        timeout: Some(ProtoDuration { seconds: ACTION_TIMEOUT.as_secs() as i64, nanos: 0 }),
        ..Default::default()
    };
    let (action_digest, action_bytes) = digest::of_message(&action);
    blobs.insert(action_digest.hash.clone(), (action_digest.clone(), Blob::Bytes(action_bytes)));
    Ok(Prepared { action: action_digest, mnemonic, target, blobs, outputs, input_root, scan: None })
}

/// The build's uploaded toolchain, if it has one (read once per launcher).
pub fn toolchain(cfg: &LaunchConfig) -> Result<Option<&'static Bundle>, NotDescribable> {
    static LOADED: OnceLock<Result<Option<Bundle>, String>> = OnceLock::new();
    let loaded =
        LOADED.get_or_init(|| cfg.toolchain.as_deref().map(Bundle::load).transpose().map_err(|e| format!("{e:#}")));
    loaded.as_ref().map(Option::as_ref).map_err(|e| NotDescribable(e.clone()))
}

/// Puts the toolchain into the input root, by the digests it was hashed to.
fn add_toolchain(root: &mut InputRoot, b: &Bundle) -> Result<(), NotDescribable> {
    for f in &b.files {
        root.add_file(&format!("{TOOLCHAIN}/{}", f.at), file_digest(f), &f.local, f.executable)
            .map_err(NotDescribable::of)?;
    }
    Ok(())
}

/// The toolchain's files as blobs, read only when sent.
pub fn toolchain_blobs(b: &Bundle) -> Blobs {
    b.files.iter().map(|f| (f.hash.clone(), (file_digest(f), Blob::File(f.local.clone())))).collect()
}

fn file_digest(f: &BundleFile) -> Digest {
    Digest { hash: f.hash.clone(), size_bytes: f.size }
}

/// An argument naming the compiler's resource directory (`-isystem
/// …/include`) names the bundle's instead.
fn in_bundle(bundle: Option<&Bundle>, arg: String) -> String {
    match bundle {
        Some(b) => paths::replace_path_prefix(
            &arg,
            &b.resource_dir.display().to_string(),
            &format!("{TOOLCHAIN_FROM_WORKDIR}/{}", b.resource_at),
        ),
        None => arg,
    }
}

/// A path the engine's compiler wrote (a dependency file's), as the local
/// compile would have: the trees and the resource directory as they are here.
fn local_path(trees: &TreeMap, bundle: Option<&Bundle>, path: &str) -> String {
    let path = trees.local_path(path);
    let Some(b) = bundle else { return path };
    match path.strip_prefix(&format!("{TOOLCHAIN_FROM_WORKDIR}/{}", b.resource_at)) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{}{rest}", b.resource_dir.display()),
        _ => path,
    }
}

/// The platform properties workers are matched on, sorted by name then value as REAPI requires.
fn platform(properties: &[(String, String)]) -> Option<Platform> {
    if properties.is_empty() {
        return None;
    }
    let mut properties: Vec<Property> =
        properties.iter().map(|(name, value)| Property { name: name.clone(), value: value.clone() }).collect();
    properties.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
    Some(Platform { properties })
}

/// What the engine is told about the job with every call: the tool, the
/// build (one invocation id), the action, its kind and its output.
fn metadata(cfg: &LaunchConfig, p: &Prepared) -> RequestMetadata {
    RequestMetadata {
        tool_details: Some(ToolDetails {
            tool_name: "thindist".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
        }),
        action_id: p.action.hash.clone(),
        tool_invocation_id: cfg.invocation.clone(),
        action_mnemonic: p.mnemonic.name().into(),
        target_id: p.target.clone(),
        ..Default::default()
    }
}

/// Looks the action up, else uploads what is missing and executes it; writes
/// the outputs. Blobs the engine lost meanwhile (an eviction) are sent
/// again and the action run once more, as Bazel's client does; lost a
/// second time, that is the error.
pub async fn run(cfg: &LaunchConfig, p: &Prepared) -> Result<Outcome> {
    let ep = cfg.endpoint.as_ref().context("no remote engine configured")?;
    // With the fallback a job that cannot reach the engine runs here: it
    // waits seconds for the engine, not the minute a build without it does.
    let policy = if cfg.fallback { Policy::quick() } else { Policy::default() };
    let client = Client::connect(ep, cfg.max_batch, policy).await?.with_metadata(&metadata(cfg, p));
    match attempt(cfg, &client, p, cfg.no_cache).await {
        Err(e) if matches!(e.downcast_ref::<NoRoom>(), Some(NoRoom::Lost(_))) => {
            super::say(&format!("warning: {e:#}; sending the inputs again"));
            // The cached result may name the lost outputs: execute afresh.
            attempt(cfg, &client, p, true).await
        }
        other => other,
    }
}

async fn attempt(cfg: &LaunchConfig, client: &Client, p: &Prepared, no_cache: bool) -> Result<Outcome> {
    let inline: Vec<String> = p.outputs.iter().map(|o| o.in_root.clone()).collect();
    let mut uploaded = 0;
    let mut engine_seconds = 0.0;
    let cached = match no_cache {
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
            let resp = client.execute(&p.action, true, ACTION_TIMEOUT + Duration::from_secs(60)).await?;
            engine_seconds = waited.elapsed().as_secs_f64();
            let place = if resp.cached_result { Place::Hit } else { Place::Remote };
            (resp.result.context("the engine returned no action result")?, place)
        }
    };
    let mut downloaded = 0u64;
    let stdout = blob_or_inline(client, &result.stdout_raw, result.stdout_digest.as_ref(), &mut downloaded).await?;
    let stderr = blob_or_inline(client, &result.stderr_raw, result.stderr_digest.as_ref(), &mut downloaded).await?;
    if result.exit_code == 0 {
        let trees = TreeMap { srctree: &cfg.srctree, objtree: &cfg.objtree };
        let bundle = toolchain(cfg).map_err(|e| anyhow::anyhow!(e.0))?;
        for o in &p.outputs {
            let file = result
                .output_files
                .iter()
                .find(|f| f.path == o.in_root)
                .with_context(|| format!("the engine's result has no {}", o.in_root))?;
            let d = file.digest.as_ref().context("an output without a digest")?;
            let data = blob_or_inline(client, &file.contents, Some(d), &mut downloaded).await?;
            let data = match o.depfile {
                true => depfile::to_local(&data, |p| local_path(&trees, bundle, p)),
                false => data,
            };
            files::write_atomically(&o.local, &data, Durability::Whole)?;
        }
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
        retries: client.retries(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_properties_are_sorted_and_metadata_names_the_job() {
        let given = [("container-image", "docker://x"), ("OSFamily", "Linux"), ("ISA", "x86-64"), ("ISA", "amd64")];
        let given: Vec<(String, String)> = given.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let sorted: Vec<String> =
            platform(&given).unwrap().properties.iter().map(|p| format!("{}={}", p.name, p.value)).collect();
        assert_eq!(sorted, ["ISA=amd64", "ISA=x86-64", "OSFamily=Linux", "container-image=docker://x"]);
        assert_eq!(platform(&[]), None, "no properties, no platform: the action keeps its key");

        let compiler =
            crate::toolchain::identity::Compiler { path: "/usr/bin/clang-19".into(), id: "sha256:0 clang".into() };
        let cfg = LaunchConfig {
            endpoint: None,
            front_ends: true,
            no_cache: false,
            fallback: false,
            records: "/r".into(),
            srctree: "/src".into(),
            objtree: "/obj".into(),
            compiler,
            max_batch: 0,
            salt: String::new(),
            scans: None,
            platform: Vec::new(),
            invocation: "inv-1".into(),
            legacy_outputs: false,
            toolchain: None,
        };
        let out = |f: &str| Output { in_root: f.into(), local: PathBuf::from(format!("/obj/{f}")), depfile: false };
        let p = Prepared {
            action: digest::of(b"action"),
            mnemonic: Mnemonic::CCompile,
            target: "lib/x.o".into(),
            blobs: Blobs::new(),
            outputs: vec![out("lib/.x.o.d"), out("lib/x.o")],
            input_root: digest::of(b"root"),
            scan: None,
        };
        let m = metadata(&cfg, &p);
        assert_eq!(m.tool_details.unwrap().tool_name, "thindist");
        assert_eq!((m.tool_invocation_id.as_str(), m.action_mnemonic.as_str()), ("inv-1", "CCompile"));
        assert_eq!(m.action_id, p.action.hash);
        assert_eq!(m.target_id, "lib/x.o");
    }
}
