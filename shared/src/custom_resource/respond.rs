//! The protocol guarantees: exactly one response per request — on success, error, bad input,
//! panic or timeout — sent before the Lambda deadline with bounded retries.

use super::confirm::Stacks;
use super::model::{response_body, url_host, Envelope, Outcome, Request, RequestError, RequestType, Status};
use super::progress::RequestProgress;
use super::provision::{failed_create_id, NoWorkloads, Provisioner};
use super::transport::ResponseTransport;
use crate::ports::{Clock, RegistryReads, RepositoryAdmin, SettingsWrites};
use crate::workloads::Workloads;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How much of the invocation's time is kept back for answering CloudFormation.
#[derive(Debug, Clone, Copy)]
pub struct ResponsePolicy {
    /// At least this long is reserved for the PUT (and its retries) ...
    pub min_reserve: Duration,
    /// ... at most this long; in between, a fifth of the invocation's time.
    pub max_reserve: Duration,
    pub max_attempts: u32,
    pub first_backoff: Duration,
    pub attempt_timeout: Duration,
}

impl Default for ResponsePolicy {
    fn default() -> Self {
        ResponsePolicy {
            min_reserve: Duration::from_secs(2),
            max_reserve: Duration::from_secs(15),
            max_attempts: 5,
            first_backoff: Duration::from_millis(200),
            attempt_timeout: Duration::from_secs(5),
        }
    }
}

/// What the invocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub request_type: Option<RequestType>,
    pub status: Status,
    pub physical_resource_id: String,
    pub reason: String,
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    NotCustomResource(String),
    /// Returned so Lambda retries the invocation (it is idempotent) and the response gets
    /// another chance.
    #[error("could not deliver the {status:?} response to {host} after {attempts} attempts: {last_error}")]
    NotDelivered { status: Status, host: String, attempts: u32, last_error: String },
}

pub struct CustomResourceHandler<R, C, S, T, W = NoWorkloads> {
    provisioner: Arc<Provisioner<R, C, S, W>>,
    transport: T,
    policy: ResponsePolicy,
}

