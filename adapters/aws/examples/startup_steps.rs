//! Where a function's start-up goes: the steps of the functions' `main`s before the first
//! Runtime API call, each timed once, as one JSON line. Run it many times and take medians:
//! `for i in $(seq 15); do target/release/examples/startup_steps; done` after
//! `cargo build --release --example startup_steps -p ecr-keeper-aws`.

use ecr_keeper_aws::{
    cloudwatch_client, dynamodb_client, ecr_client, sdk_config, sns_client, AwsOptions, EcrRegistry, HttpsTransport,
    RetryProfile,
};
use std::time::Instant;

fn main() {
    let start = Instant::now();
    let mut last = start;
    let mut steps: Vec<(&str, f64)> = Vec::new();
    let mut step = |name: &'static str| {
        let now = Instant::now();
        steps.push((name, (now - last).as_secs_f64() * 1000.0));
        last = now;
    };
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread().enable_all().build() else {
        eprintln!("startup_steps: no tokio runtime");
        return;
    };
    step("tokio runtime");
    lambda_support::init_logging();
    step("logging");
    let config = runtime.block_on(sdk_config(&AwsOptions::lambda(RetryProfile::Interactive)));
    step("SDK config");
    let transport = HttpsTransport::new();
    step("HTTPS transport");
    let registry = EcrRegistry::new(ecr_client(&config));
    step("ECR client");
    let cloudwatch = cloudwatch_client(&config);
    step("CloudWatch client");
    let (sns, dynamodb) = (sns_client(&config), dynamodb_client(&config));
    step("SNS and DynamoDB clients");
    let s3 = ecr_keeper_aws::s3_client(&config);
    step("S3 client");
    let cloudformation = ecr_keeper_aws::cloudformation_client(&config);
    step("CloudFormation client");
    let directory = ecr_keeper_aws::OrganizationsDirectory::new(&config);
    step("Organizations directory");
    let total = (last - start).as_secs_f64() * 1000.0;
    let fields: Vec<String> = steps.iter().map(|(n, ms)| format!("\"{n}\": {ms:.3}")).collect();
    println!("{{{}, \"total\": {total:.3}}}", fields.join(", "));
    drop((registry, transport.is_ok(), cloudwatch, sns, dynamodb, s3, cloudformation, directory));
}
