//! A fault-injecting HTTP proxy between the AWS SDK and moto.
//!
//! Per operation (read from `X-Amz-Target`, or the last path segment of an rpc-v2-cbor call),
//! a [`Rule`] injects the real JSON error shape of a throttle or a server error, resets the
//! connection, or delays the call, either on chosen calls (the 1st, 3rd ...), on every call, or
//! with a seeded probability. Every decision is a pure function of (seed, operation, call
//! number), so a run replays exactly. It listens on loopback only, and every fault is bounded:
//! a rule stops after `limit` injections and no delay exceeds [`MAX_DELAY`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The longest delay the proxy will ever hold a request.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// HTTP 400 `ThrottlingException`, as ECR sends it.
    Throttle,
    /// HTTP 500 `ServerException`.
    ServerError,
    /// Any JSON 1.1 error: status, `__type` code and message.
    Error { status: u16, code: String, message: String },
    /// The request is read, then the connection is reset (TCP RST) without an answer.
    Reset,
    /// The request reaches moto after this delay (capped at [`MAX_DELAY`]).
    Delay(Duration),
    /// An HTML page with this status, as a proxy or stock moto's "not implemented" answers.
    HtmlPage(u16),
}

/// Which calls of an operation a rule hits.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// These call numbers (1-based, counted per operation).
    Calls(Vec<usize>),
    Always,
    /// Each call with this probability, decided by a hash of (seed, operation, call number).
    Probability {
        p: f64,
        seed: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operations {
    Named(Vec<String>),
    /// Every read: `Describe*`, `List*`, `Get*`, `BatchGet*`.
    Reads,
    All,
}

impl Operations {
    pub fn named(names: &[&str]) -> Operations {
        Operations::Named(names.iter().map(|s| s.to_string()).collect())
    }

    fn matches(&self, operation: &str) -> bool {
        match self {
            Operations::Named(names) => names.iter().any(|n| n == operation),
            Operations::Reads => ["Describe", "List", "Get", "BatchGet"].iter().any(|p| operation.starts_with(p)),
            Operations::All => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub operations: Operations,
    pub when: When,
    pub fault: Fault,
    /// At most this many injections by this rule.
    pub limit: usize,
    /// Only requests whose body contains this text (one repository: `"repositoryName":"app"`).
    pub body_contains: Option<String>,
}

impl Rule {
    pub fn new(operations: Operations, when: When, fault: Fault) -> Rule {
        Rule { operations, when, fault, limit: 10_000, body_contains: None }
    }

    /// The same rule, only for requests about `repository`.
    pub fn for_repository(self, repository: &str) -> Rule {
        Rule { body_contains: Some(format!("\"repositoryName\":\"{repository}\"")), ..self }
    }
}

/// One fault the proxy injected.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    pub operation: String,
    pub call: usize,
    pub fault: Fault,
}

#[derive(Default)]
struct State {
    rules: Vec<(Rule, usize)>,
    in_flight: usize,
    calls: HashMap<String, usize>,
    injected: Vec<Injected>,
}

impl State {
    /// `json_errors`: whether an error can be injected in this request's protocol. Errors are
    /// written as JSON 1.1 (ECR's protocol); rpc-v2-cbor calls (CloudWatch) only get resets and
    /// delays.
    fn decide(&mut self, operation: &str, json_errors: bool, body: &[u8]) -> Option<Fault> {
        let call = {
            let n = self.calls.entry(operation.to_string()).or_default();
            *n += 1;
            *n
        };
        for (rule, used) in self.rules.iter_mut() {
            let is_error =
                matches!(rule.fault, Fault::Throttle | Fault::ServerError | Fault::Error { .. } | Fault::HtmlPage(_));
            if *used >= rule.limit || !rule.operations.matches(operation) || (is_error && !json_errors) {
                continue;
            }
            if let Some(text) = &rule.body_contains {
                if !body.windows(text.len()).any(|w| w == text.as_bytes()) {
                    continue;
                }
            }
            let hit = match &rule.when {
                When::Calls(calls) => calls.contains(&call),
                When::Always => true,
                When::Probability { p, seed } => unit_interval(*seed, operation, call) < *p,
            };
            if hit {
                *used += 1;
                self.injected.push(Injected { operation: operation.to_string(), call, fault: rule.fault.clone() });
                return Some(rule.fault.clone());
            }
        }
        None
    }
}

/// splitmix64 over (seed, operation, call): the same inputs always give the same draw.
fn unit_interval(seed: u64, operation: &str, call: usize) -> f64 {
    let mut x = seed ^ (call as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in operation.bytes() {
        x = (x ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
    }
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

pub struct FaultProxy {
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (moto, or the bridge).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("fault proxy: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (state, upstream) = (shared.clone(), upstream.clone());
                tokio::spawn(async move {
                    if let Ok(mut s) = state.lock() {
                        s.in_flight += 1;
                    }
                    let _ = serve(client, &upstream, state.clone()).await;
                    if let Ok(mut s) = state.lock() {
                        s.in_flight -= 1;
                    }
                });
            }
        });
        FaultProxy { url: format!("http://127.0.0.1:{port}"), state, task }
    }

    /// Replaces the rules and clears the call counts and the record.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        if let Ok(mut s) = self.state.lock() {
            let in_flight = s.in_flight;
            *s = State { rules: rules.into_iter().map(|r| (r, 0)).collect(), in_flight, ..State::default() };
        }
    }

    pub fn injected(&self) -> Vec<Injected> {
        self.state.lock().map(|s| s.injected.clone()).unwrap_or_default()
    }

    /// Waits until no request is held or being forwarded (a delayed call the SDK gave up on
    /// still reaches moto, as it would reach AWS).
    pub async fn settle(&self) {
        for _ in 0..((MAX_DELAY.as_millis() / 50) + 100) {
            if self.state.lock().map(|s| s.in_flight == 0).unwrap_or(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many calls, of every operation, reached the proxy since the rules were set.
    pub fn total_calls(&self) -> usize {
        self.state.lock().map(|s| s.calls.values().sum()).unwrap_or(0)
    }

    /// How many calls of `operation` reached the proxy since the rules were set.
    pub fn calls(&self, operation: &str) -> usize {
        self.state.lock().ok().and_then(|s| s.calls.get(operation).copied()).unwrap_or(0)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct HttpMessage {
    head: String,
    body: Vec<u8>,
}

impl HttpMessage {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn operation(&self) -> String {
        if let Some(target) = self.header("x-amz-target") {
            return target.rsplit('.').next().unwrap_or(target).to_string();
        }
        // The query protocol (SNS): `Action=Publish&…` in a form body.
        if self.is_query() {
            let body = String::from_utf8_lossy(&self.body);
            if let Some(action) = body.split('&').find_map(|pair| pair.strip_prefix("Action=")) {
                return action.to_string();
            }
        }
        let path = self.head.split_whitespace().nth(1).unwrap_or_default();
        path.split('?').next().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string()
    }

    fn is_query(&self) -> bool {
        self.header("content-type").is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
    }

    /// The same message, asking the peer to close after it (one exchange per connection).
    fn closing(&self) -> Vec<u8> {
        let mut out = String::new();
        for (i, line) in self.head.split("\r\n").enumerate() {
            if i > 0 && (line.is_empty() || line.to_ascii_lowercase().starts_with("connection:")) {
                continue;
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str("Connection: close\r\n\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Reads one HTTP/1.1 message with a Content-Length body (what the SDK and moto send), or
/// until EOF when `to_eof`.
async fn read_message(stream: &mut TcpStream, to_eof: bool) -> std::io::Result<Option<HttpMessage>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end - 2]).to_string();
    let mut message = HttpMessage { head, body: Vec::new() };
    let length: Option<usize> = message.header("content-length").and_then(|v| v.parse().ok());
    loop {
        let have = buf.len() - head_end;
        if length.is_some_and(|l| have >= l) {
            break;
        }
        if length.is_none() && !to_eof {
            break;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let end = length.map_or(buf.len(), |l| (head_end + l).min(buf.len()));
    message.body = buf[head_end..end].to_vec();
    Ok(Some(message))
}

async fn serve(mut client: TcpStream, upstream: &str, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let Some(request) = read_message(&mut client, false).await? else {
        return Ok(());
    };
    let operation = request.operation();
    // Errors in the protocol the SDK expects: JSON 1.1 (ECR, DynamoDB), XML (SNS's query
    // protocol); CloudWatch's rpc-v2-cbor gets resets and delays only.
    let query = request.is_query();
    let errors_parse = query || request.header("smithy-protocol").is_none_or(|p| p != "rpc-v2-cbor");
    let fault = state.lock().ok().and_then(|mut s| s.decide(&operation, errors_parse, &request.body));
    let error = |status: u16, code: &str, message: &str| {
        let (content_type, body) = if query {
            let kind = if status < 500 { "Sender" } else { "Receiver" };
            let xml = format!(
                "<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>fault-proxy</RequestId></ErrorResponse>"
            );
            ("text/xml", xml)
        } else {
            ("application/x-amz-json-1.1", serde_json::json!({"__type": code, "message": message}).to_string())
        };
        format!(
            "HTTP/1.1 {status} Error\r\nContent-Type: {content_type}\r\nx-amzn-ErrorType: {code}\r\n\
             x-amzn-RequestId: fault-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match fault {
        Some(Fault::Throttle) => {
            client.write_all(error(400, "ThrottlingException", "Rate exceeded").as_bytes()).await?;
            return client.shutdown().await;
        }
        Some(Fault::ServerError) => {
            let reply = error(500, "ServerException", "We encountered an internal error. Please try again.");
            client.write_all(reply.as_bytes()).await?;
            return client.shutdown().await;
        }
        Some(Fault::Error { status, code, message }) => {
            client.write_all(error(status, &code, &message).as_bytes()).await?;
            return client.shutdown().await;
        }
        Some(Fault::Reset) => {
            // SO_LINGER 0: close sends RST, which the SDK sees as a connection reset.
            #[allow(deprecated)]
            client.set_linger(Some(Duration::ZERO))?;
            drop(client);
            return Ok(());
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d.min(MAX_DELAY)).await,
        Some(Fault::HtmlPage(status)) => {
            let body = "<!doctype html><title>Internal Server Error</title><h1>Internal Server Error</h1>";
            let reply = format!(
                "HTTP/1.1 {status} Error\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(reply.as_bytes()).await?;
            return client.shutdown().await;
        }
        None => {}
    }
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&request.closing()).await?;
    let Some(response) = read_message(&mut server, true).await? else {
        return Ok(());
    };
    client.write_all(&response.closing()).await?;
    client.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_faults_and_about_the_asked_share() {
        let draws = |seed| (1..=2000).map(|n| unit_interval(seed, "DescribeImages", n) < 0.5).collect::<Vec<_>>();
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        let hits = draws(7).iter().filter(|h| **h).count();
        assert!((900..1100).contains(&hits), "{hits} of 2000 at p = 0.5");
    }

    #[test]
    fn a_rule_stops_at_its_limit_and_counts_per_operation() {
        let mut state = State::default();
        let rule = Rule { limit: 2, ..Rule::new(Operations::Reads, When::Always, Fault::Throttle) };
        state.rules.push((rule, 0));
        let got: Vec<bool> = ["ListImages", "PutLifecyclePolicy", "ListImages", "DescribeImages"]
            .iter()
            .map(|op| state.decide(op, true, b"").is_some())
            .collect();
        assert_eq!(got, vec![true, false, true, false]);
        assert_eq!(state.calls.get("ListImages"), Some(&2));
        assert_eq!(state.injected.iter().map(|i| i.call).collect::<Vec<_>>(), vec![1, 2]);
    }
}
