//! `ecr-keeper`: the command line over ecr-keeper's core.

mod audit;
mod aws_errors;
mod cost;
mod lifecycle;
mod organization;
mod report_dir;
mod repository;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "ecr-keeper", version, about = "Keep Amazon ECR repositories in good shape", propagate_version = true)]
struct Cli {
    /// Log what the AWS SDK does (requests, retries, the full error chain) to stderr; RUST_LOG
    /// sets the same with finer control.
    #[arg(long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate, generate and preview ECR lifecycle policies, offline.
    #[command(subcommand)]
    Lifecycle(lifecycle::LifecycleCommand),
    /// Audit every repository: lifecycle hygiene, scanning, tag immutability, encryption,
    /// public policies. Exit 0 when everything passes, 1 when a check fails, 2 on usage or
    /// access errors.
    Audit(audit::AuditArgs),
    /// What each repository's storage costs, and what lifecycle policies save.
    CostReport(cost::CostArgs),
    /// Custom::EcrRepository without CloudFormation: what a Create or Update would change.
    #[command(subcommand)]
    Repository(repository::RepositoryCommand),
}

/// The team's standard lifecycle settings (LC-6, remediation, the cost projection); unset parts
/// take ecr-keeper's defaults, as the functions' `KEEPER_STANDARD_*` do.
#[derive(Debug, clap::Args)]
pub struct StandardArgs {
    /// The standard: keep the last N tagged images per prefix.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    standard_keep_tagged: Option<u32>,
    /// The standard: expire untagged images after D days.
    #[arg(long, value_name = "D", value_parser = clap::value_parser!(u32).range(1..))]
    standard_untagged_days: Option<u32>,
    /// The standard: tag prefixes kept (repeatable; default v).
    #[arg(long = "standard-tag-prefix", value_name = "P")]
    standard_tag_prefixes: Vec<String>,
    /// The standard: archive what no other rule keeps after D days without a pull.
    #[arg(long, value_name = "D", value_parser = clap::value_parser!(u32).range(1..))]
    standard_archive_after_days_without_pull: Option<u32>,
    /// The standard: expire archived images D days after archiving (ECR's minimum: 90).
    #[arg(long, value_name = "D", value_parser = clap::value_parser!(u32).range(90..))]
    standard_expire_archived_after_days: Option<u32>,
}

impl StandardArgs {
    pub fn standard(&self) -> Option<ecr_keeper_core::audit::Standard> {
        ecr_keeper_core::audit::Standard::from_parts(ecr_keeper_core::audit::StandardParts {
            keep_tagged: self.standard_keep_tagged,
            untagged_days: self.standard_untagged_days,
            tag_prefixes: self.standard_tag_prefixes.clone(),
            archive_after_days: self.standard_archive_after_days_without_pull,
            expire_archived_after_days: self.standard_expire_archived_after_days,
        })
    }
}

/// Where the AWS commands talk to: the standard AWS configuration, with these overrides.
#[derive(Debug, clap::Args)]
pub struct AwsArgs {
    /// AWS region (default: the AWS configuration's).
    #[arg(long)]
    region: Option<String>,
    /// A non-AWS endpoint, e.g. http://127.0.0.1:5000 for moto.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
}

impl AwsArgs {
    /// The SDK configuration, once a region and credentials are known to be there: without
    /// them every call would fail with a dump of the SDK's internals.
    pub async fn config(&self, fallback_region: Option<&str>) -> Result<aws_config::SdkConfig, aws_errors::SetupError> {
        if let Some(url) = &self.endpoint_url {
            aws_errors::check_endpoint("--endpoint-url", url)?;
        } else if let Some(url) = std::env::var("AWS_ENDPOINT_URL").ok().filter(|u| !u.is_empty()) {
            aws_errors::check_endpoint("AWS_ENDPOINT_URL", &url)?;
        }
        if let Some(region) = &self.region {
            aws_errors::check_region(region)?;
        }
        // With --accounts and --regions, the first of those regions serves this account's own
        // calls (STS, Organizations) when the configuration names none.
        let fallback = match (&self.region, fallback_region) {
            (None, Some(region))
                if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() =>
            {
                Some(region.to_string())
            }
            _ => None,
        };
        let options = ecr_keeper_aws::AwsOptions {
            region: self.region.clone().or(fallback),
            endpoint_url: self.endpoint_url.clone(),
            // The commands that talk to AWS only read (the audit's --fix --yes aside): batch work.
            retry: ecr_keeper_aws::RetryProfile::Scheduled,
            // A laptop may need a corporate CA: the system's roots.
            trust: ecr_keeper_aws::TrustRoots::System,
        };
        let config = ecr_keeper_aws::sdk_config(&options).await;
        let config = aws_errors::preflight(config).await?;
        // One call, not retried, before the run: a wrong URL, a silent port or a proxy's page is
        // said in seconds.
        ecr_keeper_aws::probe_ecr(&config)
            .await
            .map_err(|cause| aws_errors::SetupError::Unreachable { target: self.target(&config), cause })?;
        Ok(config)
    }

