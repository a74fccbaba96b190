//! The `Registry` port over aws-sdk-ecr.

use crate::failure::{self, Failure, FailureKind, Kind};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::types::{
    DescribeImagesFilter, EncryptionConfiguration, EncryptionType, ImageIdentifier, ImageScanningConfiguration,
    ImageStatusFilter, ImageTagMutability as SdkMutability, ImageTagMutabilityExclusionFilter,
    ImageTagMutabilityExclusionFilterType, RctAppliedFor, Tag,
};
use aws_sdk_ecr::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use chrono::{DateTime, Utc};
use ecr_keeper_core::findings::{Finding, Severity, SeverityCounts};
use ecr_keeper_core::image::{Image, ImageScan, ImageStatus, ScanFindings};
use ecr_keeper_core::ports::{ImageWrites, RegistryError, RegistryReads, RepositoryAdmin, SettingsWrites};
use ecr_keeper_core::registry::{
    CreationScenario, CreationTemplate, PullThroughCacheRule, RegistryRules, ReplicationDestination, ReplicationRule,
};
use ecr_keeper_core::repository::{Encryption, Repository, RepositorySettings, ResourceTag, TagMutability};
use ecr_keeper_core::scanning::{RegistryScanning, ScanFrequency, ScanRule};

/// ECR's page size maximum: fewer round trips.
const PAGE_SIZE: i32 = 1000;
/// BatchGetImage takes at most 100 image ids.
const BATCH_GET_MAX: usize = 100;
const ACCEPTED_MANIFESTS: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
];

#[derive(Debug, Clone)]
pub struct EcrRegistry {
    client: Client,
    /// Where the applied images-per-repository quota is read (the audit's QUOTA-1).
    /// Built at its first read: only what reads the registry's rules (a run's plan, a
    /// whole-registry audit) reads the quota, never a shard.
    #[cfg(feature = "service-quotas")]
    quotas: Option<crate::OnFirstCall<aws_sdk_servicequotas::Client>>,
}

/// Service Quotas' code for ECR's "Images per repository" (the User Guide's quota table links it).
#[cfg(feature = "service-quotas")]
const IMAGES_PER_REPOSITORY_QUOTA: &str = "L-03A36CE1";

impl EcrRegistry {
    pub fn new(client: Client) -> Self {
        EcrRegistry {
            client,
            #[cfg(feature = "service-quotas")]
            quotas: None,
        }
    }

    /// Also reads the applied images-per-repository quota with the registry's rules, through a
    /// Service Quotas client of `config` built on the first read.
    #[cfg(feature = "service-quotas")]
    pub fn reading_quotas(self, config: aws_sdk_servicequotas::Config) -> Self {
        let quotas = crate::OnFirstCall::new(move || aws_sdk_servicequotas::Client::from_conf(config.clone()));
        EcrRegistry { quotas: Some(quotas), ..self }
    }

    /// The applied quota; `None` (ECR's default is used) when it is not read or cannot be:
    /// a role without servicequotas:GetServiceQuota still gets its audit.
    async fn images_per_repository_quota(&self) -> Option<u64> {
        #[cfg(feature = "service-quotas")]
        if let Some(quotas) = &self.quotas {
            let quotas = quotas.get();
            let read =
                quotas.get_service_quota().service_code("ecr").quota_code(IMAGES_PER_REPOSITORY_QUOTA).send().await;
            match read {
                // Whole images: the quota is a count, sent as a double.
                Ok(out) => return out.quota().and_then(|q| q.value()).filter(|v| *v >= 1.0).map(|v| v.round() as u64),
                // "If the applied quota value is not available for a quota, the quota is not
                // retrieved" (API reference): the default applies, nothing to warn about.
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_resource_exception()) => {
                    tracing::debug!("no applied images-per-repository quota: ECR's default applies")
                }
                Err(e) => tracing::warn!(
                    error = %crate::one_line(&e),
                    "the applied images-per-repository quota was not read (servicequotas:GetServiceQuota): QUOTA-1 uses ECR's default"
                ),
            }
        }
        None
    }

    async fn creation_templates(&self) -> Result<Vec<CreationTemplate>, RegistryError> {
        let mut pages = self.client.describe_repository_creation_templates().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("DescribeRepositoryCreationTemplates", "registry", e))?;
            out.extend(page.repository_creation_templates().iter().map(|t| CreationTemplate {
                prefix: t.prefix().unwrap_or_default().to_string(),
                // A scenario this version does not know is left out: no check judges it.
                applied_for: t.applied_for().iter().filter_map(|a| CreationScenario::from_wire(a.as_str())).collect(),
                lifecycle_policy: t.lifecycle_policy().filter(|p| !p.trim().is_empty()).map(str::to_owned),
            }));
        }
        Ok(out)
    }

    async fn pull_through_cache_rules(&self) -> Result<Vec<PullThroughCacheRule>, RegistryError> {
        let mut pages = self.client.describe_pull_through_cache_rules().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("DescribePullThroughCacheRules", "registry", e))?;
            out.extend(page.pull_through_cache_rules().iter().map(|r| PullThroughCacheRule {
                prefix: r.ecr_repository_prefix().unwrap_or_default().to_string(),
                upstream: r.upstream_registry_url().unwrap_or_default().to_string(),
            }));
        }
        Ok(out)
    }
}

