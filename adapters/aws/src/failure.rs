//! AWS error codes sorted into what a caller does about them, for every adapter: by code,
//! never by message.

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

#[cfg(test)]
mod tests {
    use super::*;

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
