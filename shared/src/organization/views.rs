//! The audit's and the cost report's numbers, as the organization report sums them.

use super::{CheckTally, ComplianceTally, CostTally, OrganizationView, Tally, Target};
use crate::audit::{audit_metrics, AuditReport, Status};
use crate::cost::CostReport;
use crate::metrics::Metric;

/// What a refused remediation write says in an organization run.
pub const MEMBER_WRITES: &str =
    " (in a member account the member role writes only where its stack has AllowRemediation=true)";

impl OrganizationView for AuditReport {
    fn tally(&self) -> Tally {
        let s = &self.summary;
        let errored = self.repositories.iter().filter(|r| r.checks.iter().any(|c| c.status == Status::Error)).count();
        let by_check = s
            .by_check
            .iter()
            .filter(|(_, c)| c.fail + c.warn + c.error > 0)
            .map(|(id, c)| (id.to_string(), CheckTally { fail: c.fail, warn: c.warn, error: c.error }))
            .collect();
        Tally {
            repositories: s.repositories + self.unreached.len(),
            unread: errored + self.unreached.len(),
            compliance: Some(ComplianceTally {
                non_compliant: s.non_compliant,
                by_check,
                overdue_images: s.overdue.images,
                overdue_bytes: s.overdue.bytes,
            }),
            ..Tally::default()
        }
    }

    fn stamp(&mut self, target: &Target) {
        for r in &mut self.repositories {
            r.account = Some(target.account.clone());
            r.region = Some(target.region.clone());
        }
        // A refused write in a member account is the member stack's choice, not a missing
        // permission on the function's role (which RegistryError::AccessDenied suggests).
        for action in &mut self.remediation {
            if action.detail.starts_with("failed:") && action.detail.contains("access denied") {
                action.detail.push_str(MEMBER_WRITES);
            }
        }
    }

    fn metrics(&self) -> Vec<Metric> {
        audit_metrics(self)
    }

    fn empty_tally() -> Tally {
        Tally { compliance: Some(ComplianceTally::default()), ..Tally::default() }
    }
}

impl OrganizationView for CostReport {
    fn tally(&self) -> Tally {
        let t = &self.total;
        Tally {
            repositories: t.repositories + self.not_read.len(),
            unread: self.not_read.len(),
            cost: Some(CostTally {
                images: t.images,
                unique_bytes: t.unique_bytes,
                monthly_cost_usd: t.monthly_cost_usd,
                projected_monthly_cost_usd: t.projected_monthly_cost_usd,
                standard_policy_savings_usd: t.standard_policy_savings_usd,
            }),
            ..Tally::default()
        }
    }

    fn stamp(&mut self, target: &Target) {
        for r in &mut self.repositories {
            r.account = Some(target.account.clone());
            r.region = Some(target.region.clone());
        }
    }

    fn metrics(&self) -> Vec<Metric> {
        CostReport::metrics(self)
    }

    fn empty_tally() -> Tally {
        Tally { cost: Some(CostTally::default()), ..Tally::default() }
    }
}
