//! The custom resource's fault matrix: every fault × {Create, Update in place, Update with a new
//! name, Delete}, on moto behind the fault-injecting proxy, through the real SDK adapter (with
//! the product's retry settings) and the real HTTP transport.
//!
//! Every cell asserts: exactly one well-formed response (or, when the ResponseURL never accepts,
//! identical bounded attempts and an error so Lambda retries), sent before the deadline; a
//! non-empty physical id that names the repository whenever one exists for this request; the
//! expected status; a Reason that names what went wrong; and not one image lost anywhere.
//! The table it produces is the one in docs/reliability.md, which this test keeps honest.

use ecr_keeper_aws::HttpsTransport;
use ecr_keeper_aws::{CloudFormationStacks, EcrRegistry, RetryProfile};
use ecr_keeper_core::custom_resource::{
    CustomResourceHandler, HandlerError, Provisioner, ResponsePolicy, MAX_RESPONSE_BYTES,
};
use ecr_keeper_core::ports::SystemClock;
use ecr_keeper_core::repository::FAILED_CREATE_MARKER;
use ecr_keeper_tests::fault_proxy::{Fault, FaultProxy, Operations, Rule, When};
use ecr_keeper_tests::faults::{FailingFor, Failure};
use ecr_keeper_tests::{bad_repository_properties, repo_root, seed, LocalAws, ResponseRecorder};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const LOGICAL: &str = "AppRepository";
const NORMAL_TIME: Duration = Duration::from_secs(30);
/// Leaves a 4 s budget once the 2 s response reserve is kept back.
const SHORT_TIME: Duration = Duration::from_secs(6);
/// The end of an AccessDenied Reason, which must survive the cut to 4 KB.
const KEPT_ADVICE: &str = "xxx); grant the function's role this permission";
const SLOW: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Column {
    Create,
    Update,
    Rename,
    Delete,
}

const COLUMNS: [Column; 4] = [Column::Create, Column::Update, Column::Rename, Column::Delete];

impl Column {
    fn title(self) -> &'static str {
        match self {
            Column::Create => "Create",
            Column::Update => "Update (in place)",
            Column::Rename => "Update (new name)",
            Column::Delete => "Delete",
        }
    }

    /// The repository this request is about.
    fn target(self) -> &'static str {
        if self == Column::Rename {
            "app-v2"
        } else {
            "app"
        }
    }
}

fn original_properties() -> Value {
    json!({"RepositoryName": "app", "ImageRetentionCount": "5", "Tags": [{"Key": "team", "Value": "platform"}]})
}

fn new_properties(column: Column) -> Value {
    match column {
        Column::Update => json!({"RepositoryName": "app", "ImageRetentionCount": "3", "UntaggedRetentionDays": "3",
            "Tags": [{"Key": "team", "Value": "payments"}]}),
        Column::Rename => json!({"RepositoryName": "app-v2", "ImageRetentionCount": "3",
            "Tags": [{"Key": "team", "Value": "platform"}]}),
        Column::Create | Column::Delete => original_properties(),
    }
}

enum Trigger {
    Proxy(Vec<Rule>),
    Panic,
    Response(Vec<u16>),
    BadProperties,
}

struct Scenario {
    name: &'static str,
    trigger: Trigger,
    time: Duration,
    /// Per column: the status, and a text the Reason must contain.
    expect: [(&'static str, &'static str); 4],
}

fn every_call(operation: &str, fault: Fault) -> Vec<Rule> {
    vec![Rule::new(Operations::named(&[operation]), When::Always, fault)]
}

fn first_call_of_each(fault: Fault) -> Vec<Rule> {
    vec![Rule::new(Operations::All, When::Calls(vec![1]), fault)]
}

/// What every column answers when the fault does not stop the request.
const RECOVERED: [(&str, &str); 4] =
    [("SUCCESS", "created app"), ("SUCCESS", "updated app"), ("SUCCESS", "created app-v2"), ("SUCCESS", "kept app")];

