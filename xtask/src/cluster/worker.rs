//! The cluster's worker: a bot of the Remote Workers API (the role
//! buildbox-worker plays in a BuildGrid deployment). It keeps a bot session
//! with the scheduler, advertising its platform properties; takes each
//! lease (BuildGrid hands them out already ACTIVE), runs the action through
//! its own buildbox-casd (whose CAS sits in front of the scheduler's, and
//! whose execution service runs buildbox-run's sandbox), makes sure the
//! outputs reached the scheduler's CAS, and reports the ActionResult.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bazel_remote_apis::build::bazel::remote::execution::v2::{Action, ActionResult, Digest, Tree};
use googleapis_tonic_google_devtools_remoteworkers_v1test2::google::devtools::remoteworkers::v1test2::{
    bots_client::BotsClient, device, BotSession, BotStatus, CreateBotSessionRequest, Device, Lease, LeaseState,
    UpdateBotSessionRequest, Worker,
};
use googleapis_tonic_google_devtools_remoteworkers_v1test2::google::rpc::Status as RpcStatus;
use prost::Message;
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;
use tonic::Code;

use crate::files::{self, Durability};
use crate::remote::client::{Client, NoRoom};
use crate::remote::digest;
use crate::remote::endpoint::Endpoint;
use crate::remote::input_root::{Blob, Blobs};
use crate::remote::retry::{self, Policy};

const ACTION_URL: &str = "type.googleapis.com/build.bazel.remote.execution.v2.Action";
const DIGEST_URL: &str = "type.googleapis.com/build.bazel.remote.execution.v2.Digest";
const RESULT_URL: &str = "type.googleapis.com/build.bazel.remote.execution.v2.ActionResult";
/// How long the scheduler may hold an UpdateBotSession open waiting for work.
const POLL: Duration = Duration::from_secs(30);
/// The least time between two calls of a worker that has no work.
const IDLE: Duration = Duration::from_millis(250);
/// A running lease is reported ACTIVE this often, well inside the
/// scheduler's bot keepalive timeout.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// The longest an action may run on this worker.
const ACTION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What a worker is told when it starts.
#[derive(Debug, Clone)]
pub struct Config {
    /// The scheduler: Bots service and the CAS the client uploaded to.
    pub scheduler: String,
    /// This worker's own buildbox-casd.
    pub casd: String,
    pub bot_id: String,
    /// Platform properties the worker advertises (`OSFamily=linux`, the toolchain).
    pub properties: Vec<(String, String)>,
    /// Where it keeps its tally of jobs.
    pub dir: PathBuf,
}

/// The jobs a worker ran, for `cluster status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tally {
    pub ran: u64,
    pub failed: u64,
}

pub fn tally_file(dir: &std::path::Path) -> PathBuf {
    dir.join("jobs.json")
}

pub fn run(cfg: Config) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(serve(cfg))
}

