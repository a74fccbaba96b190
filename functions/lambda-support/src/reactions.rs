//! The two EventBridge functions' handlers: built once in `main` from the ports, then one
//! `handle` per event. Generic over the ports, so the whole path — scope refusal, a member's
//! registry, the metrics' shape — is unit-tested on the in-memory stand-ins.

use crate::members::{refusal, Members, ReactionSink};
use crate::FunctionError;
use ecr_keeper_core::alerts::Alerts;
use ecr_keeper_core::config::EventsConfig;
use ecr_keeper_core::metrics::MetricsSink;
use ecr_keeper_core::organization::Registries;
use ecr_keeper_core::ports::{ImageWrites, RegistryReads, SystemClock};
use ecr_keeper_core::reactions::{
    handle_push_event, handle_scan_event, refuse_event, Handled, PushReactor, ScanReactor,
};
use serde_json::Value;
use std::sync::Arc;

/// push-events: metrics, a basic scan where nothing scans on push, unmanaged-tag warnings.
pub struct PushHandler<R, G: Registries, S> {
    reactor: PushReactor<R, SystemClock>,
    members: Option<Members<G, MemberPushReactor<G>>>,
    sink: S,
    config: EventsConfig,
}

/// A member registry's push reactor, built on its first event.
pub type MemberPushReactor<G> = PushReactor<<G as Registries>::Registry, SystemClock>;
/// A member registry's scan reactor, sharing the function's alerter.
pub type MemberScanReactor<G, A> = ScanReactor<<G as Registries>::Registry, Arc<A>>;

impl<R, G, S> PushHandler<R, G, S>
where
    R: RegistryReads + ImageWrites,
    G: Registries,
    G::Registry: RegistryReads + ImageWrites,
    S: MetricsSink,
{
    /// `members`: with `KEEPER_MEMBER_ROLE_NAME`, the member registries and this function's own
    /// account and region.
    pub fn new(registry: R, members: Option<Members<G, MemberPushReactor<G>>>, sink: S, config: EventsConfig) -> Self {
        let reactor = PushReactor::new(registry, SystemClock, config.cache_ttl);
        PushHandler { reactor, members, sink, config }
    }

    pub async fn handle(&self, event: &Value) -> Result<Handled, FunctionError> {
        let config = &self.config;
        if let Some(reason) = refusal(event, config.own_account.as_deref(), self.members.is_some(), &config.scope) {
            return Ok(refuse_event(&reason, &self.sink).await);
        }
        let member = match &self.members {
            Some(m) => {
                let ttl = config.cache_ttl;
                m.for_event(event, |registry| PushReactor::new(registry, SystemClock, ttl).in_member_account()).await?
            }
            None => None,
        };
        let (per_repository, member_per_repository) = (&config.repository_metrics, config.member_repository_metrics);
        let handled = match &member {
            None => {
                let sink = ReactionSink::choose(&self.sink, None, per_repository, member_per_repository);
                handle_push_event(event, &self.reactor, &sink).await
            }
            Some((target, reactor)) => {
                let sink = ReactionSink::choose(&self.sink, Some(target), per_repository, member_per_repository);
                handle_push_event(event, reactor.as_ref(), &sink).await
            }
        };
        Ok(handled?)
    }
}

/// scan-events: findings metrics, threshold and suppressions, one alert per image with new
/// findings. One alerter (one topic, one ledger) serves the own account's reactor and every
/// member's.
pub struct ScanHandler<R, G: Registries, S, A> {
    reactor: ScanReactor<R, Arc<A>>,
    members: Option<Members<G, MemberScanReactor<G, A>>>,
    alerts: Arc<A>,
    sink: S,
    config: EventsConfig,
}

impl<R, G, S, A> ScanHandler<R, G, S, A>
where
    R: RegistryReads,
    G: Registries,
    G::Registry: RegistryReads,
    S: MetricsSink,
    A: Alerts,
{
    pub fn new(
        registry: R,
        members: Option<Members<G, MemberScanReactor<G, A>>>,
        alerts: A,
        sink: S,
        config: EventsConfig,
    ) -> Self {
        let alerts = Arc::new(alerts);
        let reactor = ScanReactor::with_alerts(registry, config.findings.clone(), alerts.clone(), SystemClock);
        ScanHandler { reactor, members, alerts, sink, config }
    }

    pub async fn handle(&self, event: &Value) -> Result<Handled, FunctionError> {
        let config = &self.config;
        if let Some(reason) = refusal(event, config.own_account.as_deref(), self.members.is_some(), &config.scope) {
            return Ok(refuse_event(&reason, &self.sink).await);
        }
        let member = match &self.members {
            Some(m) => {
                let (alerts, findings) = (self.alerts.clone(), config.findings.clone());
                m.for_event(event, |registry| ScanReactor::with_alerts(registry, findings, alerts, SystemClock)).await?
            }
            None => None,
        };
        let (per_repository, member_per_repository) = (&config.repository_metrics, config.member_repository_metrics);
        let handled = match &member {
            None => {
                let sink = ReactionSink::choose(&self.sink, None, per_repository, member_per_repository);
                handle_scan_event(event, &self.reactor, &sink).await
            }
            Some((target, reactor)) => {
                let sink = ReactionSink::choose(&self.sink, Some(target), per_repository, member_per_repository);
                handle_scan_event(event, reactor.as_ref(), &sink).await
            }
        };
        Ok(handled?)
    }
}

#[cfg(test)]
mod tests;