fn scenarios() -> Vec<Scenario> {
    let timed_out = "timed out after 4 s while looking up repository";
    let long = "x".repeat(6_000);
    vec![
        Scenario {
            name: "CreateRepository answers HTTP 500 on every attempt",
            trigger: Trigger::Proxy(every_call("CreateRepository", Fault::ServerError)),
            time: NORMAL_TIME,
            expect: [
                ("FAILED", "CreateRepository: ECR failed (ServerException)"),
                ("SUCCESS", "updated app"),
                ("FAILED", "CreateRepository: ECR failed (ServerException)"),
                ("SUCCESS", "kept app: it holds images"),
            ],
        },
        Scenario {
            name: "PutLifecyclePolicy throttled past the retries",
            trigger: Trigger::Proxy(every_call("PutLifecyclePolicy", Fault::Throttle)),
            time: NORMAL_TIME,
            expect: [
                ("FAILED", "PutLifecyclePolicy: ECR kept throttling"),
                ("FAILED", "PutLifecyclePolicy: ECR kept throttling"),
                ("FAILED", "PutLifecyclePolicy: ECR kept throttling"),
                ("SUCCESS", "kept app: it holds images"),
            ],
        },
        Scenario {
            name: "each operation's first call throttled",
            trigger: Trigger::Proxy(first_call_of_each(Fault::Throttle)),
            time: NORMAL_TIME,
            expect: RECOVERED,
        },
        Scenario {
            name: "each operation's first call answers HTTP 500",
            trigger: Trigger::Proxy(first_call_of_each(Fault::ServerError)),
            time: NORMAL_TIME,
            expect: RECOVERED,
        },
        Scenario {
            name: "each operation's first call: connection reset",
            trigger: Trigger::Proxy(first_call_of_each(Fault::Reset)),
            time: NORMAL_TIME,
            expect: RECOVERED,
        },
        Scenario {
            name: "DescribeRepositories slower than the time left",
            trigger: Trigger::Proxy(every_call("DescribeRepositories", Fault::Delay(SLOW))),
            time: SHORT_TIME,
            expect: [("FAILED", timed_out), ("FAILED", timed_out), ("FAILED", timed_out), ("FAILED", timed_out)],
        },
        Scenario {
            name: "CreateRepository slower than the time left",
            trigger: Trigger::Proxy(every_call("CreateRepository", Fault::Delay(SLOW))),
            time: SHORT_TIME,
            expect: [
                ("FAILED", "timed out after 4 s while creating repository app"),
                ("SUCCESS", "updated app"),
                ("FAILED", "timed out after 4 s while creating repository app-v2"),
                ("SUCCESS", "kept app"),
            ],
        },
        Scenario {
            name: "a panic inside the handler",
            trigger: Trigger::Panic,
            time: NORMAL_TIME,
            expect: [
                ("FAILED", "failed unexpectedly while looking up repository app: "),
                ("FAILED", "failed unexpectedly while looking up repository app: "),
                ("FAILED", "failed unexpectedly while looking up repository app-v2: "),
                ("FAILED", "failed unexpectedly while looking up repository app: "),
            ],
        },
        Scenario {
            name: "every bad property (one request each)",
            trigger: Trigger::BadProperties,
            time: NORMAL_TIME,
            // The Reasons are checked against each case's own expected text.
            expect: [
                ("FAILED", ""),
                ("FAILED", "nothing was changed"),
                ("FAILED", "nothing was changed"),
                ("SUCCESS", "kept app"),
            ],
        },
        Scenario {
            name: "the ResponseURL fails once (HTTP 500)",
            trigger: Trigger::Response(vec![500]),
            time: NORMAL_TIME,
            expect: RECOVERED,
        },
        Scenario {
            name: "the ResponseURL fails 3 times (HTTP 503)",
            trigger: Trigger::Response(vec![503; 3]),
            time: NORMAL_TIME,
            expect: RECOVERED,
        },
        Scenario {
            name: "the ResponseURL always fails (HTTP 500)",
            trigger: Trigger::Response(vec![500; 50]),
            time: NORMAL_TIME,
            expect: RECOVERED,
        },
        Scenario {
            name: "a Reason over 4 KB (AccessDenied with a 6 KB message)",
            trigger: Trigger::Proxy(every_call(
                "DescribeRepositories",
                Fault::Error { status: 400, code: "AccessDeniedException".into(), message: long },
            )),
            time: NORMAL_TIME,
            expect: [
                ("FAILED", KEPT_ADVICE),
                ("FAILED", KEPT_ADVICE),
                ("FAILED", KEPT_ADVICE),
                ("FAILED", KEPT_ADVICE),
            ],
        },
    ]
}

