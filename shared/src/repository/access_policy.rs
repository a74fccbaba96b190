//! The repository policy a spec's principals get: pull for `ReadPrincipals`, pull and push for
//! `ReadWritePrincipals`.

use super::RepositorySpec;
use serde_json::json;

/// The actions a pull grant allows (the seed's IAM section).
pub const PULL_ACTIONS: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetAuthorizationToken",
];
/// What a push grant adds on top of pull.
pub const PUSH_ACTIONS: &[&str] =
    &["ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"];

impl RepositorySpec {
    /// The repository policy granting the configured principals pull / push, or `None` when no
    /// principal is configured (then the resource leaves the repository policy alone).
    pub fn repository_policy(&self) -> Option<String> {
        let mut statements = Vec::new();
        if !self.read_principals.is_empty() {
            statements.push(json!({
                "Sid": "EcrKeeperPull",
                "Effect": "Allow",
                "Principal": {"AWS": self.read_principals},
                "Action": PULL_ACTIONS,
            }));
        }
        if !self.read_write_principals.is_empty() {
            let actions: Vec<&str> = PULL_ACTIONS.iter().chain(PUSH_ACTIONS).copied().collect();
            statements.push(json!({
                "Sid": "EcrKeeperPushPull",
                "Effect": "Allow",
                "Principal": {"AWS": self.read_write_principals},
                "Action": actions,
            }));
        }
        (!statements.is_empty()).then(|| json!({"Version": "2012-10-17", "Statement": statements}).to_string())
    }

    pub fn has_principals(&self) -> bool {
        !self.read_principals.is_empty() || !self.read_write_principals.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn spec(properties: Value) -> RepositorySpec {
        super::super::parse_spec(&properties).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn no_principals_no_policy() {
        let s = spec(json!({"RepositoryName": "app"}));
        assert!(!s.has_principals());
        assert_eq!(s.repository_policy(), None);
    }

    #[test]
    fn readers_pull_and_writers_push_and_pull() {
        let s = spec(json!({
            "RepositoryName": "app",
            "ReadPrincipals": ["111122223333"],
            "ReadWritePrincipals": "arn:aws:iam::123456789012:role/ci"
        }));
        let doc: Value = serde_json::from_str(&s.repository_policy().unwrap_or_default()).unwrap_or_default();
        let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0]["Principal"]["AWS"], json!(["111122223333"]));
        assert_eq!(statements[0]["Action"], json!(PULL_ACTIONS));
        assert_eq!(statements[1]["Principal"]["AWS"], json!(["arn:aws:iam::123456789012:role/ci"]));
        let push: Vec<Value> = statements[1]["Action"].as_array().cloned().unwrap_or_default();
        assert!(PUSH_ACTIONS.iter().chain(PULL_ACTIONS).all(|a| push.contains(&json!(a))));
    }
}
