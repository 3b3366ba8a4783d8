//! A REAPI v2 client over the generated bindings: capabilities, CAS
//! (FindMissingBlobs, batch and ByteStream transfers, digests checked),
//! the action cache and Execute. Every call carries a deadline and the
//! job's RequestMetadata, and is retried on transient failures
//! (`retry`); an Execute whose stream drops is followed with
//! WaitExecution on its operation, and executed again if that is gone.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bazel_remote_apis::build::bazel::remote::execution::v2::{
    action_cache_client::ActionCacheClient, batch_update_blobs_request, capabilities_client::CapabilitiesClient,
    content_addressable_storage_client::ContentAddressableStorageClient, execution_client::ExecutionClient,
    ActionResult, BatchReadBlobsRequest, BatchUpdateBlobsRequest, Digest, ExecuteRequest, ExecuteResponse,
    FindMissingBlobsRequest, GetActionResultRequest, GetCapabilitiesRequest, RequestMetadata, ServerCapabilities,
    WaitExecutionRequest,
};
use bazel_remote_apis::google::bytestream::{byte_stream_client::ByteStreamClient, ReadRequest, WriteRequest};
use bazel_remote_apis::google::longrunning::{operation, Operation};
use prost::Message;
use tonic::metadata::{Ascii, Binary, MetadataKey, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::{Code, Request, Status, Streaming};

use crate::remote::credentials;
use crate::remote::digest;
use crate::remote::endpoint::Endpoint;
use crate::remote::input_root::Blobs;
use crate::remote::retry::{self, Policy};

/// Every call but Execute's wait ends within this.
const CALL_DEADLINE: Duration = Duration::from_secs(60);
/// The most a single blob may be: the engine names output sizes, and a
/// size is allocated only up to this (a kernel's largest object is tens of MiB).
pub const MAX_BLOB: i64 = 1 << 30;
/// gRPC's metadata key for REAPI's RequestMetadata (binary, a `-bin` key).
const METADATA_KEY: &str = "build.bazel.remote.execution.v2.requestmetadata-bin";

/// Servers that advertise no limit still cap gRPC messages at 4 MiB.
const DEFAULT_BATCH: usize = 4 << 20;
/// Room for the request's own fields inside a batch.
const BATCH_OVERHEAD: usize = 64 << 10;
const CHUNK: usize = 1 << 20;

/// The engine's CAS has no room for a job (a disk running low, its size
/// limit reached): it refused a blob for lack of space, or lost blobs it
/// had accepted, evicted between the upload and their use (REAPI says so
/// with FAILED_PRECONDITION for missing inputs, or NOT_FOUND).
#[derive(Debug, thiserror::Error)]
pub enum NoRoom {
    #[error("the engine refused a blob for lack of space: {0}")]
    Refused(String),
    #[error("the engine lost blobs it had accepted: {0}")]
    Lost(String),
}

/// An upload refused for space: RESOURCE_EXHAUSTED, or buildbox-casd's
/// OutOfSpaceException (which it returns as an internal error).
fn is_out_of_space(code: i32, message: &str) -> bool {
    code == Code::ResourceExhausted as i32 || message.contains("OutOfSpace")
}

/// gRPC's FAILED_PRECONDITION and NOT_FOUND, as numbers in a google.rpc.Status.
fn is_missing(code: i32) -> bool {
    code == Code::FailedPrecondition as i32 || code == Code::NotFound as i32
}

/// An action's failure that says its inputs are gone: REAPI's codes, or
/// buildbox's runner failing to stage an input tree the CAS evicted
/// (INTERNAL, "Tree is not completely available from LocalCAS").
fn inputs_missing(code: i32, message: &str) -> bool {
    is_missing(code) || message.contains("not completely available") || message.contains("Blob not found")
}

#[derive(Clone)]
pub struct Client {
    channel: Channel,
    /// The engine as the user named it, for messages.
    url: String,
    instance: String,
    auth: Option<MetadataValue<Ascii>>,
    /// `--remote-header`s, their values read once per client.
    headers: Vec<(MetadataKey<Ascii>, MetadataValue<Ascii>)>,
    /// The job's RequestMetadata, sent with every call.
    metadata: Option<MetadataValue<Binary>>,
    policy: Policy,
    /// Calls tried again, for the job's record.
    retries: Arc<AtomicU32>,
    /// The largest batch request, from the server's capabilities.
    pub max_batch: usize,
}

impl Client {
    /// Connects, trying again while the engine is unreachable (a scheduler
    /// restarting) as long as `policy` says, which every call then follows;
    /// `max_batch` of 0 asks the server.
    pub async fn connect(ep: &Endpoint, max_batch: usize, policy: Policy) -> Result<Self> {
        let (started, mut attempt) = (Instant::now(), 1);
        loop {
            match Self::connect_once(ep, max_batch, policy).await {
                Ok(c) => {
                    c.retries.fetch_add(attempt - 1, Ordering::Relaxed);
                    return Ok(c);
                }
                Err(e)
                    if e.downcast_ref::<tonic::transport::Error>().is_some()
                        && policy.again(attempt, started.elapsed()) =>
                {
                    tokio::time::sleep(policy.delay(attempt, None)).await;
                    attempt += 1;
                }
                Err(e) if attempt > 1 => return Err(e.context(gave_up("connecting", &ep.url, attempt, started))),
                Err(e) => return Err(e),
            }
        }
    }

    async fn connect_once(ep: &Endpoint, max_batch: usize, policy: Policy) -> Result<Self> {
        let (url, tls) = ep.dial()?;
        let mut builder = Channel::from_shared(url.clone())?
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(30));
        if tls {
            let mut cfg = ClientTlsConfig::new().with_native_roots();
            if let Some(ca) = &ep.ca {
                let pem = std::fs::read(ca).with_context(|| format!("cannot read CA file {}", ca.display()))?;
                cfg = cfg.ca_certificate(Certificate::from_pem(pem));
            }
            if let (Some(c), Some(k)) = (&ep.cert, &ep.key) {
                let cert = std::fs::read(c).with_context(|| format!("cannot read {}", c.display()))?;
                let key = std::fs::read(k).with_context(|| format!("cannot read {}", k.display()))?;
                cfg = cfg.identity(Identity::from_pem(cert, key));
            }
            builder = builder.tls_config(cfg)?;
        }
        let auth = match ep.token()? {
            Some(t) => Some(format!("Bearer {t}").parse().context("the token is not a valid header value")?),
            None => None,
        };
        let mut given: Vec<(String, String)> =
            ep.headers.iter().map(|h| Ok((h.name.clone(), h.value()?))).collect::<Result<_>>()?;
        if let Some(helper) = &ep.credential_helper {
            given.extend(credentials::headers(helper, &ep.url)?);
        }
        let mut headers = Vec::new();
        for (name, value) in given {
            let key =
                MetadataKey::from_bytes(name.as_bytes()).with_context(|| format!("`{name}` is not a header name"))?;
            let value =
                value.parse().with_context(|| format!("the value of header {name} is not a valid header value"))?;
            headers.push((key, value));
        }
        let channel = builder
            .timeout(CALL_DEADLINE)
            .connect()
            .await
            .with_context(|| format!("cannot reach the remote engine at {}", ep.url))?;
        let mut client = Self {
            channel,
            url: ep.url.clone(),
            instance: ep.instance.clone(),
            auth,
            headers,
            metadata: None,
            policy,
            retries: Arc::default(),
            max_batch,
        };
        if max_batch == 0 {
            let caps = client.capabilities().await?;
            client.max_batch = batch_limit(&caps);
        }
        Ok(client)
    }

    /// The same client, sending `metadata` with every call (tool, invocation, action).
    pub fn with_metadata(mut self, metadata: &RequestMetadata) -> Self {
        self.metadata = Some(MetadataValue::from_bytes(&metadata.encode_to_vec()));
        self
    }

    /// Calls tried again so far.
    pub fn retries(&self) -> u32 {
        self.retries.load(Ordering::Relaxed)
    }

    fn req<T>(&self, m: T) -> Request<T> {
        let mut r = Request::new(m);
        if let Some(a) = &self.auth {
            r.metadata_mut().insert("authorization", a.clone());
        }
        for (k, v) in &self.headers {
            r.metadata_mut().insert(k.clone(), v.clone());
        }
        if let Some(m) = &self.metadata {
            r.metadata_mut().insert_bin(METADATA_KEY, m.clone());
        }
        r
    }

    /// Runs `call` until it answers, fails for good, or the policy says stop;
    /// a failure that outlived the retries names the engine and the tries.
    async fn retrying<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let (started, mut attempt) = (Instant::now(), 1);
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(s) if retry::retryable(&s) && self.policy.again(attempt, started.elapsed()) => {
                    tokio::time::sleep(self.policy.delay(attempt, retry::asked_delay(&s))).await;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    attempt += 1;
                }
                Err(s) if retry::retryable(&s) => {
                    return Err(s).with_context(|| gave_up(what, &self.url, attempt, started));
                }
                Err(s) => return Err(s).context(what.to_string()),
            }
        }
    }

    pub async fn capabilities(&self) -> Result<ServerCapabilities> {
        let caps = self
            .retrying("GetCapabilities", || {
                let req = self.req(GetCapabilitiesRequest { instance_name: self.instance.clone() });
                async move { CapabilitiesClient::new(self.channel.clone()).get_capabilities(req).await }
            })
            .await?;
        Ok(caps.into_inner())
    }

    /// The digests the CAS does not have.
    pub async fn find_missing(&self, digests: Vec<Digest>) -> Result<Vec<Digest>> {
        let resp = self
            .retrying("FindMissingBlobs", || {
                let req = self.req(FindMissingBlobsRequest {
                    instance_name: self.instance.clone(),
                    blob_digests: digests.clone(),
                    ..Default::default()
                });
                async move { ContentAddressableStorageClient::new(self.channel.clone()).find_missing_blobs(req).await }
            })
            .await?;
        Ok(resp.into_inner().missing_blob_digests)
    }

    /// Uploads the blobs the CAS is missing; returns the bytes sent.
    pub async fn upload_missing(&self, blobs: &Blobs) -> Result<u64> {
        let missing = self.find_missing(blobs.values().map(|(d, _)| d.clone()).collect()).await?;
        let mut sent = 0u64;
        let mut batch: Vec<batch_update_blobs_request::Request> = Vec::new();
        let mut batch_bytes = 0usize;
        for d in missing {
            let (_, blob) = blobs
                .get(&d.hash)
                .with_context(|| format!("the server asked for unknown blob {}", digest::show(&d)))?;
            let data = blob.load(&d)?;
            sent += data.len() as u64;
            if data.len() + BATCH_OVERHEAD > self.max_batch {
                self.write_stream(&d, &data).await?;
                continue;
            }
            if batch_bytes + data.len() + BATCH_OVERHEAD > self.max_batch {
                self.batch_update(std::mem::take(&mut batch)).await?;
                batch_bytes = 0;
            }
            batch_bytes += data.len() + 128;
            batch.push(batch_update_blobs_request::Request {
                digest: Some(d),
                data: data.into_owned(),
                ..Default::default()
            });
        }
        if !batch.is_empty() {
            self.batch_update(batch).await?;
        }
        Ok(sent)
    }

    async fn batch_update(&self, requests: Vec<batch_update_blobs_request::Request>) -> Result<()> {
        let resp = self
            .retrying("BatchUpdateBlobs", || {
                let req = self.req(BatchUpdateBlobsRequest {
                    instance_name: self.instance.clone(),
                    requests: requests.clone(),
                    ..Default::default()
                });
                async move { ContentAddressableStorageClient::new(self.channel.clone()).batch_update_blobs(req).await }
            })
            .await?
            .into_inner();
        for r in resp.responses {
            if let Some(s) = r.status.filter(|s| s.code != 0) {
                let blob = r.digest.map(|d| digest::show(&d)).unwrap_or_default();
                if is_out_of_space(s.code, &s.message) {
                    return Err(NoRoom::Refused(format!("blob {blob}: {}", s.message)).into());
                }
                bail!("the engine refused blob {blob}: {}", s.message);
            }
        }
        Ok(())
    }

    fn resource(&self, tail: String) -> String {
        match self.instance.is_empty() {
            true => tail,
            false => format!("{}/{tail}", self.instance),
        }
    }

    async fn write_stream(&self, d: &Digest, data: &[u8]) -> Result<()> {
        let name = self.resource(format!("uploads/{}/blobs/{}/{}", uuid::Uuid::new_v4(), d.hash, d.size_bytes));
        let mut requests = Vec::new();
        let mut offset = 0usize;
        loop {
            let end = (offset + CHUNK).min(data.len());
            requests.push(WriteRequest {
                resource_name: if offset == 0 { name.clone() } else { String::new() },
                write_offset: offset as i64,
                finish_write: end == data.len(),
                data: data[offset..end].to_vec(),
            });
            offset = end;
            if offset == data.len() {
                break;
            }
        }
        let resp = self
            .retrying("ByteStream.Write", || {
                let req = self.req(tokio_stream::iter(requests.clone()));
                async move { ByteStreamClient::new(self.channel.clone()).write(req).await }
            })
            .await?;
        let committed = resp.into_inner().committed_size;
        if committed != d.size_bytes {
            bail!("ByteStream.Write committed {committed} of {} bytes", d.size_bytes);
        }
        Ok(())
    }

    /// A cached result, or None when the action cache has none.
    pub async fn action_result(&self, action: &Digest, inline: &[String]) -> Result<Option<ActionResult>> {
        let found = self
            .retrying("GetActionResult", || {
                let req = self.req(GetActionResultRequest {
                    instance_name: self.instance.clone(),
                    action_digest: Some(action.clone()),
                    inline_stdout: true,
                    inline_stderr: true,
                    inline_output_files: inline.to_vec(),
                    ..Default::default()
                });
                async move {
                    match ActionCacheClient::new(self.channel.clone()).get_action_result(req).await {
                        Ok(r) => Ok(Some(r.into_inner())),
                        Err(s) if s.code() == Code::NotFound => Ok(None),
                        Err(s) => Err(s),
                    }
                }
            })
            .await?;
        Ok(found)
    }

    /// Runs an action and waits for it to finish, within `timeout`. The
    /// operation's name is kept: a stream that drops is followed with
    /// WaitExecution, and an operation the engine no longer knows (it
    /// restarted) is executed again.
    pub async fn execute(
        &self,
        action: &Digest,
        skip_cache_lookup: bool,
        timeout: Duration,
    ) -> Result<ExecuteResponse> {
        let (started, mut attempt) = (Instant::now(), 1);
        let mut operation: Option<String> = None;
        // WaitExecution calls that failed in a row on the same operation.
        let mut waits_failed = 0;
        loop {
            // This round follows an operation the engine started earlier.
            let waiting = operation.is_some();
            let opened = match &operation {
                None => self.open_execute(action, skip_cache_lookup, timeout).await,
                Some(name) => self.open_wait(name, timeout).await,
            };
            let failed = match opened {
                Ok(mut stream) => match follow(&mut stream, &mut operation).await {
                    Ok(Some(done)) => return finished(done),
                    Ok(None) => Status::unavailable("the Execute stream ended before the action finished"),
                    Err(s) => s,
                },
                Err(s) => s,
            };
            waits_failed = if waiting { waits_failed + 1 } else { 0 };
            if waiting && (!retry::retryable(&failed) || waits_failed > 2) {
                // WaitExecution refused, or failing again and again: the engine
                // forgot the operation (a restart: NOT_FOUND), or does not follow
                // operations. Run the action again.
                (operation, waits_failed) = (None, 0);
            } else if is_missing(failed.code() as i32) {
                // The action or its inputs are not in the CAS (evicted): send them again.
                return Err(NoRoom::Lost(failed.message().to_string()).into());
            } else if !retry::retryable(&failed) {
                return Err(failed).context("Execute");
            }
            if !self.policy.again(attempt, started.elapsed()) {
                return Err(failed).with_context(|| gave_up("Execute", &self.url, attempt, started));
            }
            tokio::time::sleep(self.policy.delay(attempt, retry::asked_delay(&failed))).await;
            self.retries.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
        }
    }

    async fn open_execute(
        &self,
        action: &Digest,
        skip_cache_lookup: bool,
        timeout: Duration,
    ) -> Result<Streaming<Operation>, Status> {
        let mut req = self.req(ExecuteRequest {
            instance_name: self.instance.clone(),
            skip_cache_lookup,
            action_digest: Some(action.clone()),
            ..Default::default()
        });
        req.set_timeout(timeout);
        Ok(ExecutionClient::new(self.channel.clone()).execute(req).await?.into_inner())
    }

    async fn open_wait(&self, name: &str, timeout: Duration) -> Result<Streaming<Operation>, Status> {
        let mut req = self.req(WaitExecutionRequest { name: name.to_string() });
        req.set_timeout(timeout);
        Ok(ExecutionClient::new(self.channel.clone()).wait_execution(req).await?.into_inner())
    }

    /// A blob's bytes, checked against its digest; never more than it names,
    /// and never a digest above `MAX_BLOB`.
    pub async fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        if !(0..=MAX_BLOB).contains(&d.size_bytes) {
            bail!(
                "the engine names a blob of {} bytes ({}); thindist reads none above {MAX_BLOB}",
                d.size_bytes,
                digest::show(d)
            );
        }
        let data = match d.size_bytes as usize + BATCH_OVERHEAD <= self.max_batch {
            true => self.read_batch(d).await?,
            false => {
                self.retrying("ByteStream.Read", || self.read_stream(d)).await.map_err(|e| lost_if_not_found(e, d))?
            }
        };
        verify(d, data)
    }

    async fn read_batch(&self, d: &Digest) -> Result<Vec<u8>> {
        let resp = self
            .retrying("BatchReadBlobs", || {
                let req = self.req(BatchReadBlobsRequest {
                    instance_name: self.instance.clone(),
                    digests: vec![d.clone()],
                    ..Default::default()
                });
                async move { ContentAddressableStorageClient::new(self.channel.clone()).batch_read_blobs(req).await }
            })
            .await?
            .into_inner();
        let r = resp.responses.into_iter().next().context("BatchReadBlobs returned nothing")?;
        if let Some(s) = r.status.filter(|s| s.code != 0) {
            if is_missing(s.code) {
                return Err(NoRoom::Lost(format!("blob {}: {}", digest::show(d), s.message)).into());
            }
            bail!("the engine cannot give blob {}: {}", digest::show(d), s.message);
        }
        Ok(r.data)
    }

    /// One ByteStream read, whole; more bytes than the digest names end it.
    async fn read_stream(&self, d: &Digest) -> Result<Vec<u8>, Status> {
        let name = self.resource(format!("blobs/{}/{}", d.hash, d.size_bytes));
        let req = self.req(ReadRequest { resource_name: name, read_offset: 0, read_limit: 0 });
        let mut stream = ByteStreamClient::new(self.channel.clone()).read(req).await?.into_inner();
        let mut data = Vec::with_capacity(d.size_bytes as usize);
        while let Some(chunk) = stream.message().await? {
            if data.len() + chunk.data.len() > d.size_bytes as usize {
                return Err(Status::out_of_range(format!(
                    "the engine sent more than the {} bytes of {}",
                    d.size_bytes,
                    digest::show(d)
                )));
            }
            data.extend_from_slice(&chunk.data);
        }
        Ok(data)
    }
}

