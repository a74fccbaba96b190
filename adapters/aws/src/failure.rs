//! AWS failures sorted into what a caller does about them, for every adapter: by code, never
//! by message.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The caller's permissions (IAM, KMS key policies, a bad signature): retrying cannot help.
    AccessDenied,
    /// Rate limits: retried by the SDK, then by Lambda.
    Throttled,
    /// The service failed: worth retrying.
    Service,
    /// Anything else the service refused: the request itself is wrong.
    Rejected,
}

pub(crate) fn kind_of(code: &str) -> Kind {
    match code {
        "AccessDeniedException"
        | "AccessDenied"
        | "AuthorizationError"
        | "AuthorizationErrorException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "KMSAccessDenied"
        | "KMSAccessDeniedException"
        | "KMSDisabled"
        | "KMSDisabledException"
        | "KMSInvalidState"
        | "KMSInvalidStateException"
        | "KMSNotFound"
        | "KMSNotFoundException" => Kind::AccessDenied,
        "ThrottlingException"
        | "Throttling"
        | "ThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ProvisionedThroughputExceededException"
        | "KMSThrottling"
        | "KMSThrottlingException"
        | "SlowDown" => Kind::Throttled,
        "ServerException"
        | "InternalFailure"
        | "InternalError"
        | "InternalServerError"
        | "ServiceUnavailable"
        | "Unknown" => Kind::Service,
        _ => Kind::Rejected,
    }
}

/// An AWS call's failure, sorted once for every adapter: what a caller does about it, the code
/// AWS sent (or ours: `Transport`, `InvalidRequest`, `NotAws`), and its message on one line. Each
/// adapter turns it into its port's error, keeping the few codes that mean something there
/// (`RepositoryNotFoundException`, `NoSuchBucket`, `RegionDisabledException`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub kind: FailureKind,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The service answered with one of these.
    Answered(Kind),
    /// No answer (connection, timeout) or one that could not be read: worth retrying.
    Transport,
    /// The SDK refused to build the request: retrying cannot help.
    InvalidRequest,
}

impl Failure {
    /// "Code: message", as the port errors that keep text show it.
    pub fn coded(&self) -> String {
        if self.message.is_empty() {
            self.code.clone()
        } else {
            format!("{}: {}", self.code, self.message)
        }
    }
}

