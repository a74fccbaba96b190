//! `--accounts … --regions …`: the audit and the cost report over many registries, in this
//! process, a few registries at once, with a progress bar on a terminal.

use crate::EXIT_INVALID;
use clap::Args;
use ecr_keeper_aws::{MemberRegistries, OrganizationsDirectory};
use ecr_keeper_core::lifecycle::count;
use ecr_keeper_core::metrics::RepositoryMetrics;
use ecr_keeper_core::organization::{
    organization_in_process, Keeping, OrganizationReport, OrganizationView, Pace, Progress, RegistryEntry,
    RegistryReports, Scope, ScopeFields, ScopeInput, Target,
};
use ecr_keeper_core::run::{render, Job, RunReport, StoreError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

const FLAGS: ScopeFields = ScopeFields {
    accounts: "--accounts",
    regions: "--regions",
    role_name: "--role-name",
    external_id: "--external-id",
    units: "--organizational-units",
    excluded: "--exclude-accounts",
};

#[derive(Debug, Args)]
pub struct OrganizationArgs {
    /// `organization` (every ACTIVE account; needs the management or a delegated-administrator
    /// account) or account ids, comma-separated: each is reached through --role-name.
    #[arg(long, value_name = "organization|ID,…")]
    accounts: Option<String>,
    /// With --accounts: the regions, comma-separated.
    #[arg(long, value_name = "REGION,…", requires = "accounts")]
    regions: Option<String>,
    /// With --accounts: the member role to assume in each account.
    #[arg(long, value_name = "NAME", requires = "accounts", default_value = ecr_keeper_core::organization::DEFAULT_MEMBER_ROLE)]
    role_name: String,
    /// With --accounts: the member role's sts:ExternalId, if it requires one.
    #[arg(long, value_name = "ID", requires = "accounts")]
    external_id: Option<String>,
    /// With --accounts organization: only accounts under these units (ou-…, r-…), comma-separated.
    #[arg(long, value_name = "OU,…", requires = "accounts")]
    organizational_units: Option<String>,
    /// With --accounts organization: leave these accounts out, comma-separated.
    #[arg(long, value_name = "ID,…", requires = "accounts")]
    exclude_accounts: Option<String>,
    /// With --accounts: registries (account, region) read at once.
    #[arg(long, value_name = "N", default_value_t = 4, requires = "accounts", value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=64), usize::from))]
    registry_concurrency: usize,
}

impl OrganizationArgs {
    /// The scope, `None` without --accounts; a bad flag is named and the exit code returned.
    pub fn scope(&self) -> Result<Option<Scope>, ExitCode> {
        let Some(accounts) = &self.accounts else { return Ok(None) };
        let input = ScopeInput {
            accounts,
            regions: self.regions.as_deref().unwrap_or_default(),
            role_name: Some(&self.role_name),
            external_id: self.external_id.as_deref(),
            units: self.organizational_units.as_deref(),
            excluded: self.exclude_accounts.as_deref(),
        };
        Scope::parse(&input, &FLAGS).map(Some).map_err(|e| {
            eprintln!("ecr-keeper: {e}");
            ExitCode::from(EXIT_INVALID)
        })
    }
}

/// A bar on stderr when it is a terminal; nothing otherwise (CI logs, pipes).
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template("{spinner} {pos}/{len} registries [{bar:30}] {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, registries: usize) {
        self.0.set_length(registries as u64);
    }

    fn finished(&self, target: &Target, error: Option<&str>) {
        if let Some(error) = error {
            self.0.println(format!("ecr-keeper: {target}: {error}"));
        }
        self.0.set_message(target.to_string());
        self.0.inc(1);
    }
}