/// An SDK failure as the `Registry` ports' error (the sorting is `failure::classify`'s).
pub(crate) fn classify<E>(operation: &'static str, subject: &str, err: SdkError<E, HttpResponse>) -> RegistryError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let Failure { kind, code, message } = failure::classify(&err);
    match (code.as_str(), kind) {
        ("RepositoryNotFoundException", _) => RegistryError::RepositoryNotFound(subject.to_string()),
        ("RepositoryAlreadyExistsException", _) => RegistryError::RepositoryAlreadyExists(subject.to_string()),
        ("RepositoryNotEmptyException", _) => RegistryError::RepositoryNotEmpty(subject.to_string()),
        ("LimitExceededException", _) => RegistryError::QuotaExceeded { operation, message },
        (_, FailureKind::Answered(Kind::AccessDenied)) => RegistryError::AccessDenied { operation, message },
        (_, FailureKind::Answered(Kind::Throttled)) => RegistryError::Throttled { operation },
        (_, FailureKind::Answered(Kind::Service)) => RegistryError::Service { operation, code, message },
        (_, FailureKind::Answered(Kind::Rejected) | FailureKind::InvalidRequest) => {
            RegistryError::Rejected { operation, code, message }
        }
        (_, FailureKind::Transport) => RegistryError::Transport { operation, message },
    }
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

fn sdk_mutability(m: TagMutability) -> SdkMutability {
    SdkMutability::from(m.as_str())
}

fn exclusion_filters(filters: &[String]) -> Result<Vec<ImageTagMutabilityExclusionFilter>, RegistryError> {
    filters
        .iter()
        .map(|f| {
            ImageTagMutabilityExclusionFilter::builder()
                .filter_type(ImageTagMutabilityExclusionFilterType::Wildcard)
                .filter(f)
                .build()
                .map_err(|e| RegistryError::Rejected {
                    operation: "ImageTagMutabilityExclusionFilter",
                    code: "InvalidRequest".into(),
                    message: e.to_string(),
                })
        })
        .collect()
}

fn sdk_tags(tags: &[ResourceTag]) -> Result<Vec<Tag>, RegistryError> {
    tags.iter()
        .map(|t| {
            Tag::builder().key(&t.key).value(&t.value).build().map_err(|e| RegistryError::Rejected {
                operation: "Tag",
                code: "InvalidRequest".into(),
                message: e.to_string(),
            })
        })
        .collect()
}

fn repository_from(r: &aws_sdk_ecr::types::Repository) -> Repository {
    let mutability =
        r.image_tag_mutability().and_then(|m| TagMutability::from_wire(m.as_str())).unwrap_or(TagMutability::Mutable);
    let encryption = match r.encryption_configuration() {
        Some(e) if e.encryption_type() != &EncryptionType::Aes256 => {
            Encryption::Kms { key: e.kms_key().map(str::to_owned) }
        }
        _ => Encryption::Aes256,
    };
    Repository {
        name: r.repository_name().unwrap_or_default().to_string(),
        arn: r.repository_arn().unwrap_or_default().to_string(),
        uri: r.repository_uri().unwrap_or_default().to_string(),
        registry_id: r.registry_id().unwrap_or_default().to_string(),
        settings: RepositorySettings {
            tag_mutability: mutability,
            exclusion_filters: r
                .image_tag_mutability_exclusion_filters()
                .iter()
                .map(|f| f.filter().to_string())
                .collect(),
            scan_on_push: r.image_scanning_configuration().is_some_and(|s| s.scan_on_push()),
            encryption,
        },
    }
}

fn image_from(d: &aws_sdk_ecr::types::ImageDetail) -> Option<Image> {
    Some(Image {
        digest: d.image_digest()?.to_string(),
        tags: d.image_tags().to_vec(),
        pushed_at: time(d.image_pushed_at())?,
        size_bytes: d.image_size_in_bytes().unwrap_or_default().max(0) as u64,
        last_pulled_at: time(d.last_recorded_pull_time()),
        status: d.image_status().and_then(|s| ImageStatus::from_wire(s.as_str())).unwrap_or(ImageStatus::Active),
        last_archived_at: time(d.last_archived_at()),
        last_activated_at: time(d.last_activated_at()),
        manifest_media_type: d.image_manifest_media_type().map(str::to_owned),
        child_digests: Vec::new(),
        subject: d.subject_manifest_digest().map(str::to_owned),
        artifact_type: d.artifact_media_type().map(str::to_owned),
        scan: d.image_scan_status().and_then(|s| s.status()).map(|status| {
            let mut counts = SeverityCounts::default();
            let summary = d.image_scan_findings_summary().and_then(|s| s.finding_severity_counts());
            for (k, n) in summary.into_iter().flatten() {
                if let Some(severity) = Severity::from_wire(k.as_str()) {
                    counts.add(severity, (*n).max(0) as u64);
                }
            }
            ImageScan { status: status.as_str().to_string(), counts }
        }),
    })
}

impl RegistryReads for EcrRegistry {
    async fn describe_repository(&self, name: &str) -> Result<Option<Repository>, RegistryError> {
        match self.client.describe_repositories().repository_names(name).send().await {
            Ok(out) => Ok(out.repositories().first().map(repository_from)),
            Err(e) => match classify("DescribeRepositories", name, e) {
                RegistryError::RepositoryNotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn list_repositories(&self, prefix: Option<&str>) -> Result<Vec<Repository>, RegistryError> {
        let mut pages = self.client.describe_repositories().max_results(PAGE_SIZE).into_paginator().send();
        let mut repositories = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("DescribeRepositories", "registry", e))?;
            repositories.extend(
                page.repositories()
                    .iter()
                    .map(repository_from)
                    .filter(|r| prefix.is_none_or(|p| r.name.starts_with(p))),
            );
        }
        Ok(repositories)
    }

    async fn get_lifecycle_policy(&self, name: &str) -> Result<Option<String>, RegistryError> {
        match self.client.get_lifecycle_policy().repository_name(name).send().await {
            Ok(out) => Ok(out.lifecycle_policy_text().map(str::to_owned)),
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("LifecyclePolicyNotFoundException") => {
                Ok(None)
            }
            Err(e) => Err(classify("GetLifecyclePolicy", name, e)),
        }
    }

    async fn get_repository_policy(&self, name: &str) -> Result<Option<String>, RegistryError> {
        match self.client.get_repository_policy().repository_name(name).send().await {
            Ok(out) => Ok(out.policy_text().map(str::to_owned)),
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("RepositoryPolicyNotFoundException") => {
                Ok(None)
            }
            Err(e) => Err(classify("GetRepositoryPolicy", name, e)),
        }
    }

    async fn list_tags(&self, arn: &str) -> Result<Vec<ResourceTag>, RegistryError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| classify("ListTagsForResource", arn, e))?;
        Ok(out.tags().iter().map(|t| ResourceTag::new(t.key(), t.value())).collect())
    }

    async fn describe_images(&self, name: &str) -> Result<Vec<Image>, RegistryError> {
        // ANY: archived images too (DescribeImages returns only ACTIVE ones by default).
        let all = DescribeImagesFilter::builder().image_status(ImageStatusFilter::Any).build();
        let mut pages = self
            .client
            .describe_images()
            .repository_name(name)
            .filter(all)
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut images = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("DescribeImages", name, e))?;
            images.extend(page.image_details().iter().filter_map(image_from));
        }
        Ok(images)
    }

    async fn has_images(&self, name: &str) -> Result<bool, RegistryError> {
        let out = self
            .client
            .list_images()
            .repository_name(name)
            .max_results(1)
            .send()
            .await
            .map_err(|e| classify("ListImages", name, e))?;
        Ok(!out.image_ids().is_empty())
    }

    async fn get_manifests(
        &self,
        name: &str,
        digests: &[String],
    ) -> Result<Vec<(String, Option<String>, String)>, RegistryError> {
        let mut out = Vec::with_capacity(digests.len());
        for chunk in digests.chunks(BATCH_GET_MAX) {
            let ids = chunk.iter().map(|d| ImageIdentifier::builder().image_digest(d).build()).collect();
            let page = self
                .client
                .batch_get_image()
                .repository_name(name)
                .set_image_ids(Some(ids))
                .set_accepted_media_types(Some(ACCEPTED_MANIFESTS.iter().map(|m| m.to_string()).collect()))
                .send()
                .await
                .map_err(|e| classify("BatchGetImage", name, e))?;
            for image in page.images() {
                let digest = image.image_id().and_then(|i| i.image_digest()).map(str::to_owned);
                if let (Some(digest), Some(text)) = (digest, image.image_manifest()) {
                    // One entry per digest, even when several tags name it.
                    if !out.iter().any(|(d, _, _): &(String, Option<String>, String)| d == &digest) {
                        out.push((digest, image.image_manifest_media_type().map(str::to_owned), text.to_string()));
                    }
                }
            }
        }
        Ok(out)
    }

    async fn pull_time_update_exclusions(&self) -> Result<Vec<String>, RegistryError> {
        let mut principals = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_pull_time_update_exclusions()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify("ListPullTimeUpdateExclusions", "registry", e))?;
            principals.extend(out.pull_time_update_exclusions().iter().cloned());
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(principals),
            }
        }
    }

    async fn registry_rules(&self) -> Result<RegistryRules, RegistryError> {
        let (templates, caches, registry, images_per_repository) = tokio::join!(
            self.creation_templates(),
            self.pull_through_cache_rules(),
            self.client.describe_registry().send(),
            self.images_per_repository_quota()
        );
        let registry = registry.map_err(|e| classify("DescribeRegistry", "registry", e))?;
        let replication = registry
            .replication_configuration()
            .map(|c| c.rules())
            .unwrap_or_default()
            .iter()
            .map(|rule| ReplicationRule {
                destinations: rule
                    .destinations()
                    .iter()
                    .map(|d| ReplicationDestination { region: d.region().into(), registry_id: d.registry_id().into() })
                    .collect(),
                repository_prefixes: rule
                    .repository_filters()
                    .iter()
                    .filter(|f| f.filter_type().as_str() == "PREFIX_MATCH")
                    .map(|f| f.filter().to_string())
                    .collect(),
            })
            .collect();
        Ok(RegistryRules {
            creation_templates: templates?,
            pull_through_cache_rules: caches?,
            replication,
            images_per_repository,
        })
    }

    async fn get_registry_scanning(&self) -> Result<RegistryScanning, RegistryError> {
        let out = self
            .client
            .get_registry_scanning_configuration()
            .send()
            .await
            .map_err(|e| classify("GetRegistryScanningConfiguration", "registry", e))?;
        let registry_id = out.registry_id().map(str::to_owned);
        let Some(config) = out.scanning_configuration() else {
            return Ok(RegistryScanning { registry_id, ..RegistryScanning::default() });
        };
        Ok(RegistryScanning {
            registry_id,
            enhanced: config.scan_type().is_some_and(|t| t.as_str() == "ENHANCED"),
            rules: config
                .rules()
                .iter()
                .map(|rule| ScanRule {
                    frequency: match rule.scan_frequency().as_str() {
                        "SCAN_ON_PUSH" => ScanFrequency::ScanOnPush,
                        "CONTINUOUS_SCAN" => ScanFrequency::ContinuousScan,
                        _ => ScanFrequency::Manual,
                    },
                    repository_filters: rule.repository_filters().iter().map(|f| f.filter().to_string()).collect(),
                })
                .collect(),
        })
    }

    async fn describe_scan_findings(&self, name: &str, digest: &str) -> Result<Option<ScanFindings>, RegistryError> {
        let mut pages = self
            .client
            .describe_image_scan_findings()
            .repository_name(name)
            .image_id(ImageIdentifier::builder().image_digest(digest).build())
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut findings = Vec::new();
        let (mut status, mut reported) = (String::new(), None::<SeverityCounts>);
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("ScanNotFoundException") => {
                    return Ok(None)
                }
                Err(e) => return Err(classify("DescribeImageScanFindings", name, e)),
            };
            if let Some(s) = page.image_scan_status().and_then(|s| s.status()) {
                status = s.as_str().to_string();
            }
            let Some(scan) = page.image_scan_findings() else { continue };
            if let Some(map) = scan.finding_severity_counts() {
                let mut counts = SeverityCounts::default();
                for (severity, n) in map {
                    if let Some(severity) = Severity::from_wire(severity.as_str()) {
                        counts.add(severity, u64::try_from(*n).unwrap_or(0));
                    }
                }
                reported = Some(counts);
            }
            for f in scan.findings() {
                let attribute = |key: &str| {
                    f.attributes().iter().find(|a| a.key() == key).and_then(|a| a.value()).map(str::to_owned)
                };
                findings.push(Finding {
                    id: f.name().unwrap_or_default().to_string(),
                    severity: f.severity().and_then(|s| Severity::from_wire(s.as_str())).unwrap_or(Severity::Undefined),
                    package: attribute("package_name"),
                    version: attribute("package_version"),
                    uri: f.uri().map(str::to_owned),
                    fixed_in: None,
                    score: attribute("CVSS3_SCORE").or_else(|| attribute("CVSS2_SCORE")),
                });
            }
            for f in scan.enhanced_findings() {
                let details = f.package_vulnerability_details();
                let package = details.and_then(|d| d.vulnerable_packages().first());
                findings.push(Finding {
                    id: details.and_then(|d| d.vulnerability_id()).or(f.title()).unwrap_or_default().to_string(),
                    severity: f.severity().and_then(Severity::from_wire).unwrap_or(Severity::Undefined),
                    package: package.and_then(|p| p.name()).map(str::to_owned),
                    version: package.and_then(|p| p.version()).map(str::to_owned),
                    uri: details.and_then(|d| d.source_url()).map(str::to_owned),
                    fixed_in: package.and_then(|p| p.fixed_in_version()).map(str::to_owned),
                    score: (f.score() > 0.0).then(|| format!("{:.1}", f.score())),
                });
            }
        }
        // The counts ECR reports; without them (a partial answer), those of the findings read.
        let counts = reported.unwrap_or_else(|| {
            let mut counts = SeverityCounts::default();
            for f in &findings {
                counts.add(f.severity, 1);
            }
            counts
        });
        if status.is_empty() {
            status = "COMPLETE".into();
        }
        Ok(Some(ScanFindings { scan: ImageScan { status, counts }, findings }))
    }
}

