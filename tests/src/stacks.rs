//! CloudFormation stacks on moto holding `Custom::EcrRepository` resources, and the state
//! CloudFormation keeps while it sends a request (the harness's `keeper-harness/stack-state`,
//! tests/support/moto_server.py): so the custom resource's confirmation asks moto's
//! CloudFormation, as it asks AWS's.

use crate::{http, LocalAws, REGION};
use serde_json::{json, Value};

impl LocalAws {
    pub async fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.sdk_config().await)
    }

    /// Creates stack `name` holding a `Custom::EcrRepository` under each logical id (each
    /// CREATE_IN_PROGRESS until a test says otherwise); answers its stack id.
    pub async fn stack_with(&self, name: &str, logical_ids: &[&str]) -> String {
        let resources: serde_json::Map<String, Value> = logical_ids
            .iter()
            .map(|l| {
                let token = format!("arn:aws:lambda:{REGION}:{}:function:repository-resource", crate::ACCOUNT);
                (l.to_string(), json!({"Type": "Custom::EcrRepository", "Properties": {"ServiceToken": token}}))
            })
            .collect();
        let template = json!({"Resources": resources}).to_string();
        let out = self
            .cloudformation()
            .await
            .create_stack()
            .stack_name(name)
            .template_body(template)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateStack {name}: {e:?}"));
        out.stack_id().unwrap_or_else(|| panic!("CreateStack {name} answered no stack id")).to_string()
    }

    /// GIVEN CloudFormation reports the resource (and its stack) in these states.
    pub fn stack_state(&self, stack_id: &str, logical_id: &str, resource: &str, stack: &str, physical: Option<&str>) {
        let body = json!({
            "StackId": stack_id, "LogicalResourceId": logical_id, "ResourceStatus": resource,
            "StackStatus": stack, "PhysicalResourceId": physical,
        });
        let url = format!("{}/cloudformation_{REGION}/keeper-harness/stack-state", self.moto_url);
        match http("POST", &url, &body.to_string()) {
            Ok((200, _)) => {}
            other => panic!("the harness did not set the stack state: {other:?}"),
        }
    }

    /// The state CloudFormation is in while it sends `event`: the resource `*_IN_PROGRESS` under
    /// the request's physical id.
    pub fn sending(&self, event: &Value) {
        let text = |k: &str| event.get(k).and_then(Value::as_str);
        let status = match text("RequestType") {
            Some("Update") => "UPDATE_IN_PROGRESS",
            Some("Delete") => "DELETE_IN_PROGRESS",
            _ => "CREATE_IN_PROGRESS",
        };
        let (Some(stack), Some(logical)) = (text("StackId"), text("LogicalResourceId")) else { return };
        self.stack_state(stack, logical, status, status, text("PhysicalResourceId"));
    }

    /// `event` (a sample from `events/`) as CloudFormation sends it for `stack_id`, a stack in
    /// moto: its StackId, and the resource in the request's `*_IN_PROGRESS` state.
    pub fn sent_by(&self, mut event: Value, stack_id: &str) -> Value {
        event["StackId"] = json!(stack_id);
        self.sending(&event);
        event
    }

    /// CloudFormation received the answer to `event`: the resource is complete under `physical`,
    /// and its stack live (a resource removed by an update leaves its stack, and the stack's
    /// other resources, in place).
    pub fn answered(&self, event: &Value, physical: &str) {
        let text = |k: &str| event.get(k).and_then(Value::as_str);
        let (resource, stack_status) = match text("RequestType") {
            Some("Update") => ("UPDATE_COMPLETE", "UPDATE_COMPLETE"),
            Some("Delete") => ("DELETE_COMPLETE", "UPDATE_COMPLETE"),
            _ => ("CREATE_COMPLETE", "CREATE_COMPLETE"),
        };
        let (Some(stack), Some(logical)) = (text("StackId"), text("LogicalResourceId")) else { return };
        self.stack_state(stack, logical, resource, stack_status, Some(physical));
    }
}