/// What one cell did.
struct Cell {
    status: String,
    reason: String,
    attempts: usize,
    fault_reached: bool,
    delivered: bool,
}

/// One column's own moto, proxy and request counter.
struct Bench {
    aws: LocalAws,
    proxy: FaultProxy,
    direct: aws_sdk_ecr::Client,
    requests: usize,
    /// The stack in moto's CloudFormation (asked directly, past the proxy: the faults are ECR's).
    stack: String,
}

type Registry = FailingFor<EcrRegistry>;

impl Bench {
    async fn new() -> Bench {
        let aws = LocalAws::start();
        let proxy = FaultProxy::start(&aws.endpoint_url).await;
        let direct = aws.ecr().await;
        Bench { aws, proxy, direct, requests: 0, stack: String::new() }
    }

    async fn handler(
        &self,
        panic: bool,
        response_backoff: Duration,
    ) -> CustomResourceHandler<Registry, SystemClock, CloudFormationStacks, HttpsTransport> {
        let config = self.aws.sdk_config_via(&self.proxy.url, RetryProfile::Interactive).await;
        let registry = FailingFor {
            inner: EcrRegistry::new(aws_sdk_ecr::Client::new(&config)),
            repository: if panic { "*".into() } else { "-none-".into() },
            error: Failure::Panic("test-only fault: a bug inside the handler"),
        };
        let transport = HttpsTransport::new().unwrap_or_else(|e| panic!("{e}"));
        let policy = ResponsePolicy { first_backoff: response_backoff, ..ResponsePolicy::default() };
        let stacks = CloudFormationStacks::new(self.aws.cloudformation().await);
        CustomResourceHandler::new(Provisioner::new(registry, SystemClock, stacks), transport, policy)
    }

    fn event(&mut self, column: Column, url: &str, props: Value) -> Value {
        self.requests += 1;
        let kind = match column {
            Column::Create => "Create",
            Column::Update | Column::Rename => "Update",
            Column::Delete => "Delete",
        };
        let mut e = json!({
            "RequestType": kind, "ResponseURL": url, "StackId": self.stack,
            "RequestId": format!("{kind}-{}", self.requests), "ResourceType": "Custom::EcrRepository",
            "LogicalResourceId": LOGICAL, "ResourceProperties": props,
        });
        if column != Column::Create {
            e["PhysicalResourceId"] = json!("app");
        }
        if matches!(column, Column::Update | Column::Rename) {
            e["OldResourceProperties"] = original_properties();
        }
        e
    }

    /// A bystander repository with images and, unless the column creates it, `app` made by this
    /// resource and holding images.
    async fn prepare(&mut self, column: Column) {
        self.aws.reset();
        self.stack = self.aws.stack_with("app", &[LOGICAL]).await;
        self.proxy.set_rules(vec![]);
        self.direct.create_repository().repository_name("bystander").send().await.unwrap_or_else(|e| panic!("{e}"));
        seed::push_unique(&self.direct, "bystander", Some("v1.0"), "bystander-1").await;
        seed::push_unique(&self.direct, "bystander", None, "bystander-2").await;
        if column != Column::Create {
            let recorder = ResponseRecorder::start(&[]).await;
            let event = self.event(Column::Create, &recorder.url(), original_properties());
            self.aws.sending(&event);
            let handled = self.handler(false, Duration::from_millis(20)).await.handle(event.clone(), NORMAL_TIME).await;
            assert!(matches!(&handled, Ok(h) if h.physical_resource_id == "app"), "{handled:?}");
            self.aws.answered(&event, "app");
            seed::push_unique(&self.direct, "app", Some("v1.0"), "app-1").await;
            seed::push_unique(&self.direct, "app", None, "app-2").await;
        }
    }

    /// Every repository and the digests it holds.
    async fn images(&self) -> BTreeMap<String, Vec<String>> {
        let mut all = BTreeMap::new();
        let repos = self.direct.describe_repositories().send().await.unwrap_or_else(|e| panic!("{e}"));
        for name in repos.repositories().iter().filter_map(|r| r.repository_name()) {
            let out = self.direct.list_images().repository_name(name).send().await.unwrap_or_else(|e| panic!("{e}"));
            let mut digests: Vec<String> =
                out.image_ids().iter().filter_map(|i| i.image_digest().map(str::to_owned)).collect();
            digests.sort();
            digests.dedup();
            all.insert(name.to_string(), digests);
        }
        all
    }

