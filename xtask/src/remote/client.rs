//! A REAPI v2 client over the generated bindings: capabilities, CAS
//! (FindMissingBlobs, batch and ByteStream transfers, digests checked),
//! the action cache and Execute.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use bazel_remote_apis::build::bazel::remote::execution::v2::{
    action_cache_client::ActionCacheClient, batch_update_blobs_request, capabilities_client::CapabilitiesClient,
    content_addressable_storage_client::ContentAddressableStorageClient, execution_client::ExecutionClient,
    ActionResult, BatchReadBlobsRequest, BatchUpdateBlobsRequest, Digest, ExecuteRequest, ExecuteResponse,
    FindMissingBlobsRequest, GetActionResultRequest, GetCapabilitiesRequest, ServerCapabilities,
};
use bazel_remote_apis::google::bytestream::{byte_stream_client::ByteStreamClient, ReadRequest, WriteRequest};
use bazel_remote_apis::google::longrunning::operation;
use prost::Message;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::{Code, Request};

use crate::remote::digest;
use crate::remote::endpoint::Endpoint;
use crate::remote::input_root::Blobs;

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

#[derive(Clone)]
pub struct Client {
    channel: Channel,
    instance: String,
    auth: Option<MetadataValue<Ascii>>,
    /// The largest batch request, from the server's capabilities.
    pub max_batch: usize,
}

impl Client {
    /// Connects (failing fast when nothing listens); `max_batch` of 0 asks the server.
    pub async fn connect(ep: &Endpoint, max_batch: usize) -> Result<Self> {
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
        let channel =
            builder.connect().await.with_context(|| format!("cannot reach the remote engine at {}", ep.url))?;
        let auth = match ep.token()? {
            Some(t) => Some(format!("Bearer {t}").parse().context("the token is not a valid header value")?),
            None => None,
        };
        let mut client = Self { channel, instance: ep.instance.clone(), auth, max_batch };
        if max_batch == 0 {
            let caps = client.capabilities().await?;
            client.max_batch = batch_limit(&caps);
        }
        Ok(client)
    }

    fn req<T>(&self, m: T) -> Request<T> {
        let mut r = Request::new(m);
        if let Some(a) = &self.auth {
            r.metadata_mut().insert("authorization", a.clone());
        }
        r
    }

    pub async fn capabilities(&self) -> Result<ServerCapabilities> {
        let req = self.req(GetCapabilitiesRequest { instance_name: self.instance.clone() });
        let caps =
            CapabilitiesClient::new(self.channel.clone()).get_capabilities(req).await.context("GetCapabilities")?;
        Ok(caps.into_inner())
    }

    /// The digests the CAS does not have.
    pub async fn find_missing(&self, digests: Vec<Digest>) -> Result<Vec<Digest>> {
        let req = self.req(FindMissingBlobsRequest {
            instance_name: self.instance.clone(),
            blob_digests: digests,
            ..Default::default()
        });
        let mut cas = ContentAddressableStorageClient::new(self.channel.clone());
        Ok(cas.find_missing_blobs(req).await.context("FindMissingBlobs")?.into_inner().missing_blob_digests)
    }

    /// Uploads the blobs the CAS is missing; returns the bytes sent.
    pub async fn upload_missing(&self, blobs: &Blobs) -> Result<u64> {
        let missing = self.find_missing(blobs.values().map(|(d, _)| d.clone()).collect()).await?;
        let mut sent = 0u64;
        let mut batch: Vec<batch_update_blobs_request::Request> = Vec::new();
        let mut batch_bytes = 0usize;
        for d in missing {
            let (_, data) = blobs
                .get(&d.hash)
                .with_context(|| format!("the server asked for unknown blob {}", digest::show(&d)))?;
            sent += data.len() as u64;
            if data.len() + BATCH_OVERHEAD > self.max_batch {
                self.write_stream(&d, data).await?;
                continue;
            }
            if batch_bytes + data.len() + BATCH_OVERHEAD > self.max_batch {
                self.batch_update(std::mem::take(&mut batch)).await?;
                batch_bytes = 0;
            }
            batch_bytes += data.len() + 128;
            batch.push(batch_update_blobs_request::Request {
                digest: Some(d),
                data: data.clone(),
                ..Default::default()
            });
        }
        if !batch.is_empty() {
            self.batch_update(batch).await?;
        }
        Ok(sent)
    }

