//! `ecr-keeper repository plan`: what a `Custom::EcrRepository` Create or Update would change,
//! computed as the custom resource computes it, without changing anything.

use crate::aws_errors::explain;
use crate::{EXIT_INVALID, EXIT_OK};
use clap::{Args, Subcommand, ValueEnum};
use ecr_keeper_aws::{ecr_client, EcrRegistry};
use ecr_keeper_core::custom_resource::{preview, Preview};
use ecr_keeper_core::repository::{parse_spec, RepositorySpec, SpecError};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum RepositoryCommand {
    /// What a Create or Update with these properties would change; reads only.
    Plan(PlanArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    aws: crate::AwsArgs,
    /// The resource's properties as JSON: the `Properties` object, or the whole
    /// `{"Type": "Custom::EcrRepository", "Properties": …}` resource.
    #[arg(long, value_name = "FILE")]
    properties: PathBuf,
    /// The properties before the update, when known: tags and a repository policy this
    /// resource set are removed only if they were in them.
    #[arg(long, value_name = "FILE")]
    old_properties: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = PlanOutput::Text)]
    output: PlanOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlanOutput {
    Text,
    Json,
}

pub async fn run(command: RepositoryCommand) -> ExitCode {
    match command {
        RepositoryCommand::Plan(args) => plan(args).await,
    }
}

async fn plan(args: PlanArgs) -> ExitCode {
    let spec = match read_spec(&args.properties, "--properties") {
        Ok(s) => s,
        Err(e) => return invalid(&e.to_string()),
    };
    let old = match args.old_properties.as_deref().map(|p| read_spec(p, "--old-properties")).transpose() {
        Ok(s) => s,
        Err(e) => return invalid(&e.to_string()),
    };
    let config = match args.aws.connect().await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let registry = EcrRegistry::new(ecr_client(&config));
    let started = std::time::Instant::now();
    let seen = match preview(&registry, &spec, old.as_ref()).await {
        Ok(p) => p,
        Err(e) => {
            let target = args.aws.target(&config);
            return invalid(&format!(
                "could not read repository {}: {}",
                spec.name,
                explain(&e, &target, started.elapsed())
            ));
        }
    };
    match args.output {
        PlanOutput::Json => crate::out!("{}", serde_json::to_string_pretty(&as_json(&seen)).unwrap_or_default()),
        PlanOutput::Text => crate::out_raw!("{}", as_text(&seen, &spec)),
    }
    ExitCode::from(EXIT_OK)
}

fn invalid(message: &str) -> ExitCode {
    eprintln!("ecr-keeper: {message}");
    ExitCode::from(EXIT_INVALID)
}

/// Why a properties file cannot be planned; each names the flag and the file.
#[derive(Debug, thiserror::Error)]
enum PropertiesError {
    #[error("{flag} {path}: {source}")]
    Read { flag: &'static str, path: String, source: std::io::Error },
    #[error("{flag} {path}: not JSON: {source}")]
    Json { flag: &'static str, path: String, source: serde_json::Error },
    #[error("{flag} {path}: a {kind} resource, not Custom::EcrRepository")]
    NotOurs { flag: &'static str, path: String, kind: String },
    #[error("{flag} {path}: {source}")]
    Invalid { flag: &'static str, path: String, source: SpecError },
}

/// Reads and validates a properties file; every bad property is named.
fn read_spec(file: &Path, flag: &'static str) -> Result<RepositorySpec, PropertiesError> {
    let path = file.display().to_string();
    let text =
        std::fs::read_to_string(file).map_err(|source| PropertiesError::Read { flag, path: path.clone(), source })?;
    let value: Value =
        serde_json::from_str(&text).map_err(|source| PropertiesError::Json { flag, path: path.clone(), source })?;
    let properties = match (value.get("Type").and_then(Value::as_str), value.get("Properties")) {
        (Some("Custom::EcrRepository"), Some(p)) => p.clone(),
        (Some(other), Some(_)) => return Err(PropertiesError::NotOurs { flag, path, kind: other.to_string() }),
        _ => value,
    };
    parse_spec(&properties).map_err(|source| PropertiesError::Invalid { flag, path, source })
}

fn as_text(seen: &Preview, spec: &RepositorySpec) -> String {
    let mut out = String::new();
    let (plan, verb) = match seen {
        Preview::Create { plan } => {
            let s = &spec.settings;
            out.push_str(&format!(
                "{} does not exist: a Create creates it ({}, scan on push {}, {}, {} tag(s))\n",
                spec.name,
                s.tag_mutability,
                s.scan_on_push,
                s.encryption.type_name(),
                spec.tags.len()
            ));
            (plan, "then sets")
        }
        Preview::Update { plan, owner } => {
            match owner {
                Some(o) => out.push_str(&format!(
                    "{} exists, managed by {} in stack {}{}\n",
                    spec.name,
                    o.logical_id,
                    o.stack_id,
                    if o.adopted { " (adopted)" } else { "" }
                )),
                None if spec.adopt_existing => out.push_str(&format!(
                    "{} exists and no stack manages it: a Create adopts it (AdoptExisting is \"true\")\n",
                    spec.name
                )),
                None => out.push_str(&format!(
                    "{} exists and no stack manages it: a Create fails unless AdoptExisting is \"true\"\n",
                    spec.name
                )),
            }
            (plan, "an Update changes")
        }
    };
    if plan.is_empty() {
        out.push_str("nothing to change\n");
    } else {
        out.push_str(&format!("{verb}:\n"));
        for change in &plan.changes {
            out.push_str(&format!("  - {change}\n"));
        }
    }
    out
}

fn as_json(seen: &Preview) -> Value {
    let (action, plan, owner) = match seen {
        Preview::Create { plan } => ("create", plan, None),
        Preview::Update { plan, owner } => ("update", plan, owner.as_ref()),
    };
    json!({
        "repository": plan.repository,
        "action": action,
        "owner": owner.map(|o| json!({"stackId": o.stack_id, "logicalId": o.logical_id, "adopted": o.adopted})),
        "changes": plan.changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}