impl SettingsWrites for EcrRegistry {
    async fn put_tag_mutability(
        &self,
        name: &str,
        mutability: TagMutability,
        filters: &[String],
    ) -> Result<(), RegistryError> {
        let mut request = self
            .client
            .put_image_tag_mutability()
            .repository_name(name)
            .image_tag_mutability(sdk_mutability(mutability));
        if !filters.is_empty() {
            request = request.set_image_tag_mutability_exclusion_filters(Some(exclusion_filters(filters)?));
        }
        request.send().await.map(|_| ()).map_err(|e| classify("PutImageTagMutability", name, e))
    }

    async fn put_scan_on_push(&self, name: &str, scan_on_push: bool) -> Result<(), RegistryError> {
        self.client
            .put_image_scanning_configuration()
            .repository_name(name)
            .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(scan_on_push).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutImageScanningConfiguration", name, e))
    }

    async fn put_lifecycle_policy(&self, name: &str, text: &str) -> Result<(), RegistryError> {
        self.client
            .put_lifecycle_policy()
            .repository_name(name)
            .lifecycle_policy_text(text)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutLifecyclePolicy", name, e))
    }

    async fn set_repository_policy(&self, name: &str, text: &str) -> Result<(), RegistryError> {
        self.client
            .set_repository_policy()
            .repository_name(name)
            .policy_text(text)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("SetRepositoryPolicy", name, e))
    }

    async fn delete_repository_policy(&self, name: &str) -> Result<(), RegistryError> {
        match self.client.delete_repository_policy().repository_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("RepositoryPolicyNotFoundException") => {
                Ok(())
            }
            Err(e) => Err(classify("DeleteRepositoryPolicy", name, e)),
        }
    }

    async fn create_creation_template(&self, template: &CreationTemplate) -> Result<(), RegistryError> {
        let applied_for: Vec<RctAppliedFor> =
            template.applied_for.iter().map(|s| RctAppliedFor::from(s.as_wire())).collect();
        self.client
            .create_repository_creation_template()
            .prefix(&template.prefix)
            .description("ecr-keeper: the team's standard lifecycle policy for the repositories ECR creates here")
            .set_applied_for(Some(applied_for))
            .set_lifecycle_policy(template.lifecycle_policy.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("CreateRepositoryCreationTemplate", &template.prefix, e))
    }

    async fn register_pull_time_update_exclusion(&self, principal: &str) -> Result<(), RegistryError> {
        self.client
            .register_pull_time_update_exclusion()
            .principal_arn(principal)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("RegisterPullTimeUpdateExclusion", principal, e))
    }
}

