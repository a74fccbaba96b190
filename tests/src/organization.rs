//! An AWS Organization on moto: `tests/support/organization.py` creates it and deploys
//! member/template.yaml in each member account (but those asked to go without); here, clients
//! acting in a member account, as its platform team would (OrganizationAccountAccessRole).

use crate::{repo_root, venv_python, LocalAws};
use aws_sdk_ecr::config::{Credentials, Region};
use std::process::Command;

/// The external id the tests' member roles require.
pub const EXTERNAL_ID: &str = "keeper-test-external-id";

#[derive(Debug, Clone)]
pub struct Organization {
    pub management: String,
    /// In creation order.
    pub members: Vec<String>,
    /// The members with the member role.
    pub with_role: Vec<String>,
}

/// What the member stacks allow beyond reading (member/template.yaml's parameters).
#[derive(Debug, Clone, Copy, Default)]
pub struct Grants {
    /// AllowRemediation=true.
    pub remediation: bool,
    /// AllowSecurityHubFindings=true.
    pub security_hub: bool,
}

impl Organization {
    /// `members` accounts; those at `without_role` get no member stack. The member roles trust
    /// `trusted` and require [`EXTERNAL_ID`]; `remediation` lets them write.
    pub fn create(
        aws: &LocalAws,
        members: usize,
        without_role: &[usize],
        regions: &[&str],
        trusted: &[&str],
        remediation: bool,
    ) -> Organization {
        Self::create_with(aws, members, without_role, regions, trusted, Grants { remediation, security_hub: false })
    }

    /// [`Organization::create`], the member stacks deployed with `grants`.
    pub fn create_with(
        aws: &LocalAws,
        members: usize,
        without_role: &[usize],
        regions: &[&str],
        trusted: &[&str],
        grants: Grants,
    ) -> Organization {
        let without: Vec<String> = without_role.iter().map(usize::to_string).collect();
        let mut command = Command::new(venv_python());
        command.arg(repo_root().join("tests/support/organization.py")).args([
            "--endpoint",
            &aws.moto_url,
            "--members",
            &members.to_string(),
            "--without-role",
            &without.join(","),
            "--regions",
            &regions.join(","),
            "--trusted",
            &trusted.join(","),
            "--external-id",
            EXTERNAL_ID,
        ]);
        if grants.remediation {
            command.arg("--remediation");
        }
        if grants.security_hub {
            command.arg("--security-hub");
        }
        let out = command.output().unwrap_or_else(|e| panic!("organization.py: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!("organization.py said ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
        });
        let ids = |key: &str| -> Vec<String> {
            v[key].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_string)).collect()
        };
        Organization {
            management: v["management"].as_str().unwrap_or_default().to_string(),
            members: ids("members"),
            with_role: ids("withRole"),
        }
    }

    /// An ECR client acting in `account`'s registry in `region`.
    pub async fn ecr_in(aws: &LocalAws, account: &str, region: &str) -> aws_sdk_ecr::Client {
        let (sdk, credentials) = Self::platform_team(aws, account).await;
        let config = aws_sdk_ecr::config::Builder::from(&sdk)
            .region(Region::new(region.to_string()))
            .credentials_provider(credentials)
            .build();
        aws_sdk_ecr::Client::from_conf(config)
    }

    /// A Security Hub client acting in `account` in `region`.
    pub async fn security_hub_in(aws: &LocalAws, account: &str, region: &str) -> aws_sdk_securityhub::Client {
        let (sdk, credentials) = Self::platform_team(aws, account).await;
        let config = aws_sdk_securityhub::config::Builder::from(&sdk)
            .region(aws_sdk_securityhub::config::Region::new(region.to_string()))
            .credentials_provider(credentials)
            .build();
        aws_sdk_securityhub::Client::from_conf(config)
    }

    /// The harness's config and the credentials of `account`'s OrganizationAccountAccessRole.
    async fn platform_team(aws: &LocalAws, account: &str) -> (aws_config::SdkConfig, Credentials) {
        let sdk = aws.sdk_config().await;
        let sts = aws_sdk_sts::Client::new(&sdk);
        let assumed = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole"))
            .role_session_name("platform-team")
            .send()
            .await
            .unwrap_or_else(|e| panic!("AssumeRole into {account}: {e:?}"));
        let c = assumed.credentials.unwrap_or_else(|| panic!("no credentials"));
        let credentials = Credentials::new(c.access_key_id, c.secret_access_key, Some(c.session_token), None, "test");
        (sdk, credentials)
    }
}
