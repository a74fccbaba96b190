//! REG-1 to REG-4: what the registry creates or copies without any stack is kept in shape too —
//! repositories created on push and by pull-through cache get a lifecycle policy from their
//! creation template, replicated images are named where no policy of this region reaches them,
//! and every template's repositories are scanned. One result each, per registry.

use super::{lifecycle::drift, result, Standard};
use crate::audit::model::{CheckResult, CheckSeverity, Status};
use crate::lifecycle::parse_policy;
use crate::registry::{CreationScenario, CreationTemplate, DestinationRegistry, RegistryRules, ROOT_PREFIX};
use crate::scanning::RegistryScanning;
use serde_json::{json, Value};

/// The registry's checks, in the report's order; one ERROR when the rules could not be read.
pub fn registry_checks(
    rules: Option<&RegistryRules>,
    scanning: &RegistryScanning,
    standard: Option<&Standard>,
    destinations_read: &[DestinationRegistry],
) -> Vec<CheckResult> {
    let Some(rules) = rules else {
        return vec![result(
            "REG",
            Status::Error,
            CheckSeverity::Medium,
            "the registry's creation templates, pull-through cache rules and replication could not be read \
             (ecr:DescribeRepositoryCreationTemplates, ecr:DescribePullThroughCacheRules, ecr:DescribeRegistry)",
            Value::Null,
        )];
    };
    vec![
        created_on_push(rules, standard),
        pull_through_cache(rules, standard),
        replication(rules, standard, destinations_read),
        templates_scanned(rules, scanning),
    ]
}

/// What is wrong with the lifecycle policy a template gives (`None`: nothing).
fn template_policy_problem(template: &CreationTemplate, standard: Option<&Standard>) -> Option<(Status, String)> {
    let name = template_name(template);
    let Some(text) = template.lifecycle_policy.as_deref() else {
        return Some((Status::Fail, format!("{name} gives no lifecycle policy")));
    };
    let policy = match parse_policy(text) {
        Ok(policy) => policy,
        Err(e) => return Some((Status::Fail, format!("{name}'s lifecycle policy is not valid: {e}"))),
    };
    let verdict = drift(Some(&policy), standard?);
    (verdict.status != Status::Pass).then(|| (Status::Warn, format!("{name} {}", verdict.message)))
}

fn template_name(template: &CreationTemplate) -> String {
    if template.prefix == ROOT_PREFIX {
        "the ROOT template".to_string()
    } else {
        format!("the template for {}/", template.prefix)
    }
}

/// The worst status among `problems` (FAIL over WARN), and the check's result.
fn verdict(
    id: &'static str,
    severity: CheckSeverity,
    problems: Vec<(Status, String)>,
    pass: impl Into<String>,
) -> CheckResult {
    if problems.is_empty() {
        return result(id, Status::Pass, severity, pass, Value::Null);
    }
    let status = if problems.iter().any(|(s, _)| *s == Status::Fail) { Status::Fail } else { Status::Warn };
    let messages: Vec<&str> = problems.iter().map(|(_, m)| m.as_str()).collect();
    result(id, status, severity, messages.join("; "), json!(messages))
}

/// REG-1: every repository ECR creates on push gets a lifecycle policy (the standard, when one
/// is configured) from its template. Without a CREATE_ON_PUSH template ECR creates none.
fn created_on_push(rules: &RegistryRules, standard: Option<&Standard>) -> CheckResult {
    let templates: Vec<&CreationTemplate> = rules.create_on_push().collect();
    if templates.is_empty() {
        return result(
            "REG-1",
            Status::Pass,
            CheckSeverity::High,
            "the registry creates no repository on push (no CREATE_ON_PUSH template)",
            Value::Null,
        );
    }
    let problems = templates.iter().filter_map(|t| template_policy_problem(t, standard)).collect();
    verdict(
        "REG-1",
        CheckSeverity::High,
        problems,
        format!("{} CREATE_ON_PUSH template(s), each with a lifecycle policy", templates.len()),
    )
}