async fn serve(cfg: Config) -> Result<()> {
    let sched = Endpoint { url: cfg.scheduler.clone(), ..Default::default() };
    let (url, _) = sched.dial()?;
    // Lazy: a scheduler that restarts is dialled again by the next call.
    let mut bots = BotsClient::new(Channel::from_shared(url)?.connect_timeout(Duration::from_secs(5)).connect_lazy());
    let policy = Policy::default();
    let local = Client::connect(&Endpoint { url: cfg.casd.clone(), ..Default::default() }, 0, policy).await?;
    let central = Client::connect(&sched, 0, policy).await?;
    let mut tally = Tally::default();
    println!("worker {}: scheduler {}, casd {}, properties {:?}", cfg.bot_id, cfg.scheduler, cfg.casd, cfg.properties);
    loop {
        let mut session = create(&mut bots, &cfg).await;
        println!("worker {}: bot session {}", cfg.bot_id, session.name);
        let mut failures = 0u32;
        loop {
            for i in 0..session.leases.len() {
                if session.leases[i].state != LeaseState::Active as i32 {
                    continue;
                }
                let job = Job { lease: session.leases[i].clone(), local: &local, central: &central };
                let started = Instant::now();
                let (status, result) = job.run_with_heartbeat(&mut bots, &session).await;
                println!(
                    "worker {}: lease {} {} in {:.1} s",
                    cfg.bot_id,
                    job.lease.id,
                    if status.code == 0 { "done".to_string() } else { format!("failed: {}", status.message) },
                    started.elapsed().as_secs_f64()
                );
                tally.ran += 1;
                tally.failed += u64::from(status.code != 0);
                files::write_atomically(&tally_file(&cfg.dir), &serde_json::to_vec(&tally)?, Durability::Whole)?;
                let lease = &mut session.leases[i];
                lease.state = LeaseState::Completed as i32;
                lease.status = Some(status);
                lease.result = result;
            }
            let asked = Instant::now();
            match update(&mut bots, &session, POLL).await {
                Ok(next) => {
                    // An idle worker's call answered at once (BuildGrid with
                    // proactive fetching holds none): call again only after IDLE.
                    if next.leases.is_empty() && asked.elapsed() < IDLE {
                        tokio::time::sleep(IDLE - asked.elapsed()).await;
                    }
                    (session, failures) = (next, 0)
                }
                Err(s) if retry::retryable(&s) || s.code() == Code::DeadlineExceeded => {
                    // The scheduler restarting: keep the session and what it
                    // has to report, and call again.
                    failures += 1;
                    tokio::time::sleep(policy.delay(failures.min(6), None)).await;
                }
                Err(s) => {
                    println!("worker {}: the scheduler dropped the session ({s}); opening another", cfg.bot_id);
                    break;
                }
            }
        }
    }
}

