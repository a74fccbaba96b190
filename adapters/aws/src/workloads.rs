//! The images workloads run: ECS services and running tasks, Lambda container-image functions
//! and their aliases, and reference lists in a file or an S3 object (EKS, Batch, App Runner…).

use crate::failure::{self, FailureKind, Kind};
use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use ecr_keeper_core::workloads::{
    inspector_image_reference, inspector_workload, parse_reference_list, WorkloadError, WorkloadImage, WorkloadSource,
    Workloads,
};
use std::collections::HashMap;

/// DescribeServices takes 10 services a call, DescribeTasks 100 tasks.
const SERVICES_PER_CALL: usize = 10;
const TASKS_PER_CALL: usize = 100;

/// An ECS, Lambda or S3 failure as the workloads' error (the sorting is `failure::classify`'s).
fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> WorkloadError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let failure = failure::classify(&err);
    match failure.kind {
        FailureKind::Answered(Kind::AccessDenied) => WorkloadError::AccessDenied {
            operation,
            message: if failure.message.is_empty() { failure.code } else { failure.message },
        },
        FailureKind::Answered(_) => WorkloadError::Failed { operation, message: failure.coded() },
        _ => WorkloadError::Failed { operation, message: failure.message },
    }
}

enum Reader {
    Ecs(aws_sdk_ecs::Client),
    Lambda(aws_sdk_lambda::Client),
    Inspector(aws_sdk_inspector2::Client),
    File(String),
    S3 { client: aws_sdk_s3::Client, bucket: String, key: String },
}

/// Every configured source, read in turn; clients are built once.
pub struct AwsWorkloads {
    readers: Vec<Reader>,
}

impl AwsWorkloads {
    pub fn new(sources: &[WorkloadSource], config: &SdkConfig) -> Self {
        let readers = sources
            .iter()
            .map(|s| match s {
                WorkloadSource::Ecs => Reader::Ecs(aws_sdk_ecs::Client::new(config)),
                WorkloadSource::Lambda => Reader::Lambda(aws_sdk_lambda::Client::new(config)),
                WorkloadSource::Inspector => Reader::Inspector(aws_sdk_inspector2::Client::new(config)),
                WorkloadSource::File(path) => Reader::File(path.clone()),
                WorkloadSource::S3 { bucket, key } => {
                    Reader::S3 { client: crate::s3_client(config), bucket: bucket.clone(), key: key.clone() }
                }
            })
            .collect();
        AwsWorkloads { readers }
    }
}

impl Workloads for AwsWorkloads {
    async fn images_in_use(&self) -> Result<Vec<WorkloadImage>, WorkloadError> {
        let mut out = Vec::new();
        for reader in &self.readers {
            match reader {
                Reader::Ecs(client) => out.extend(ecs_images(client).await?),
                Reader::Lambda(client) => out.extend(lambda_images(client).await?),
                Reader::Inspector(client) => out.extend(inspector_images(client).await?),
                Reader::File(path) => {
                    let text = tokio::fs::read_to_string(path)
                        .await
                        .map_err(|e| WorkloadError::List { source_name: path.clone(), message: e.to_string() })?;
                    out.extend(parse_reference_list(&text, path)?);
                }
                Reader::S3 { client, bucket, key } => {
                    let name = format!("s3://{bucket}/{key}");
                    let object = client
                        .get_object()
                        .bucket(bucket)
                        .key(key)
                        .send()
                        .await
                        .map_err(|e| classify("S3 GetObject", e))?;
                    let bytes = object
                        .body
                        .collect()
                        .await
                        .map_err(|e| WorkloadError::List { source_name: name.clone(), message: e.to_string() })?;
                    let text = String::from_utf8_lossy(&bytes.into_bytes()).into_owned();
                    out.extend(parse_reference_list(&text, &name)?);
                }
            }
        }
        Ok(out)
    }
}

/// The ECR images Amazon Inspector counts in use (ECS tasks, EKS pods), by digest: ListCoverage
/// of `AWS_ECR_CONTAINER_IMAGE` resources with `ecrImageInUseCount` ≥ 1. From an Inspector
/// delegated administrator it lists every member account's images too.
async fn inspector_images(client: &aws_sdk_inspector2::Client) -> Result<Vec<WorkloadImage>, WorkloadError> {
    use aws_sdk_inspector2::types::{
        CoverageFilterCriteria, CoverageNumberFilter, CoverageStringComparison, CoverageStringFilter,
    };
    let images = CoverageStringFilter::builder()
        .comparison(CoverageStringComparison::Equals)
        .value("AWS_ECR_CONTAINER_IMAGE")
        .build()
        .map_err(|e| WorkloadError::Failed { operation: "Inspector ListCoverage", message: e.to_string() })?;
    let criteria = CoverageFilterCriteria::builder()
        .resource_type(images)
        .ecr_image_in_use_count(CoverageNumberFilter::builder().lower_inclusive(1).build())
        .build();
    let mut out = Vec::new();
    let mut pages = client.list_coverage().filter_criteria(criteria).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("Inspector ListCoverage", e))?;
        for covered in page.covered_resources() {
            let metadata = covered.resource_metadata().and_then(|m| m.ecr_image());
            let count = metadata.and_then(|m| m.in_use_count()).unwrap_or_default();
            let Some(reference) = inspector_image_reference(covered.resource_id()) else { continue };
            if count < 1 {
                continue;
            }
            let last = metadata
                .and_then(|m| m.last_in_use_at())
                .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
            out.push(WorkloadImage::new(reference, inspector_workload(count, last)));
        }
    }
    Ok(out)
}