/// REG-2: the repositories of every pull-through cache rule get a lifecycle policy from the
/// template ECR applies to them; without one a cache grows with every upstream tag pulled.
fn pull_through_cache(rules: &RegistryRules, standard: Option<&Standard>) -> CheckResult {
    if rules.pull_through_cache_rules.is_empty() {
        return result("REG-2", Status::Pass, CheckSeverity::High, "no pull-through cache rules", Value::Null);
    }
    let problems = rules
        .pull_through_cache_rules
        .iter()
        .filter_map(|rule| {
            // Any name under the rule's prefix: ECR creates `prefix/<upstream repository>`.
            let sample = format!("{}/{}", rule.prefix, "repository");
            match rules.template_for(CreationScenario::PullThroughCache, &sample) {
                None => Some((
                    Status::Fail,
                    format!(
                        "images cached from {} under {}/ are never expired: no PULL_THROUGH_CACHE template covers them",
                        rule.upstream, rule.prefix
                    ),
                )),
                Some(t) => template_policy_problem(t, standard).map(|(status, message)| {
                    (status, format!("{}/ (cache of {}): {message}", rule.prefix, rule.upstream))
                }),
            }
        })
        .collect();
    verdict(
        "REG-2",
        CheckSeverity::High,
        problems,
        format!(
            "{} pull-through cache rule(s), each covered by a template's policy",
            rules.pull_through_cache_rules.len()
        ),
    )
}

/// REG-3: a lifecycle policy acts only in its own region and registry, so replicated copies are
/// kept by what the destination's REPLICATION creation template gives the repositories ECR
/// creates there. Checked where this run also read the destination (an organization run);
/// otherwise named, so someone audits that region.
fn replication(
    rules: &RegistryRules,
    standard: Option<&Standard>,
    destinations_read: &[DestinationRegistry],
) -> CheckResult {
    let destinations = rules.destinations();
    if destinations.is_empty() {
        return result("REG-3", Status::Pass, CheckSeverity::Medium, "the registry replicates nowhere", Value::Null);
    }
    let mut problems: Vec<(Status, String)> = Vec::new();
    let mut unread: Vec<String> = Vec::new();
    for d in destinations {
        let named = format!("{} ({})", d.region, d.registry_id);
        let Some(there) = destinations_read.iter().find(|r| r.is(d)) else {
            unread.push(named);
            continue;
        };
        // Each filter's repositories (PREFIX_MATCH; none: every repository), as ECR creates
        // them there: the template that applies to the filter's own name covers every name
        // under it, else the ROOT template does (or nothing).
        let filters: Vec<&str> = rules
            .replication
            .iter()
            .filter(|r| r.destinations.contains(d))
            .flat_map(|r| {
                if r.repository_prefixes.is_empty() {
                    vec![""]
                } else {
                    r.repository_prefixes.iter().map(String::as_str).collect()
                }
            })
            .collect();
        for filter in filters {
            let what = if filter.is_empty() { "every repository".to_string() } else { format!("{filter}*") };
            match there.rules.template_for(CreationScenario::Replication, filter) {
                None => problems.push((
                    Status::Fail,
                    format!("copies of {what} replicated to {named} are never expired: no REPLICATION template there covers them"),
                )),
                Some(t) => {
                    if let Some((status, message)) = template_policy_problem(t, standard) {
                        problems.push((status, format!("copies of {what} in {named}: {message}")));
                    }
                }
            }
        }
    }
    if !unread.is_empty() {
        problems.push((
            Status::Warn,
            format!(
                "images are replicated to {}: this region's lifecycle policies do not act there; a REPLICATION \
                 creation template with a lifecycle policy in each destination keeps the copies in shape \
                 (audit that region too, or run over the organization to have it checked)",
                unread.join(", ")
            ),
        ));
    }
    let mut checked = verdict(
        "REG-3",
        CheckSeverity::Medium,
        problems,
        "every replication destination's REPLICATION template gives the copies a lifecycle policy",
    );
    if checked.status != Status::Pass {
        checked.evidence = json!({"problems": checked.evidence, "notRead": unread});
    }
    checked
}