    async fn run(&mut self, column: Column, scenario: &Scenario, props: Value, script: &[u16]) -> Cell {
        let before = self.images().await;
        let recorder = ResponseRecorder::start(script).await;
        let panic = matches!(scenario.trigger, Trigger::Panic);
        if let Trigger::Proxy(rules) = &scenario.trigger {
            self.proxy.set_rules(rules.clone());
        }
        let handler = self.handler(panic, ResponsePolicy::default().first_backoff).await;
        let event = self.event(column, &recorder.url(), props);
        self.aws.sending(&event);
        let started = Instant::now();
        let handled = handler.handle(event.clone(), scenario.time).await;
        let elapsed = started.elapsed();
        let fault_reached = !self.proxy.injected().is_empty();
        self.proxy.settle().await;
        self.proxy.set_rules(vec![]);
        let cell = format!("{} × {}", scenario.name, column.title());

        assert!(elapsed < scenario.time, "{cell}: took {elapsed:?} of {:?}", scenario.time);
        let requests = recorder.requests();
        let failing = script.iter().filter(|s| **s >= 300).count();
        let delivered = failing < ResponsePolicy::default().max_attempts as usize;
        if delivered {
            assert_eq!(requests.len(), failing + 1, "{cell}: one accepted response after {failing} refusals");
            assert!(handled.is_ok(), "{cell}: {handled:?}");
        } else {
            assert_eq!(requests.len(), ResponsePolicy::default().max_attempts as usize, "{cell}: bounded attempts");
            assert!(matches!(handled, Err(HandlerError::NotDelivered { .. })), "{cell}: {handled:?}");
        }
        let first = requests.first().unwrap_or_else(|| panic!("{cell}: no response at all"));
        for r in &requests {
            assert_eq!(r.body, first.body, "{cell}: every attempt sends the same response");
            assert_eq!(r.method, "PUT");
            assert_eq!(r.header("content-length").and_then(|l| l.parse().ok()), Some(r.body.len()));
            assert!(r.body.len() <= MAX_RESPONSE_BYTES, "{cell}: {} bytes", r.body.len());
        }
        let body = first.json();
        assert_eq!(body["StackId"], json!(self.stack), "{cell}");
        assert_eq!(body["RequestId"], event["RequestId"], "{cell}");
        assert_eq!(body["LogicalResourceId"], LOGICAL, "{cell}");
        let status = body["Status"].as_str().unwrap_or_default().to_string();
        let reason = body["Reason"].as_str().unwrap_or_default().to_string();
        let physical = body["PhysicalResourceId"].as_str().unwrap_or_default().to_string();
        assert!(!physical.is_empty(), "{cell}: empty physical id");
        assert!(!reason.trim().is_empty(), "{cell}: empty Reason");

        let after = self.images().await;
        for (repository, digests) in &before {
            let now = after.get(repository).unwrap_or_else(|| panic!("{cell}: repository {repository} disappeared"));
            for d in digests {
                assert!(now.contains(d), "{cell}: image {d} disappeared from {repository}");
            }
        }
        // The physical id must let CloudFormation's next request find what this one made.
        match (column, status.as_str()) {
            (Column::Create, "FAILED") if after.contains_key("app") => {
                assert_eq!(physical, "app", "{cell}: repository app exists but the answer names {physical}")
            }
            // Either is safe: a Delete for a name that does not exist answers "already gone".
            (Column::Create, "FAILED") => {
                assert!(physical.starts_with(FAILED_CREATE_MARKER) || physical == "app", "{cell}: {physical}")
            }
            (Column::Rename, "SUCCESS") => assert_eq!(physical, "app-v2", "{cell}"),
            // A failed replacement removes the (empty) repository it created, unless it was cut
            // short by the deadline.
            (Column::Rename, "FAILED") if !reason.contains("timed out") => {
                assert!(!after.contains_key("app-v2"), "{cell}: the failed replacement left app-v2 behind");
                assert_eq!(physical, "app", "{cell}")
            }
            _ => assert_eq!(physical, "app", "{cell}"),
        }
        Cell { status, reason, attempts: requests.len(), fault_reached, delivered }
    }
}

