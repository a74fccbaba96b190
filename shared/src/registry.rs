//! What a registry makes repositories from without any stack: repository creation templates,
//! pull-through cache rules and replication (the audit's `REG-*` checks read them).
//!
//! Sources: Amazon ECR User Guide, "Templates to control repositories created during a pull
//! through cache, create on push, or replication action"
//! (https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates.html);
//! API Reference, `RepositoryCreationTemplate`, `PullThroughCacheRule`,
//! `ReplicationConfiguration`.

use serde::{Deserialize, Serialize};

/// The prefix of the template that applies where no other template's prefix does.
pub const ROOT_PREFIX: &str = "ROOT";

/// Why ECR creates a repository on its own (a template's `appliedFor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CreationScenario {
    /// A push to a repository that does not exist.
    CreateOnPush,
    /// The first pull through a pull-through cache rule.
    PullThroughCache,
    /// An image replicated into this registry.
    Replication,
}

impl CreationScenario {
    pub fn from_wire(s: &str) -> Option<CreationScenario> {
        match s {
            "CREATE_ON_PUSH" => Some(CreationScenario::CreateOnPush),
            "PULL_THROUGH_CACHE" => Some(CreationScenario::PullThroughCache),
            "REPLICATION" => Some(CreationScenario::Replication),
            _ => None,
        }
    }

    pub fn as_wire(self) -> &'static str {
        match self {
            CreationScenario::CreateOnPush => "CREATE_ON_PUSH",
            CreationScenario::PullThroughCache => "PULL_THROUGH_CACHE",
            CreationScenario::Replication => "REPLICATION",
        }
    }
}

/// A repository creation template, as far as the audit reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationTemplate {
    /// A namespace (`prod` covers `prod/…`) or `ROOT`.
    pub prefix: String,
    pub applied_for: Vec<CreationScenario>,
    /// The lifecycle policy text every repository created from it gets; `None`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_policy: Option<String>,
}

impl CreationTemplate {
    /// True when a repository named `repository` falls under this template's prefix (`ROOT`
    /// covers every name; ECR always reads a `/` after any other prefix).
    pub fn covers(&self, repository: &str) -> bool {
        self.prefix == ROOT_PREFIX
            || repository.strip_prefix(self.prefix.as_str()).is_some_and(|rest| rest.starts_with('/'))
    }
}

/// A pull-through cache rule: repositories under `prefix/` mirror `upstream`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullThroughCacheRule {
    pub prefix: String,
    pub upstream: String,
}

/// Where a replication rule copies images to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationDestination {
    pub region: String,
    pub registry_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationRule {
    pub destinations: Vec<ReplicationDestination>,
    /// Repository name prefixes (`PREFIX_MATCH`); empty: every repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repository_prefixes: Vec<String>,
}

/// Everything a registry creates repositories or copies images by, read once per run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryRules {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub creation_templates: Vec<CreationTemplate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_through_cache_rules: Vec<PullThroughCacheRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replication: Vec<ReplicationRule>,
    /// The applied "Images per repository" quota (Service Quotas, ecr / L-03A36CE1), when it
    /// could be read; QUOTA-1 falls back to ECR's documented default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_per_repository: Option<u64>,
}

impl RegistryRules {
    /// The template ECR applies to a repository it creates for `scenario` under `repository`:
    /// the longest prefix that covers the name among the templates applied for the scenario,
    /// else a `ROOT` template applied for it. (The User Guide: `ROOT` applies "to all
    /// repositories in your registry that don't have an associated creation template".)
    pub fn template_for(&self, scenario: CreationScenario, repository: &str) -> Option<&CreationTemplate> {
        let applied = || self.creation_templates.iter().filter(move |t| t.applied_for.contains(&scenario));
        applied()
            .filter(|t| t.prefix != ROOT_PREFIX && t.covers(repository))
            .max_by_key(|t| t.prefix.len())
            .or_else(|| applied().find(|t| t.prefix == ROOT_PREFIX))
    }

    /// The templates ECR creates repositories from on push.
    pub fn create_on_push(&self) -> impl Iterator<Item = &CreationTemplate> {
        self.creation_templates.iter().filter(|t| t.applied_for.contains(&CreationScenario::CreateOnPush))
    }

    /// Every destination any rule replicates to, once each, in rule order.
    pub fn destinations(&self) -> Vec<&ReplicationDestination> {
        let mut out: Vec<&ReplicationDestination> = Vec::new();
        for d in self.replication.iter().flat_map(|r| &r.destinations) {
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }
}

/// A replication destination's own rules, when the same run read that registry (an
/// organization run whose scope holds it): REG-3 then checks what its templates give the
/// copies instead of only naming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRegistry {
    pub region: String,
    pub registry_id: String,
    pub rules: RegistryRules,
}

impl DestinationRegistry {
    pub fn is(&self, d: &ReplicationDestination) -> bool {
        self.region == d.region && self.registry_id == d.registry_id
    }
}

/// For each registry `(registry id, region, its rules)`, the rules of those among the others it
/// replicates to. Pure: the organization run calls it once every registry has been read.
pub fn destinations_read(registries: &[(&str, &str, Option<&RegistryRules>)]) -> Vec<Vec<DestinationRegistry>> {
    registries
        .iter()
        .map(|(_, _, rules)| {
            let Some(rules) = rules else { return Vec::new() };
            rules
                .destinations()
                .into_iter()
                .filter_map(|d| {
                    registries.iter().find_map(|(id, region, other)| match other {
                        Some(other) if *id == d.registry_id && *region == d.region => Some(DestinationRegistry {
                            region: d.region.clone(),
                            registry_id: d.registry_id.clone(),
                            rules: RegistryRules { images_per_repository: None, ..(*other).clone() },
                        }),
                        _ => None,
                    })
                })
                .collect()
        })
        .collect()
}

