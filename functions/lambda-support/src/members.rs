//! Reactions to a member account's events: the event names its account and region; the work
//! (StartImageScan, the lifecycle policy read, the scan's findings) happens there, through the
//! member role, and every per-repository metric says the account.

use ecr_keeper_core::config::EventScope;
use ecr_keeper_core::metrics::{
    totals, Metric, MetricsError, MetricsSink, RepositoryMetrics, DIM_ACCOUNT, DIM_REGION, DIM_REPOSITORY,
};
use ecr_keeper_core::organization::{AccessError, Registries, Target};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// AssumeRole's credentials last an hour; a member's reactor is rebuilt well before.
const MEMBER_TTL: Duration = Duration::from_secs(50 * 60);

/// The account and region an EventBridge event came from (`None` without them).
pub fn event_target(event: &Value) -> Option<Target> {
    let field = |name: &str| event.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    Some(Target { account: field("account")?, region: field("region")? })
}

/// Why an event must not be acted on here, if so: another account's event reaching a function
/// with no member role (it would be read in this account while the alert names the other), or
/// a member outside the deployment's scope. The function's own account is always served.
/// `own_account` unset (a run outside the template): every event is taken as the own account's.
pub fn refusal(event: &Value, own_account: Option<&str>, members: bool, scope: &EventScope) -> Option<String> {
    let target = event_target(event)?;
    let own = own_account?;
    if own == target.account {
        return None;
    }
    if !members {
        return Some(format!(
            "the event comes from account {}, and this function has no member role to act there (set Accounts)",
            target.account
        ));
    }
    scope.refusal(&target.account, &target.region)
}

/// One thing per member registry (a reactor, with its caches), built on first use and rebuilt
/// when its credentials would expire.
pub struct Members<G: Registries, T> {
    registries: G,
    own_account: Option<String>,
    own_region: String,
    built: Mutex<HashMap<Target, (Instant, Arc<T>)>>,
}

impl<G: Registries, T> Members<G, T> {
    pub fn new(registries: G, own_account: Option<String>, own_region: &str) -> Self {
        Members { registries, own_account, own_region: own_region.to_string(), built: Mutex::new(HashMap::new()) }
    }

    /// `None` for the function's own account and region (its own reactor serves the event);
    /// otherwise the member's, built by `build` from the member registry.
    pub async fn for_event(
        &self,
        event: &Value,
        build: impl FnOnce(G::Registry) -> T,
    ) -> Result<Option<(Target, Arc<T>)>, AccessError> {
        let Some(target) = event_target(event) else { return Ok(None) };
        if self.own_account.as_deref() == Some(target.account.as_str()) && target.region == self.own_region {
            return Ok(None);
        }
        let cached = self
            .built
            .lock()
            .ok()
            .and_then(|b| b.get(&target).filter(|(at, _)| at.elapsed() < MEMBER_TTL).map(|(_, t)| t.clone()));
        if let Some(t) = cached {
            return Ok(Some((target, t)));
        }
        let registry = self.registries.reach(&target).await?;
        let built = Arc::new(build(registry));
        if let Ok(mut b) = self.built.lock() {
            b.insert(target.clone(), (Instant::now(), built.clone()));
        }
        Ok(Some((target, built)))
    }
}

/// Where one event's metrics go: the own account's per repository for the repositories
/// `KEEPER_REPOSITORY_METRICS` names (totals for the rest), per repository with Account and
/// Region (a member's, with `KEEPER_MEMBER_REPOSITORY_METRICS`), or totals only (the default).
pub enum ReactionSink<'a, S> {
    Selected(&'a S, &'a RepositoryMetrics),
    Account(AccountSink<'a, S>),
    Totals(&'a S),
}

impl<'a, S: MetricsSink> ReactionSink<'a, S> {
    /// The sink for an event of `member` (None: the own account's), as configured.
    pub fn choose(
        sink: &'a S,
        member: Option<&'a Target>,
        selected: &'a RepositoryMetrics,
        member_per_repository: bool,
    ) -> Self {
        match member {
            None => ReactionSink::Selected(sink, selected),
            Some(target) if member_per_repository => ReactionSink::Account(AccountSink { inner: sink, target }),
            Some(_) => ReactionSink::Totals(sink),
        }
    }
}

impl<S: MetricsSink> MetricsSink for ReactionSink<'_, S> {
    async fn publish(&self, metrics: &[Metric]) -> Result<(), MetricsError> {
        match self {
            ReactionSink::Selected(s, selected) => s.publish(&selected.per_repository_and_totals(metrics)).await,
            ReactionSink::Account(s) => s.publish(metrics).await,
            ReactionSink::Totals(s) => s.publish(&totals(metrics)).await,
        }
    }
}

