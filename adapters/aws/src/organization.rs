//! Reaching an organization: the member role in each account (STS AssumeRole), the accounts
//! themselves (Organizations).

use crate::failure::{self, FailureKind, Kind};
use crate::EcrRegistry;
use aws_config::SdkConfig;
use aws_sdk_ecr::config::{Credentials, Region};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use ecr_keeper_core::organization::{AccessError, Directory, DirectoryError, Registries, Scope, Target};
use std::time::SystemTime;

/// STS allows 2–64 characters of `[\w+=,.@-]` in a session name.
fn session_name(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) { c } else { '-' })
        .take(64)
        .collect();
    if cleaned.len() < 2 {
        "ecr-keeper".to_string()
    } else {
        cleaned
    }
}

/// Registries reached through the member role; the central account's own with its own
/// credentials (it needs no member role).
#[derive(Clone)]
pub struct MemberRegistries {
    sdk: SdkConfig,
    sts: aws_sdk_sts::Client,
    scope_role: String,
    external_id: Option<String>,
    own_account: Option<String>,
    partition: String,
    session: String,
}

impl MemberRegistries {
    /// `session` names the run in the member accounts' CloudTrail (`ecr-keeper-audit-<run id>`).
    pub async fn new(sdk: &SdkConfig, scope: &Scope, session: &str) -> Self {
        Self::with_role(sdk, &scope.role_name, scope.external_id.as_deref(), session).await
    }

    /// The member role `role_name` in whichever account a call names (the reactions).
    pub async fn with_role(sdk: &SdkConfig, role_name: &str, external_id: Option<&str>, session: &str) -> Self {
        let sts = aws_sdk_sts::Client::new(sdk);
        // Who we are: the own account needs no role; the partition names the member roles.
        let (own_account, partition) = match sts.get_caller_identity().send().await {
            Ok(me) => {
                let partition = me.arn().and_then(|a| a.split(':').nth(1)).unwrap_or("aws").to_string();
                (me.account().map(str::to_string), partition)
            }
            Err(e) => {
                tracing::warn!(error = %crate::one_line(&e), "GetCallerIdentity failed: every account goes through its member role");
                (None, "aws".to_string())
            }
        };
        MemberRegistries {
            sdk: sdk.clone(),
            sts,
            scope_role: role_name.to_string(),
            external_id: external_id.map(str::to_string),
            own_account,
            partition,
            session: session_name(session),
        }
    }

    pub fn own_account(&self) -> Option<&str> {
        self.own_account.as_deref()
    }

    fn ecr_in(&self, region: &str, credentials: Option<Credentials>) -> EcrRegistry {
        let mut config = crate::config::ecr_config(&self.sdk).region(Region::new(region.to_string()));
        if let Some(credentials) = credentials.clone() {
            config = config.credentials_provider(credentials);
        }
        let registry = EcrRegistry::new(aws_sdk_ecr::Client::from_conf(config.build()));
        // The member's applied quota, read in its account and region.
        #[cfg(feature = "service-quotas")]
        let registry = {
            let mut quotas =
                aws_sdk_servicequotas::config::Builder::from(&self.sdk).region(Region::new(region.to_string()));
            if let Some(credentials) = credentials {
                quotas = quotas.credentials_provider(credentials);
            }
            registry.reading_quotas(quotas.build())
        };
        registry
    }
}

/// `target`'s Security Hub (its region, its account's default product) through the member
/// role: Security Hub takes a finding only from the account it names.
#[cfg(feature = "security-hub")]
impl ecr_keeper_core::organization::MemberHubs for MemberRegistries {
    type Hub = crate::SecurityHubFindings;

    async fn hub(&self, target: &Target) -> Result<crate::SecurityHubFindings, AccessError> {
        let mut config =
            aws_sdk_securityhub::config::Builder::from(&self.sdk).region(Region::new(target.region.clone()));
        if let Some(credentials) = self.credentials(target).await? {
            config = config.credentials_provider(credentials);
        }
        let client = aws_sdk_securityhub::Client::from_conf(config.build());
        Ok(crate::SecurityHubFindings::with_client(client, &target.region, &target.account))
    }
}