/// REG-4: the repositories each template creates are scanned by a registry scanning rule (a
/// template cannot set scan on push itself).
fn templates_scanned(rules: &RegistryRules, scanning: &RegistryScanning) -> CheckResult {
    if rules.creation_templates.is_empty() {
        return result("REG-4", Status::Pass, CheckSeverity::Medium, "no creation templates", Value::Null);
    }
    let problems: Vec<(Status, String)> = rules
        .creation_templates
        .iter()
        .filter(|t| {
            // A rule covers every name under the prefix when its filter matches the prefix
            // followed by a literal `*` (ROOT: a literal `*` alone).
            let all_under = if t.prefix == ROOT_PREFIX { "*".to_string() } else { format!("{}/*", t.prefix) };
            scanning.covering_rule(&all_under).is_none()
        })
        .map(|t| {
            (
                Status::Warn,
                format!("repositories from {} are not all scanned by a registry scanning rule", template_name(t)),
            )
        })
        .collect();
    verdict(
        "REG-4",
        CheckSeverity::Medium,
        problems,
        format!("the repositories of all {} template(s) are scanned", rules.creation_templates.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::{generate, PolicyParams};
    use crate::registry::{PullThroughCacheRule, ReplicationDestination, ReplicationRule};
    use crate::scanning::{ScanFrequency, ScanRule};
    use CreationScenario::*;

    fn standard_text() -> String {
        generate(&PolicyParams::default()).map(|p| p.to_json()).unwrap_or_default()
    }

    fn template(prefix: &str, applied_for: &[CreationScenario], policy: Option<String>) -> CreationTemplate {
        CreationTemplate { prefix: prefix.into(), applied_for: applied_for.to_vec(), lifecycle_policy: policy }
    }

    fn cache(prefix: &str) -> PullThroughCacheRule {
        PullThroughCacheRule { prefix: prefix.into(), upstream: format!("{prefix}.example.com") }
    }

    fn check<'a>(checks: &'a [CheckResult], id: &str) -> &'a CheckResult {
        checks.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id} in {checks:?}"))
    }

    fn scan_all() -> RegistryScanning {
        RegistryScanning {
            rules: vec![ScanRule { frequency: ScanFrequency::ScanOnPush, repository_filters: vec!["*".into()] }],
            ..RegistryScanning::default()
        }
    }

    #[test]
    fn a_registry_without_templates_rules_or_replication_passes_every_check() {
        let checks = registry_checks(Some(&RegistryRules::default()), &RegistryScanning::default(), None, &[]);
        let ids: Vec<(&str, Status)> = checks.iter().map(|c| (&*c.id, c.status)).collect();
        assert_eq!(
            ids,
            [("REG-1", Status::Pass), ("REG-2", Status::Pass), ("REG-3", Status::Pass), ("REG-4", Status::Pass)]
        );
    }

    #[test]
    fn create_on_push_without_a_policy_fails_and_with_the_standard_passes() {
        let without = RegistryRules {
            creation_templates: vec![template(ROOT_PREFIX, &[CreateOnPush], None)],
            ..RegistryRules::default()
        };
        let c = registry_checks(Some(&without), &scan_all(), None, &[]);
        assert_eq!(check(&c, "REG-1").status, Status::Fail);
        assert_eq!(check(&c, "REG-1").message, "the ROOT template gives no lifecycle policy");
        let with = RegistryRules {
            creation_templates: vec![template(ROOT_PREFIX, &[CreateOnPush], Some(standard_text()))],
            ..RegistryRules::default()
        };
        let c = registry_checks(Some(&with), &scan_all(), None, &[]);
        assert_eq!(check(&c, "REG-1").status, Status::Pass, "{:?}", check(&c, "REG-1"));
    }

    #[test]
    fn a_template_policy_that_ecr_would_refuse_or_that_drifts_is_named() {
        let rules = RegistryRules {
            creation_templates: vec![
                template("broken", &[CreateOnPush], Some("{\"rules\": []}".into())),
                template(
                    "loose",
                    &[CreateOnPush],
                    Some(standard_text().replace("\"countNumber\":20", "\"countNumber\":5")),
                ),
            ],
            ..RegistryRules::default()
        };
        let standard =
            Standard::from_parts(crate::audit::StandardParts { keep_tagged: Some(20), ..Default::default() });
        let c = registry_checks(Some(&rules), &scan_all(), standard.as_ref(), &[]);
        let reg1 = check(&c, "REG-1");
        assert_eq!(reg1.status, Status::Fail, "{reg1:?}");
        assert!(reg1.message.contains("the template for broken/'s lifecycle policy is not valid"), "{reg1:?}");
        assert!(reg1.message.contains("the template for loose/ drifts from the standard"), "{reg1:?}");
    }

    #[test]
    fn a_pull_through_cache_is_covered_only_by_a_template_applied_for_it() {
        let rules = RegistryRules {
            creation_templates: vec![
                template("docker-hub", &[PullThroughCache], Some(standard_text())),
                // Applied for replication only: ECR does not use it for the cache.
                template("quay", &[Replication], Some(standard_text())),
            ],
            pull_through_cache_rules: vec![cache("docker-hub"), cache("quay")],
            ..RegistryRules::default()
        };
        let c = registry_checks(Some(&rules), &scan_all(), None, &[]);
        let reg2 = check(&c, "REG-2");
        assert_eq!(reg2.status, Status::Fail);
        assert_eq!(
            reg2.message,
            "images cached from quay.example.com under quay/ are never expired: no PULL_THROUGH_CACHE template covers them"
        );
        // A ROOT template for the cache covers what no prefix does.
        let mut covered = rules.clone();
        covered.creation_templates.push(template(ROOT_PREFIX, &[PullThroughCache], Some(standard_text())));
        assert_eq!(check(&registry_checks(Some(&covered), &scan_all(), None, &[]), "REG-2").status, Status::Pass);
    }

    #[test]
    fn replication_names_every_destination_once() {
        let to = |region: &str| ReplicationDestination { region: region.into(), registry_id: "111122223333".into() };
        let rules = RegistryRules {
            replication: vec![
                ReplicationRule { destinations: vec![to("eu-west-1"), to("us-west-2")], repository_prefixes: vec![] },
                ReplicationRule { destinations: vec![to("eu-west-1")], repository_prefixes: vec!["prod".into()] },
            ],
            ..RegistryRules::default()
        };
        let reg3 = check(&registry_checks(Some(&rules), &scan_all(), None, &[]), "REG-3").clone();
        assert_eq!(reg3.status, Status::Warn);
        assert_eq!(reg3.evidence["notRead"], json!(["eu-west-1 (111122223333)", "us-west-2 (111122223333)"]));

        // WHEN the run also read eu-west-1: its ROOT REPLICATION template without a policy fails
        // every repository's copies; us-west-2 stays named
        let there = |templates: Vec<CreationTemplate>| crate::registry::DestinationRegistry {
            region: "eu-west-1".into(),
            registry_id: "111122223333".into(),
            rules: RegistryRules { creation_templates: templates, ..RegistryRules::default() },
        };
        let bare_root = [there(vec![template(ROOT_PREFIX, &[Replication], None)])];
        let reg3 = check(&registry_checks(Some(&rules), &scan_all(), None, &bare_root), "REG-3").clone();
        assert_eq!(reg3.status, Status::Fail);
        assert!(
            reg3.message.starts_with("copies of every repository in eu-west-1 (111122223333): the ROOT template gives no lifecycle policy; copies of prod* in eu-west-1"),
            "{}",
            reg3.message
        );
        assert_eq!(reg3.evidence["notRead"], json!(["us-west-2 (111122223333)"]));

        // A template for prod/ does not cover prod-api: ROOT still decides for prod*
        let only_prod = [there(vec![template("prod", &[Replication], Some(standard_text()))])];
        let reg3 = check(&registry_checks(Some(&rules), &scan_all(), None, &only_prod), "REG-3").clone();
        assert!(
            reg3.message.contains("copies of prod* replicated to eu-west-1 (111122223333) are never expired"),
            "{}",
            reg3.message
        );

        // WHEN every destination was read and a ROOT template with a policy covers the copies
        let covered = RegistryRules { replication: vec![rules.replication[1].clone()], ..RegistryRules::default() };
        let root = [there(vec![template(ROOT_PREFIX, &[Replication, CreateOnPush], Some(standard_text()))])];
        let reg3 = check(&registry_checks(Some(&covered), &scan_all(), None, &root), "REG-3").clone();
        assert_eq!(reg3.status, Status::Pass, "{}", reg3.message);
    }

    #[test]
    fn each_registry_gets_the_rules_of_the_destinations_read_with_it() {
        let to = |region: &str| ReplicationDestination { region: region.into(), registry_id: "111122223333".into() };
        let source = RegistryRules {
            replication: vec![ReplicationRule {
                destinations: vec![to("eu-west-1"), to("us-west-2")],
                repository_prefixes: vec![],
            }],
            images_per_repository: Some(7),
            ..RegistryRules::default()
        };
        let eu = RegistryRules {
            creation_templates: vec![template(ROOT_PREFIX, &[Replication], None)],
            images_per_repository: Some(9),
            ..RegistryRules::default()
        };
        let read = crate::registry::destinations_read(&[
            ("111122223333", "us-east-1", Some(&source)),
            ("111122223333", "eu-west-1", Some(&eu)),
            ("111122223333", "us-west-2", None),
        ]);
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].len(), 1, "us-west-2 was not read");
        assert_eq!((read[0][0].region.as_str(), read[0][0].rules.creation_templates.len()), ("eu-west-1", 1));
        assert_eq!(read[0][0].rules.images_per_repository, None, "only what REG-3 reads travels");
        assert!(read[1].is_empty() && read[2].is_empty());
    }

    #[test]
    fn templates_whose_repositories_no_scanning_rule_covers_are_named() {
        let rules = RegistryRules {
            creation_templates: vec![
                template("team-a", &[CreateOnPush], Some(standard_text())),
                template("team-b", &[CreateOnPush], Some(standard_text())),
            ],
            ..RegistryRules::default()
        };
        let some = RegistryScanning {
            rules: vec![
                ScanRule { frequency: ScanFrequency::ScanOnPush, repository_filters: vec!["team-a/*".into()] },
                // A manual rule scans nothing by itself.
                ScanRule { frequency: ScanFrequency::Manual, repository_filters: vec!["*".into()] },
            ],
            ..RegistryScanning::default()
        };
        let reg4 = check(&registry_checks(Some(&rules), &some, None, &[]), "REG-4").clone();
        assert_eq!(reg4.status, Status::Warn);
        assert_eq!(
            reg4.message,
            "repositories from the template for team-b/ are not all scanned by a registry scanning rule"
        );
        assert_eq!(check(&registry_checks(Some(&rules), &scan_all(), None, &[]), "REG-4").status, Status::Pass);
    }

    #[test]
    fn rules_that_could_not_be_read_are_one_error_naming_the_permissions() {
        let c = registry_checks(None, &scan_all(), None, &[]);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].id.as_ref(), c[0].status), ("REG", Status::Error));
        assert!(c[0].message.contains("ecr:DescribeRepositoryCreationTemplates"));
    }
}
