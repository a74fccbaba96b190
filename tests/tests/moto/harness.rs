//! The harness itself: moto starts on a free port, resets, and reports a missing setup clearly.

use ecr_keeper_tests::LocalAws;

#[tokio::test(flavor = "multi_thread")]
async fn moto_resets_to_an_empty_registry() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    ecr.create_repository().repository_name("before-reset").send().await.unwrap_or_else(|e| panic!("{e}"));
    aws.reset();
    let listed = ecr.describe_repositories().send().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(listed.repositories().is_empty());
}

#[test]
fn two_instances_do_not_share_state_or_ports() {
    let (a, b) = (LocalAws::start(), LocalAws::start());
    assert_ne!(a.moto_url, b.moto_url);
}
