//! POL-1: no repository policy opens the repository to every AWS principal.

use super::result;
use crate::audit::model::{CheckResult, CheckSeverity, Status};
use serde_json::{json, Value};

/// Condition keys that restrict a `"*"` principal to an organisation, account or principal.
const RESTRICTING_KEYS: &[&str] = &[
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourcearn",
    "aws:sourceowner",
    "aws:userid",
];

/// Operators under which a restricting key really narrows who may call: positive matches
/// only (IAM User Guide, "IAM JSON policy elements: Condition operators" and "Set operators
/// for multivalued context keys"). `…IfExists` passes when the key is absent, the negations
/// admit everyone else, and `ForAllValues:…` is true when the key is absent (a caller outside
/// any organization has no aws:PrincipalOrgID), so none of them restricts.
const RESTRICTING_OPERATORS: &[&str] = &[
    "stringequals",
    "stringequalsignorecase",
    "stringlike",
    "arnequals",
    "arnlike",
    "foranyvalue:stringequals",
    "foranyvalue:stringlike",
];

/// Why one condition value admits any caller, if it does. Wildcards mean something only under
/// the `…Like` operators (under `StringEquals`, `"*"` is a literal that matches no one). Under
/// them, a wildcard where the account or organization is named admits anyone: anyone can create
/// an organization (`"o-*"`) or a principal of that name in their own account
/// (`arn:aws:iam::*:role/x`).
fn admits_anyone(op: &str, key: &str, value: &str) -> Option<String> {
    let wild = |part: &str| part.is_empty() || part.contains(['*', '?']);
    if !op.contains("like") {
        return None;
    }
    let named = match key {
        "aws:principalarn" | "aws:sourcearn" => {
            let parts: Vec<&str> = value.split(':').collect();
            if parts.len() < 6 || wild(parts[4]) || parts[..4].iter().any(|p| p.contains('*')) {
                return Some(format!("\"{value}\" matches a principal of any account"));
            }
            return None;
        }
        "aws:userid" => value.split(':').next().unwrap_or_default(),
        "aws:principalorgpaths" | "aws:sourceorgpaths" => value.split('/').next().unwrap_or_default(),
        _ => value,
    };
    wild(named).then(|| {
        format!("\"{value}\" matches any {}", if key.contains("org") { "organization" } else { "account or principal" })
    })
}

/// Keys that narrow the network or transport, never the caller's identity.
const NETWORK_KEYS: &[&str] =
    &["aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:securetransport", "aws:vpcsourceip"];

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Who a statement's principal admits, in words, when that is everyone; `None` when it names
/// principals.
fn everyone_admitted(statement: &Value) -> Option<String> {
    if let Some(not) = statement.get("NotPrincipal") {
        let excluded: Vec<&str> = match not {
            Value::Object(o) => o.values().flat_map(strings).collect(),
            other => strings(other),
        };
        return Some(format!("NotPrincipal with Allow admits everyone except {}", excluded.join(", ")));
    }
    let principal = statement.get("Principal")?;
    let star = match principal {
        Value::String(s) => s == "*",
        Value::Object(o) => o.get("AWS").is_some_and(|a| strings(a).contains(&"*")),
        _ => false,
    };
    star.then(|| match principal {
        Value::String(_) => "Principal \"*\"".to_string(),
        _ => "Principal {\"AWS\": \"*\"} (a list holding \"*\" admits everyone, whatever else it names)".to_string(),
    })
}

/// Why the statement's conditions do or do not restrict the caller: `Ok(key)` when a condition
/// limits it to an account, organisation or principal, else `Err(what the conditions do)`.
fn caller_restriction(statement: &Value) -> Result<String, String> {
    let Some(ops) = statement.get("Condition").and_then(Value::as_object) else {
        return Err("no condition".into());
    };
    let mut notes = Vec::new();
    for (operator, keys) in ops {
        let Some(keys) = keys.as_object() else { continue };
        let op = operator.to_ascii_lowercase();
        for (key, values) in keys {
            let k = key.to_ascii_lowercase();
            let values = strings(values);
            let broad = values.iter().find_map(|v| admits_anyone(&op, &k, v));
            if RESTRICTING_KEYS.contains(&k.as_str()) {
                if RESTRICTING_OPERATORS.contains(&op.as_str()) && broad.is_none() && !values.is_empty() {
                    return Ok(key.clone());
                }
                notes.push(if let Some(why) = broad {
                    format!("{operator} {key} {why}")
                } else if op.ends_with("ifexists") {
                    format!("{operator} {key} passes when the key is absent")
                } else if op.starts_with("forallvalues:") {
                    format!("{operator} {key} is true when the key is absent (a caller outside any organization)")
                } else {
                    format!("{operator} {key} admits every account it does not name")
                });
            } else if NETWORK_KEYS.contains(&k.as_str()) {
                notes.push(format!("{key} limits the network, not who the caller is"));
            } else {
                notes.push(format!("{key} does not restrict the caller's account"));
            }
        }
    }
    Err(if notes.is_empty() { "no condition".into() } else { notes.join("; ") })
}

