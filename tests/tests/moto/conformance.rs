//! The registry conformance suite (`ecr_keeper_core::testing::conformance`) on the ECR adapter
//! over moto: what the in-memory stand-in promises in the core's unit tests, ECR's adapter does.

use ecr_keeper_aws::{ecr_client, EcrRegistry};
use ecr_keeper_core::testing::conformance::{run_all, Pushes};
use ecr_keeper_tests::seed::{oci_manifest, push, OCI_MANIFEST};
use ecr_keeper_tests::LocalAws;

/// Pushes through the SDK, as `docker push` ends: PutImage with an OCI manifest.
struct SdkPushes(aws_sdk_ecr::Client);

impl Pushes for SdkPushes {
    async fn push(&self, repository: &str, tag: Option<&str>, unique: &str) -> (String, Option<String>, String) {
        let manifest = oci_manifest(&format!("config-{unique}"), &[("base-layer", 3_000_000), (unique, 1_000_000)]);
        let digest = push(&self.0, repository, tag, &manifest).await;
        (digest, Some(OCI_MANIFEST.to_string()), manifest)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ecr_adapter_on_moto_answers_as_the_stand_in_does() {
    let aws = LocalAws::start();
    let config = aws.sdk_config().await;
    let registry = EcrRegistry::new(ecr_client(&config));
    run_all(&registry, &SdkPushes(aws.ecr().await), "conformance").await;
}
