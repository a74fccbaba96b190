//! `ecr-keeper audit`.

use crate::aws_errors::explain;
use crate::{EXIT_FAILED_CHECKS, EXIT_INVALID, EXIT_OK};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use ecr_keeper_aws::{
    ecr_client, service_quotas_config, AwsWorkloads, EcrRegistry, MemberRegistries, SecurityHubFindings,
};
use ecr_keeper_core::audit::security_hub::import_findings;
use ecr_keeper_core::audit::{audit, AuditJob, AuditOptions, AuditSettings, Remediation, RunInputs};
use ecr_keeper_core::findings::{parse_suppressions, FindingsPolicy};
use ecr_keeper_core::image::parse_timestamp;
use ecr_keeper_core::organization::MemberFindings;
use ecr_keeper_core::ports::{Clock, SystemClock};
use ecr_keeper_core::reactions::parse_threshold;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    aws: crate::AwsArgs,
    #[command(flatten)]
    organization: crate::organization::OrganizationArgs,
    /// Only repositories whose name starts with this.
    #[arg(long, value_name = "P")]
    repository_prefix: Option<String>,
    #[command(flatten)]
    standard: crate::StandardArgs,
    /// SCAN-2 fails on unsuppressed findings at or above this severity.
    #[arg(long, value_name = "S", default_value = "HIGH", value_parser = parse_threshold)]
    severity_threshold: ecr_keeper_core::findings::Severity,
    /// A finding id not held against an image, or repository-pattern:id (repeatable).
    #[arg(long = "suppress", value_name = "ID")]
    suppressed: Vec<String>,
    /// ENC-1 fails without a customer-managed KMS key (default: informs).
    #[arg(long)]
    require_kms: bool,
    /// The role of a third-party scanner that pulls images (Snyk, Trivy…): LC-7 checks it is
    /// excluded from pull-time updates, and --fix registers the exclusion (repeatable).
    #[arg(long = "scanner-role", value_name = "ARN", value_parser = |s: &str| ecr_keeper_core::registry::scanner_role(s))]
    scanner_roles: Vec<String>,
    /// Repositories audited at once.
    #[arg(long, value_name = "N", default_value_t = ecr_keeper_core::run::DEFAULT_CONCURRENCY, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=256), usize::from))]
    concurrency: usize,
    #[arg(long, value_enum, default_value_t = AuditOutput::Markdown)]
    output: AuditOutput,
    /// Also write report.json, report.md and report.html (self-contained) here, as a scheduled
    /// run keeps them in S3.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<std::path::PathBuf>,
    /// List what remediation would do: apply the standard policy where none exists, turn on
    /// scan on push where nothing scans, create a creation template of the standard for each
    /// pull-through cache no template covers, register a pull-time update exclusion for each
    /// --scanner-role the registry lacks. Never replaces a policy or a template, never deletes
    /// an image.
    #[arg(long)]
    fix: bool,
    /// With --fix or --protect-in-use: make the changes.
    #[arg(long)]
    yes: bool,
    /// Where running images are read for USE-1 and the pins: ecs, lambda, inspector (ECS tasks
    /// and EKS pods Amazon Inspector sees), file:PATH, s3://BUCKET/KEY (comma-separated).
    #[arg(long, value_name = "SOURCES", value_parser = crate::parse_in_use)]
    in_use: Option<crate::InUseSources>,
    /// Pin every running image with a keeper-in-use-<digest> tag (PutImage, same digest) and
    /// unpin images no longer running, never deleting one; a dry run without --yes. Needs --in-use.
    #[arg(long, requires = "in_use")]
    protect_in_use: bool,
    /// Also import the findings into AWS Security Hub (BatchImportFindings) in this account and
    /// region: one per repository and check, updated each run, archived once the check passes.
    /// With --accounts, each registry's into its own account through the member role.
    #[arg(long)]
    security_hub: bool,
    /// Evaluate lifecycle policies at this moment (RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339", value_parser = |s: &str| parse_timestamp(s).ok_or_else(|| format!("\"{s}\" is not an RFC 3339 time")))]
    now: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AuditOutput {
    Json,
    Markdown,
}