/// Why a call stopped being retried: the call, the engine, the tries and the time.
fn gave_up(what: &str, url: &str, attempt: u32, started: Instant) -> String {
    let spent = started.elapsed().as_secs_f64();
    format!("{what}: the engine at {url} still failed after {attempt} tries over {spent:.0} s")
}

/// Reads an operation's stream until it is done; keeps its name for WaitExecution.
async fn follow(stream: &mut Streaming<Operation>, name: &mut Option<String>) -> Result<Option<Operation>, Status> {
    while let Some(op) = stream.message().await? {
        if !op.name.is_empty() {
            *name = Some(op.name.clone());
        }
        if op.done {
            return Ok(Some(op));
        }
    }
    Ok(None)
}

/// A finished operation's response; lost inputs are `NoRoom::Lost`.
fn finished(op: Operation) -> Result<ExecuteResponse> {
    let resp = match op.result {
        Some(operation::Result::Response(any)) => ExecuteResponse::decode(any.value.as_slice())?,
        Some(operation::Result::Error(s)) if inputs_missing(s.code, &s.message) => {
            return Err(NoRoom::Lost(s.message).into())
        }
        Some(operation::Result::Error(s)) => bail!("the engine failed the action: {} (code {})", s.message, s.code),
        None => bail!("the engine finished the action without a result"),
    };
    if let Some(s) = resp.status.as_ref().filter(|s| s.code != 0) {
        if inputs_missing(s.code, &s.message) {
            return Err(NoRoom::Lost(s.message.clone()).into());
        }
        bail!("the engine could not run the action: {} (code {})", s.message, s.code);
    }
    Ok(resp)
}

