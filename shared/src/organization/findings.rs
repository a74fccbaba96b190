//! An organization audit's findings, each registry's into its own account's Security Hub.

use super::{AccessError, RegistryEntry, RegistryReports};
use crate::audit::security_hub::SecurityFindings;
use crate::audit::AuditReport;
use crate::run::{StoreError, Target};
use std::future::Future;

/// Each registry's own Security Hub: through the member role in another account, with the
/// central account's credentials in its own.
pub trait MemberHubs: Sync {
    type Hub: SecurityFindings;
    fn hub(&self, target: &Target) -> impl Future<Output = Result<Self::Hub, AccessError>> + Send;
}

/// An organization run's findings, each registry's into its own account's Security Hub (which
/// takes a finding under the default product only from the account it names). A registry whose
/// import fails is logged and the run goes on: its report is kept.
pub struct MemberFindings<'a, H> {
    hubs: &'a H,
}

impl<'a, H: MemberHubs> MemberFindings<'a, H> {
    pub fn new(hubs: &'a H) -> Self {
        MemberFindings { hubs }
    }
}

impl<H: MemberHubs> RegistryReports<AuditReport> for MemberFindings<'_, H> {
    async fn keep(&self, entry: &RegistryEntry, report: &AuditReport) -> Result<(), StoreError> {
        let (account, region) = (&entry.account, &entry.region);
        let hub = match self.hubs.hub(&entry.target()).await {
            Ok(hub) => hub,
            Err(e) => {
                tracing::warn!(account = %account, region = %region, error = %e, "Security Hub not reached");
                return Ok(());
            }
        };
        match crate::audit::security_hub::import_findings(&hub, report).await {
            Ok(i) => tracing::info!(
                account = %account,
                region = %region,
                active = i.active,
                archived = i.archived,
                refused = i.failed,
                "Security Hub findings imported"
            ),
            Err(e) => {
                tracing::warn!(account = %account, region = %region, error = %e, "Security Hub findings were not imported")
            }
        }
        Ok(())
    }
}