fn bot_session(cfg: &Config) -> BotSession {
    let properties =
        cfg.properties.iter().map(|(k, v)| device::Property { key: k.clone(), value: v.clone() }).collect();
    BotSession {
        bot_id: cfg.bot_id.clone(),
        status: BotStatus::Ok as i32,
        worker: Some(Worker {
            // The first device is the one that runs the commands.
            devices: vec![Device { handle: cfg.bot_id.clone(), properties }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A new session, tried until the scheduler answers.
async fn create(bots: &mut BotsClient<Channel>, cfg: &Config) -> BotSession {
    let mut attempt = 0u32;
    loop {
        let mut req =
            tonic::Request::new(CreateBotSessionRequest { parent: String::new(), bot_session: Some(bot_session(cfg)) });
        req.set_timeout(POLL);
        match bots.create_bot_session(req).await {
            Ok(s) => return s.into_inner(),
            Err(e) => {
                attempt += 1;
                if attempt == 1 || attempt.is_multiple_of(10) {
                    println!("worker {}: cannot open a bot session yet ({})", cfg.bot_id, e.message());
                }
                tokio::time::sleep(Policy::default().delay(attempt.min(6), None)).await;
            }
        }
    }
}

async fn update(
    bots: &mut BotsClient<Channel>,
    session: &BotSession,
    wait: Duration,
) -> Result<BotSession, tonic::Status> {
    let mut req = tonic::Request::new(UpdateBotSessionRequest {
        name: session.name.clone(),
        bot_session: Some(session.clone()),
        update_mask: None,
    });
    req.set_timeout(wait);
    Ok(bots.update_bot_session(req).await?.into_inner())
}

struct Job<'a> {
    lease: Lease,
    local: &'a Client,
    central: &'a Client,
}

impl Job<'_> {
    /// Runs the lease's action while telling the scheduler, every
    /// HEARTBEAT, that the lease is still ACTIVE.
    async fn run_with_heartbeat(
        &self,
        bots: &mut BotsClient<Channel>,
        session: &BotSession,
    ) -> (RpcStatus, Option<prost_types::Any>) {
        let work = self.run();
        tokio::pin!(work);
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        let outcome = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = beat.tick() => {
                    // A missed heartbeat is not the job's failure; the next one may pass.
                    let _ = update(bots, session, Duration::from_secs(5)).await;
                }
            }
        };
        match outcome {
            Ok(result) => (
                RpcStatus::default(),
                Some(prost_types::Any { type_url: RESULT_URL.into(), value: result.encode_to_vec() }),
            ),
            Err(e) => (status_of(&e), None),
        }
    }

    async fn run(&self) -> Result<ActionResult> {
        let action = self.action().await?;
        let resp = self.local.execute(&action, true, ACTION_TIMEOUT).await?;
        let result = resp.result.context("the worker's casd returned no ActionResult")?;
        self.send_outputs(&result).await?;
        Ok(result)
    }

    /// The action's digest, its blob put into the local CAS when the
    /// scheduler sent the Action itself.
    async fn action(&self) -> Result<Digest> {
        let payload = self.lease.payload.as_ref().context("the lease has no payload")?;
        match payload.type_url.as_str() {
            DIGEST_URL => Ok(Digest::decode(payload.value.as_slice())?),
            ACTION_URL => {
                let action = Action::decode(payload.value.as_slice())?;
                let (d, bytes) = digest::of_message(&action);
                let blobs: Blobs = [(d.hash.clone(), (d.clone(), Blob::Bytes(bytes)))].into();
                self.local.upload_missing(&blobs).await?;
                Ok(d)
            }
            other => bail!("the lease's payload is a {other}, not an Action"),
        }
    }

    /// Every blob the result names, in the scheduler's CAS: the client
    /// reads outputs from there.
    async fn send_outputs(&self, result: &ActionResult) -> Result<()> {
        let mut wanted: Vec<Digest> = result.output_files.iter().filter_map(|f| f.digest.clone()).collect();
        wanted.extend(result.stdout_digest.clone());
        wanted.extend(result.stderr_digest.clone());
        for dir in &result.output_directories {
            let Some(tree_digest) = &dir.tree_digest else { continue };
            let tree = Tree::decode(self.local.read(tree_digest).await?.as_slice())?;
            wanted.push(tree_digest.clone());
            for d in tree.root.iter().chain(tree.children.iter()) {
                wanted.extend(d.files.iter().filter_map(|f| f.digest.clone()));
            }
        }
        let missing = self.central.find_missing(wanted).await?;
        let mut blobs = Blobs::new();
        for d in missing {
            let data = self.local.read(&d).await?;
            blobs.insert(d.hash.clone(), (d, Blob::Bytes(data)));
        }
        self.central.upload_missing(&blobs).await?;
        Ok(())
    }
}

/// The lease's status for a job that could not run: lost inputs are
/// FAILED_PRECONDITION (the client sends them again); anything else is
/// INTERNAL, which the scheduler retries on another worker.
fn status_of(e: &anyhow::Error) -> RpcStatus {
    let code = match e.downcast_ref::<NoRoom>() {
        Some(NoRoom::Lost(_)) => Code::FailedPrecondition,
        _ => Code::Internal,
    };
    RpcStatus { code: code as i32, message: format!("{e:#}"), details: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_inputs_go_back_to_the_client_and_other_failures_to_another_worker() {
        let lost = anyhow::Error::from(NoRoom::Lost("blob abc/1: not found".into()));
        assert_eq!(status_of(&lost).code, Code::FailedPrecondition as i32);
        let other = anyhow::anyhow!("the worker's casd returned no ActionResult");
        let s = status_of(&other);
        assert_eq!(s.code, Code::Internal as i32);
        assert!(s.message.contains("no ActionResult"));
    }

    #[test]
    fn the_session_advertises_its_properties_on_the_primary_device() {
        let cfg = Config {
            scheduler: "grpc://198.51.100.1:50071".into(),
            casd: "grpc://127.0.0.1:50081".into(),
            bot_id: "ab12-w1".into(),
            properties: vec![("OSFamily".into(), "linux".into())],
            dir: PathBuf::from("/nonexistent"),
        };
        let s = bot_session(&cfg);
        let device = &s.worker.as_ref().unwrap().devices[0];
        assert_eq!((s.bot_id.as_str(), s.status), ("ab12-w1", BotStatus::Ok as i32));
        assert_eq!((device.properties[0].key.as_str(), device.properties[0].value.as_str()), ("OSFamily", "linux"));
    }
}