impl RepositoryAdmin for EcrRegistry {
    async fn create_repository(
        &self,
        name: &str,
        settings: &RepositorySettings,
        tags: &[ResourceTag],
    ) -> Result<Repository, RegistryError> {
        let encryption = match &settings.encryption {
            Encryption::Aes256 => EncryptionConfiguration::builder().encryption_type(EncryptionType::Aes256),
            Encryption::Kms { key } => {
                EncryptionConfiguration::builder().encryption_type(EncryptionType::Kms).set_kms_key(key.clone())
            }
        }
        .build()
        .map_err(|e| RegistryError::Rejected {
            operation: "CreateRepository",
            code: "InvalidRequest".into(),
            message: e.to_string(),
        })?;
        let mut request = self
            .client
            .create_repository()
            .repository_name(name)
            .image_tag_mutability(sdk_mutability(settings.tag_mutability))
            .image_scanning_configuration(
                ImageScanningConfiguration::builder().scan_on_push(settings.scan_on_push).build(),
            )
            .encryption_configuration(encryption)
            .set_tags(Some(sdk_tags(tags)?));
        if !settings.exclusion_filters.is_empty() {
            request = request
                .set_image_tag_mutability_exclusion_filters(Some(exclusion_filters(&settings.exclusion_filters)?));
        }
        let out = request.send().await.map_err(|e| classify("CreateRepository", name, e))?;
        out.repository().map(repository_from).ok_or_else(|| RegistryError::Service {
            operation: "CreateRepository",
            code: "EmptyResponse".into(),
            message: "ECR answered without the repository".into(),
        })
    }

