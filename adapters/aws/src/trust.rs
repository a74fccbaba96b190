//! Which certificate authorities the functions' TLS trusts.
//!
//! The SDK reads the system's root certificates when the first client is built; on this machine
//! that took about 4 ms of every cold start (the system bundle and the certificate directory,
//! read and decoded: `examples/startup_steps.rs`), and each further client decodes its trust
//! store again. The functions talk to nothing but AWS: its API endpoints and the pre-signed S3
//! URL CloudFormation answers go to, all of which chain to Amazon Trust Services. So they trust
//! exactly those roots — Amazon Root CA 1 to 4 and Starfield Services Root Certificate
//! Authority - G2 (the cross-signing root) — picked from Mozilla's list (`webpki-root-certs`) at
//! build time (`build.rs`) and compiled in. Fewer trusted authorities, nothing to read at start.
//!
//! Regions outside the partitions Amazon Trust Services covers (China, the isolated ones) keep
//! the system's roots, and so does a custom network setup:
//! `SSL_CERT_FILE` or `SSL_CERT_DIR` (a TLS-inspecting proxy's CA, say), or a proxy variable
//! (the default client honours them). The CLI always uses the system's roots.

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;
use base64::Engine;

/// Whose root certificates TLS trusts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TrustRoots {
    /// The system's (the SDK's default): the CLI and the tests.
    #[default]
    System,
    /// Amazon Trust Services' roots, compiled in: the Lambda functions.
    Bundled,
}

/// Variables that mean someone configured TLS or the network themselves.
const NETWORK_VARIABLES: &[&str] = &[
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// True when a variable of [`NETWORK_VARIABLES`] is set: then the SDK's default client, which
/// honours them, is kept.
pub(crate) fn network_customised(get: impl Fn(&str) -> Option<String>) -> bool {
    NETWORK_VARIABLES.iter().any(|k| get(k).is_some_and(|v| !v.trim().is_empty()))
}

/// Whether the region's endpoints chain to Amazon Trust Services: the commercial and GovCloud
/// partitions do; China (`cn-*`) and the isolated partitions (`*-iso*-*`) have CAs of their
/// own, so there the system's roots are kept.
pub(crate) fn ats_partition(region: &str) -> bool {
    !(region.starts_with("cn-") || region.split('-').any(|part| part.starts_with("iso")))
}

/// Whether the functions use the bundled roots: no custom network setup, and a region (from
/// `AWS_REGION`, as Lambda sets it) in a partition they cover.
pub(crate) fn bundled_roots_apply(get: impl Fn(&str) -> Option<String>) -> bool {
    let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")).unwrap_or_default();
    !network_customised(&get) && ats_partition(region.trim())
}

// AMAZON_TRUST_SERVICES_ROOTS, picked by build.rs.
include!(concat!(env!("OUT_DIR"), "/amazon_trust_services.rs"));

/// Amazon Trust Services' roots.
fn bundled_roots() -> impl Iterator<Item = rustls::pki_types::CertificateDer<'static>> {
    AMAZON_TRUST_SERVICES_ROOTS.iter().map(|der| rustls::pki_types::CertificateDer::from(*der))
}

