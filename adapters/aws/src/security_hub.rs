//! The audit's findings into AWS Security Hub: `GetFindings` for ecr-keeper's active ones,
//! `BatchImportFindings` (100 a call) for the rest, under the account's default product.

use crate::failure::{self, FailureKind, Kind};
use aws_config::SdkConfig;
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, Compliance, ComplianceStatus, Partition, Recommendation,
    RecordState, Remediation, Resource, Severity, SeverityLabel, StringFilter, StringFilterComparison,
};
use aws_sdk_securityhub::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use ecr_keeper_core::audit::security_hub::{HubError, HubFinding, SecurityFindings, ID_PREFIX, SCHEMA_VERSION};
use std::collections::HashSet;

/// What each finding says it is (ASFF's finding type taxonomy).
const FINDING_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices";
const DOCS: &str = "https://github.com/ecr-keeper/ecr-keeper/blob/main/docs/audit.md";

#[derive(Clone)]
pub struct SecurityHubFindings {
    client: Client,
    partition: &'static str,
    region: String,
    /// `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`: findings
    /// imported under it must name the same account.
    product_arn: String,
}

impl SecurityHubFindings {
    /// The findings of `account` (the caller's own) in the client's region.
    pub fn new(config: &SdkConfig, account: &str) -> Self {
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        Self::with_client(Client::new(config), &region, account)
    }

    /// `account`'s findings through `client` (built for its region, with its credentials: a
    /// member role's, in an organization run).
    pub fn with_client(client: Client, region: &str, account: &str) -> Self {
        let partition = ecr_keeper_core::registry::partition(region);
        SecurityHubFindings {
            client,
            partition,
            product_arn: format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default"),
            region: region.to_string(),
        }
    }

    fn finding(&self, f: &HubFinding) -> AwsSecurityFinding {
        let resource = Resource::builder()
            .r#type(f.resource_type)
            .id(&f.resource_id)
            .partition(Partition::from(self.partition))
            .region(&f.region)
            .build();
        let remediation = f.remediation.as_ref().map(|text| {
            Remediation::builder().recommendation(Recommendation::builder().text(text).url(DOCS).build()).build()
        });
        AwsSecurityFinding::builder()
            .schema_version(SCHEMA_VERSION)
            .id(&f.id)
            .product_arn(&self.product_arn)
            .product_name("ecr-keeper")
            .company_name("ecr-keeper")
            .generator_id(&f.generator_id)
            .aws_account_id(&f.account)
            .region(&f.region)
            .types(FINDING_TYPE)
            .created_at(&f.at)
            .updated_at(&f.at)
            .severity(Severity::builder().label(SeverityLabel::from(f.severity)).build())
            .title(&f.title)
            .description(&f.description)
            .resources(resource)
            .compliance(Compliance::builder().status(ComplianceStatus::from(f.compliance)).build())
            .record_state(RecordState::from(f.record_state))
            .set_remediation(remediation)
            .build()
    }
}

fn hub_error<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> HubError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let failure = failure::classify(&err);
    match failure.kind {
        FailureKind::Answered(Kind::AccessDenied) => HubError::AccessDenied { operation, message: failure.coded() },
        _ => HubError::Failed { operation, message: failure.coded() },
    }
}

impl SecurityFindings for SecurityHubFindings {
    /// The same client, for `account`'s findings (a report's registry, known once it is read).
    fn for_account(&self, account: &str) -> Self {
        Self::with_client(self.client.clone(), &self.region, account)
    }

    async fn active_ids(&self) -> Result<HashSet<String>, HubError> {
        let equals =
            |value: &str| StringFilter::builder().comparison(StringFilterComparison::Equals).value(value).build();
        let filters = AwsSecurityFindingFilters::builder()
            .product_arn(equals(&self.product_arn))
            .record_state(equals("ACTIVE"))
            .id(StringFilter::builder().comparison(StringFilterComparison::Prefix).value(ID_PREFIX).build())
            .build();
        let mut pages = self.client.get_findings().filters(filters).max_results(100).into_paginator().send();
        let mut ids = HashSet::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| hub_error("GetFindings", e))?;
            // The filters again: a finding of another product or state is not ours to archive.
            ids.extend(
                page.findings()
                    .iter()
                    .filter(|f| {
                        f.product_arn() == Some(self.product_arn.as_str())
                            && f.record_state().is_none_or(|s| s.as_str() == "ACTIVE")
                    })
                    .filter_map(|f| f.id())
                    .filter(|id| id.starts_with(ID_PREFIX))
                    .map(str::to_owned),
            );
        }
        Ok(ids)
    }

    async fn import(&self, findings: &[HubFinding]) -> Result<usize, HubError> {
        let out = self
            .client
            .batch_import_findings()
            .set_findings(Some(findings.iter().map(|f| self.finding(f)).collect()))
            .send()
            .await
            .map_err(|e| hub_error("BatchImportFindings", e))?;
        for failed in out.failed_findings() {
            tracing::warn!(
                id = failed.id().unwrap_or_default(),
                code = failed.error_code().unwrap_or_default(),
                message = failed.error_message().unwrap_or_default(),
                "Security Hub refused a finding"
            );
        }
        Ok(out.failed_count().unwrap_or_default().max(0) as usize)
    }
}