/// A blob the engine does not have (NOT_FOUND) is one it lost.
fn lost_if_not_found(e: anyhow::Error, d: &Digest) -> anyhow::Error {
    match e.downcast_ref::<Status>().filter(|s| s.code() == Code::NotFound) {
        Some(s) => NoRoom::Lost(format!("blob {}: {}", digest::show(d), s.message())).into(),
        None => e,
    }
}

/// Bytes are accepted only when they hash to the digest that named them.
pub fn verify(d: &Digest, data: Vec<u8>) -> Result<Vec<u8>> {
    let got = digest::of(&data);
    if got.hash != d.hash || got.size_bytes != d.size_bytes {
        bail!(
            "the engine sent a blob that does not match its digest: wanted {}, got {}",
            digest::show(d),
            digest::show(&got)
        );
    }
    Ok(data)
}

fn batch_limit(caps: &ServerCapabilities) -> usize {
    match caps.cache_capabilities.as_ref().map(|c| c.max_batch_total_size_bytes).unwrap_or(0) {
        n if n > 0 => (n as usize).min(DEFAULT_BATCH),
        _ => DEFAULT_BATCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_that_could_not_stage_its_inputs_lost_them() {
        assert!(inputs_missing(Code::FailedPrecondition as i32, "missing blobs"));
        let staging =
            "execute() threw: Error staging \"c00b/77\" into \"\": \"Tree is not completely available from LocalCAS.\"";
        assert!(inputs_missing(Code::Internal as i32, staging));
        assert!(!inputs_missing(Code::Internal as i32, "Unsupported OSFamily \"plan9\""));
    }

    #[test]
    fn a_blob_that_does_not_match_its_digest_is_refused() {
        let d = digest::of(b"native object");
        assert_eq!(verify(&d, b"native object".to_vec()).unwrap(), b"native object");
        let err = verify(&d, b"native objecT".to_vec()).unwrap_err().to_string();
        assert!(err.contains("does not match its digest"), "{err}");
    }
}
