//! The report store on S3: one bucket, objects by key.

use crate::failure::{self, FailureKind, Kind};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use ecr_keeper_core::run::{ReportStore, StoreError};

pub struct S3ReportStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3ReportStore {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3ReportStore { client, bucket: bucket.into() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// An S3 failure as the report store's error (the sorting is `failure::classify`'s).
fn classify<E>(operation: &'static str, key: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let key = key.to_string();
    let failure = failure::classify(&err);
    let message = failure.coded();
    match (failure.code.as_str(), failure.kind) {
        ("NoSuchBucket", _) => StoreError::NoBucket { operation, key, message },
        (_, FailureKind::Answered(Kind::AccessDenied)) => StoreError::AccessDenied { operation, key, message },
        (_, FailureKind::Answered(Kind::Throttled)) => StoreError::Throttled { operation, key },
        _ => StoreError::Other { operation, key, message },
    }
}

impl ReportStore for S3ReportStore {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &'static str) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutObject", key, e))
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let out = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => return Ok(None),
            Err(e) => return Err(classify("GetObject", key, e)),
        };
        let bytes = out.body.collect().await.map_err(|e| StoreError::Other {
            operation: "GetObject",
            key: key.to_string(),
            message: e.to_string(),
        })?;
        String::from_utf8(bytes.into_bytes().to_vec()).map(Some).map_err(|e| StoreError::Other {
            operation: "GetObject",
            key: key.to_string(),
            message: format!("not UTF-8: {e}"),
        })
    }
}
