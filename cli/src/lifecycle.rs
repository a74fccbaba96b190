//! `ecr-keeper lifecycle validate | generate | preview`.

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use ecr_keeper_aws::AwsWorkloads;
use ecr_keeper_core::image::{check_inventory, parse_image_details, parse_timestamp, Image, InventoryError};
use ecr_keeper_core::lifecycle::{
    generate, parse_authored_policy, render_table, simulate, GenerateError, LifecyclePolicy, PolicyError, PolicyParams,
    PreviewReport, DEFAULT_KEEP_TAGGED, DEFAULT_UNTAGGED_DAYS,
};
use ecr_keeper_core::ports::{Clock, SystemClock};
use ecr_keeper_core::workloads::{at_risk, InUse, RegistryAddress, WorkloadError, WorkloadSource, Workloads};
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum LifecycleCommand {
    /// Check a lifecycle policy against every ECR rule; exit 2 and list every problem if invalid.
    Validate {
        /// Policy JSON, or the output of `aws ecr get-lifecycle-policy`; `-` reads standard input.
        policy: PathBuf,
    },
    /// Print a lifecycle policy built from simple parameters (default: keep the last 10 `v*`
    /// images, expire untagged images after 7 days).
    Generate(GenerateArgs),
    /// Show which images a policy will expire or archive, which it keeps, and which no rule can
    /// ever touch.
    Preview(PreviewArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Keep this many newest images for each tag prefix and tag pattern.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_KEEP_TAGGED)]
    keep_tagged: u32,
    /// A tag prefix to keep the last N images of (repeatable; default `v` when no prefix or
    /// pattern is given). Each prefix gets its own rule: ECR's tag lists match with AND.
    #[arg(long = "tag-prefix", value_name = "P")]
    tag_prefixes: Vec<String>,
    /// A tag pattern (`*` wildcards) to keep the last N images of (repeatable).
    #[arg(long = "tag-pattern", value_name = "G")]
    tag_patterns: Vec<String>,
    /// Expire untagged images this many days after their push.
    #[arg(long, value_name = "D", default_value_t = DEFAULT_UNTAGGED_DAYS)]
    untagged_days: u32,
    /// A tag pattern whose images are never expired, e.g. `latest` or `prod-*` (repeatable).
    #[arg(long = "protect", value_name = "G")]
    protected: Vec<String>,
    /// Expire any image no other rule keeps once it is older than D days.
    #[arg(long, value_name = "D")]
    max_age_days: Option<u32>,
    /// Archive any image no other rule keeps after D days without a pull.
    #[arg(long = "archive-after-days-without-pull", alias = "archive-after-days", value_name = "D")]
    archive_after_days: Option<u32>,
    /// Expire archived images M days after archiving (ECR's minimum: 90; archived storage is
    /// billed for 90 days at least).
    #[arg(long, value_name = "M")]
    expire_archived_after_days: Option<u32>,
    /// Never expire or archive an image the audit pinned in use (`keeper-in-use-*`).
    #[arg(long)]
    protect_in_use: bool,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Policy JSON, or the output of `aws ecr get-lifecycle-policy`; `-` reads standard input.
    #[arg(long, value_name = "POLICY")]
    policy: PathBuf,
    /// Output of `aws ecr describe-images`, or a bare array of image details; `-` reads
    /// standard input.
    #[arg(long, value_name = "IMAGES")]
    images: PathBuf,
    /// The moment to evaluate at (RFC 3339, e.g. 2026-11-01T00:00:00Z); default: now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    now: Option<DateTime<Utc>>,
    #[arg(long, value_enum, default_value_t = Output::Json)]
    output: Output,
    /// Mark the running images the policy would expire or archive: ecs, lambda, inspector,
    /// file:PATH, s3://BUCKET/KEY (comma-separated). All but file read AWS (--region,
    /// --endpoint-url).
    #[arg(long, value_name = "SOURCES", value_parser = crate::parse_in_use)]
    in_use: Option<crate::InUseSources>,
    /// The repository the images belong to (default: the images' repositoryName).
    #[arg(long, value_name = "NAME")]
    repository: Option<String>,
    #[command(flatten)]
    aws: crate::AwsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// A stable JSON document for scripts.
    Json,
    /// One line per image for people.
    Table,
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleCliError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is over {limit}: {why}; nothing was parsed")]
    TooLarge { path: String, limit: &'static str, why: &'static str },
    #[error("{path} {encoding}: save it as UTF-8 without a byte-order mark (as the AWS CLI writes it)")]
    Encoding { path: String, encoding: &'static str },
    #[error("{path}: {source}")]
    Policy { path: String, source: PolicyError },
    #[error("{path}: {source}")]
    Images { path: String, source: InventoryError },
    #[error("{0}")]
    Generate(#[from] GenerateError),
    #[error("--policy and --images cannot both read standard input")]
    BothStdin,
    #[error("--in-use: {0}")]
    Workloads(#[from] WorkloadError),
    #[error("--in-use needs the repository: give --repository NAME (the images carry no repositoryName)")]
    NoRepository,
    #[error("--in-use: {0}")]
    Aws(String),
}

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    parse_timestamp(text).ok_or_else(|| format!("\"{text}\" is not an RFC 3339 time such as 2026-11-01T00:00:00Z"))
}

pub fn run(cmd: LifecycleCommand) -> Result<(), LifecycleCliError> {
    match cmd {
        LifecycleCommand::Validate { policy } => {
            let policy = load_policy(&policy)?;
            for note in ecr_keeper_core::lifecycle::policy_notes(&policy) {
                eprintln!("ecr-keeper: note: {note}");
            }
            crate::out!("valid: {} rule{}", policy.rules.len(), if policy.rules.len() == 1 { "" } else { "s" });
            Ok(())
        }
        LifecycleCommand::Generate(args) => {
            let params = PolicyParams {
                keep_tagged: args.keep_tagged,
                tag_prefixes: args.tag_prefixes,
                tag_patterns: args.tag_patterns,
                untagged_days: args.untagged_days,
                protected: args.protected,
                max_age_days: args.max_age_days,
                archive_after_days: args.archive_after_days,
                expire_archived_after_days: args.expire_archived_after_days,
                protect_in_use: args.protect_in_use,
            };
            let policy = generate(&params)?;
            for note in ecr_keeper_core::lifecycle::generation_notes(&params) {
                eprintln!("ecr-keeper: note: {note}");
            }
            crate::out!("{}", policy.to_json_pretty());
            Ok(())
        }
        LifecycleCommand::Preview(args) => preview(args),
    }
}

fn preview(args: PreviewArgs) -> Result<(), LifecycleCliError> {
    if is_stdin(&args.policy) && is_stdin(&args.images) {
        return Err(LifecycleCliError::BothStdin);
    }
    let policy = load_policy(&args.policy)?;
    let (images, named) = load_images(&args.images)?;
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    let shown = if is_stdin(&args.images) { "<stdin>".to_string() } else { args.images.display().to_string() };
    check_inventory(&images, now).map_err(|source| LifecycleCliError::Images { path: shown, source })?;
    let lists = images.iter().filter(|i| i.is_manifest_list()).count();
    if lists > 0 {
        eprintln!(
            "ecr-keeper: note: {lists} image{} {} manifest list{}; describe-images does not say which images a list references, \
             and ECR keeps those while the list exists, so some expirations shown may wait until the list is gone",
            if lists == 1 { "" } else { "s" },
            if lists == 1 { "is a" } else { "are" },
            if lists == 1 { "" } else { "s" },
        );
    }
    let plan = simulate(&policy, &images, now);
    let at_risk = match &args.in_use {
        None => None,
        Some(sources) => {
            let repository = args.repository.clone().or(named.repository).ok_or(LifecycleCliError::NoRepository)?;
            let address = RegistryAddress { account: named.registry_id, region: args.aws.region_given() };
            let running = crate::block_on_value(read_workloads(&sources.0, &args.aws))??;
            let in_use = InUse::from_images(&running, &address);
            Some(at_risk(&plan, &in_use.for_images(&repository, &images)))
        }
    };
    if let Some(risks) = at_risk.as_ref().filter(|r| !r.is_empty()) {
        eprintln!(
            "ecr-keeper: {} running image{} at risk: {}",
            risks.len(),
            if risks.len() == 1 { " is" } else { "s are" },
            risks
                .iter()
                .map(|r| format!("{} ({} by rule {}, run by {})", r.image(), r.action, r.rule_priority, r.run_by()))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    match args.output {
        Output::Json => {
            let mut report = PreviewReport::from_plan(&plan);
            report.at_risk = at_risk;
            crate::out!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        }
        Output::Table => {
            crate::out_raw!("{}", render_table(&plan));
            for r in at_risk.iter().flatten() {
                crate::out!("AT RISK {}: {} by rule {}, run by {}", r.image(), r.action, r.rule_priority, r.run_by());
            }
        }
    }
    Ok(())
}

/// The running images; AWS is configured only when a source needs it.
async fn read_workloads(
    sources: &[WorkloadSource],
    aws: &crate::AwsArgs,
) -> Result<Vec<ecr_keeper_core::workloads::WorkloadImage>, LifecycleCliError> {
    let needs_aws = sources.iter().any(|s| !matches!(s, WorkloadSource::File(_)));
    let config = if needs_aws {
        aws.config(None).await.map_err(|e| LifecycleCliError::Aws(e.to_string()))?
    } else {
        aws_config::SdkConfig::builder().build()
    };
    Ok(AwsWorkloads::new(sources, &config).images_in_use().await?)
}

fn is_stdin(path: &std::path::Path) -> bool {
    path.as_os_str() == "-"
}

/// How much of an input file is read at most, and why: past it the file is refused before it
/// is parsed (a 70 MB policy once took 1.2 GB of memory; `/dev/zero` never ends).
#[derive(Debug, Clone, Copy)]
struct InputLimit {
    bytes: u64,
    shown: &'static str,
    why: &'static str,
}

/// ECR accepts 30,720 characters of policy; get-lifecycle-policy output escapes it in JSON.
const POLICY_LIMIT: InputLimit = InputLimit {
    bytes: 256 * 1024,
    shown: "256 KiB",
    why: "ECR accepts a lifecycle policy of 30,720 characters at most",
};
/// describe-images output: about 500 bytes an image, so room for ECR's 100,000 images per
/// repository many times over.
const IMAGES_LIMIT: InputLimit = InputLimit {
    bytes: 256 * 1024 * 1024,
    shown: "256 MiB",
    why: "far more than describe-images writes for ECR's 100,000 images per repository",
};

fn read_input(path: &PathBuf, limit: InputLimit) -> Result<(String, String), LifecycleCliError> {
    let shown = if is_stdin(path) { "<stdin>".to_string() } else { path.display().to_string() };
    let read_error = |source| LifecycleCliError::Read { path: shown.clone(), source };
    let mut bytes = Vec::new();
    if is_stdin(path) {
        std::io::stdin().take(limit.bytes + 1).read_to_end(&mut bytes).map_err(read_error)?;
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit.bytes + 1).read_to_end(&mut bytes)).map_err(read_error)?;
    }
    if bytes.len() as u64 > limit.bytes {
        return Err(LifecycleCliError::TooLarge { path: shown, limit: limit.shown, why: limit.why });
    }
    let encoding = match bytes.as_slice() {
        [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] => Some("is UTF-16"),
        [0xEF, 0xBB, 0xBF, ..] => Some("starts with a byte-order mark"),
        _ => None,
    };
    if let Some(encoding) = encoding {
        return Err(LifecycleCliError::Encoding { path: shown, encoding });
    }
    let text = String::from_utf8(bytes)
        .map_err(|e| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8 ({e})"))))?;
    Ok((shown, text))
}

/// Accepts the policy itself or `get-lifecycle-policy` output, which carries the policy as a
/// string in `lifecyclePolicyText`.
fn load_policy(path: &PathBuf) -> Result<LifecyclePolicy, LifecycleCliError> {
    let (shown, text) = read_input(path, POLICY_LIMIT)?;
    let inner = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("lifecyclePolicyText").and_then(|t| t.as_str()).map(str::to_owned));
    let (shown, text) = match inner {
        Some(inner) => (format!("{shown} (lifecyclePolicyText)"), inner),
        None => (shown, text),
    };
    parse_authored_policy(&text).map_err(|source| LifecycleCliError::Policy { path: shown, source })
}

/// Where describe-images output says the images live.
#[derive(Debug, Default)]
struct Named {
    repository: Option<String>,
    registry_id: Option<String>,
}

fn load_images(path: &PathBuf) -> Result<(Vec<Image>, Named), LifecycleCliError> {
    let (shown, text) = read_input(path, IMAGES_LIMIT)?;
    let images = parse_image_details(&text).map_err(|source| LifecycleCliError::Images { path: shown, source })?;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let details = value.get("imageDetails").unwrap_or(&value);
    let first = details.as_array().and_then(|a| a.first());
    let field = |k: &str| first.and_then(|d| d.get(k)).and_then(|v| v.as_str()).map(str::to_owned);
    Ok((images, Named { repository: field("repositoryName"), registry_id: field("registryId") }))
}