/// The ARN partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// A principal for a pull-time update exclusion, as RegisterPullTimeUpdateExclusion accepts it
/// (API reference: at most 200 characters,
/// `^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/[\w+=,.@-]+(/[\w+=,.@-]+)*$`).
pub fn scanner_role(arn: &str) -> Result<String, String> {
    let arn = arn.trim();
    let refuse = || {
        Err(format!(
            "\"{arn}\" is not an IAM role or user ARN (arn:aws:iam::123456789012:role/NAME, at most 200 characters)"
        ))
    };
    let Some(rest) = arn.strip_prefix("arn:aws") else { return refuse() };
    let Some((partition, rest)) = rest.split_once(":iam::") else { return refuse() };
    let partition_ok = partition.is_empty()
        || partition
            .strip_prefix('-')
            .is_some_and(|p| p.split('-').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase())));
    let Some((account, rest)) = rest.split_once(':') else { return refuse() };
    let Some((kind, path)) = rest.split_once('/') else { return refuse() };
    let name_char = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    let path_ok = path.split('/').all(|part| !part.is_empty() && part.chars().all(name_char));
    if arn.len() <= 200
        && partition_ok
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (kind == "role" || kind == "user")
        && path_ok
    {
        Ok(arn.to_string())
    } else {
        refuse()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_partition_follows_the_region() {
        assert_eq!(super::partition("eu-west-1"), "aws");
        assert_eq!(super::partition("cn-north-1"), "aws-cn");
        assert_eq!(super::partition("us-gov-west-1"), "aws-us-gov");
    }

    #[test]
    fn a_scanner_role_is_an_iam_role_or_user_arn_as_ecr_accepts_it() {
        for ok in [
            "arn:aws:iam::123456789012:role/snyk-scanner",
            "arn:aws-us-gov:iam::123456789012:role/path/to/trivy",
            "arn:aws:iam::123456789012:user/ci.bot@example",
        ] {
            assert_eq!(super::scanner_role(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "snyk",
            "arn:aws:iam::12345678901:role/short-account",
            "arn:aws:iam::123456789012:group/scanners",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:sts::123456789012:assumed-role/scanner/session",
            "arn:aws-:iam::123456789012:role/x",
        ] {
            let e = super::scanner_role(bad).err().unwrap_or_default();
            assert!(e.contains("is not an IAM role or user ARN"), "{bad}: {e}");
        }
        let long = format!("arn:aws:iam::123456789012:role/{}", "a".repeat(170));
        assert!(super::scanner_role(&long).is_err());
    }
    use super::*;

    fn template(prefix: &str, applied_for: &[CreationScenario], policy: Option<&str>) -> CreationTemplate {
        CreationTemplate {
            prefix: prefix.into(),
            applied_for: applied_for.to_vec(),
            lifecycle_policy: policy.map(str::to_owned),
        }
    }

    #[test]
    fn a_prefix_covers_its_namespace_only() {
        let t = template("docker-hub", &[CreationScenario::PullThroughCache], None);
        assert!(t.covers("docker-hub/library/nginx"));
        assert!(!t.covers("docker-hub"), "the prefix itself is not under it");
        assert!(!t.covers("docker-hubby/x"), "ECR reads a / after the prefix");
        assert!(template(ROOT_PREFIX, &[], None).covers("anything"));
    }

    #[test]
    fn the_longest_prefix_for_the_scenario_wins_and_root_is_the_fallback() {
        use CreationScenario::*;
        let rules = RegistryRules {
            creation_templates: vec![
                template(ROOT_PREFIX, &[PullThroughCache, CreateOnPush], Some("root")),
                template("ecr-public", &[PullThroughCache], Some("public")),
                template("ecr-public/team", &[PullThroughCache], Some("team")),
                template("ecr-public/other", &[Replication], Some("replication only")),
            ],
            ..RegistryRules::default()
        };
        let policy = |scenario, name| rules.template_for(scenario, name).and_then(|t| t.lifecycle_policy.as_deref());
        assert_eq!(policy(PullThroughCache, "ecr-public/team/x"), Some("team"));
        assert_eq!(policy(PullThroughCache, "ecr-public/nginx"), Some("public"));
        assert_eq!(policy(PullThroughCache, "ecr-public/other/x"), Some("public"), "not applied for the scenario");
        assert_eq!(policy(PullThroughCache, "quay/x"), Some("root"));
        assert_eq!(policy(Replication, "quay/x"), None, "no template applied for replication covers it");
        assert_eq!(policy(Replication, "ecr-public/other/x"), Some("replication only"));
    }

    #[test]
    fn scenarios_read_and_write_ecrs_names() {
        for s in [CreationScenario::CreateOnPush, CreationScenario::PullThroughCache, CreationScenario::Replication] {
            assert_eq!(CreationScenario::from_wire(s.as_wire()), Some(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::Value::String(s.as_wire().into())));
        }
        assert_eq!(CreationScenario::from_wire("create_on_push"), None);
    }
}
