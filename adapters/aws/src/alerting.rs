//! The alert ports on AWS: SNS for messages, a DynamoDB table (TTL attribute `expiresAt`) for
//! what was alerted before.

use crate::failure::{self, FailureKind, Kind};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, TimeZone, Utc};
use ecr_keeper_core::alerts::{AlertError, AlertLedger, AlertMessage, AlertPublisher, FindingKey};
use std::collections::HashSet;

/// An SNS or DynamoDB failure as the alerts' error (the sorting is `failure::classify`'s).
fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> AlertError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let failure = failure::classify(&err);
    match failure.kind {
        FailureKind::Answered(Kind::AccessDenied) => AlertError::AccessDenied { operation, message: failure.coded() },
        FailureKind::Answered(Kind::Throttled) => AlertError::Throttled { operation },
        FailureKind::Answered(Kind::Service) => {
            AlertError::Service { operation, code: failure.code, message: failure.message }
        }
        FailureKind::Answered(Kind::Rejected) | FailureKind::InvalidRequest => {
            AlertError::Rejected { operation, code: failure.code, message: failure.message }
        }
        // Timeouts, connection failures, unreadable responses: worth retrying.
        FailureKind::Transport => AlertError::Transport { operation, message: failure.message },
    }
}

/// `Publish` with `MessageStructure: json` to one topic.
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsPublisher { client, topic_arn: topic_arn.into() }
    }
}

impl AlertPublisher for SnsPublisher {
    async fn publish(&self, message: &AlertMessage) -> Result<(), AlertError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&message.subject)
            .message(&message.body)
            .message_structure("json")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("Publish", e))
    }
}

/// One item per image (`pk` = the image key, `findingKeys` = 8 bytes per key) and per
/// repository (`pk` = the repository key, `alertedAt`), each with `expiresAt` for the TTL.
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

const PK: &str = "pk";
const KEYS: &str = "findingKeys";
const ALERTED_AT: &str = "alertedAt";
const EXPIRES_AT: &str = "expiresAt";

impl DynamoLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoLedger { client, table: table.into() }
    }

    async fn item(&self, key: &str) -> Result<Option<std::collections::HashMap<String, AttributeValue>>, AlertError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| classify("GetItem", e))
    }

    async fn put(
        &self,
        key: &str,
        name: &str,
        value: AttributeValue,
        expires_at: DateTime<Utc>,
    ) -> Result<(), AlertError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(key.to_string()))
            .item(name, value)
            .item(EXPIRES_AT, AttributeValue::N(expires_at.timestamp().to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutItem", e))
    }
}

impl AlertLedger for DynamoLedger {
    async fn findings(&self, image: &str) -> Result<HashSet<FindingKey>, AlertError> {
        let item = self.item(image).await?;
        let bytes = match item.as_ref().and_then(|i| i.get(KEYS)) {
            Some(AttributeValue::B(blob)) => blob.as_ref().to_vec(),
            _ => return Ok(HashSet::new()),
        };
        Ok(bytes
            .chunks_exact(8)
            .map(|chunk| {
                let mut key = [0u8; 8];
                key.copy_from_slice(chunk);
                u64::from_be_bytes(key)
            })
            .collect())
    }

    async fn remember_findings(
        &self,
        image: &str,
        keys: &[FindingKey],
        expires_at: DateTime<Utc>,
    ) -> Result<(), AlertError> {
        let bytes: Vec<u8> = keys.iter().flat_map(|k| k.to_be_bytes()).collect();
        // DynamoDB refuses an empty binary value; an empty set is stored as no attribute.
        if bytes.is_empty() {
            return self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(PK, AttributeValue::S(image.to_string()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("DeleteItem", e));
        }
        self.put(image, KEYS, AttributeValue::B(Blob::new(bytes)), expires_at).await
    }

    async fn last_alert(&self, repository: &str) -> Result<Option<DateTime<Utc>>, AlertError> {
        let item = self.item(repository).await?;
        Ok(match item.as_ref().and_then(|i| i.get(ALERTED_AT)) {
            Some(AttributeValue::N(n)) => n.parse::<i64>().ok().and_then(|s| Utc.timestamp_opt(s, 0).single()),
            _ => None,
        })
    }

    async fn remember_alert(
        &self,
        repository: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), AlertError> {
        self.put(repository, ALERTED_AT, AttributeValue::N(at.timestamp().to_string()), expires_at).await
    }
}