/// Writes `--output-dir`, prints the report, and says how it ended: 2 when anything was not
/// reached or read, 1 when `failed` (something non-compliant), else 0.
pub fn finish<R: OrganizationView>(
    report: &OrganizationReport<R>,
    output_dir: Option<&std::path::Path>,
    json: bool,
    failed: bool,
) -> ExitCode {
    if let Err(code) = crate::report_dir::write_if_asked(output_dir, report) {
        return code;
    }
    if json {
        crate::out!("{}", serde_json::to_string_pretty(report).unwrap_or_default());
    } else {
        crate::out_raw!("{}", report.to_markdown());
    }
    if !report.complete {
        eprintln!(
            "ecr-keeper: {} of {} not reached and {} not read; the report is incomplete",
            report.totals.unreachable,
            count(report.totals.registries as u64, "registry", "registries"),
            count(report.totals.unread as u64, "repository", "repositories")
        );
        ExitCode::from(EXIT_INVALID)
    } else if failed {
        ExitCode::from(crate::EXIT_FAILED_CHECKS)
    } else {
        ExitCode::from(crate::EXIT_OK)
    }
}

/// How each registry is read, and where its own report goes.
pub struct Reading<'a> {
    pub prefix: Option<&'a str>,
    pub concurrency: usize,
    /// `--output-dir`: each registry's report under `registries/<account>/<region>/`.
    pub output_dir: Option<&'a Path>,
}

/// Writes each registry's own report beside the organization's, as it is made.
struct RegistryFiles<'a> {
    dir: &'a Path,
}

impl<R: RunReport> RegistryReports<R> for RegistryFiles<'_> {
    async fn keep(&self, entry: &RegistryEntry, report: &R) -> Result<(), StoreError> {
        let Some(path) = &entry.report else { return Ok(()) };
        let base = self.dir.join(path);
        let failed = |e: std::io::Error| StoreError::Other {
            operation: "write",
            key: base.display().to_string(),
            message: e.to_string(),
        };
        if let Some(parent) = base.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let (files, _) = render(report, None);
        for (extension, body, _) in files {
            std::fs::write(format!("{}.{extension}", base.display()), body).map_err(failed)?;
        }
        Ok(())
    }
}

/// Runs `job` over the scope's registries; `also` is told of each registry's report once it is
/// written (the audit's `--security-hub`), `&()` for nothing.
pub async fn run<J, E>(
    job: &J,
    scope: &Scope,
    args: &OrganizationArgs,
    config: &aws_config::SdkConfig,
    reading: Reading<'_>,
    now: chrono::DateTime<chrono::Utc>,
    also: &E,
) -> Result<OrganizationReport<J::Report>, ExitCode>
where
    J: Job,
    J::Report: OrganizationView,
    E: RegistryReports<J::Report>,
{
    let directory = OrganizationsDirectory::new(config);
    let targets = scope.targets(Some(&directory)).await.map_err(|e| {
        eprintln!("ecr-keeper: --accounts {}: {e}", args.accounts.as_deref().unwrap_or_default());
        ExitCode::from(EXIT_INVALID)
    })?;
    if targets.is_empty() {
        eprintln!(
            "ecr-keeper: --accounts {}: no account is left to read (every one is outside --organizational-units, \
             in --exclude-accounts, or not ACTIVE)",
            args.accounts.as_deref().unwrap_or_default()
        );
        return Err(ExitCode::from(EXIT_INVALID));
    }
    let session = format!("ecr-keeper-cli-{}-{}", J::NAME, now.timestamp());
    let registries = MemberRegistries::new(config, scope, &session).await;
    let bar = Bar::new();
    let pace = Pace { registries: args.registry_concurrency, repositories: reading.concurrency, deadline: None };
    let run = scope.run(&targets, reading.prefix);
    // The CLI publishes no metrics for an organization: none are selected.
    let none = RepositoryMetrics::None;
    let files = reading.output_dir.map(|dir| RegistryFiles { dir });
    let keeping = Keeping { reports: &(files, also), repository_metrics: &none };
    let report = organization_in_process(job, &registries, &run, pace, now, &bar, keeping).await;
    bar.0.finish_and_clear();
    report.map_err(|e| {
        eprintln!("ecr-keeper: --output-dir: {e}");
        ExitCode::from(EXIT_INVALID)
    })
}
