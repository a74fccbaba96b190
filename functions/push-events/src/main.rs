//! EventBridge `ECR Image Action` → metrics, scan assurance, unmanaged-tag warnings. With
//! `KEEPER_MEMBER_ROLE_NAME`, an event forwarded from a member account is handled in that
//! account, through its member role.

use ecr_keeper_aws::{ecr_client, sdk_config, AwsOptions, ConfiguredSink, EcrRegistry, MemberRegistries, RetryProfile};
use ecr_keeper_core::config::EventsConfig;
use ecr_keeper_core::ports::SystemClock;
use ecr_keeper_core::reactions::{handle_push_event, refuse_event, PushReactor};
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::members::{refusal, Members, ReactionSink};
use lambda_support::FunctionError;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let config = EventsConfig::from_env(|name| std::env::var(name).ok())?;
    let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Interactive)).await;
    let reactor = PushReactor::new(EcrRegistry::new(ecr_client(&sdk)), SystemClock, config.cache_ttl);
    let sink = ConfiguredSink::new(config.metrics, &sdk);
    let members = match &config.member_role {
        Some(role) => {
            let registries =
                MemberRegistries::with_role(&sdk, role, config.member_external_id.as_deref(), "ecr-keeper-push-events")
                    .await;
            let own = registries.own_account().map(str::to_string);
            let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
            Some(Members::new(registries, own, &region))
        }
        None => None,
    };
    let (reactor, sink, members, ttl) = (&reactor, &sink, &members, config.cache_ttl);
    let config = &config;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        if let Some(reason) = refusal(&event.payload, config.own_account.as_deref(), members.is_some(), &config.scope) {
            return Ok(serde_json::to_value(refuse_event(&reason, sink).await).unwrap_or_default());
        }
        let member = match members {
            Some(m) => {
                m.for_event(&event.payload, |registry| PushReactor::new(registry, SystemClock, ttl).in_member_account())
                    .await?
            }
            None => None,
        };
        let (per_repository, member_per_repository) = (config.repository_metrics, config.member_repository_metrics);
        let handled = match &member {
            None => {
                let sink = ReactionSink::choose(sink, None, per_repository, member_per_repository);
                handle_push_event(&event.payload, reactor, &sink).await
            }
            Some((target, reactor)) => {
                let sink = ReactionSink::choose(sink, Some(target), per_repository, member_per_repository);
                handle_push_event(&event.payload, reactor.as_ref(), &sink).await
            }
        }
        .map_err(FunctionError::from)?;
        Ok::<Value, FunctionError>(serde_json::to_value(handled).unwrap_or_default())
    }))
    .await
}