    async fn delete_repository(&self, name: &str, force: bool) -> Result<(), RegistryError> {
        self.client
            .delete_repository()
            .repository_name(name)
            .force(force)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteRepository", name, e))
    }

    async fn tag_repository(&self, arn: &str, tags: &[ResourceTag]) -> Result<(), RegistryError> {
        if tags.is_empty() {
            return Ok(());
        }
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(sdk_tags(tags)?))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("TagResource", arn, e))
    }

    async fn untag_repository(&self, arn: &str, keys: &[String]) -> Result<(), RegistryError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("UntagResource", arn, e))
    }
}

impl ImageWrites for EcrRegistry {
    async fn put_image_tag(
        &self,
        name: &str,
        digest: &str,
        media_type: Option<&str>,
        manifest: &str,
        tag: &str,
    ) -> Result<(), RegistryError> {
        self.client
            .put_image()
            .repository_name(name)
            .image_manifest(manifest)
            .set_image_manifest_media_type(media_type.map(str::to_owned))
            .image_digest(digest)
            .image_tag(tag)
            .send()
            .await
            .map_err(|e| classify("PutImage", name, e))?;
        Ok(())
    }

    async fn remove_image_tag(&self, name: &str, tag: &str) -> Result<(), RegistryError> {
        let out = self
            .client
            .batch_delete_image()
            .repository_name(name)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await
            .map_err(|e| classify("BatchDeleteImage", name, e))?;
        match out.failures().first() {
            // A tag already gone is what we wanted.
            Some(f)
                if f.failure_code()
                    .is_some_and(|c| c.as_str() != "ImageTagDoesNotMatchDigest" && c.as_str() != "ImageNotFound") =>
            {
                Err(RegistryError::Rejected {
                    operation: "BatchDeleteImage",
                    code: f.failure_code().map(|c| c.as_str().to_string()).unwrap_or_default(),
                    message: f.failure_reason().unwrap_or_default().to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    async fn start_image_scan(&self, name: &str, digest: &str) -> Result<(), RegistryError> {
        self.client
            .start_image_scan()
            .repository_name(name)
            .image_id(ImageIdentifier::builder().image_digest(digest).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("StartImageScan", name, e))
    }
}