/// A sink that adds `Account` and `Region` to every per-repository metric (totals, which
/// alarms watch, are left as they are).
pub struct AccountSink<'a, S> {
    pub inner: &'a S,
    pub target: &'a Target,
}

impl<S: MetricsSink> MetricsSink for AccountSink<'_, S> {
    async fn publish(&self, metrics: &[Metric]) -> Result<(), MetricsError> {
        let marked: Vec<Metric> = metrics
            .iter()
            .cloned()
            .map(|m| {
                if m.dimensions.iter().any(|(d, _)| *d == DIM_REPOSITORY) {
                    m.with(DIM_ACCOUNT, &self.target.account).with(DIM_REGION, &self.target.region)
                } else {
                    m
                }
            })
            .collect();
        self.inner.publish(&marked).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecr_keeper_core::testing::{InMemoryRegistries, RecordingSink};
    use serde_json::json;

    #[tokio::test]
    async fn a_member_event_gets_the_members_registry_once_and_the_own_account_none() {
        let registries = InMemoryRegistries::default();
        registries.with("222222222222", "eu-west-1");
        let members: Members<_, String> = Members::new(registries.clone(), Some("111111111111".into()), "us-east-1");
        let own = json!({"account": "111111111111", "region": "us-east-1"});
        assert!(matches!(members.for_event(&own, |_| "x".to_string()).await, Ok(None)));
        let member = json!({"account": "222222222222", "region": "eu-west-1"});
        for _ in 0..2 {
            let got = members.for_event(&member, |_| "member".to_string()).await;
            assert!(matches!(&got, Ok(Some((t, _))) if t.account == "222222222222"), "{got:?}");
        }
        assert_eq!(registries.reached().len(), 1, "built once, then reused");
        let stranger = json!({"account": "333333333333", "region": "eu-west-1"});
        let refused = members.for_event(&stranger, |_| String::new()).await;
        assert!(matches!(refused, Err(AccessError::CannotAssume { .. })), "{refused:?}");
    }

    #[test]
    fn events_of_other_accounts_are_refused_without_a_role_or_outside_the_scope() {
        let scope = EventScope { accounts: Some(vec!["222222222222".into()]), excluded: vec![], regions: vec![] };
        let own = Some("111111111111");
        let event = |account: &str| json!({"account": account, "region": "us-east-1"});
        assert_eq!(refusal(&event("111111111111"), own, false, &scope), None);
        assert!(refusal(&event("222222222222"), own, false, &scope).is_some_and(|r| r.contains("no member role")));
        assert_eq!(refusal(&event("222222222222"), own, true, &scope), None);
        assert!(refusal(&event("333333333333"), own, true, &scope).is_some_and(|r| r.contains("KEEPER_ACCOUNTS")));
    }

    #[tokio::test]
    async fn member_metrics_are_totals_unless_asked_per_repository() {
        let sink = RecordingSink::default();
        let target = Target { account: "222222222222".into(), region: "eu-west-1".into() };
        let metrics = [Metric::for_repository("ImagePushes", "a", 1), Metric::for_repository("ImagePushes", "b", 1)];
        ReactionSink::choose(&sink, Some(&target), &RepositoryMetrics::All, false)
            .publish(&metrics)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let got = sink.metrics();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].dimensions.is_empty() && got[0].value == 2.0, "{got:?}");
        let sink = RecordingSink::default();
        ReactionSink::choose(&sink, Some(&target), &RepositoryMetrics::All, true)
            .publish(&metrics)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(sink.metrics().iter().all(|m| m.dimensions.len() == 3), "{:?}", sink.metrics());
    }

    #[tokio::test]
    async fn per_repository_metrics_say_the_account_and_totals_do_not() {
        let sink = RecordingSink::default();
        let target = Target { account: "222222222222".into(), region: "eu-west-1".into() };
        let marked = AccountSink { inner: &sink, target: &target };
        let metrics = [Metric::for_repository("ImagePushes", "app", 1), Metric::count("VulnerableImages", 1)];
        marked.publish(&metrics).await.unwrap_or_else(|e| panic!("{e}"));
        let got = sink.metrics();
        assert_eq!(got[0].dimensions.len(), 3, "{got:?}");
        assert!(got[0].dimensions.contains(&(DIM_ACCOUNT, "222222222222".to_string())));
        assert!(got[1].dimensions.is_empty());
    }
}
