//! Whether what came back is AWS at all, and whether the endpoint answers: a person at a terminal
//! learns in seconds that the URL, the proxy or the port is wrong, instead of after a minute of
//! retries ending in a parser error.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_sdk_ecr::error::SdkError;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};
use std::time::Duration;

/// How long the probe waits for a TCP connection, then for the whole answer.
const PROBE_CONNECT: Duration = Duration::from_secs(3);
const PROBE_ANSWER: Duration = Duration::from_secs(5);

/// An HTML page is never retried: AWS's JSON and query APIs do not answer in HTML, so the page
/// is a proxy's, a portal's or an emulator's "not implemented", and the same page comes back.
#[derive(Debug, Default, Clone, Copy)]
pub struct HtmlIsFinal;

impl ClassifyRetry for HtmlIsFinal {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.response() {
            Some(response) if is_html(response.headers().get("content-type")) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "HtmlIsFinal"
    }

    // Before the status-code classifier, which would retry a 5xx page.
    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_before(RetryClassifierPriority::http_status_code_classifier())
    }
}

fn is_html(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"))
}

/// A response that did not come from an AWS service, said with its status: "HTTP 502 (text/html)".
pub fn not_aws_answer<E>(err: &SdkError<E, HttpResponse>) -> Option<String> {
    let response = err.raw_response()?;
    let content_type = response.headers().get("content-type");
    is_html(content_type).then(|| {
        format!(
            "HTTP {} with an HTML page ({}), not an AWS answer: a proxy, a portal, or an API the endpoint does not implement",
            response.status().as_u16(),
            content_type.unwrap_or("text/html")
        )
    })
}

/// Why the endpoint could not be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    #[error("no connection: {0}")]
    NoConnection(String),
    #[error("no answer within {} s", PROBE_ANSWER.as_secs())]
    Silent,
    #[error("{0}")]
    NotAws(String),
}

/// One DescribeRepositories of one item, not retried, within a few seconds. Any answer from ECR,
/// an error code included (AccessDenied, say), means the endpoint is there.
pub async fn probe_ecr(config: &SdkConfig) -> Result<(), Unreachable> {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(PROBE_CONNECT)
        .operation_attempt_timeout(PROBE_ANSWER)
        .operation_timeout(PROBE_ANSWER)
        .build();
    let conf = aws_sdk_ecr::config::Builder::from(config)
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts)
        .build();
    let client = aws_sdk_ecr::Client::from_conf(conf);
    match client.describe_repositories().max_results(1).send().await {
        Ok(_) => Ok(()),
        Err(err) => match not_aws_answer(&err) {
            Some(why) => Err(Unreachable::NotAws(why)),
            None => match &err {
                SdkError::ServiceError(_) => Ok(()),
                SdkError::TimeoutError(_) => Err(Unreachable::Silent),
                SdkError::DispatchFailure(d) if d.is_timeout() => Err(Unreachable::Silent),
                SdkError::ResponseError(_) => Err(Unreachable::NotAws(format!(
                    "an answer that is not AWS's ({})",
                    err.raw_response().map_or("no status".to_string(), |r| format!("HTTP {}", r.status().as_u16()))
                ))),
                _ => Err(Unreachable::NoConnection(crate::one_line(&err))),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_html_is_taken_for_a_page() {
        assert!(is_html(Some("text/html; charset=utf-8")));
        assert!(is_html(Some("TEXT/HTML")));
        assert!(!is_html(Some("application/x-amz-json-1.1")));
        assert!(!is_html(None));
    }
}
