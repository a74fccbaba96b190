//! Where runs and reports are kept: S3 in Lambda, a directory for the CLI, memory in tests.

use std::future::Future;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{operation} {key}: access denied ({message}); grant the role this permission on the bucket")]
    AccessDenied { operation: &'static str, key: String, message: String },
    #[error("{operation} {key}: the bucket does not exist ({message}); is KEEPER_REPORTS_BUCKET right?")]
    NoBucket { operation: &'static str, key: String, message: String },
    #[error("{operation} {key}: throttled past the retry budget")]
    Throttled { operation: &'static str, key: String },
    #[error("{operation} {key}: {message}")]
    Other { operation: &'static str, key: String, message: String },
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Throttled { .. })
    }
}

/// Objects by key: the whole text in, the whole text out.
pub trait ReportStore: Send + Sync {
    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `None` when there is no such object.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}