    /// [`Self::config`], or the exit code after saying why not.
    pub async fn connect(&self) -> Result<aws_config::SdkConfig, ExitCode> {
        self.connect_for(None).await
    }

    /// [`Self::connect`], with a region to use when neither --region nor the configuration names one.
    pub async fn connect_for(&self, fallback_region: Option<&str>) -> Result<aws_config::SdkConfig, ExitCode> {
        self.config(fallback_region).await.map_err(|e| {
            eprintln!("ecr-keeper: {e}");
            ExitCode::from(EXIT_INVALID)
        })
    }

    pub fn region_given(&self) -> Option<String> {
        self.region.clone()
    }

    /// Where calls go, for messages: the endpoint given, or ECR in the region.
    pub fn target(&self, config: &aws_config::SdkConfig) -> String {
        match &self.endpoint_url {
            Some(url) => url.clone(),
            None => format!("ECR in {}", config.region().map(|r| r.to_string()).unwrap_or_default()),
        }
    }
}

/// A spinner with the time so far on stderr while a registry is read, when stderr is a terminal
/// (nothing in CI logs or pipes): a slow or retrying run shows it is alive.
pub fn spinner(message: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Runs an async command on a runtime of its own (the lifecycle commands need none).
pub fn block_on(command: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt.block_on(command),
        Err(e) => {
            eprintln!("ecr-keeper: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// `--in-use ecs,lambda,file:refs.txt`: one argument holding the list (clap would take a `Vec`
/// for repeated values).
#[derive(Debug, Clone)]
pub struct InUseSources(pub Vec<ecr_keeper_core::workloads::WorkloadSource>);

pub fn parse_in_use(text: &str) -> Result<InUseSources, String> {
    ecr_keeper_core::workloads::WorkloadSource::parse_list(text).map(InUseSources)
}

/// A value from an async step of a synchronous command, on a runtime of its own.
pub fn block_on_value<T>(work: impl std::future::Future<Output = T>) -> Result<T, lifecycle::LifecycleCliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(work))
        .map_err(|e| lifecycle::LifecycleCliError::Aws(format!("cannot start the async runtime: {e}")))
}

/// Writes the command's output like `print!`/`println!`, without their panic: a closed pipe
/// (`| head`, `| grep -q`) ends the program quietly, as other command-line tools do, and any
/// other write error (a full disk) is one line on stderr and exit 2.
pub fn write_out(args: std::fmt::Arguments, newline: bool) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| if newline { stdout.write_all(b"\n") } else { Ok(()) })
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(i32::from(EXIT_OK)),
        Err(e) => {
            eprintln!("ecr-keeper: cannot write the output: {e}");
            std::process::exit(i32::from(EXIT_INVALID));
        }
    }
}

/// `println!` to stdout through [`write_out`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::write_out(format_args!($($arg)*), true) };
}

/// `print!` to stdout through [`write_out`].
#[macro_export]
macro_rules! out_raw {
    ($($arg:tt)*) => { $crate::write_out(format_args!($($arg)*), false) };
}

/// Exit codes scripts can rely on.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED_CHECKS: u8 = 1;
pub const EXIT_INVALID: u8 = 2;

/// `--verbose` or `RUST_LOG`: the SDK's own logs on stderr. Without either, nothing but the
/// one-line messages.
fn init_logging(verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) => EnvFilter::new(spec),
        Err(_) if verbose => EnvFilter::new("info,aws_smithy_runtime=debug,aws_config=debug,ecr_keeper_core=debug"),
        Err(_) => return,
    };
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).try_init();
}

/// Every command takes `-5` as a value, so a negative number is refused by the flag's own range
/// ("invalid value '-5' for '--keep-tagged'") rather than read as an unknown flag.
fn negative_numbers_are_values(command: clap::Command) -> clap::Command {
    command.allow_negative_numbers(true).mut_subcommands(negative_numbers_are_values)
}

fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let matches = negative_numbers_are_values(Cli::command()).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    let cli = parse();
    init_logging(cli.verbose);
    match cli.command {
        Command::Lifecycle(cmd) => match lifecycle::run(cmd) {
            Ok(()) => ExitCode::from(EXIT_OK),
            Err(e) => {
                eprintln!("ecr-keeper: {e}");
                ExitCode::from(EXIT_INVALID)
            }
        },
        Command::Audit(args) => block_on(audit::run(args)),
        Command::CostReport(args) => block_on(cost::run(args)),
        Command::Repository(cmd) => block_on(repository::run(cmd)),
    }
}
