//! The integration harness every moto-backed test uses.
//!
//! - [`LocalAws`] starts moto's server from the project's `.venv` (through
//!   `tests/support/moto_server.py`, which patches moto gaps) on a free loopback port (and,
//!   on request, the CloudWatch protocol bridge in front of it), and kills both when dropped.
//!   Each test owns its own instance (moto starts in about half a second), so tests run in
//!   parallel without sharing state.
//! - [`ResponseRecorder`] is a loopback HTTP server standing in for CloudFormation's pre-signed
//!   ResponseURL: it records every request and answers with scripted statuses.
//! - [`seed`] pushes real manifests into moto.

pub mod browser;
pub mod fault_proxy;
pub mod faults;
pub mod iam;
pub mod lambda;
pub mod organization;
pub mod scheduled;
pub mod seed;
pub mod stacks;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn venv_python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    if !python.exists() {
        panic!("{} is missing: run `make setup` first (it installs moto and the tools into .venv)", python.display());
    }
    python
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// One HTTP/1.1 exchange over std: enough to poll and reset moto without an HTTP crate.
pub fn http(method: &str, url: &str, body: &str) -> std::io::Result<(u16, String)> {
    let rest = url.trim_start_matches("http://");
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

struct Service {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Service {
    fn spawn(name: &'static str, mut command: Command, probe_url: &str) -> Service {
        let log = std::env::temp_dir().join(format!("ecr-keeper-{name}-{}-{}.log", std::process::id(), free_port()));
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut service = Service { name, child, log };
        service.wait_ready(probe_url);
        service
    }

    fn wait_ready(&mut self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("{} exited ({status}) before answering:\n{log}", self.name);
            }
            if matches!(http("GET", url, ""), Ok((s, _)) if s > 0) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} did not answer {url} within 30 s", self.name);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Dummy credentials, the fixed region, and a local endpoint.
fn local_loader(endpoint: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ecr::config::Credentials::new("testing", "testing", None, None, "moto"))
}

/// Builds the CLI (`target/debug/ecr-keeper`) and returns its path. `--bin` at the workspace's
/// root, not `-p`: the features then resolve over the whole workspace, as in `make unit`'s build and in cargo lambda's
/// runs, so the crates below the CLI are compiled once for all of them.
pub fn build_cli() -> PathBuf {
    let built = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--locked", "--bin", "ecr-keeper"])
        .current_dir(repo_root())
        .status();
    assert!(built.is_ok_and(|s| s.success()), "cargo build --bin ecr-keeper failed");
    repo_root().join("target/debug/ecr-keeper")
}

/// moto on loopback (plus the CloudWatch bridge when asked), for one test.
pub struct LocalAws {
    pub moto_url: String,
    /// Where SDK clients point: the bridge when running, else moto itself.
    pub endpoint_url: String,
    _services: Vec<Service>,
}

impl LocalAws {
    pub fn start() -> LocalAws {
        Self::launch(false, &[])
    }

    /// moto whose Lambda invokes reach the emulator at `router` (moto_server.py forwards them),
    /// with the harness's extra switches (`KEEPER_HARNESS_*`).
    /// `bridge`: also the CloudWatch bridge (the cost report publishes metrics).
    pub fn start_routing_lambda(router: &str, harness_env: &[(&str, String)], bridge: bool) -> LocalAws {
        let mut env = vec![("KEEPER_LAMBDA_ROUTER", router.to_string())];
        env.extend(harness_env.iter().cloned());
        Self::launch(bridge, &env)
    }

    /// moto behind the CloudWatch rpc-v2-cbor bridge; every client uses the bridge.
    pub fn start_with_cloudwatch() -> LocalAws {
        Self::launch(true, &[])
    }

    fn launch(bridge: bool, env: &[(&str, String)]) -> LocalAws {
        let python = venv_python();
        let port = free_port();
        let moto_url = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(&python);
        command.arg(repo_root().join("tests/support/moto_server.py")).args([
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ]);
        command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let mut services = vec![Service::spawn("moto", command, &format!("{moto_url}/moto-api/"))];
        let mut endpoint_url = moto_url.clone();
        if bridge {
            let bridge_port = free_port();
            let script = repo_root().join("tests/support/cloudwatch_bridge.py");
            let mut command = Command::new(&python);
            command.arg(script).args(["--port", &bridge_port.to_string(), "--moto", &moto_url]);
            endpoint_url = format!("http://127.0.0.1:{bridge_port}");
            services.push(Service::spawn("cloudwatch-bridge", command, &format!("{endpoint_url}/moto-api/")));
        }
        LocalAws { moto_url, endpoint_url, _services: services }
    }

    /// Clears every resource moto holds.
    pub fn reset(&self) {
        match http("POST", &format!("{}/moto-api/reset", self.moto_url), "") {
            Ok((200, _)) => {}
            other => panic!("moto reset failed: {other:?}"),
        }
    }

    /// SDK configuration for moto: dummy credentials, a fixed region, a short retry budget
    /// (moto answers unimplemented calls with HTTP 500, which the SDK would otherwise retry).
    pub async fn sdk_config(&self) -> SdkConfig {
        local_loader(&self.endpoint_url)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
            .load()
            .await
    }

    /// SDK configuration for reaching moto through `endpoint` (a [`fault_proxy::FaultProxy`]),
    /// with the product's own retry and timeout settings for `profile`.
    pub async fn sdk_config_via(&self, endpoint: &str, profile: ecr_keeper_aws::RetryProfile) -> SdkConfig {
        local_loader(endpoint)
            .retry_config(profile.retry_config())
            .timeout_config(profile.timeout_config())
            .load()
            .await
    }

    pub async fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.sdk_config().await)
    }

    pub async fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk_config().await)
    }

    /// An IAM role Lambda can assume (moto's CreateFunction checks that it exists), made with
    /// boto3 from the harness's venv: the product has no IAM client, and needs none.
    pub fn lambda_role(&self, name: &str) -> String {
        let script = format!(
            "import boto3; boto3.client('iam', endpoint_url='{}', region_name='{REGION}', aws_access_key_id='testing', \
             aws_secret_access_key='testing').create_role(RoleName='{name}', AssumeRolePolicyDocument='{{}}')",
            self.moto_url
        );
        let made = Command::new(venv_python()).args(["-c", &script]).status();
        assert!(made.is_ok_and(|s| s.success()), "creating role {name} in moto");
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }

    /// Environment for a process (a function binary, the CLI) that should talk to this moto.
    pub fn process_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint_url.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_DEFAULT_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