pub async fn run(args: AuditArgs) -> ExitCode {
    // The scope first: bad flags are named before any AWS call.
    let scope = match args.organization.scope() {
        Ok(scope) => scope,
        Err(code) => return code,
    };
    if let Err(code) = crate::report_dir::check_writable(args.output_dir.as_deref()) {
        return code;
    }
    let suppressions = match parse_suppressions(&args.suppressed.join(",")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ecr-keeper: --suppress: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    if args.yes && !(args.fix || args.protect_in_use) {
        eprintln!("ecr-keeper: --yes applies --fix or --protect-in-use; give one of them");
        return ExitCode::from(EXIT_INVALID);
    }
    let standard = args.standard.standard();
    let settings = AuditSettings {
        standard,
        findings: FindingsPolicy { threshold: args.severity_threshold, suppressions },
        require_kms: args.require_kms,
        scanner_roles: args.scanner_roles.clone(),
    };
    let config = match args.aws.connect_for(scope.as_ref().and_then(|s| s.regions.first().map(String::as_str))).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let options = AuditOptions {
        region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        repository_prefix: args.repository_prefix.clone(),
        concurrency: args.concurrency,
        remediation: Remediation {
            lifecycle: args.fix,
            scan: args.fix,
            pins: args.protect_in_use,
            registry: args.fix,
            apply: args.yes,
        },
        deadline: None,
        inputs: RunInputs::default(),
    };
    if let Some(scope) = &scope {
        if args.in_use.is_some() {
            eprintln!(
                "ecr-keeper: --in-use reads this account's workloads only; it cannot be combined with --accounts"
            );
            return ExitCode::from(EXIT_INVALID);
        }
        let job = AuditJob { settings: &settings, remediation: options.remediation, inputs: &options.inputs };
        let now = args.now.unwrap_or_else(|| SystemClock.now());
        // --security-hub: each registry's findings into its own account's Security Hub, through
        // the member role (Security Hub takes a finding only from the account it names).
        let session = format!("ecr-keeper-cli-security-hub-{}", now.timestamp());
        let members = match args.security_hub {
            true => Some(MemberRegistries::new(&config, scope, &session).await),
            false => None,
        };
        let findings = members.as_ref().map(MemberFindings::new);
        let reading = crate::organization::Reading {
            prefix: args.repository_prefix.as_deref(),
            concurrency: args.concurrency,
            output_dir: args.output_dir.as_deref(),
        };
        let report =
            match crate::organization::run(&job, scope, &args.organization, &config, reading, now, &findings).await {
                Ok(r) => r,
                Err(code) => return code,
            };
        let non_compliant = report.totals.compliance.as_ref().map_or(0, |c| c.non_compliant);
        let json = args.output == AuditOutput::Json;
        return crate::organization::finish(&report, args.output_dir.as_deref(), json, non_compliant > 0);
    }
    let registry = EcrRegistry::new(ecr_client(&config)).reading_quotas(service_quotas_config(&config));
    let workloads = args.in_use.as_ref().map(|sources| AwsWorkloads::new(&sources.0, &config));
    let options = AuditOptions { inputs: RunInputs::read(workloads.as_ref()).await, ..options };
    if let Some(Err(e)) = &options.inputs.in_use {
        eprintln!("ecr-keeper: --in-use: {e}");
        return ExitCode::from(EXIT_INVALID);
    }
    let started = std::time::Instant::now();
    let spinner = crate::spinner(&format!("auditing {}", args.aws.target(&config)));
    let result = audit(&registry, &settings, &options, args.now.unwrap_or_else(|| SystemClock.now())).await;
    spinner.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let target = args.aws.target(&config);
            eprintln!("ecr-keeper: the audit could not read the registry: {}", explain(&e, &target, started.elapsed()));
            return ExitCode::from(EXIT_INVALID);
        }
    };
    if let (Some(prefix), true) =
        (&args.repository_prefix, report.repositories.is_empty() && report.unreached.is_empty())
    {
        eprintln!(
            "ecr-keeper: no repository name starts with \"{prefix}\" in registry {} ({}); check --repository-prefix",
            report.registry_id, report.region
        );
        return ExitCode::from(EXIT_INVALID);
    }
    if report.repositories.is_empty() && report.unreached.is_empty() {
        // Not an error (an empty registry passes), but most often the wrong region or account.
        eprintln!(
            "ecr-keeper: registry {} ({}) has no repositories: nothing to audit; check --region and the credentials' account",
            report.registry_id, report.region
        );
    }
    if let Err(code) = crate::report_dir::write_if_asked(args.output_dir.as_deref(), &report) {
        return code;
    }
    match args.output {
        AuditOutput::Json => crate::out!("{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
        AuditOutput::Markdown => crate::out_raw!("{}", report.to_markdown()),
    }
    if args.security_hub {
        let hub = SecurityHubFindings::new(&config, &report.registry_id);
        match import_findings(&hub, &report).await {
            Ok(i) => eprintln!(
                "ecr-keeper: Security Hub: {} active, {} archived{}",
                i.active,
                i.archived,
                if i.failed > 0 { format!(", {} refused (see the log)", i.failed) } else { String::new() }
            ),
            Err(e) => {
                eprintln!("ecr-keeper: --security-hub: {e}");
                return ExitCode::from(EXIT_INVALID);
            }
        }
    }
    if report.any_error() {
        eprintln!("ecr-keeper: some repositories could not be read; the report is incomplete");
        ExitCode::from(EXIT_INVALID)
    } else if report.any_failed() {
        ExitCode::from(EXIT_FAILED_CHECKS)
    } else {
        ExitCode::from(EXIT_OK)
    }
}
