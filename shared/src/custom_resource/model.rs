//! CloudFormation's custom resource protocol: the request it sends, the response it waits for.

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest, CloudFormationCustomResourceResponse,
    CloudFormationCustomResourceResponseStatus,
};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// CloudFormation rejects response bodies over 4096 bytes.
pub const MAX_RESPONSE_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

impl RequestType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "Create",
            Self::Update => "Update",
            Self::Delete => "Delete",
        }
    }
}

/// The fields every response echoes, readable even from a request we cannot otherwise use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub physical_resource_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub request_type: RequestType,
    pub envelope: Envelope,
    pub resource_type: String,
    pub resource_properties: Value,
    pub old_resource_properties: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Nothing can be answered: the invocation itself fails, visibly, in the logs.
    #[error("not a CloudFormation custom resource request: {0}")]
    NotCustomResource(String),
    /// Answerable: CloudFormation gets a FAILED response with this message.
    #[error("{message}")]
    Malformed { envelope: Box<Envelope>, message: String },
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Request {
    pub fn from_value(v: &Value) -> Result<Request, RequestError> {
        let response_url =
            text(v, "ResponseURL").ok_or_else(|| RequestError::NotCustomResource("no ResponseURL to answer".into()))?;
        if !super::confirm::response_url_allowed(&response_url) {
            // Not answered, so nothing about the repository leaves to a host CloudFormation
            // would never use; the host alone is logged (the URL's query is a secret).
            return Err(RequestError::NotCustomResource(format!(
                "the ResponseURL's host {} is not CloudFormation's (https on an AWS host, or http on loopback for tests)",
                url_host(&response_url)
            )));
        }
        let envelope = Envelope {
            response_url,
            stack_id: text(v, "StackId").unwrap_or_default(),
            request_id: text(v, "RequestId").unwrap_or_default(),
            logical_resource_id: text(v, "LogicalResourceId").unwrap_or_default(),
            physical_resource_id: text(v, "PhysicalResourceId").filter(|p| !p.is_empty()),
        };
        let malformed = |message: String| RequestError::Malformed { envelope: Box::new(envelope.clone()), message };
        let missing: Vec<&str> = ["StackId", "RequestId", "LogicalResourceId"]
            .into_iter()
            .filter(|k| text(v, k).is_none_or(|s| s.is_empty()))
            .collect();
        if !missing.is_empty() {
            return Err(malformed(format!("the request lacks {}", missing.join(", "))));
        }
        match text(v, "RequestType").as_deref() {
            Some("Create" | "Update" | "Delete") => {}
            other => {
                return Err(malformed(format!(
                    "RequestType {} is not one of Create, Update, Delete",
                    other.map_or("(missing)".to_string(), |o| format!("\"{o}\"")),
                )))
            }
        }
        let is_create = text(v, "RequestType").as_deref() == Some("Create");
        if !is_create && envelope.physical_resource_id.is_none() {
            let kind = text(v, "RequestType").unwrap_or_default();
            return Err(malformed(format!("a {kind} request needs a PhysicalResourceId")));
        }
        if !v.get("ResourceProperties").is_none_or(Value::is_object) {
            return Err(malformed("ResourceProperties must be an object".into()));
        }
        // The typed request, once the envelope is safe: every failure from here on is answered.
        // Fields CloudFormation always sends but ecr-keeper does not need stay optional, as they
        // were before the library type: absent ones are filled in rather than refused.
        let mut v = v.clone();
        if let Some(fields) = v.as_object_mut() {
            fields.entry("ResourceType").or_insert_with(|| Value::String(String::new()));
            fields.entry("ResourceProperties").or_insert_with(|| Value::Object(Default::default()));
            if !is_create {
                fields.entry("OldResourceProperties").or_insert(Value::Null);
            }
        }
        let typed: CloudFormationCustomResourceRequest = serde_json::from_value(v)
            .map_err(|e| malformed(format!("the request is not a custom resource request: {e}")))?;
        let (request_type, resource_type, properties, old) = match typed {
            CloudFormationCustomResourceRequest::Create(c) => {
                (RequestType::Create, c.resource_type, c.resource_properties, None)
            }
            CloudFormationCustomResourceRequest::Update(u) => {
                (RequestType::Update, u.resource_type, u.resource_properties, Some(u.old_resource_properties))
            }
            CloudFormationCustomResourceRequest::Delete(d) => {
                (RequestType::Delete, d.resource_type, d.resource_properties, None)
            }
            _ => return Err(malformed("RequestType is not one of Create, Update, Delete".into())),
        };
        Ok(Request {
            request_type,
            resource_type,
            // Absent properties arrive as null: read as none given.
            resource_properties: if properties.is_null() { Value::Object(Default::default()) } else { properties },
            old_resource_properties: old.filter(|o| !o.is_null()),
            envelope,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Success,
    Failed,
}

/// What the resource decided; becomes the response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub physical_resource_id: String,
    pub reason: String,
    pub data: BTreeMap<String, String>,
}

impl Outcome {
    pub fn success(physical_resource_id: impl Into<String>, reason: impl Into<String>) -> Self {
        Outcome {
            status: Status::Success,
            physical_resource_id: physical_resource_id.into(),
            reason: reason.into(),
            data: BTreeMap::new(),
        }
    }

    pub fn failed(physical_resource_id: impl Into<String>, reason: impl Into<String>) -> Self {
        Outcome {
            status: Status::Failed,
            physical_resource_id: physical_resource_id.into(),
            reason: reason.into(),
            data: BTreeMap::new(),
        }
    }
}

/// The response body, at most [`MAX_RESPONSE_BYTES`]: an over-long Reason is cut in the middle
/// (its beginning says what went wrong, its end what to do about it, and a long AWS message sits
/// between them); the physical id is never empty.
pub fn response_body(envelope: &Envelope, outcome: &Outcome) -> Vec<u8> {
    let physical = if outcome.physical_resource_id.is_empty() {
        envelope.physical_resource_id.as_deref().unwrap_or("ecr-keeper:unknown")
    } else {
        &outcome.physical_resource_id
    };
    // aws_lambda_events' response type; its fields are set one by one (it is non-exhaustive).
    let mut response = CloudFormationCustomResourceResponse::default();
    response.status = match outcome.status {
        Status::Success => CloudFormationCustomResourceResponseStatus::Success,
        Status::Failed => CloudFormationCustomResourceResponseStatus::Failed,
    };
    response.physical_resource_id = physical.to_string();
    response.stack_id = envelope.stack_id.clone();
    response.request_id = envelope.request_id.clone();
    response.logical_resource_id = envelope.logical_resource_id.clone();
    response.no_echo = false;
    response.data = outcome.data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let render = |reason: &str| {
        let mut r = response.clone();
        r.reason = Some(reason.to_string());
        serde_json::to_vec(&r).unwrap_or_default()
    };
    let mut reason = outcome.reason.clone();
    if reason.is_empty() && outcome.status == Status::Failed {
        reason = "failed without a reason (this is a bug in ecr-keeper)".into();
    }
    let body = render(&reason);
    if body.len() <= MAX_RESPONSE_BYTES {
        return body;
    }
    // JSON escaping makes the body's length a non-linear function of the text's: keep the last
    // few hundred bytes, and find the longest beginning that fits by bisection.
    const ELLIPSIS: &str = " [...] ";
    const TAIL: usize = 300;
    let boundary = |mut n: usize| {
        while !reason.is_char_boundary(n) {
            n -= 1;
        }
        n
    };
    let mut tail_start = boundary(reason.len().saturating_sub(TAIL));
    let cut = |n: usize, tail_start: usize| {
        format!("{}{ELLIPSIS}{}", &reason[..boundary(n.min(tail_start))], &reason[tail_start..])
    };
    // Only ids far longer than CloudFormation's leave no room for the tail: keep the beginning.
    if render(&cut(0, tail_start)).len() > MAX_RESPONSE_BYTES {
        tail_start = reason.len();
    }
    let cut = |n: usize| cut(n, tail_start);
    let (mut fits, mut too_long) = (0, tail_start);
    while too_long - fits > 1 {
        let mid = (fits + too_long) / 2;
        if render(&cut(mid)).len() <= MAX_RESPONSE_BYTES {
            fits = mid;
        } else {
            too_long = mid;
        }
    }
    render(&cut(fits))
}

/// The host of a URL, for logs: a pre-signed ResponseURL's path and query are a secret.
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit('@').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope() -> Envelope {
        Envelope {
            response_url: "https://bucket.s3.amazonaws.com/path?X-Amz-Signature=secret".into(),
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/demo/1111".into(),
            request_id: "req-1".into(),
            logical_resource_id: "AppRepository".into(),
            physical_resource_id: None,
        }
    }

    #[test]
    fn long_reasons_keep_their_beginning_and_their_advice_and_fit() {
        for filler in ["x", "\"", "é", "\n"] {
            let reason = format!(
                "CreateRepository failed: {}; grant the function's role ecr:CreateRepository",
                filler.repeat(10_000)
            );
            let outcome = Outcome::failed("ecr-keeper:failed-create:req-1", reason);
            let body = response_body(&envelope(), &outcome);
            assert!(body.len() <= MAX_RESPONSE_BYTES, "{} bytes for {filler:?}", body.len());
            let parsed: Value = serde_json::from_slice(&body).unwrap_or_default();
            let text = parsed["Reason"].as_str().unwrap_or_default();
            assert!(text.starts_with("CreateRepository failed: "), "{filler:?}");
            assert!(text.contains(" [...] "), "{filler:?}");
            assert!(text.ends_with("; grant the function's role ecr:CreateRepository"), "{filler:?}");
            assert!(body.len() > MAX_RESPONSE_BYTES - 16, "the Reason is not cut more than needed");
        }
    }

    #[test]
    fn with_ids_that_leave_no_room_for_the_advice_the_beginning_is_kept() {
        let mut env = envelope();
        env.logical_resource_id = "L".repeat(3_700);
        let outcome = Outcome::failed("id", format!("PutLifecyclePolicy failed: {}", "x".repeat(5_000)));
        let body = response_body(&env, &outcome);
        assert!(body.len() <= MAX_RESPONSE_BYTES, "{} bytes", body.len());
        let parsed: Value = serde_json::from_slice(&body).unwrap_or_default();
        let text = parsed["Reason"].as_str().unwrap_or_default();
        assert!(text.starts_with("PutLifecyclePolicy failed: x") && text.ends_with(" [...] "), "{text}");
    }

    #[test]
    fn the_body_echoes_the_request_and_never_has_an_empty_physical_id() {
        let mut outcome = Outcome::success("", "done");
        outcome.data.insert("RepositoryName".into(), "app".into());
        let body: Value = serde_json::from_slice(&response_body(&envelope(), &outcome)).unwrap_or_default();
        assert_eq!(body["Status"], "SUCCESS");
        assert_eq!(body["PhysicalResourceId"], "ecr-keeper:unknown");
        assert_eq!(body["StackId"], envelope().stack_id);
        assert_eq!(body["RequestId"], "req-1");
        assert_eq!(body["LogicalResourceId"], "AppRepository");
        assert_eq!(body["NoEcho"], false);
        assert_eq!(body["Data"]["RepositoryName"], "app");
    }

    #[test]
    fn requests_parse_or_say_why() {
        let mut v = json!({
            "RequestType": "Update", "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/p", "StackId": "s", "RequestId": "r",
            "LogicalResourceId": "L", "ResourceType": "Custom::EcrRepository", "ResourceProperties": {}
        });
        match Request::from_value(&v) {
            Err(RequestError::Malformed { message, .. }) => {
                assert_eq!(message, "a Update request needs a PhysicalResourceId")
            }
            other => panic!("{other:?}"),
        }
        v["PhysicalResourceId"] = json!("app");
        assert_eq!(Request::from_value(&v).map(|r| r.request_type), Ok(RequestType::Update));
        v["RequestType"] = json!("Upsert");
        assert!(matches!(Request::from_value(&v), Err(RequestError::Malformed { .. })));
        v["ResponseURL"] = json!(null);
        assert!(matches!(Request::from_value(&v), Err(RequestError::NotCustomResource(_))));
    }

    #[test]
    fn a_request_the_library_type_refuses_is_still_answerable() {
        // ResourceType as a number: aws_lambda_events' request type refuses it, but the
        // envelope was read first, so CloudFormation gets a FAILED answer naming the problem.
        let v = json!({
            "RequestType": "Create", "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/p", "StackId": "s", "RequestId": "r",
            "LogicalResourceId": "L", "ResourceType": 7, "ResourceProperties": {"RepositoryName": "app"}
        });
        match Request::from_value(&v) {
            Err(RequestError::Malformed { envelope, message }) => {
                assert_eq!(
                    (envelope.request_id.as_str(), envelope.response_url.as_str()),
                    ("r", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/p")
                );
                assert!(message.starts_with("the request is not a custom resource request: "), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_response_is_the_library_type_in_cloudformations_field_names() {
        let envelope = Envelope {
            response_url: "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/p".into(),
            stack_id: "s".into(),
            request_id: "r".into(),
            logical_resource_id: "L".into(),
            physical_resource_id: None,
        };
        let mut outcome = Outcome::success("app", "created app");
        outcome.data.insert("RepositoryName".into(), "app".into());
        let body: Value = serde_json::from_slice(&response_body(&envelope, &outcome)).unwrap_or_default();
        assert_eq!(
            body,
            json!({"Status": "SUCCESS", "Reason": "created app", "PhysicalResourceId": "app", "StackId": "s",
                   "RequestId": "r", "LogicalResourceId": "L", "NoEcho": false, "Data": {"RepositoryName": "app"}})
        );
    }

    #[test]
    fn only_the_host_of_a_url_is_shown() {
        assert_eq!(url_host("https://bucket.s3.amazonaws.com/path?X-Amz-Signature=secret"), "bucket.s3.amazonaws.com");
        assert_eq!(url_host("http://127.0.0.1:8080/cfn?sig=1"), "127.0.0.1:8080");
        assert_eq!(url_host("https://user:pw@host.example?q"), "host.example");
    }
}
