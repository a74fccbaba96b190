//! The port that answers CloudFormation: a PUT of the response body to the request's
//! ResponseURL. The HTTPS adapter lives in `ecr-keeper-aws`.

use std::future::Future;

/// Why no HTTP status came back. The text never holds the ResponseURL (its query is a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("cannot build the request: {0}")]
    Request(String),
    #[error("{0}")]
    Connection(String),
}

/// Sends a response body; answers the HTTP status.
pub trait ResponseTransport: Send + Sync {
    fn put(&self, url: &str, body: Vec<u8>) -> impl Future<Output = Result<u16, TransportError>> + Send;
}
