//! What to change first: the audit's findings as a few actions, ranked by consequence, each
//! naming the exact change and the repositories it fixes. Every report opens with them.
//!
//! The order (docs/audit.md, "Fix first"): a public repository; running images a policy would
//! remove; a vulnerable newest image; repositories the audit could not read; storage no policy
//! frees (no policy, an invalid one — the largest first); repositories the registry creates
//! without a policy (REG-1, REG-2, REG-3 where copies land); images nothing scans; mutable tags.

use super::{AuditReport, Status};
use crate::lifecycle::{count, human_bytes};
use serde::{Deserialize, Serialize};

/// How much a finding matters, most first (the derived order is the ranking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Consequence {
    /// Anyone can pull (or push): POL-1.
    PublicRepository,
    /// A running image is expired or archived by the policy: USE-1.
    RunningImagesAtRisk,
    /// The newest image has findings at or above the threshold: SCAN-2.
    VulnerableImage,
    /// The audit could not read the repository: nothing else about it is known.
    Unread,
    /// Storage no policy frees: LC-1 (none), LC-2 (invalid, so ECR expires nothing).
    StorageNeverFreed,
    /// Repositories the registry creates on its own (on push, by pull-through cache) get no
    /// lifecycle policy from their creation template: REG-1, REG-2, REG-3.
    RegistryCreatesUnmanaged,
    /// Nothing scans pushed images: SCAN-1.
    NothingScans,
    /// A push can silently replace what a tag names: TAG-1.
    MutableTags,
}

/// One ranked action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixAction {
    pub consequence: Consequence,
    /// The check it answers.
    pub check: String,
    /// What is wrong, with the count: "2 repositories are public".
    pub what: String,
    /// The exact change: a template property, a CLI command with its flags, or a console page.
    pub change: String,
    /// The repositories it fixes (every one; the texts show the first few).
    pub repositories: Vec<String>,
    /// Storage it would let ECR free, for storage actions.
    pub bytes: u64,
    /// A registry action (REG-*): `repositories` are what to change in the registry (templates,
    /// cache rules), not repositories.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub registry: bool,
}

impl FixAction {
    /// One line for people: "2 repositories are public (POL-1): change. Repositories: a, b."
    pub fn line(&self) -> String {
        self.with_names(|n| n.to_string())
    }

    /// The line for markdown: the names escaped (they are other people's), the commands kept in
    /// their code spans.
    pub fn markdown(&self) -> String {
        self.with_names(crate::markdown::text)
    }

    fn with_names(&self, show: impl Fn(&str) -> String) -> String {
        const SHOWN: usize = 5;
        let names: Vec<String> = self.repositories.iter().take(SHOWN).map(|n| show(n)).collect();
        let more = self.repositories.len().saturating_sub(SHOWN);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        let label = if self.registry { "In the registry" } else { "Repositories" };
        let separator = if self.registry { "; " } else { ", " };
        format!("{} ({}): {} {label}: {}{more}.", self.what, self.check, self.change, names.join(separator))
    }

    /// As a report's ranked action: storage by its bytes, the rest by how many repositories.
    pub fn ranked(&self) -> crate::run::Ranked {
        let weight = if self.bytes > 0 { self.bytes } else { self.repositories.len() as u64 };
        crate::run::Ranked { rank: self.consequence as u8, weight, line: self.line(), markdown: self.markdown() }
    }
}

fn repositories(n: usize) -> String {
    count(n as u64, "repository", "repositories")
}