    async fn batch_update(&self, requests: Vec<batch_update_blobs_request::Request>) -> Result<()> {
        let req =
            self.req(BatchUpdateBlobsRequest { instance_name: self.instance.clone(), requests, ..Default::default() });
        let mut cas = ContentAddressableStorageClient::new(self.channel.clone());
        let resp = cas.batch_update_blobs(req).await.context("BatchUpdateBlobs")?.into_inner();
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
        let req = self.req(tokio_stream::iter(requests));
        let resp = ByteStreamClient::new(self.channel.clone()).write(req).await.context("ByteStream.Write")?;
        let committed = resp.into_inner().committed_size;
        if committed != d.size_bytes {
            bail!("ByteStream.Write committed {committed} of {} bytes", d.size_bytes);
        }
        Ok(())
    }

    /// A cached result, or None when the action cache has none.
    pub async fn action_result(&self, action: &Digest, inline: &[String]) -> Result<Option<ActionResult>> {
        let req = self.req(GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.clone()),
            inline_stdout: true,
            inline_stderr: true,
            inline_output_files: inline.to_vec(),
            ..Default::default()
        });
        match ActionCacheClient::new(self.channel.clone()).get_action_result(req).await {
            Ok(r) => Ok(Some(r.into_inner())),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(s).context("GetActionResult"),
        }
    }

    /// Runs an action and waits for it to finish.
    pub async fn execute(&self, action: &Digest, skip_cache_lookup: bool) -> Result<ExecuteResponse> {
        let req = self.req(ExecuteRequest {
            instance_name: self.instance.clone(),
            skip_cache_lookup,
            action_digest: Some(action.clone()),
            ..Default::default()
        });
        let mut stream = ExecutionClient::new(self.channel.clone()).execute(req).await.context("Execute")?.into_inner();
        while let Some(op) = stream.message().await.context("Execute (waiting for the result)")? {
            if !op.done {
                continue;
            }
            let resp = match op.result {
                Some(operation::Result::Response(any)) => ExecuteResponse::decode(any.value.as_slice())?,
                Some(operation::Result::Error(s)) if is_missing(s.code) => return Err(NoRoom::Lost(s.message).into()),
                Some(operation::Result::Error(s)) => {
                    bail!("the engine failed the action: {} (code {})", s.message, s.code)
                }
                None => bail!("the engine finished the action without a result"),
            };
            if let Some(s) = resp.status.as_ref().filter(|s| s.code != 0) {
                if is_missing(s.code) {
                    return Err(NoRoom::Lost(s.message.clone()).into());
                }
                bail!("the engine could not run the action: {} (code {})", s.message, s.code);
            }
            return Ok(resp);
        }
        bail!("the engine closed the Execute stream before the action finished")
    }

    /// A blob's bytes, checked against its digest.
    pub async fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        let data = if d.size_bytes as usize + BATCH_OVERHEAD <= self.max_batch {
            let req = self.req(BatchReadBlobsRequest {
                instance_name: self.instance.clone(),
                digests: vec![d.clone()],
                ..Default::default()
            });
            let mut cas = ContentAddressableStorageClient::new(self.channel.clone());
            let resp = cas.batch_read_blobs(req).await.context("BatchReadBlobs")?.into_inner();
            let r = resp.responses.into_iter().next().context("BatchReadBlobs returned nothing")?;
            if let Some(s) = r.status.filter(|s| s.code != 0) {
                if is_missing(s.code) {
                    return Err(NoRoom::Lost(format!("blob {}: {}", digest::show(d), s.message)).into());
                }
                bail!("the engine cannot give blob {}: {}", digest::show(d), s.message);
            }
            r.data
        } else {
            let name = self.resource(format!("blobs/{}/{}", d.hash, d.size_bytes));
            let req = self.req(ReadRequest { resource_name: name, read_offset: 0, read_limit: 0 });
            let mut stream = match ByteStreamClient::new(self.channel.clone()).read(req).await {
                Ok(r) => r.into_inner(),
                Err(s) if s.code() == Code::NotFound => {
                    return Err(NoRoom::Lost(format!("blob {}: {}", digest::show(d), s.message())).into())
                }
                Err(s) => return Err(s).context("ByteStream.Read"),
            };
            let mut data = Vec::with_capacity(d.size_bytes as usize);
            while let Some(chunk) = stream.message().await.context("ByteStream.Read")? {
                data.extend_from_slice(&chunk.data);
            }
            data
        };
        verify(d, data)
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
    fn a_blob_that_does_not_match_its_digest_is_refused() {
        let d = digest::of(b"native object");
        assert_eq!(verify(&d, b"native object".to_vec()).unwrap(), b"native object");
        let err = verify(&d, b"native objecT".to_vec()).unwrap_err().to_string();
        assert!(err.contains("does not match its digest"), "{err}");
    }
}