/// The bundled roots as PEM, the form the SDK's trust store takes.
fn bundled_pem() -> Vec<u8> {
    let mut pem = String::with_capacity(10_000);
    for cert in bundled_roots() {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        // RFC 7468 lines of 64 characters; base64 is ASCII, so every chunk is valid UTF-8.
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

/// The SDK's HTTPS client (rustls over aws-lc, as its default) trusting the bundled roots;
/// `None` if the trust store cannot be built (the caller keeps the default client).
pub(crate) fn bundled_https_client() -> Option<SharedHttpClient> {
    let store = TrustStore::empty().with_native_roots(false).with_pem_certificate(bundled_pem());
    match TlsContext::builder().with_trust_store(store).build() {
        Ok(context) => Some(
            ConnectOnFirstRequest(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                    .tls_context(context)
                    .build_https(),
            )
            .into_shared(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "bundled TLS roots unusable; using the system's");
            None
        }
    }
}

/// The SDK's HTTPS client, without its check at client construction.
///
/// That check (`validate_base_client_config`) builds a whole connector — TLS context, the
/// trust store's PEM parsed again — and drops it, so that the *system's* roots are read at
/// start, not at the first request; the connector each request uses is built and cached
/// separately at the first request. With the bundled roots there is nothing to read ahead, so
/// the check was pure start-up cost, once per SDK client: 248,000 of the audit's 3.04 million
/// start-up instructions for each of its two clients (callgrind, `aws-smithy-http-client`
/// 1.5.2). Requests go to the same client, connectors and cache as before.
#[derive(Debug)]
struct ConnectOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectOnFirstRequest {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The bundled roots for rustls directly (the answer to CloudFormation).
pub(crate) fn bundled_root_store() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(bundled_roots());
    roots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_is_exactly_the_five_amazon_trust_services_roots() {
        let names =
            ["Amazon Root CA 1", "Amazon Root CA 2", "Amazon Root CA 3", "Amazon Root CA 4", "Starfield Services"];
        for name in names {
            let found =
                bundled_roots().filter(|c| c.as_ref().windows(name.len()).any(|w| w == name.as_bytes())).count();
            assert_eq!(found, 1, "{name}");
        }
        assert_eq!(bundled_roots().count(), 5);
        assert_eq!(bundled_root_store().len(), 5, "each parses as a trust anchor");
        let pem = String::from_utf8(bundled_pem()).unwrap_or_default();
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
    }

    #[test]
    fn only_partitions_amazon_trust_services_serves_use_the_bundle() {
        for region in ["us-east-1", "eu-central-1", "ap-southeast-5", "us-gov-west-1", "il-central-1"] {
            assert!(ats_partition(region), "{region}");
        }
        for region in
            ["cn-north-1", "cn-northwest-1", "us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-south-1"]
        {
            assert!(!ats_partition(region), "{region}");
        }
        let lambda = |k: &str| (k == "AWS_REGION").then(|| "eu-west-1".to_string());
        assert!(bundled_roots_apply(lambda));
        assert!(!bundled_roots_apply(|k: &str| (k == "AWS_REGION").then(|| "cn-north-1".to_string())));
        let proxied = |k: &str| match k {
            "AWS_REGION" => Some("eu-west-1".to_string()),
            "HTTPS_PROXY" => Some("http://proxy:3128".to_string()),
            _ => None,
        };
        assert!(!bundled_roots_apply(proxied));
    }

    /// Counts what the SDK asks of an HTTP client; every request is answered `{}`.
    #[derive(Debug, Default)]
    struct Counting {
        validated: std::sync::atomic::AtomicUsize,
        connectors: std::sync::atomic::AtomicUsize,
    }

    #[derive(Debug, Clone, Default)]
    struct CountingClient(std::sync::Arc<Counting>);

    impl HttpClient for CountingClient {
        fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
            use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorFuture};
            use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
            #[derive(Debug)]
            struct Empty;
            impl HttpConnector for Empty {
                fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
                    let body = aws_smithy_types::body::SdkBody::from("{}");
                    HttpConnectorFuture::ready(Ok(HttpResponse::new(
                        200.try_into().unwrap_or_else(|_| unreachable!()),
                        body,
                    )))
                }
            }
            self.0.connectors.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Empty.into_shared()
        }

        fn validate_base_client_config(
            &self,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder,
            _: &aws_smithy_types::config_bag::ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            self.0.validated.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    fn ecr_over(http: SharedHttpClient) -> aws_sdk_ecr::Client {
        let config = aws_sdk_ecr::Config::builder()
            .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
            .region(aws_sdk_ecr::config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_ecr::config::Credentials::new("AKID", "secret", None, None, "test"))
            .http_client(http)
            .build();
        aws_sdk_ecr::Client::from_conf(config)
    }

    #[tokio::test]
    async fn a_client_builds_its_connector_at_the_first_request_not_at_construction() {
        use std::sync::atomic::Ordering::SeqCst;
        // The SDK's own check runs at construction (what the wrapper leaves out).
        let plain = CountingClient::default();
        let _client = ecr_over(plain.clone().into_shared());
        assert_eq!(plain.0.validated.load(SeqCst), 1);

        let counting = CountingClient::default();
        let client = ecr_over(ConnectOnFirstRequest(counting.clone().into_shared()).into_shared());
        assert_eq!(counting.0.validated.load(SeqCst), 0, "nothing built at construction");
        assert_eq!(counting.0.connectors.load(SeqCst), 0);
        client.describe_registry().send().await.map_err(|e| format!("{e:?}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(counting.0.connectors.load(SeqCst), 1, "the request went through the wrapped client");
    }

    #[test]
    fn any_network_variable_keeps_the_default_client() {
        assert!(!network_customised(|_| None));
        assert!(network_customised(|k| (k == "HTTPS_PROXY").then(|| "http://proxy:3128".to_string())));
        assert!(network_customised(|k| (k == "SSL_CERT_FILE").then(|| "/etc/corp.pem".to_string())));
        assert!(!network_customised(|k| (k == "SSL_CERT_DIR").then(String::new)));
    }
}