/// A Reason for the table: its beginning (what failed) and its end (what to do), at most
/// about 110 characters.
fn short(reason: &str) -> String {
    let (head, tail) = reason.split_once(" [...] ").unwrap_or((reason, ""));
    let chars: Vec<char> = if tail.is_empty() { head.chars().collect() } else { Vec::new() };
    let text = if !tail.is_empty() {
        let head: String = head.chars().take(45).collect();
        let tail: String = tail.chars().skip(tail.chars().count().saturating_sub(45)).collect();
        format!("{head} [...] {tail}")
    } else if chars.len() > 110 {
        let head: String = chars[..55].iter().collect();
        let tail: String = chars[chars.len() - 50..].iter().collect();
        format!("{head} … {tail}")
    } else {
        reason.to_string()
    };
    text.replace('|', "\\|")
}

/// Runs one column of the matrix; answers its table cells, one per scenario.
async fn column(column: Column) -> Vec<String> {
    let mut bench = Bench::new().await;
    let mut cells = Vec::new();
    for (row, scenario) in scenarios().iter().enumerate() {
        let (want_status, want_reason) = scenario.expect[COLUMNS.iter().position(|c| *c == column).unwrap_or(0)];
        let text = match &scenario.trigger {
            Trigger::BadProperties => {
                bench.prepare(column).await;
                let cases = bad_repository_properties();
                for (props, expected) in &cases {
                    let props = named(props, column.target());
                    let cell = bench.run(column, scenario, props.clone(), &[]).await;
                    assert_eq!(cell.status, want_status, "{props} × {}: {}", column.title(), cell.reason);
                    let expected = if column == Column::Delete { "" } else { *expected };
                    assert!(cell.reason.contains(expected), "{props} × {}: {:?}", column.title(), cell.reason);
                    assert!(cell.reason.contains(want_reason), "{props} × {}: {:?}", column.title(), cell.reason);
                }
                let what = if column == Column::Delete { "the repository kept" } else { "each naming its property" };
                format!("{want_status} ×{}, {what}", cases.len())
            }
            trigger => {
                bench.prepare(column).await;
                let script = if let Trigger::Response(s) = trigger { s.clone() } else { vec![] };
                let cell = bench.run(column, scenario, new_properties(column), &script).await;
                let at = format!("{} × {} (row {row})", scenario.name, column.title());
                assert_eq!(cell.status, want_status, "{at}: {}", cell.reason);
                assert!(cell.reason.contains(want_reason), "{at}: {:?} lacks {want_reason:?}", cell.reason);
                let mut text = format!("**{}** {}", cell.status, short(&cell.reason));
                if matches!(trigger, Trigger::Proxy(_)) && !cell.fault_reached {
                    text = format!("not reached: {text}");
                }
                if !cell.delivered {
                    text = format!("{} PUTs refused, then an error so Lambda retries: {text}", cell.attempts);
                } else if cell.attempts > 1 {
                    text = format!("{text} (accepted on attempt {})", cell.attempts);
                }
                text
            }
        };
        cells.push(text);
    }
    cells
}

/// The case's properties with its placeholder name replaced by `name`.
fn named(props: &Value, name: &str) -> Value {
    let text = props.to_string().replace("ok-name", name);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_gets_one_timely_actionable_answer_and_loses_no_image() {
    let results = futures_join(COLUMNS.iter().map(|c| tokio::spawn(column(*c))).collect()).await;
    let mut table =
        String::from("| Fault | Create | Update (in place) | Update (new name) | Delete |\n|---|---|---|---|---|\n");
    for (row, scenario) in scenarios().iter().enumerate() {
        let cells: Vec<&str> = results.iter().map(|c| c[row].as_str()).collect();
        table.push_str(&format!("| {} | {} |\n", scenario.name, cells.join(" | ")));
    }
    let generated = repo_root().join("target/fault-matrix.md");
    let _ = std::fs::write(&generated, &table);
    let readme = std::fs::read_to_string(repo_root().join("docs/reliability.md")).unwrap_or_default();
    assert!(
        readme.contains(&table),
        "docs/reliability.md's fault matrix differs from this run's; the run's table is in {}:\n{table}",
        generated.display()
    );
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<Vec<String>>>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for h in handles {
        match h.await {
            Ok(cells) => out.push(cells),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("{e}"),
        }
    }
    out
}