/// The alert topic and ledger table of a stack, on moto.
pub struct AlertStore {
    pub topic_arn: String,
    pub table: String,
}

impl LocalAws {
    /// An SNS topic and a DynamoDB table shaped like the template's `AlertTopic` and
    /// `AlertLedgerTable`.
    pub async fn alert_store(&self) -> AlertStore {
        let config = self.sdk_config().await;
        let topic = aws_sdk_sns::Client::new(&config)
            .create_topic()
            .name("alerts")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let table = "alert-ledger";
        aws_sdk_dynamodb::Client::new(&config)
            .create_table()
            .table_name(table)
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .attribute_definitions(
                aws_sdk_dynamodb::types::AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                    .build()
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .key_schema(
                aws_sdk_dynamodb::types::KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                    .build()
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        AlertStore { topic_arn: topic.topic_arn().unwrap_or_default().to_string(), table: table.to_string() }
    }

    /// Every message SNS accepted on `topic_arn`, as moto keeps them: (subject, message).
    pub fn published(&self, topic_arn: &str) -> Vec<(String, String)> {
        sns_messages(&self.moto_url, topic_arn)
    }
}

/// One request CloudFormation's ResponseURL received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("response body is not JSON ({e})"))
    }
}

/// A loopback stand-in for the pre-signed ResponseURL.
pub struct ResponseRecorder {
    pub port: u16,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ResponseRecorder {
    /// Answers each request with the next status of `script`, then 200 forever.
    pub async fn start(script: &[u16]) -> ResponseRecorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.to_vec()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, script) = (seen.clone(), script.clone());
                tokio::spawn(async move {
                    let _ = serve_one(stream, seen, script).await;
                });
            }
        });
        ResponseRecorder { port, requests, task }
    }

    /// A URL shaped like a pre-signed S3 URL, with a signature in the query.
    pub fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/cfn-responses/stack-1/req?X-Amz-Signature=SECRETSIGNATURE123&X-Amz-Expires=7200",
            self.port
        )
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits until `n` requests arrived (for responses sent by another process).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.requests();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ResponseRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_one(
    mut stream: tokio::net::TcpStream,
    seen: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<Vec<u16>>>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split_whitespace();
    let method = request_line.next().unwrap_or_default().to_string();
    let path = request_line.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[header_end..].to_vec();
    if let Ok(mut s) = seen.lock() {
        s.push(Recorded { method, path, headers, body });
    }
    let status = script.lock().ok().and_then(|mut s| (!s.is_empty()).then(|| s.remove(0))).unwrap_or(200);
    let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

/// Counts the AWS operations a client makes (one per call or page, retries excluded), by name.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<Vec<String>>>);

impl CallCounter {
    pub fn calls(&self) -> Vec<String> {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn reset(&self) {
        if let Ok(mut c) = self.0.lock() {
            c.clear();
        }
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Not read_before_execution: for client-level interceptors it runs before the operation's
    // configuration (which names the operation) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let (Some(meta), Ok(mut calls)) =
            (cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>(), self.0.lock())
        {
            calls.push(meta.name().to_string());
        }
        Ok(())
    }
}

impl LocalAws {
    /// An ECR client whose calls `counter` records.
    pub async fn counted_ecr(&self, counter: &CallCounter) -> aws_sdk_ecr::Client {
        let config = aws_sdk_ecr::config::Builder::from(&self.sdk_config().await).interceptor(counter.clone()).build();
        aws_sdk_ecr::Client::from_conf(config)
    }

    /// What moto's DescribeImageScanFindings returns for one image: (id, severity, package).
    pub fn set_scan_findings(&self, repository: &str, digest: &str, findings: &[(&str, &str, &str)]) {
        self.set_scan_findings_in(ACCOUNT, repository, digest, findings);
    }

    /// What Amazon Inspector's ListCoverage answers in `account`: ECR images (repository,
    /// digest) with how many ECS tasks or EKS pods run each (the harness's coverage endpoint).
    pub fn set_inspector_coverage(&self, account: &str, images: &[(&str, &str, i64)]) {
        let now = chrono::Utc::now().timestamp();
        let resources: Vec<serde_json::Value> = images
            .iter()
            .map(|(repository, digest, in_use)| {
                serde_json::json!({
                    "accountId": account,
                    "resourceId": format!("arn:aws:ecr:{REGION}:{account}:repository/{repository}/{digest}"),
                    "resourceType": "AWS_ECR_CONTAINER_IMAGE",
                    "scanType": "PACKAGE",
                    "scanStatus": {"statusCode": "ACTIVE", "reason": "SUCCESSFUL"},
                    "resourceMetadata": {"ecrImage": {"inUseCount": in_use, "lastInUseAt": now, "tags": []}},
                })
            })
            .collect();
        let body = serde_json::json!({"account": account, "resources": resources}).to_string();
        match http("POST", &format!("{}/inspector2_{REGION}/keeper-harness/coverage", self.moto_url), &body) {
            Ok((200, _)) => {}
            other => panic!("setting Inspector coverage failed: {other:?}"),
        }
    }

    /// The "Images per repository" quota AWS has granted `account` (Service Quotas; the harness
    /// answers ECR's default, 100,000, until this is set).
    pub fn set_images_per_repository_quota(&self, account: &str, value: u64) {
        let body = serde_json::json!({"account": account, "value": value}).to_string();
        match http("POST", &format!("{}/servicequotas_{REGION}/keeper-harness/quota", self.moto_url), &body) {
            Ok((200, _)) => {}
            other => panic!("setting the images-per-repository quota failed: {other:?}"),
        }
    }

    /// [`Self::set_scan_findings`] in `account`'s registry (moto keys them by account).
    pub fn set_scan_findings_in(&self, account: &str, repository: &str, digest: &str, findings: &[(&str, &str, &str)]) {
        let mut counts = serde_json::Map::new();
        for (_, severity, _) in findings {
            let n = counts.get(*severity).and_then(|v| v.as_u64()).unwrap_or(0);
            counts.insert(severity.to_string(), serde_json::json!(n + 1));
        }
        let result = serde_json::json!({
            "registryId": account,
            "repositoryName": repository,
            "imageId": {"imageDigest": digest},
            "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
            "imageScanFindings": {
                "findings": findings.iter().map(|(id, severity, package)| serde_json::json!({
                    "name": id, "severity": severity, "uri": format!("https://nvd.nist.gov/vuln/detail/{id}"),
                    "attributes": [{"key": "package_name", "value": package}, {"key": "package_version", "value": "1.0.0"}]
                })).collect::<Vec<_>>(),
                "findingSeverityCounts": counts,
            }
        });
        let body = serde_json::json!({"results": [result], "region": REGION, "account_id": account}).to_string();
        match http("POST", &format!("{}/moto-api/static/ecr/scan-finding-results", self.moto_url), &body) {
            Ok((200 | 201, _)) => {}
            other => panic!("setting scan findings failed: {other:?}"),
        }
    }
}

/// Every kind of bad `Custom::EcrRepository` property, with what the error must say. A name
/// `ok-name` stands for whatever valid name the caller uses.
#[rustfmt::skip]
pub fn bad_repository_properties() -> Vec<(serde_json::Value, &'static str)> {
    vec![
        (serde_json::json!({}), "RepositoryName: is required"),
        (serde_json::json!({"RepositoryName": "Has_Upper"}), "RepositoryName: \"Has_Upper\" is not a valid repository name"),
        (serde_json::json!({"RepositoryName": "a"}), "RepositoryName: \"a\" is 1 characters"),
        (serde_json::json!({"RepositoryName": "ok-name", "ImageTagMutability": "LOCKED"}), "ImageTagMutability: \"LOCKED\" is not one of MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION"),
        (serde_json::json!({"RepositoryName": "ok-name", "ImageTagMutability": "MUTABLE_WITH_EXCLUSION"}), "ImageTagMutabilityExclusionFilters: is required with ImageTagMutability MUTABLE_WITH_EXCLUSION"),
        (serde_json::json!({"RepositoryName": "ok-name", "ImageTagMutabilityExclusionFilters": ["x"]}), "ImageTagMutabilityExclusionFilters: is only allowed with"),
        (serde_json::json!({"RepositoryName": "ok-name", "ImageTagMutability": "IMMUTABLE_WITH_EXCLUSION", "ImageTagMutabilityExclusionFilters": ["a", "b", "c", "d", "e", "f"]}), "has 6 filters; ECR accepts 1 to 5"),
        (serde_json::json!({"RepositoryName": "ok-name", "ScanOnPush": "yes"}), "ScanOnPush: \"yes\" is not a boolean"),
        (serde_json::json!({"RepositoryName": "ok-name", "EncryptionType": "DES"}), "EncryptionType: \"DES\" is not one of AES256, KMS"),
        (serde_json::json!({"RepositoryName": "ok-name", "KmsKey": "k"}), "KmsKey: is only allowed with EncryptionType KMS"),
        (serde_json::json!({"RepositoryName": "ok-name", "ImageRetentionCount": "ten"}), "ImageRetentionCount: \"ten\" is not a whole number of at least 1"),
        (serde_json::json!({"RepositoryName": "ok-name", "ImageRetentionCount": "0"}), "ImageRetentionCount: \"0\" is not a whole number of at least 1"),
        (serde_json::json!({"RepositoryName": "ok-name", "UntaggedRetentionDays": "-1"}), "UntaggedRetentionDays: \"-1\" is not a whole number"),
        (serde_json::json!({"RepositoryName": "ok-name", "ProtectedTags": ["a*b*c*d*e*f"]}), "ProtectedTags: protect: \"a*b*c*d*e*f\" has more than 4 wildcards"),
        (serde_json::json!({"RepositoryName": "ok-name", "LifecyclePolicyText": "{\"rules\": []}"}), "LifecyclePolicyText: the lifecycle policy is not valid"),
        (serde_json::json!({"RepositoryName": "ok-name", "ReadPrincipals": ["bob"]}), "ReadPrincipals: \"bob\" is not an IAM principal ARN"),
        (serde_json::json!({"RepositoryName": "ok-name", "ReadWritePrincipals": ["*"]}), "would open the repository to every AWS account"),
        (serde_json::json!({"RepositoryName": "ok-name", "Tags": [{"Key": "aws:x", "Value": "1"}]}), "Tags: tag key \"aws:x\" is reserved"),
        (serde_json::json!({"RepositoryName": "ok-name", "Tags": "team=a"}), "Tags: must be a list"),
        (serde_json::json!({"RepositoryName": "ok-name", "DeletionMode": "Delete"}), "DeletionMode: \"Delete\" is not one of RetainIfNotEmpty, Retain, Force"),
        (serde_json::json!({"RepositoryName": "ok-name", "AdoptExisting": "maybe"}), "AdoptExisting: \"maybe\" is not a boolean"),
        (serde_json::json!({"RepositoryName": "ok-name", "MaxImagesExpiredByUpdate": "many"}), "MaxImagesExpiredByUpdate: \"many\" is not a whole number of at least 0"),
        (serde_json::json!({"RepositoryName": "ok-name", "Retention": "10"}), "Retention: unknown property (accepted: RepositoryName,"),
    ]
}

/// (subject, message) of every message moto's SNS sent to `topic_arn`.
pub fn sns_messages(moto_url: &str, topic_arn: &str) -> Vec<(String, String)> {
    let (status, body) =
        http("GET", &format!("{}/moto-api/data.json", moto_url), "").unwrap_or_else(|e| panic!("moto data: {e}"));
    assert_eq!(status, 200, "moto data: {body}");
    let data: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("moto data: {e}"));
    let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
    topics
        .iter()
        .filter(|t| t["arn"] == topic_arn)
        .flat_map(|t| t["sent_notifications"].as_array().cloned().unwrap_or_default())
        .map(|n| (n[2].as_str().unwrap_or_default().to_string(), n[1].as_str().unwrap_or_default().to_string()))
        .collect()
}
