//! What CloudFormation itself says of a request, so that a request is believed only when
//! CloudFormation really sent it, and a repository changes owner only when no live stack
//! manages it. Anyone who may invoke the function can write any StackId or LogicalResourceId
//! into a request (and the ownership tags they would name are readable by anyone): only
//! CloudFormation's own record of the stack cannot be forged.

use super::model::{Request, RequestType};
use std::future::Future;

/// The only resource type ecr-keeper's function serves (the documented `Custom::EcrRepository`).
pub const RESOURCE_TYPE: &str = "Custom::EcrRepository";

/// One resource of a stack as `DescribeStackResource` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackResource {
    pub resource_type: String,
    /// `None` while CloudFormation has no physical id yet (a Create in progress).
    pub physical_id: Option<String>,
    pub resource_status: String,
    pub stack_status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackLookupError {
    #[error("cloudformation:DescribeStackResource was denied ({0}); grant it to the function's role")]
    AccessDenied(String),
    #[error("CloudFormation could not be asked about the stack ({0}); retry the stack operation")]
    Unavailable(String),
}

/// CloudFormation, as the custom resource asks it (the port; the SDK adapter is
/// `ecr_keeper_aws::CloudFormationStacks`).
pub trait Stacks: Send + Sync {
    /// `Ok(None)` when the stack or the logical resource does not exist.
    fn stack_resource(
        &self,
        stack_id: &str,
        logical_id: &str,
    ) -> impl Future<Output = Result<Option<StackResource>, StackLookupError>> + Send;
}

/// Whether CloudFormation's record confirms the request: the stack holds the logical resource,
/// of ecr-keeper's type, in the state CloudFormation is in while it waits for this answer. The
/// error says what CloudFormation reports instead.
pub fn confirm(request: &Request, found: Option<&StackResource>) -> Result<(), String> {
    let env = &request.envelope;
    let kind = request.request_type.as_str();
    let refuse =
        |what: String| Err(format!("CloudFormation does not confirm this {kind} request: {what}; nothing was changed"));
    let Some(found) = found else {
        return refuse(format!("stack {} has no resource {}", env.stack_id, env.logical_resource_id));
    };
    if found.resource_type != RESOURCE_TYPE || request.resource_type != RESOURCE_TYPE {
        return refuse(format!(
            "resource {} is of type {}, and this function serves only {RESOURCE_TYPE}",
            env.logical_resource_id, found.resource_type
        ));
    }
    let status = found.resource_status.as_str();
    let confirmed = match request.request_type {
        RequestType::Create => status == "CREATE_IN_PROGRESS",
        RequestType::Update => status == "UPDATE_IN_PROGRESS",
        RequestType::Delete => {
            // After a replacement, CloudFormation deletes the old physical id in the clean-up
            // phase, when the logical id already names the new repository (and is complete).
            let cleanup = found.stack_status.ends_with("_CLEANUP_IN_PROGRESS")
                && found.physical_id.as_deref() != env.physical_resource_id.as_deref();
            status == "DELETE_IN_PROGRESS" || cleanup
        }
    };
    if confirmed {
        Ok(())
    } else {
        refuse(format!(
            "resource {} of stack {} is {} (stack {})",
            env.logical_resource_id, env.stack_id, found.resource_status, found.stack_status
        ))
    }
}

/// Whether a live stack still manages `repository` through the resource its ownership tags
/// name. Gone: the stack or the resource does not exist or is deleted, or the logical id now
/// names another repository (replaced, and this one left behind).
pub fn still_manages(repository: &str, found: Option<&StackResource>) -> bool {
    let Some(found) = found else { return false };
    if found.stack_status == "DELETE_COMPLETE" || found.resource_status == "DELETE_COMPLETE" {
        return false;
    }
    found.physical_id.as_deref().is_none_or(|p| p == repository)
}

/// The DNS suffixes of AWS's partitions (aws, aws-cn, aws-us-gov, the ISO partitions and the
/// European Sovereign Cloud): CloudFormation's ResponseURL is a pre-signed S3 URL on one of them.
const AWS_HOST_SUFFIXES: [&str; 7] = [
    ".amazonaws.com",
    ".amazonaws.com.cn",
    ".c2s.ic.gov",
    ".sc2s.sgov.gov",
    ".cloud.adc-e.uk",
    ".csp.hci.ic.gov",
    ".amazonaws.eu",
];

/// A ResponseURL ecr-keeper answers: `https` on an AWS host, or plain `http` on a loopback
/// address (tests). Anything else could carry the answer, and the repository's details, to
/// whoever wrote the request.
pub fn response_url_allowed(url: &str) -> bool {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    let host = host.to_ascii_lowercase();
    if https {
        return AWS_HOST_SUFFIXES.iter().any(|s| host.ends_with(s) && host.len() > s.len());
    }
    host == "localhost" || host == "::1" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}