impl<R, C, S, T, W> CustomResourceHandler<R, C, S, T, W>
where
    R: RegistryReads + SettingsWrites + RepositoryAdmin + 'static,
    C: Clock + 'static,
    S: Stacks + 'static,
    T: ResponseTransport,
    W: Workloads + 'static,
{
    pub fn new(provisioner: Provisioner<R, C, S, W>, transport: T, policy: ResponsePolicy) -> Self {
        CustomResourceHandler { provisioner: Arc::new(provisioner), transport, policy }
    }

    /// Handles one invocation that has `remaining` time before Lambda stops it.
    pub async fn handle(&self, event: Value, remaining: Duration) -> Result<Handled, HandlerError> {
        let deadline = Instant::now() + remaining;
        let (envelope, request_type, outcome) = match Request::from_value(&event) {
            Err(RequestError::NotCustomResource(m)) => return Err(HandlerError::NotCustomResource(m)),
            Err(RequestError::Malformed { envelope, message }) => {
                let id =
                    envelope.physical_resource_id.clone().unwrap_or_else(|| failed_create_id(&envelope.request_id));
                (*envelope, None, Outcome::failed(id, format!("malformed request: {message}")))
            }
            Ok(request) => {
                tracing::info!(
                    request_type = request.request_type.as_str(),
                    logical_id = %request.envelope.logical_resource_id,
                    physical_id = request.envelope.physical_resource_id.as_deref().unwrap_or(""),
                    response_host = url_host(&request.envelope.response_url),
                    time_left_ms = remaining.as_millis() as u64,
                    "custom resource request"
                );
                let outcome = self.run(&request, remaining, deadline).await;
                (request.envelope, Some(request.request_type), outcome)
            }
        };
        let attempts = self.deliver(&envelope, &outcome, deadline).await?;
        Ok(Handled {
            request_type,
            status: outcome.status,
            physical_resource_id: outcome.physical_resource_id,
            reason: outcome.reason,
            attempts,
        })
    }

    /// Runs the request in its own task: a panic or an overrun becomes a FAILED outcome.
    async fn run(&self, request: &Request, remaining: Duration, deadline: Instant) -> Outcome {
        let reserve = (remaining / 5).clamp(self.policy.min_reserve, self.policy.max_reserve);
        let budget = deadline.saturating_duration_since(Instant::now()).saturating_sub(reserve);
        let progress = RequestProgress::new(format!("starting the {}", request.request_type.as_str()));
        let task = {
            let (provisioner, request, progress) = (self.provisioner.clone(), request.clone(), progress.clone());
            tokio::spawn(async move { provisioner.provide(&request, &progress).await })
        };
        let abort = task.abort_handle();
        let fallback_id = || match request.request_type {
            RequestType::Create => {
                progress.created_repository().unwrap_or_else(|| failed_create_id(&request.envelope.request_id))
            }
            _ => request.envelope.physical_resource_id.clone().unwrap_or_default(),
        };
        match tokio::time::timeout(budget, task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join)) => {
                let detail = if join.is_panic() { panic_message(join.into_panic()) } else { join.to_string() };
                tracing::error!(stage = %progress.current_stage(), detail = %detail, "the request handler panicked");
                Outcome::failed(
                    fallback_id(),
                    format!(
                        "ecr-keeper failed unexpectedly while {}: {detail}. This is a bug; the function's logs have the details",
                        progress.current_stage()
                    ),
                )
            }
            Err(_) => {
                abort.abort();
                tracing::error!(stage = %progress.current_stage(), "the request ran out of time");
                Outcome::failed(
                    fallback_id(),
                    format!(
                        "timed out after {:.0} s while {}; the function's timeout leaves too little time (raise it), or AWS was slow (retry)",
                        budget.as_secs_f64(),
                        progress.current_stage()
                    ),
                )
            }
        }
    }

    /// PUTs the response, retrying transport errors and 5xx/429 with backoff within the time left.
    async fn deliver(&self, envelope: &Envelope, outcome: &Outcome, deadline: Instant) -> Result<u32, HandlerError> {
        let body = response_body(envelope, outcome);
        let host = url_host(&envelope.response_url).to_string();
        let mut backoff = self.policy.first_backoff;
        let mut last_error = String::from("no time left to send it");
        let mut attempts = 0;
        while attempts < self.policy.max_attempts {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            attempts += 1;
            let sent = tokio::time::timeout(
                left.min(self.policy.attempt_timeout),
                self.transport.put(&envelope.response_url, body.clone()),
            )
            .await;
            match sent {
                Ok(Ok(status)) if (200..300).contains(&status) => {
                    tracing::info!(
                        host = %host, http_status = status, attempt = attempts, status = ?outcome.status,
                        physical_id = %outcome.physical_resource_id, bytes = body.len(), "answered CloudFormation"
                    );
                    return Ok(attempts);
                }
                Ok(Ok(status)) if status == 429 || status >= 500 => last_error = format!("HTTP {status}"),
                Ok(Ok(status)) => {
                    // 4xx: an expired or altered URL; sending again cannot help.
                    return Err(HandlerError::NotDelivered {
                        status: outcome.status,
                        host,
                        attempts,
                        last_error: format!("HTTP {status}"),
                    });
                }
                Ok(Err(e)) => last_error = e.to_string(),
                Err(_) => last_error = format!("no answer within {:?}", left.min(self.policy.attempt_timeout)),
            }
            tracing::warn!(host = %host, attempt = attempts, error = %last_error, "answering CloudFormation failed; retrying");
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(backoff.min(left)).await;
            backoff *= 2;
        }
        Err(HandlerError::NotDelivered { status: outcome.status, host, attempts, last_error })
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}