/// The statements of a repository policy that open it to everyone, each with why.
pub(super) fn public_statements(doc: &Value) -> Vec<Value> {
    let statements = match &doc["Statement"] {
        Value::Array(list) => list.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    statements
        .iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .filter_map(|s| {
            let who = everyone_admitted(s)?;
            let conditions = caller_restriction(s).err()?;
            let actions = match s.get("NotAction") {
                Some(not) => format!("every action except {}", strings(not).join(", ")),
                None => strings(s.get("Action").unwrap_or(&Value::Null)).join(", "),
            };
            Some(json!({
                "sid": s.get("Sid").and_then(Value::as_str).unwrap_or("(no Sid)"),
                "principal": who,
                "actions": actions,
                "conditions": conditions,
            }))
        })
        .collect()
}

pub(super) fn public_policy(text: Option<&str>) -> CheckResult {
    let Some(text) = text else {
        return result("POL-1", Status::Pass, CheckSeverity::Critical, "no repository policy", Value::Null);
    };
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        return result(
            "POL-1",
            Status::Warn,
            CheckSeverity::Critical,
            "the repository policy is not valid JSON",
            Value::Null,
        );
    };
    let public = public_statements(&doc);
    let open: Vec<String> = public.iter().map(|s| s["sid"].as_str().unwrap_or_default().to_string()).collect();
    if open.is_empty() {
        result(
            "POL-1",
            Status::Pass,
            CheckSeverity::Critical,
            "the repository policy grants nothing to everyone",
            Value::Null,
        )
    } else {
        result(
            "POL-1",
            Status::Fail,
            CheckSeverity::Critical,
            format!("the repository policy allows every AWS principal without an organisation or account condition (statement {})", open.join(", ")),
            json!({"statements": public}),
        )
    }
}

#[cfg(test)]
mod pol_1_tests {
    use super::*;

    fn policy(statement: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": [statement]})
    }

