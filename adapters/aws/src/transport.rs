//! The PUT that answers CloudFormation: to a pre-signed S3 URL in AWS, to a loopback server in
//! tests.

use bytes::Bytes;
use ecr_keeper_core::custom_resource::{ResponseTransport, TransportError};
use http_body_util::Full;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// hyper over rustls, trusting the roots compiled into the binary (see `trust`): the
/// ResponseURL is always a pre-signed S3 URL, whose certificates chain to Amazon Trust Services.
#[derive(Clone)]
pub struct HttpsTransport {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpsTransport {
    pub fn new() -> Result<Self, TransportError> {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TransportError::Connection(format!("cannot set up TLS: {e}")))?
            .with_root_certificates(crate::trust::bundled_root_store())
            .with_no_client_auth();
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
        Ok(HttpsTransport { client: Client::builder(TokioExecutor::new()).build(connector) })
    }
}

impl ResponseTransport for HttpsTransport {
    async fn put(&self, url: &str, body: Vec<u8>) -> Result<u16, TransportError> {
        let length = body.len();
        // S3 signs the pre-signed URL without a content type: send an empty one, as
        // CloudFormation's own helpers do, or S3 rejects the signature.
        let request = Request::builder()
            .method(Method::PUT)
            .uri(url)
            .header(CONTENT_TYPE, "")
            .header(CONTENT_LENGTH, length)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| TransportError::Request(e.to_string().replace(url, "<ResponseURL>")))?;
        let response = self.client.request(request).await.map_err(|e| {
            // Error texts may quote the URI; the URL's path and query are a secret.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                text.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            TransportError::Connection(text.replace(url, "<ResponseURL>"))
        })?;
        Ok(response.status().as_u16())
    }
}