impl MemberRegistries {
    /// The member role's credentials in `target`'s account; `None` in the own account.
    async fn credentials(&self, target: &Target) -> Result<Option<Credentials>, AccessError> {
        if self.own_account.as_deref() == Some(target.account.as_str()) {
            return Ok(None);
        }
        let role_arn = format!("arn:{}:iam::{}:role/{}", self.partition, target.account, self.scope_role);
        let assumed = self
            .sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(&self.session)
            .set_external_id(self.external_id.clone())
            .send()
            .await;
        let credentials = match assumed {
            Ok(out) => out.credentials,
            Err(e) => {
                let failure = failure::classify(&e);
                let reason = failure.coded();
                return Err(match (failure.code.as_str(), failure.kind) {
                    ("RegionDisabledException", _) => AccessError::RegionNotEnabled {
                        account: target.account.clone(),
                        region: target.region.clone(),
                        reason,
                    },
                    (_, FailureKind::Answered(Kind::Throttled | Kind::Service) | FailureKind::Transport) => {
                        AccessError::Unavailable { role_arn, reason }
                    }
                    _ => AccessError::CannotAssume { role_arn, reason },
                });
            }
        };
        let Some(c) = credentials else {
            return Err(AccessError::CannotAssume { role_arn, reason: "STS returned no credentials".into() });
        };
        let expiry = SystemTime::try_from(c.expiration).ok();
        Ok(Some(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            expiry,
            "ecr-keeper-member",
        )))
    }
}

impl Registries for MemberRegistries {
    type Registry = EcrRegistry;

    async fn reach(&self, target: &Target) -> Result<EcrRegistry, AccessError> {
        let credentials = self.credentials(target).await?;
        Ok(self.ecr_in(&target.region, credentials))
    }

    /// The same registries, their AssumeRole sessions named for one run.
    fn for_run(&self, session: &str) -> Self {
        MemberRegistries { session: session_name(session), ..self.clone() }
    }
}

/// The organization's accounts, read from its management account or a delegated administrator.
pub struct OrganizationsDirectory {
    client: aws_sdk_organizations::Client,
}

impl OrganizationsDirectory {
    pub fn new(sdk: &SdkConfig) -> Self {
        OrganizationsDirectory { client: aws_sdk_organizations::Client::new(sdk) }
    }

    fn refused<E: ProvideErrorMetadata + std::error::Error + 'static>(e: &E, unit: Option<&str>) -> DirectoryError {
        let code = e.code().unwrap_or("Unknown").to_string();
        match (code.as_str(), unit) {
            ("ParentNotFoundException", Some(unit)) => DirectoryError::NoSuchUnit { unit: unit.to_string() },
            ("AccessDeniedException" | "AWSOrganizationsNotInUseException", _) => DirectoryError::AccessDenied { code },
            _ => DirectoryError::NotAvailable(crate::one_line(e)),
        }
    }

    fn active(accounts: &[aws_sdk_organizations::types::Account]) -> impl Iterator<Item = String> + '_ {
        use aws_sdk_organizations::types::AccountStatus;
        accounts
            .iter()
            .filter(|a| a.status.as_ref().is_none_or(|s| *s == AccountStatus::Active))
            .filter_map(|a| a.id.clone())
    }

    /// The accounts directly under `parent`, and its units.
    async fn under(&self, parent: &str) -> Result<(Vec<String>, Vec<String>), DirectoryError> {
        let mut accounts = Vec::new();
        let mut pages = self.client.list_accounts_for_parent().parent_id(parent).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Self::refused(&e, Some(parent)))?;
            accounts.extend(Self::active(page.accounts()));
        }
        let mut units = Vec::new();
        let mut pages = self.client.list_organizational_units_for_parent().parent_id(parent).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Self::refused(&e, Some(parent)))?;
            units.extend(page.organizational_units().iter().filter_map(|u| u.id.clone()));
        }
        Ok((accounts, units))
    }
}

impl Directory for OrganizationsDirectory {
    async fn active_accounts(&self, units: &[String]) -> Result<Vec<String>, DirectoryError> {
        if units.is_empty() {
            let mut out = Vec::new();
            let mut pages = self.client.list_accounts().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| Self::refused(&e, None))?;
                out.extend(Self::active(page.accounts()));
            }
            return Ok(out);
        }
        // Breadth first through the units below each one given.
        let mut out = Vec::new();
        let mut queue: Vec<String> = units.to_vec();
        while let Some(unit) = queue.pop() {
            let (accounts, children) = self.under(&unit).await?;
            out.extend(accounts);
            queue.extend(children);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_name_is_what_sts_accepts() {
        assert_eq!(session_name("ecr-keeper-audit-run/1 2"), "ecr-keeper-audit-run-1-2");
        assert_eq!(session_name(&"x".repeat(80)).len(), 64);
        assert_eq!(session_name("a"), "ecr-keeper");
    }
}
