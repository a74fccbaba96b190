//! `ecr-keeper cost-report`.

use crate::aws_errors::explain;
use crate::{EXIT_INVALID, EXIT_OK};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use ecr_keeper_aws::{cloudwatch_client, ecr_client, CloudWatchSink, CloudWatchStore, EcrRegistry};
use ecr_keeper_core::audit::Standard;
use ecr_keeper_core::cost::{cost_report, publish, CostJob, CostOptions, Prices, DASHBOARD_NAME};
use ecr_keeper_core::image::parse_timestamp;
use ecr_keeper_core::lifecycle::{count, generate};
use ecr_keeper_core::metrics::RepositoryMetrics;
use ecr_keeper_core::ports::{Clock, SystemClock};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CostArgs {
    #[command(flatten)]
    aws: crate::AwsArgs,
    #[command(flatten)]
    organization: crate::organization::OrganizationArgs,
    /// Only repositories whose name starts with P (e.g. team-a/); matching none exits 2.
    #[arg(long, value_name = "P")]
    repository_prefix: Option<String>,
    /// Storage price, USD per GB-month (1 GB = 2^30 bytes).
    #[arg(long, value_name = "X", default_value_t = 0.10)]
    price_per_gb_month: f64,
    /// Archive storage price, USD per GB-month ($0.10 for a registry's first 150 TB of archive a
    /// month, $0.07 above).
    #[arg(long, value_name = "X", default_value_t = 0.10)]
    archive_price_per_gb_month: f64,
    /// Restoring an archived image, USD per GB.
    #[arg(long, value_name = "X", default_value_t = 0.03)]
    restore_price_per_gb: f64,
    /// Project "archive after N days without a pull" where no policy archives.
    #[arg(long, value_name = "N", default_value_t = ecr_keeper_core::cost::DEFAULT_ARCHIVE_PROJECTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    archive_projection_days: u32,
    /// The standard the projection assumes where a repository has no policy.
    #[command(flatten)]
    standard: crate::StandardArgs,
    /// How many of the most expensive repositories the report and the dashboard name.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=1000), usize::from))]
    top: usize,
    #[arg(long, value_enum, default_value_t = CostOutput::Markdown)]
    output: CostOutput,
    /// Also write report.json, report.md and report.html (self-contained) here, as a scheduled
    /// run keeps them in S3.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<std::path::PathBuf>,
    /// Also publish the metrics (PutMetricData) and rewrite the ecr-keeper-costs dashboard; the
    /// previous published total is read back to show the change.
    #[arg(long)]
    publish: bool,
    /// With --publish: which repositories get metrics of their own — false, true or
    /// prefix:NAME-PREFIX. Each is billed monthly; the others count in the totals only.
    #[arg(long, value_name = "WHICH", default_value = "false", value_parser = RepositoryMetrics::parse)]
    repository_metrics: RepositoryMetrics,
    /// How many repositories are read at once.
    #[arg(long, value_name = "N", default_value_t = ecr_keeper_core::run::DEFAULT_CONCURRENCY, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=256), usize::from))]
    concurrency: usize,
    /// Evaluate lifecycle policies at this moment (RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339", value_parser = |s: &str| parse_timestamp(s).ok_or_else(|| format!("\"{s}\" is not an RFC 3339 time")))]
    now: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CostOutput {
    Json,
    Markdown,
}

pub async fn run(args: CostArgs) -> ExitCode {
    // The scope first: bad flags are named before any AWS call.
    let scope = match args.organization.scope() {
        Ok(scope) => scope,
        Err(code) => return code,
    };
    let prices = [args.price_per_gb_month, args.archive_price_per_gb_month, args.restore_price_per_gb];
    if !prices.iter().all(|p| p.is_finite() && *p >= 0.0) {
        eprintln!("ecr-keeper: --price-per-gb-month, --archive-price-per-gb-month and --restore-price-per-gb must be finite numbers, zero or more");
        return ExitCode::from(EXIT_INVALID);
    }
    if let Err(code) = crate::report_dir::check_writable(args.output_dir.as_deref()) {
        return code;
    }
    let standard = match generate(&Standard::params_or_default(args.standard.standard().as_ref())) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ecr-keeper: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let config = match args.aws.connect_for(scope.as_ref().and_then(|s| s.regions.first().map(String::as_str))).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let registry = EcrRegistry::new(ecr_client(&config));
    let options = CostOptions {
        region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        repository_prefix: args.repository_prefix.clone(),
        concurrency: args.concurrency,
        top: args.top,
        prices: Prices {
            storage_per_gb_month: args.price_per_gb_month,
            archive_per_gb_month: args.archive_price_per_gb_month,
            restore_per_gb: args.restore_price_per_gb,
            ..Prices::default()
        },
        archive_projection_days: args.archive_projection_days,
        deadline: None,
    };
    if let Some(scope) = &scope {
        if args.publish {
            eprintln!("ecr-keeper: --publish writes this account's dashboard; with --accounts, the cost-report function publishes the organization's");
            return ExitCode::from(EXIT_INVALID);
        }
        let job = CostJob::new(&standard, &options, None);
        let now = args.now.unwrap_or_else(|| SystemClock.now());
        let reading = crate::organization::Reading {
            prefix: args.repository_prefix.as_deref(),
            concurrency: args.concurrency,
            output_dir: args.output_dir.as_deref(),
        };
        let report = match crate::organization::run(&job, scope, &args.organization, &config, reading, now, &()).await {
            Ok(r) => r,
            Err(code) => return code,
        };
        return crate::organization::finish(
            &report,
            args.output_dir.as_deref(),
            args.output == CostOutput::Json,
            false,
        );
    }
    let store = CloudWatchStore::new(cloudwatch_client(&config));
    let reads_previous = args.publish.then_some(&store);
    let started = std::time::Instant::now();
    let spinner = crate::spinner(&format!("reading {}", args.aws.target(&config)));
    let result =
        cost_report(&registry, reads_previous, &options, &standard, args.now.unwrap_or_else(|| SystemClock.now()))
            .await;
    spinner.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let line = explain(&e, &args.aws.target(&config), started.elapsed());
            eprintln!("ecr-keeper: the cost report could not read the registry: {line}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    if let (Some(prefix), true) = (&args.repository_prefix, report.repositories.is_empty()) {
        eprintln!(
            "ecr-keeper: no repository name starts with \"{prefix}\" in {}; check --repository-prefix",
            report.region
        );
        return ExitCode::from(EXIT_INVALID);
    }
    if report.repositories.is_empty() {
        // Not an error (it costs nothing), but most often the wrong region or account.
        eprintln!(
            "ecr-keeper: no repositories in {}: nothing stored; check --region and the credentials' account",
            report.region
        );
    }
    if args.publish {
        if let Err(e) = publish(
            &report,
            &CloudWatchSink::new(cloudwatch_client(&config)),
            &store,
            DASHBOARD_NAME,
            &args.repository_metrics,
        )
        .await
        {
            eprintln!("ecr-keeper: the report was not published: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    }
    if let Err(code) = crate::report_dir::write_if_asked(args.output_dir.as_deref(), &report) {
        return code;
    }
    match args.output {
        CostOutput::Json => crate::out!("{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
        CostOutput::Markdown => crate::out_raw!("{}", report.to_markdown()),
    }
    if !report.not_read.is_empty() {
        let unread = count(report.not_read.len() as u64, "repository", "repositories");
        eprintln!("ecr-keeper: {unread} could not be read; the report is incomplete");
        return ExitCode::from(EXIT_INVALID);
    }
    ExitCode::from(EXIT_OK)
}
