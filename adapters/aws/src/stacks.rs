//! CloudFormation's record of a stack (`DescribeStackResource`), which the custom resource asks
//! before it believes a request or moves a repository to a new owner.

use crate::failure::{self, FailureKind, Kind};
use ecr_keeper_core::custom_resource::{StackLookupError, StackResource, Stacks};

#[derive(Debug, Clone)]
pub struct CloudFormationStacks {
    client: aws_sdk_cloudformation::Client,
}

impl CloudFormationStacks {
    pub fn new(client: aws_sdk_cloudformation::Client) -> Self {
        CloudFormationStacks { client }
    }
}

impl Stacks for CloudFormationStacks {
    async fn stack_resource(
        &self,
        stack_id: &str,
        logical_id: &str,
    ) -> Result<Option<StackResource>, StackLookupError> {
        let answer =
            self.client.describe_stack_resource().stack_name(stack_id).logical_resource_id(logical_id).send().await;
        let out = match answer {
            Ok(out) => out,
            Err(e) => {
                let failure = failure::classify(&e);
                // CloudFormation answers a stack or resource it does not have with its generic
                // ValidationError ("Stack with id … does not exist", "Resource … does not exist
                // for stack …"): the message is the only way to tell that case apart.
                if failure.code == "ValidationError" && failure.message.contains("does not exist") {
                    return Ok(None);
                }
                return Err(match failure.kind {
                    FailureKind::Answered(Kind::AccessDenied) => StackLookupError::AccessDenied(failure.coded()),
                    _ => StackLookupError::Unavailable(failure.coded()),
                });
            }
        };
        let Some(detail) = out.stack_resource_detail() else { return Ok(None) };
        let stack_status = match self.client.describe_stacks().stack_name(stack_id).send().await {
            Ok(stacks) => stacks
                .stacks()
                .first()
                .and_then(|s| s.stack_status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            Err(e) => return Err(StackLookupError::Unavailable(crate::one_line(&e))),
        };
        Ok(Some(StackResource {
            resource_type: detail.resource_type().unwrap_or_default().to_string(),
            physical_id: detail.physical_resource_id().filter(|p| !p.is_empty()).map(str::to_string),
            resource_status: detail.resource_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            stack_status,
        }))
    }
}
