//! EventBridge `ECR Image Scan` and `Inspector2 Scan` → findings metrics, threshold and
//! suppressions, one alert per image with new findings (SNS, de-duplicated in DynamoDB). With
//! `KEEPER_MEMBER_ROLE_NAME`, a member account's scan is read in that account, through its
//! member role; the alert names the account.

use ecr_keeper_aws::{
    dynamodb_client, ecr_client, sdk_config, sns_client, AwsOptions, ConfiguredAlerts, ConfiguredSink, DynamoLedger,
    EcrRegistry, MemberRegistries, RetryProfile, SnsPublisher,
};
use ecr_keeper_core::alerts::{AlertMode, Alerter};
use ecr_keeper_core::config::{AlertsConfig, EventsConfig};
use ecr_keeper_core::ports::SystemClock;
use ecr_keeper_core::reactions::{handle_scan_event, refuse_event, ScanReactor};
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::members::{refusal, Members, ReactionSink};
use lambda_support::FunctionError;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let env = |name: &str| std::env::var(name).ok();
    let config = EventsConfig::from_env(env)?;
    let alerts = AlertsConfig::from_env(env)?;
    let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Interactive)).await;
    let alerts = match (&alerts.mode, alerts.topic_arn, alerts.table) {
        (AlertMode::Sns, Some(topic), Some(table)) => ConfiguredAlerts::Sns(Alerter::new(
            SnsPublisher::new(sns_client(&sdk), topic),
            DynamoLedger::new(dynamodb_client(&sdk), table),
            alerts.settings,
        )),
        _ => ConfiguredAlerts::LogOnly,
    };
    let findings = config.findings.clone();
    let members = match &config.member_role {
        Some(role) => {
            let registries =
                MemberRegistries::with_role(&sdk, role, config.member_external_id.as_deref(), "ecr-keeper-scan-events")
                    .await;
            let own = registries.own_account().map(str::to_string);
            let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
            Some(Members::new(registries, own, &region))
        }
        None => None,
    };
    let sink = ConfiguredSink::new(config.metrics, &sdk);
    let (alerts, sink, members, findings) = (&alerts, &sink, &members, &findings);
    // One alerter (one topic, one ledger) for the central account's reactor and every member's.
    let reactor = ScanReactor::with_alerts(EcrRegistry::new(ecr_client(&sdk)), findings.clone(), alerts, SystemClock);
    let reactor = &reactor;
    let config = &config;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        if let Some(reason) = refusal(&event.payload, config.own_account.as_deref(), members.is_some(), &config.scope) {
            return Ok(serde_json::to_value(refuse_event(&reason, sink).await).unwrap_or_default());
        }
        let member = match members {
            Some(m) => {
                m.for_event(&event.payload, |registry| {
                    ScanReactor::with_alerts(registry, findings.clone(), alerts, SystemClock)
                })
                .await?
            }
            None => None,
        };
        let (per_repository, member_per_repository) = (config.repository_metrics, config.member_repository_metrics);
        let handled = match &member {
            None => {
                let sink = ReactionSink::choose(sink, None, per_repository, member_per_repository);
                handle_scan_event(&event.payload, reactor, &sink).await
            }
            Some((target, reactor)) => {
                let sink = ReactionSink::choose(sink, Some(target), per_repository, member_per_repository);
                handle_scan_event(&event.payload, reactor.as_ref(), &sink).await
            }
        }
        .map_err(FunctionError::from)?;
        Ok::<Value, FunctionError>(serde_json::to_value(handled).unwrap_or_default())
    }))
    .await
}
