//! The push and scan handlers on the stand-ins, from AWS's own sample events: the own account's
//! event in the own registry, a member's in the member's, an event outside the scope refused
//! before any registry is touched, and each one's metrics in the shape the configuration asks.

use super::*;
use ecr_keeper_core::alerts::{AlertSettings, Alerter, Delivery};
use ecr_keeper_core::findings::Severity;
use ecr_keeper_core::image::Image;
use ecr_keeper_core::metrics::{names, DIM_ACCOUNT, DIM_REPOSITORY};
use ecr_keeper_core::testing::{
    ecr_defaults, finding, InMemoryRegistries, InMemoryRegistry, MemoryLedger, RecordingPublisher, RecordingSink,
};

const PUSH: &str = include_str!("../../../../events/ecr-image-action-push.json");
const SCAN: &str = include_str!("../../../../events/ecr-image-scan-basic.json");
const REPO: &str = "my-repository-name";
const DIGEST: &str = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234";
/// The samples' account; the function runs in another one when it serves members.
const SAMPLE_ACCOUNT: &str = "123456789012";
const CENTRAL: &str = "111111111111";

fn event(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"))
}

fn config(vars: &[(&str, &str)]) -> EventsConfig {
    EventsConfig::from_env(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The samples' repository, its image, nothing scanning on push.
fn seeded(registry: InMemoryRegistry) -> InMemoryRegistry {
    registry
        .with_repository(REPO, ecr_defaults(), &[])
        .with_image(REPO, Image::new(DIGEST, &["latest"], chrono::DateTime::<chrono::Utc>::UNIX_EPOCH, 10));
    registry
}

fn members(
    registries: &InMemoryRegistries,
    region: &str,
) -> Members<InMemoryRegistries, MemberPushReactor<InMemoryRegistries>> {
    Members::new(registries.clone(), Some(CENTRAL.into()), region)
}

fn repository_metrics(sink: &RecordingSink) -> usize {
    sink.metrics().iter().filter(|m| m.dimensions.iter().any(|(d, _)| *d == DIM_REPOSITORY)).count()
}

#[tokio::test]
async fn an_own_push_where_nothing_scans_starts_the_scan_in_the_own_registry() {
    // GIVEN the function in the samples' own account, no member role
    let own = seeded(InMemoryRegistry::new());
    let handler: PushHandler<_, InMemoryRegistries, _> =
        PushHandler::new(own.clone(), None, RecordingSink::default(), config(&[]));
    // WHEN AWS's sample push arrives
    let handled = handler.handle(&event(PUSH)).await;
    // THEN a basic scan starts there, and the metrics are totals only (the default)
    assert!(matches!(handled, Ok(Handled::Push(_))), "{handled:?}");
    assert!(own.writes().iter().any(|w| w.starts_with("StartImageScan")), "{:?}", own.writes());
    assert_eq!(handler.sink.total(names::SCANS_STARTED, None), 1.0);
    assert_eq!(repository_metrics(&handler.sink), 0, "{:?}", handler.sink.metrics());
}

#[tokio::test]
async fn the_repositories_a_prefix_names_get_metrics_of_their_own_beside_the_totals() {
    for (selection, per_repository) in [(format!("prefix:{}", &REPO[..3]), true), ("prefix:zz".to_string(), false)] {
        let own = seeded(InMemoryRegistry::new());
        let vars = [("KEEPER_REPOSITORY_METRICS", selection.as_str())];
        let handler: PushHandler<_, InMemoryRegistries, _> =
            PushHandler::new(own.clone(), None, RecordingSink::default(), config(&vars));
        let handled = handler.handle(&event(PUSH)).await;
        assert!(matches!(handled, Ok(Handled::Push(_))), "{handled:?}");
        assert_eq!(repository_metrics(&handler.sink) > 0, per_repository, "{selection}: {:?}", handler.sink.metrics());
        // The totals are there either way: alarms and the dashboard read them.
        let total: f64 = handler
            .sink
            .metrics()
            .iter()
            .filter(|m| m.name == names::SCANS_STARTED && m.dimensions.is_empty())
            .map(|m| m.value)
            .sum();
        assert_eq!(total, 1.0, "{selection}");
    }
}

#[tokio::test]
async fn a_members_push_is_handled_in_the_members_registry_with_totals_only() {
    // GIVEN a central function with a member role, the sample's account a member
    let central = InMemoryRegistry::new();
    let registries = InMemoryRegistries::default();
    let member = seeded(registries.with(SAMPLE_ACCOUNT, "us-west-2"));
    let vars = [("KEEPER_ACCOUNT_ID", CENTRAL), ("KEEPER_MEMBER_ROLE_NAME", "ecr-keeper-member")];
    let handler = PushHandler::new(
        central.clone(),
        Some(members(&registries, "us-east-1")),
        RecordingSink::default(),
        config(&vars),
    );
    // WHEN the member's push arrives
    let handled = handler.handle(&event(PUSH)).await;
    // THEN the member's registry scans, the central one is never called
    assert!(matches!(handled, Ok(Handled::Push(_))), "{handled:?}");
    assert!(member.writes().iter().any(|w| w.starts_with("StartImageScan")), "{:?}", member.writes());
    assert!(central.calls().is_empty(), "{:?}", central.calls());
    // AND its metrics are totals, not one series per member repository (nor per account)
    assert_eq!(repository_metrics(&handler.sink), 0, "{:?}", handler.sink.metrics());
    assert!(handler.sink.metrics().iter().all(|m| m.dimensions.iter().all(|(d, _)| *d != DIM_ACCOUNT)));
    assert_eq!(handler.sink.total(names::SCANS_STARTED, None), 1.0);
}

#[tokio::test]
async fn an_event_outside_the_scope_is_refused_before_any_registry_is_reached() {
    // GIVEN a central function serving only account 222222222222
    let central = InMemoryRegistry::new();
    let registries = InMemoryRegistries::default();
    seeded(registries.with(SAMPLE_ACCOUNT, "us-west-2"));
    let vars = [
        ("KEEPER_ACCOUNT_ID", CENTRAL),
        ("KEEPER_MEMBER_ROLE_NAME", "ecr-keeper-member"),
        ("KEEPER_ACCOUNTS", "222222222222"),
    ];
    let handler = PushHandler::new(
        central.clone(),
        Some(members(&registries, "us-east-1")),
        RecordingSink::default(),
        config(&vars),
    );
    // WHEN the sample's account sends a push
    let handled = handler.handle(&event(PUSH)).await;
    // THEN it is refused, counted as invalid, and nothing is read or assumed
    assert!(
        matches!(&handled, Ok(Handled::Invalid { reason }) if reason.contains("not in KEEPER_ACCOUNTS")),
        "{handled:?}"
    );
    assert_eq!(handler.sink.total(names::INVALID_EVENTS, None), 1.0);
    assert!(central.calls().is_empty() && registries.reached().is_empty());
}

#[tokio::test]
async fn a_scan_above_the_threshold_alerts_once_through_the_shared_alerter() {
    // GIVEN the sample's image with a critical finding, in the function's own account
    let own = seeded(InMemoryRegistry::new());
    own.with_findings(REPO, DIGEST, vec![finding("CVE-2026-1", Severity::Critical)]);
    let alerts = Alerter::new(RecordingPublisher::default(), MemoryLedger::default(), AlertSettings::default());
    let handler: ScanHandler<_, InMemoryRegistries, _, _> =
        ScanHandler::new(own, None, alerts, RecordingSink::default(), config(&[]));
    // WHEN the sample scan arrives twice
    let first = handler.handle(&event(SCAN)).await;
    let again = handler.handle(&event(SCAN)).await;
    // THEN one alert is published, the second finds nothing new
    let delivery = |h: &Result<Handled, FunctionError>| match h {
        Ok(Handled::Scan(r)) => r.delivery.clone(),
        other => panic!("{other:?}"),
    };
    assert!(matches!(delivery(&first), Some(Delivery::Published { new: 1, .. })), "{first:?}");
    assert!(matches!(delivery(&again), Some(Delivery::NothingNew)), "{again:?}");
    assert_eq!(handler.sink.total(names::VULNERABLE_IMAGES, None), 2.0, "counted each time, before delivery");
}