/// The one place an `SdkError` is read.
pub(crate) fn classify<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(message) = crate::answers::not_aws_answer(err) {
        return Failure { kind: FailureKind::Transport, code: "NotAws".into(), message };
    }
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            match e.code() {
                Some(code) => Failure {
                    kind: FailureKind::Answered(kind_of(code)),
                    code: code.to_string(),
                    message: e.message().unwrap_or_default().to_string(),
                },
                // An answer without a code: the whole chain says more than "Unknown".
                None => Failure {
                    kind: FailureKind::Answered(Kind::Service),
                    code: "Unknown".into(),
                    message: crate::one_line(err),
                },
            }
        }
        SdkError::ConstructionFailure(_) => {
            Failure { kind: FailureKind::InvalidRequest, code: "InvalidRequest".into(), message: crate::one_line(err) }
        }
        _ => Failure { kind: FailureKind::Transport, code: "Transport".into(), message: crate::one_line(err) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;
    use ecr_keeper_core::ports::RegistryError;

    /// What an ECR call returns when the service answers `status` with `code` (as the SDK would
    /// have parsed it), the raw response kept.
    fn answered(status: u16, code: &str, message: &str) -> SdkError<DescribeImagesError, HttpResponse> {
        let error = DescribeImagesError::generic(ErrorMetadata::builder().code(code).message(message).build());
        let status = StatusCode::try_from(status).unwrap_or_else(|e| panic!("{e}"));
        let mut raw = HttpResponse::new(status, SdkBody::from("{}"));
        raw.headers_mut().insert("content-type", "application/x-amz-json-1.1");
        SdkError::service_error(error, raw)
    }

    fn page(status: u16) -> SdkError<DescribeImagesError, HttpResponse> {
        let error = DescribeImagesError::generic(ErrorMetadata::builder().build());
        let status = StatusCode::try_from(status).unwrap_or_else(|e| panic!("{e}"));
        let mut raw = HttpResponse::new(status, SdkBody::from("<html>502 Bad Gateway</html>"));
        raw.headers_mut().insert("content-type", "text/html; charset=utf-8");
        SdkError::service_error(error, raw)
    }

    #[test]
    fn every_kind_of_sdk_failure_is_sorted_in_one_place() {
        let throttled = classify(&answered(400, "ThrottlingException", "Rate exceeded"));
        assert_eq!(throttled.kind, FailureKind::Answered(Kind::Throttled));
        assert_eq!(throttled.coded(), "ThrottlingException: Rate exceeded");
        let denied = classify(&answered(400, "AccessDeniedException", "not authorized"));
        assert_eq!(denied.kind, FailureKind::Answered(Kind::AccessDenied));
        let refused = classify(&answered(400, "InvalidParameterException", "bad"));
        assert_eq!(refused.kind, FailureKind::Answered(Kind::Rejected));
        let proxy = classify(&page(502));
        assert_eq!((proxy.kind, proxy.code.as_str()), (FailureKind::Transport, "NotAws"));
        assert!(proxy.message.starts_with("HTTP 502 with an HTML page"), "{}", proxy.message);
        let timeout = classify(&SdkError::<DescribeImagesError, HttpResponse>::timeout_error("8 s passed"));
        assert_eq!(timeout.kind, FailureKind::Transport);
        let refused_connection = SdkError::<DescribeImagesError, HttpResponse>::dispatch_failure(ConnectorError::io(
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into(),
        ));
        assert_eq!(classify(&refused_connection).kind, FailureKind::Transport);
        let unbuildable = SdkError::<DescribeImagesError, HttpResponse>::construction_failure("no repository name");
        assert_eq!(classify(&unbuildable).kind, FailureKind::InvalidRequest);
    }

    #[test]
    fn ecr_failures_become_the_registry_ports_errors() {
        let registry = |e| crate::ecr::classify("DescribeImages", "team/app", e);
        assert_eq!(
            registry(answered(400, "RepositoryNotFoundException", "no such repository")),
            RegistryError::RepositoryNotFound("team/app".into())
        );
        assert_eq!(
            registry(answered(400, "ThrottlingException", "slow down")),
            RegistryError::Throttled { operation: "DescribeImages" }
        );
        assert!(matches!(
            registry(answered(400, "AccessDeniedException", "User: x is not authorized")),
            RegistryError::AccessDenied { operation: "DescribeImages", message } if message == "User: x is not authorized"
        ));
        assert!(matches!(registry(answered(500, "ServerException", "oops")), RegistryError::Service { .. }));
        assert!(
            matches!(registry(page(500)), RegistryError::Transport { message, .. } if message.contains("HTML page"))
        );
        assert!(matches!(
            registry(answered(400, "LimitExceededException", "too many")),
            RegistryError::QuotaExceeded { .. }
        ));
    }

    #[test]
    fn codes_of_every_service_we_call_sort_alike() {
        assert_eq!(kind_of("AccessDeniedException"), Kind::AccessDenied); // ECR, DynamoDB
        assert_eq!(kind_of("AuthorizationError"), Kind::AccessDenied); // SNS
        assert_eq!(kind_of("KMSAccessDenied"), Kind::AccessDenied); // SNS on an encrypted topic
        assert_eq!(kind_of("Throttling"), Kind::Throttled); // SNS
        assert_eq!(kind_of("ProvisionedThroughputExceededException"), Kind::Throttled); // DynamoDB
        assert_eq!(kind_of("ServerException"), Kind::Service); // ECR
        assert_eq!(kind_of("InvalidParameter"), Kind::Rejected);
    }
}