/// The last path segment of an ARN (`…:cluster/prod` → `prod`, `…:task/prod/abc` → `abc`).
fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Services' task definitions (every deployment: a rollout runs two) and running tasks' images,
/// with the digest ECS resolved where it did.
async fn ecs_images(client: &aws_sdk_ecs::Client) -> Result<Vec<WorkloadImage>, WorkloadError> {
    let mut out = Vec::new();
    let mut definitions: HashMap<String, Vec<String>> = HashMap::new();
    let mut clusters = client.list_clusters().into_paginator().items().send();
    while let Some(cluster) = clusters.next().await {
        let cluster = cluster.map_err(|e| classify("ECS ListClusters", e))?;
        let cluster_name = short(&cluster).to_string();
        let mut service_arns = Vec::new();
        let mut pages = client.list_services().cluster(&cluster).into_paginator().items().send();
        while let Some(arn) = pages.next().await {
            service_arns.push(arn.map_err(|e| classify("ECS ListServices", e))?);
        }
        for chunk in service_arns.chunks(SERVICES_PER_CALL) {
            let described = client
                .describe_services()
                .cluster(&cluster)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| classify("ECS DescribeServices", e))?;
            for service in described.services() {
                let workload = format!("ecs service {cluster_name}/{}", service.service_name().unwrap_or("?"));
                let mut arns: Vec<&str> = service.deployments().iter().filter_map(|d| d.task_definition()).collect();
                arns.extend(service.task_definition());
                arns.sort_unstable();
                arns.dedup();
                for arn in arns {
                    if !definitions.contains_key(arn) {
                        let images = task_definition_images(client, arn).await?;
                        definitions.insert(arn.to_string(), images);
                    }
                    for image in definitions.get(arn).into_iter().flatten() {
                        out.push(WorkloadImage::new(image.clone(), workload.clone()));
                    }
                }
            }
        }
        let mut task_arns = Vec::new();
        let mut pages = client.list_tasks().cluster(&cluster).into_paginator().items().send();
        while let Some(arn) = pages.next().await {
            task_arns.push(arn.map_err(|e| classify("ECS ListTasks", e))?);
        }
        for chunk in task_arns.chunks(TASKS_PER_CALL) {
            let described = client
                .describe_tasks()
                .cluster(&cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| classify("ECS DescribeTasks", e))?;
            for task in described.tasks() {
                let id = short(task.task_arn().unwrap_or("?"));
                let workload = match task.group() {
                    Some(group) => format!("ecs task {cluster_name}/{id} ({group})"),
                    None => format!("ecs task {cluster_name}/{id}"),
                };
                for container in task.containers() {
                    let Some(image) = container.image() else { continue };
                    out.push(WorkloadImage::new(image, workload.clone()));
                    // The digest that really runs, even after the tag moved on.
                    if let Some(digest) = container.image_digest() {
                        let name = image.split('@').next().unwrap_or(image);
                        let name = match name.rsplit_once(':') {
                            Some((n, tag)) if !tag.contains('/') => n,
                            _ => name,
                        };
                        out.push(WorkloadImage::new(format!("{name}@{digest}"), workload.clone()));
                    }
                }
            }
        }
    }
    Ok(out)
}

async fn task_definition_images(client: &aws_sdk_ecs::Client, arn: &str) -> Result<Vec<String>, WorkloadError> {
    let out = client
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(|e| classify("ECS DescribeTaskDefinition", e))?;
    Ok(out
        .task_definition()
        .map(|d| d.container_definitions().iter().filter_map(|c| c.image().map(str::to_owned)).collect())
        .unwrap_or_default())
}

/// Container-image functions: `$LATEST` and every alias's version, by the digest Lambda resolved.
async fn lambda_images(client: &aws_sdk_lambda::Client) -> Result<Vec<WorkloadImage>, WorkloadError> {
    let mut out = Vec::new();
    let mut functions = client.list_functions().into_paginator().items().send();
    while let Some(function) = functions.next().await {
        let function = function.map_err(|e| classify("Lambda ListFunctions", e))?;
        if function.package_type().map(|p| p.as_str()) != Some("Image") {
            continue;
        }
        let Some(name) = function.function_name() else { continue };
        let mut versions = vec![(None::<String>, format!("lambda function {name}"))];
        let mut aliases = client.list_aliases().function_name(name).into_paginator().items().send();
        while let Some(alias) = aliases.next().await {
            let alias = alias.map_err(|e| classify("Lambda ListAliases", e))?;
            if let (Some(alias_name), Some(version)) = (alias.name(), alias.function_version()) {
                versions.push((
                    Some(version.to_string()),
                    format!("lambda function {name} (alias {alias_name}, version {version})"),
                ));
            }
        }
        for (qualifier, workload) in versions {
            let got = client
                .get_function()
                .function_name(name)
                .set_qualifier(qualifier)
                .send()
                .await
                .map_err(|e| classify("Lambda GetFunction", e))?;
            let Some(code) = got.code() else { continue };
            for uri in [code.resolved_image_uri(), code.image_uri()].into_iter().flatten() {
                out.push(WorkloadImage::new(uri, workload.clone()));
            }
        }
    }
    Ok(out)
}
