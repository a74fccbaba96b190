"""An AWS Organization on moto, as a platform team has it: the management account (moto's
default, 123456789012) creates the organization and its member accounts; each member account but
those named by --without-role gets member/template.yaml deployed by CloudFormation (through
OrganizationAccountAccessRole, which Organizations creates in every account it creates), as the
member StackSet would deploy it.

Usage: python organization.py --endpoint URL --members 3 --without-role 2 --regions us-east-1,eu-west-1
         --trusted ARN,ARN [--external-id X] [--remediation] [--security-hub] [--central-bus ARN]
Prints one JSON object: management, members (ids, in creation order), withRole.
"""

import argparse
import json
import pathlib

import boto3

ROOT = pathlib.Path(__file__).resolve().parents[2]
KEYS = dict(aws_access_key_id="testing", aws_secret_access_key="testing")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--without-role", default="", help="indexes (0-based) of members left without the member stack")
    parser.add_argument("--regions", default="us-east-1")
    parser.add_argument("--trusted", required=True)
    parser.add_argument("--external-id", default="")
    parser.add_argument("--remediation", action="store_true")
    parser.add_argument("--security-hub", action="store_true")
    parser.add_argument("--central-bus", default="")
    args = parser.parse_args()

    org = boto3.client("organizations", endpoint_url=args.endpoint, region_name="us-east-1", **KEYS)
    sts = boto3.client("sts", endpoint_url=args.endpoint, region_name="us-east-1", **KEYS)
    try:
        org.create_organization(FeatureSet="ALL")
    except org.exceptions.AlreadyInOrganizationException:
        pass
    management = sts.get_caller_identity()["Account"]
    without = {int(i) for i in args.without_role.split(",") if i}
    members, with_role = [], []
    regions = [r for r in args.regions.split(",") if r]
    template = (ROOT / "member/template.yaml").read_text()
    for i in range(args.members):
        account = org.create_account(AccountName=f"team-{i}", Email=f"team-{i}@example.com")["CreateAccountStatus"]["AccountId"]
        members.append(account)
        if i in without:
            continue
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                                RoleSessionName="platform-team")["Credentials"]
        for region in regions:
            cfn = boto3.client("cloudformation", endpoint_url=args.endpoint, region_name=region,
                               aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                               aws_session_token=creds["SessionToken"])
            parameters = {
                "TrustedRoleArns": args.trusted,
                "RoleRegion": regions[0],
                "ExternalId": args.external_id,
                "AllowRemediation": "true" if args.remediation else "false",
                "AllowSecurityHubFindings": "true" if args.security_hub else "false",
                "CentralEventBusArn": args.central_bus,
            }
            cfn.create_stack(StackName="ecr-keeper-member", TemplateBody=template, Capabilities=["CAPABILITY_NAMED_IAM"],
                             Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
            status = cfn.describe_stacks(StackName="ecr-keeper-member")["Stacks"][0]["StackStatus"]
            if status != "CREATE_COMPLETE":
                raise SystemExit(f"member stack in {account} {region}: {status}")
        with_role.append(account)
    print(json.dumps({"management": management, "members": members, "withRole": with_role}))


if __name__ == "__main__":
    main()