    fn pull(extra: Value) -> Value {
        let mut s = json!({"Sid": "S", "Effect": "Allow", "Action": ["ecr:BatchGetImage"]});
        if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
            s.extend(extra.clone());
        }
        s
    }

    #[test]
    fn every_shape_of_a_public_policy_is_told_from_its_restricted_twin() {
        let account = json!({"StringEquals": {"aws:PrincipalAccount": "111111111111"}});
        // (shape, public statement, its restricted twin)
        let cases = [
            (
                "Principal *",
                pull(json!({"Principal": "*"})),
                pull(json!({"Principal": {"AWS": "arn:aws:iam::111111111111:root"}})),
            ),
            (
                "AWS *",
                pull(json!({"Principal": {"AWS": "*"}})),
                pull(json!({"Principal": {"AWS": "*"}, "Condition": account})),
            ),
            (
                "a list holding *",
                pull(json!({"Principal": {"AWS": ["arn:aws:iam::111111111111:root", "*"]}})),
                pull(json!({"Principal": {"AWS": ["arn:aws:iam::111111111111:root"]}})),
            ),
            (
                "NotPrincipal",
                pull(json!({"NotPrincipal": {"AWS": "arn:aws:iam::222222222222:root"}})),
                pull(json!({"Principal": {"AWS": "arn:aws:iam::222222222222:root"}})),
            ),
            (
                "NotAction",
                json!({"Sid": "S", "Effect": "Allow", "Principal": "*", "NotAction": "ecr:DeleteRepository"}),
                json!({"Sid": "S", "Effect": "Allow", "Principal": "*", "NotAction": "ecr:DeleteRepository", "Condition": account}),
            ),
            (
                "SourceIp only",
                pull(json!({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})),
                pull(
                    json!({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}),
                ),
            ),
            (
                "SourceVpce only",
                pull(json!({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}})),
                pull(
                    json!({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1", "aws:PrincipalAccount": "111111111111"}}}),
                ),
            ),
            (
                "StringNotEquals",
                pull(
                    json!({"Principal": "*", "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "999999999999"}}}),
                ),
                pull(
                    json!({"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalAccount": "999999999999"}}}),
                ),
            ),
            (
                "IfExists",
                pull(json!({"Principal": "*", "Condition": {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-abc"}}})),
                pull(json!({"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}})),
            ),
            (
                "StringLike *",
                pull(json!({"Principal": "*", "Condition": {"StringLike": {"aws:PrincipalArn": "*"}}})),
                pull(
                    json!({"Principal": "*", "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/*"}}}),
                ),
            ),
            (
                "ArnNotLike",
                pull(
                    json!({"Principal": "*", "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::9:root"}}}),
                ),
                pull(json!({"Principal": "*", "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::9:root"}}})),
            ),
            (
                "SecureTransport",
                pull(json!({"Principal": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}})),
                pull(
                    json!({"Principal": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceAccount": "111111111111"}}}),
                ),
            ),
            (
                "unrelated key",
                pull(json!({"Principal": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}})),
                pull(json!({"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgPaths": "o-a/r-b/"}}})),
            ),
            (
                "Deny is never public",
                pull(json!({"Principal": "*"})),
                json!({"Sid": "S", "Effect": "Deny", "Principal": "*", "Action": "ecr:*"}),
            ),
            (
                "a service principal is not everyone",
                pull(json!({"Principal": "*"})),
                pull(json!({"Principal": {"Service": "lambda.amazonaws.com"}})),
            ),
            (
                "empty condition block",
                pull(json!({"Principal": "*", "Condition": {}})),
                pull(json!({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceOrgID": "o-abc"}}})),
            ),
            (
                "ForAllValues on a single-valued key (true when the key is absent)",
                pull(
                    json!({"Principal": "*", "Condition": {"ForAllValues:StringEquals": {"aws:PrincipalOrgID": ["o-abc"]}}}),
                ),
                pull(
                    json!({"Principal": "*", "Condition": {"ForAnyValue:StringEquals": {"aws:PrincipalOrgID": ["o-abc"]}}}),
                ),
            ),
            (
                "StringLike on any organization",
                pull(json!({"Principal": "*", "Condition": {"StringLike": {"aws:PrincipalOrgID": "o-*"}}})),
                pull(json!({"Principal": "*", "Condition": {"StringLike": {"aws:PrincipalOrgID": "o-abc123"}}})),
            ),
            (
                "ArnLike with a wildcard account",
                pull(
                    json!({"Principal": "*", "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/deployer"}}}),
                ),
                pull(
                    json!({"Principal": "*", "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/*"}}}),
                ),
            ),
            (
                "a literal * under StringEquals matches no one",
                pull(json!({"Principal": "*", "Condition": {"StringLike": {"aws:PrincipalOrgID": "*"}}})),
                pull(json!({"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "*"}}})),
            ),
            (
                "aws:userid pinned to one principal",
                pull(json!({"Principal": "*", "Condition": {"StringLike": {"aws:userid": "*:ci-session"}}})),
                pull(json!({"Principal": "*", "Condition": {"StringLike": {"aws:userid": "AROAEXAMPLEID123456:*"}}})),
            ),
            (
                "org paths under any organization",
                pull(
                    json!({"Principal": "*", "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["*/r-ab12/*"]}}}),
                ),
                pull(
                    json!({"Principal": "*", "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-a1b2c3/r-ab12/*"]}}}),
                ),
            ),
            (
                "ForAnyValue",
                pull(
                    json!({"Principal": "*", "Condition": {"ForAnyValue:StringNotLike": {"aws:PrincipalOrgPaths": ["o-a/*"]}}}),
                ),
                pull(
                    json!({"Principal": "*", "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-a/*"]}}}),
                ),
            ),
        ];
        for (shape, open, twin) in cases {
            let found = public_statements(&policy(open));
            assert_eq!(found.len(), 1, "{shape}: should be public");
            assert!(!found[0]["principal"].as_str().unwrap_or_default().is_empty(), "{shape}: says who");
            assert!(public_statements(&policy(twin)).is_empty(), "{shape}: the twin is restricted");
        }
    }

    #[test]
    fn the_evidence_says_why_a_condition_does_not_restrict() {
        let found = public_statements(&policy(pull(
            json!({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}),
        )));
        assert_eq!(found[0]["conditions"], "aws:SourceIp limits the network, not who the caller is");
        let found = public_statements(&policy(pull(json!({"NotPrincipal": {"AWS": "arn:aws:iam::2:root"}}))));
        assert_eq!(found[0]["principal"], "NotPrincipal with Allow admits everyone except arn:aws:iam::2:root");
        let found = public_statements(&policy(
            json!({"Effect": "Allow", "Principal": "*", "NotAction": "ecr:DeleteRepository"}),
        ));
        assert_eq!(found[0]["actions"], "every action except ecr:DeleteRepository");
        assert_eq!(public_policy(Some(&policy(pull(json!({"Principal": "*"}))).to_string())).status, Status::Fail);
    }
}
