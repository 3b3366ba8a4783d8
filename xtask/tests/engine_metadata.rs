//! What a hosted engine authenticates with reaches it: a REAPI Capabilities
//! server on loopback records the metadata of every call the client makes,
//! and each call carries the bearer token, the `--remote-header`s (given, from
//! a file, from a variable), the credential helper's headers and the job's
//! RequestMetadata; the helper runs once and its answer is kept for the next
//! client. Its own process: the helper's answer is kept under THINDIST_HOME,
//! pointed here at a directory of the test's.

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use bazel_remote_apis::build::bazel::remote::execution::v2::capabilities_server::{Capabilities, CapabilitiesServer};
use bazel_remote_apis::build::bazel::remote::execution::v2::{
    GetCapabilitiesRequest, RequestMetadata, ServerCapabilities, ToolDetails,
};
use prost::Message;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use xtask::remote::client::Client;
use xtask::remote::endpoint::{Endpoint, Header};
use xtask::remote::retry::Policy;

/// The metadata of every call, in order.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<MetadataMap>>>);

#[tonic::async_trait]
impl Capabilities for Recorder {
    async fn get_capabilities(
        &self,
        request: Request<GetCapabilitiesRequest>,
    ) -> Result<Response<ServerCapabilities>, Status> {
        self.0.lock().unwrap().push(request.metadata().clone());
        Ok(Response::new(ServerCapabilities::default()))
    }
}

fn text<'m>(m: &'m MetadataMap, key: &str) -> &'m str {
    m.get(key).and_then(|v| v.to_str().ok()).unwrap_or("<missing>")
}

#[tokio::test]
async fn headers_and_the_credential_helpers_answer_reach_the_engine() {
    let home = tempfile::tempdir().unwrap();
    std::env::set_var("THINDIST_HOME", home.path());
    std::env::set_var("THINDIST_TEST_ENGINE_KEY", "from-a-variable");
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("api-key");
    std::fs::write(&key_file, "from-a-file\n").unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "the-token\n").unwrap();
    // Bazel's credential helper protocol: `<helper> get`, the request on stdin.
    let runs = dir.path().join("runs");
    let helper = dir.path().join("helper");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r request\necho \"$request\" >> '{}'\n\
             printf '%s' '{{\"headers\": {{\"X-Helper-Token\": [\"from-the-helper\"]}}, \"expires\": \"2999-01-01T00:00:00Z\"}}'\n",
            runs.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("grpc://{}", listener.local_addr().unwrap());
    let recorder = Recorder::default();
    let server = tonic::transport::Server::builder()
        .add_service(CapabilitiesServer::new(recorder.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);

    let header = |s: &str| Header::try_from(s.to_string()).unwrap();
    let ep = Endpoint {
        url: url.clone(),
        token_file: Some(token_file),
        headers: vec![
            header("X-Given=given"),
            header(&format!("x-file-key=@{}", key_file.display())),
            header("x-variable-key=$THINDIST_TEST_ENGINE_KEY"),
        ],
        credential_helper: Some(helper),
        ..Endpoint::default()
    };
    // Asking for the batch limit is the first call; then one with a job's metadata.
    let client = Client::connect(&ep, 0, Policy::quick()).await.unwrap();
    let job = RequestMetadata {
        tool_details: Some(ToolDetails { tool_name: "thindist".into(), tool_version: "test".into() }),
        action_id: "the-action".into(),
        ..RequestMetadata::default()
    };
    client.with_metadata(&job).capabilities().await.unwrap();
    // A second client (another launcher of the build) uses the kept answer.
    Client::connect(&ep, 0, Policy::quick()).await.unwrap();

    let seen = recorder.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "three calls reached the engine");
    for m in &seen {
        assert_eq!(text(m, "authorization"), "Bearer the-token");
        assert_eq!(text(m, "x-given"), "given");
        assert_eq!(text(m, "x-file-key"), "from-a-file");
        assert_eq!(text(m, "x-variable-key"), "from-a-variable");
        assert_eq!(text(m, "x-helper-token"), "from-the-helper");
    }
    let sent = seen[1].get_bin("build.bazel.remote.execution.v2.requestmetadata-bin").expect("the job's metadata");
    let sent = RequestMetadata::decode(sent.to_bytes().unwrap()).unwrap();
    assert_eq!((sent.action_id.as_str(), sent.tool_details.unwrap().tool_name.as_str()), ("the-action", "thindist"));
    let asked = std::fs::read_to_string(&runs).unwrap();
    assert_eq!(asked.lines().collect::<Vec<_>>(), [format!("{{\"uri\":\"{url}\"}}")], "the helper ran once");
}