/// The audit's findings as ranked actions, most consequential first; within storage, the most
/// bytes first. Pure: the same report gives the same list.
pub fn fix_first(report: &AuditReport) -> Vec<FixAction> {
    let failing = |id: &str, keep: &dyn Fn(&super::CheckResult) -> bool| -> Vec<String> {
        report
            .repositories
            .iter()
            .filter(|r| r.checks.iter().any(|c| c.id == id && c.status == Status::Fail && keep(c)))
            .map(|r| r.name.clone())
            .collect()
    };
    let any = |_: &super::CheckResult| true;
    let mut out = Vec::new();
    let mut push = |consequence, check: &str, what: String, change: String, names: Vec<String>, bytes: u64| {
        if !names.is_empty() {
            out.push(FixAction {
                consequence,
                check: check.into(),
                what,
                change,
                repositories: names,
                bytes,
                registry: false,
            });
        }
    };

    let public = failing("POL-1", &any);
    push(
        Consequence::PublicRepository,
        "POL-1",
        format!("{} {} open to anyone", repositories(public.len()), if public.len() == 1 { "is" } else { "are" }),
        "name the accounts instead of \"*\": on a stack's repository set ReadPrincipals / ReadWritePrincipals \
         (Custom::EcrRepository); otherwise `aws ecr delete-repository-policy --repository-name <name>`, or edit it \
         in the ECR console under the repository's Permissions."
            .into(),
        public,
        0,
    );
    let at_risk = failing("USE-1", &any);
    push(
        Consequence::RunningImagesAtRisk,
        "USE-1",
        format!("{} would lose running images to their lifecycle policy", repositories(at_risk.len())),
        "set ProtectInUse: \"true\" on the repository (Custom::EcrRepository), and pin what runs now with \
         `ecr-keeper audit --in-use <sources> --protect-in-use --yes`."
            .into(),
        at_risk,
        0,
    );
    let vulnerable = failing("SCAN-2", &|c| c.evidence.get("counts").is_some());
    push(
        Consequence::VulnerableImage,
        "SCAN-2",
        format!("{} run a newest image with findings at or above the threshold", repositories(vulnerable.len())),
        "rebuild that image on patched packages (each finding names its fixed version: \
         `aws ecr describe-image-scan-findings --repository-name <name> --image-id imageDigest=<digest>`)."
            .into(),
        vulnerable,
        0,
    );
    let unread: Vec<String> = report
        .repositories
        .iter()
        .filter(|r| r.checks.iter().any(|c| c.id == "READ" && c.status == Status::Error))
        .map(|r| r.name.clone())
        .collect();
    push(
        Consequence::Unread,
        "READ",
        format!("{} could not be read", repositories(unread.len())),
        "grant the audit's role ecr:Describe*, ecr:Get* and ecr:List* on them (and kms:Decrypt where a KMS key \
         encrypts them); the report's ERROR rows say what was refused."
            .into(),
        unread,
        0,
    );
    // Storage: the repositories whose images no policy will ever expire, the largest first.
    let bytes_of = |name: &str| {
        report.repositories.iter().find(|r| r.name == name).map_or(0, |r| r.unmanaged.bytes + r.overdue.bytes)
    };
    let mut storage = Vec::new();
    for (check, what, change) in [
        (
            "LC-1",
            "have no lifecycle policy: nothing is ever expired",
            "add one: ImageRetentionCount, TagPrefixes and UntaggedRetentionDays on Custom::EcrRepository, or the \
             team standard with `ecr-keeper audit --fix --yes`.",
        ),
        (
            "LC-2",
            "have a lifecycle policy ECR would refuse: nothing is expired",
            "fix it: `ecr-keeper lifecycle validate <policy.json>` lists every problem, then put it again.",
        ),
    ] {
        let names = failing(check, &any);
        let bytes: u64 = names.iter().map(|n| bytes_of(n)).sum();
        let mut names = names;
        names.sort_by_key(|n| std::cmp::Reverse(bytes_of(n)));
        storage.push((
            bytes,
            check,
            format!("{} {what} ({})", repositories(names.len()), human_bytes(bytes)),
            change,
            names,
        ));
    }
    storage.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (bytes, check, what, change, names) in storage {
        push(Consequence::StorageNeverFreed, check, what, change.into(), names, bytes);
    }
    let mut registry_actions = Vec::new();
    for (check, what, where_) in [
        ("REG-1", "The registry creates repositories on push without a lifecycle policy", ""),
        ("REG-2", "Pull-through cache repositories are never expired", ""),
        (
            "REG-3",
            "Replicated copies are never expired where they land",
            " In each destination named, with `--region` the destination's and `--applied-for REPLICATION`.",
        ),
    ] {
        let failed = report.registry_checks.iter().find(|c| c.id == check && c.status == Status::Fail);
        let Some(failed) = failed else { continue };
        // REG-3 keeps its problems beside the destinations it could not read.
        let listed = failed.evidence.as_array().or_else(|| failed.evidence["problems"].as_array());
        let subjects: Vec<String> = match listed {
            Some(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            None => vec![failed.message.clone()],
        };
        registry_actions.push(FixAction {
            consequence: Consequence::RegistryCreatesUnmanaged,
            check: check.into(),
            what: what.into(),
            change: format!(
                "give the creation template the team standard: `ecr-keeper lifecycle generate > policy.json`, then \
                 `aws ecr update-repository-creation-template --prefix <prefix> --lifecycle-policy file://policy.json` \
                 (or `create-repository-creation-template` with `--applied-for` the scenario), or in the ECR console \
                 under Private registry, Settings, Creation templates.{where_}"
            ),
            repositories: subjects,
            bytes: 0,
            registry: true,
        });
    }
    let unscanned = failing("SCAN-1", &any);
    push(
        Consequence::NothingScans,
        "SCAN-1",
        format!("{} are scanned by nothing", repositories(unscanned.len())),
        "set ScanOnPush: \"true\" (Custom::EcrRepository), add a registry scanning rule \
         (`aws ecr put-registry-scanning-configuration`), or `ecr-keeper audit --fix --yes`."
            .into(),
        unscanned,
        0,
    );
    let mutable = failing("TAG-1", &any);
    push(
        Consequence::MutableTags,
        "TAG-1",
        format!("{} let a push replace what a tag names", repositories(mutable.len())),
        "set ImageTagMutability: IMMUTABLE (Custom::EcrRepository), or \
         `aws ecr put-image-tag-mutability --image-tag-mutability IMMUTABLE --repository-name <name>`."
            .into(),
        mutable,
        0,
    );
    out.extend(registry_actions);
    out.sort_by_key(|a| a.consequence);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{CheckResult, CheckSeverity, RepositoryAudit, Totals};
    use serde_json::{json, Value};

    fn repo(name: &str, unmanaged_bytes: u64, checks: &[(&'static str, Status, Value)]) -> RepositoryAudit {
        RepositoryAudit {
            name: name.into(),
            arn: format!("arn:aws:ecr:us-east-1:1:repository/{name}"),
            account: None,
            region: None,
            images: 1,
            checks: checks
                .iter()
                .map(|(id, status, evidence)| CheckResult {
                    id: (*id).into(),
                    status: *status,
                    severity: CheckSeverity::High,
                    message: String::new(),
                    evidence: evidence.clone(),
                })
                .collect(),
            expirable: Totals::default(),
            overdue: Totals::default(),
            unmanaged: Totals { images: 1, bytes: unmanaged_bytes },
        }
    }

    fn report(repositories: Vec<RepositoryAudit>) -> AuditReport {
        crate::testing::audit_report_of(repositories)
    }

    #[test]
    fn the_public_repository_leads_then_running_images_then_the_largest_storage() {
        let r = report(vec![
            repo("small", 10, &[("LC-1", Status::Fail, Value::Null), ("TAG-1", Status::Fail, Value::Null)]),
            repo("big", 1 << 30, &[("LC-1", Status::Fail, Value::Null), ("SCAN-1", Status::Fail, Value::Null)]),
            repo("broken", 5 << 30, &[("LC-2", Status::Fail, Value::Null)]),
            repo("open", 0, &[("POL-1", Status::Fail, Value::Null), ("TAG-1", Status::Fail, Value::Null)]),
            repo("web", 0, &[("USE-1", Status::Fail, Value::Null)]),
            repo("api", 0, &[("SCAN-2", Status::Fail, json!({"counts": {"CRITICAL": 1}}))]),
            repo("new", 0, &[("SCAN-2", Status::Fail, json!({"imageDigest": "sha256:1"}))]),
            repo("hidden", 0, &[("READ", Status::Error, Value::Null)]),
        ]);
        let actions = fix_first(&r);
        let order: Vec<(&str, Vec<&str>)> =
            actions.iter().map(|a| (a.check.as_str(), a.repositories.iter().map(String::as_str).collect())).collect();
        assert_eq!(
            order,
            [
                ("POL-1", vec!["open"]),
                ("USE-1", vec!["web"]),
                ("SCAN-2", vec!["api"]), // a never-scanned image is not a vulnerable one
                ("READ", vec!["hidden"]),
                ("LC-2", vec!["broken"]), // 5 GiB before 1 GiB
                ("LC-1", vec!["big", "small"]),
                ("SCAN-1", vec!["big"]),
                ("TAG-1", vec!["small", "open"]),
            ]
        );
        assert_eq!(actions[0].what, "1 repository is open to anyone");
        assert!(actions[5].what.starts_with("2 repositories have no lifecycle policy"), "{}", actions[5].what);
        assert_eq!(actions[5].bytes, (1 << 30) + 10);
        assert!(actions[0].change.contains("ReadPrincipals") && actions[1].change.contains("ProtectInUse"));
    }

    #[test]
    fn a_compliant_registry_has_nothing_to_fix_and_a_line_names_a_few_repositories() {
        assert!(fix_first(&report(vec![repo("good", 0, &[("LC-1", Status::Pass, Value::Null)])])).is_empty());
        let many: Vec<RepositoryAudit> =
            (0..8).map(|i| repo(&format!("r{i}"), 0, &[("TAG-1", Status::Fail, Value::Null)])).collect();
        let line = fix_first(&report(many))[0].line();
        assert!(line.starts_with("8 repositories let a push replace what a tag names (TAG-1): set ImageTagMutability"));
        assert!(line.ends_with("Repositories: r0, r1, r2, r3, r4 and 3 more."), "{line}");
    }

    #[test]
    fn a_registry_that_creates_repositories_without_a_policy_is_an_action_after_storage() {
        let mut r = report(vec![repo("a", 10, &[("LC-1", Status::Fail, Value::Null)])]);
        r.registry_checks = crate::audit::registry_checks(
            Some(&crate::registry::RegistryRules {
                creation_templates: vec![crate::registry::CreationTemplate {
                    prefix: "ROOT".into(),
                    applied_for: vec![crate::registry::CreationScenario::CreateOnPush],
                    lifecycle_policy: None,
                }],
                ..Default::default()
            }),
            &crate::scanning::RegistryScanning::default(),
            None,
            &[],
        );
        let actions = fix_first(&r);
        let checks: Vec<&str> = actions.iter().map(|a| a.check.as_str()).collect();
        assert_eq!(checks, ["LC-1", "REG-1"], "after storage no policy frees, before scanning");
        let line = actions[1].line();
        assert!(
            line.starts_with("The registry creates repositories on push without a lifecycle policy (REG-1): "),
            "{line}"
        );
        assert!(line.ends_with("In the registry: the ROOT template gives no lifecycle policy."), "{line}");
        // REG-3 failing where the copies land is an action of the registry too, naming the destination
        let mut with_replica = r.clone();
        with_replica.registry_checks = crate::audit::registry_checks(
            Some(&crate::registry::RegistryRules {
                replication: vec![crate::registry::ReplicationRule {
                    destinations: vec![crate::registry::ReplicationDestination {
                        region: "eu-west-1".into(),
                        registry_id: "111122223333".into(),
                    }],
                    repository_prefixes: vec![],
                }],
                ..Default::default()
            }),
            &crate::scanning::RegistryScanning::default(),
            None,
            &[crate::registry::DestinationRegistry {
                region: "eu-west-1".into(),
                registry_id: "111122223333".into(),
                rules: crate::registry::RegistryRules::default(),
            }],
        );
        let reg_3 = fix_first(&with_replica).into_iter().find(|a| a.check == "REG-3");
        let reg_3 = reg_3.unwrap_or_else(|| panic!("no REG-3 action"));
        assert!(reg_3.repositories[0].contains("eu-west-1 (111122223333)"), "{:?}", reg_3.repositories);
        assert!(reg_3.change.ends_with("`--applied-for REPLICATION`."), "{}", reg_3.change);
        // REG-2 passing (no cache) and REG-4's warning are no action.
        assert!(!checks.contains(&"REG-2") && !checks.contains(&"REG-4"));
    }
}
