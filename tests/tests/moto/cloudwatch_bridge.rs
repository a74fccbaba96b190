//! The harness's CloudWatch bridge: aws-sdk-cloudwatch (rpc-v2-cbor) against moto (JSON 1.0).

use aws_sdk_cloudwatch::types::{
    Dimension, DimensionFilter, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit,
};
use aws_smithy_types::DateTime;
use ecr_keeper_tests::LocalAws;
use std::time::{SystemTime, UNIX_EPOCH};

#[tokio::test(flavor = "multi_thread")]
async fn put_metric_data_then_read_it_back_through_the_sdk() {
    let aws = LocalAws::start_with_cloudwatch();
    let cw = aws.cloudwatch().await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default();
    let dimension = Dimension::builder().name("Repository").value("app-template-dev").build();
    for (value, offset) in [(3.0, 120), (4.0, 60)] {
        cw.put_metric_data()
            .namespace("EcrKeeper")
            .metric_data(
                MetricDatum::builder()
                    .metric_name("ImagePushes")
                    .dimensions(dimension.clone())
                    .unit(StandardUnit::Count)
                    .value(value)
                    .timestamp(DateTime::from_secs(now - offset))
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutMetricData: {}", aws_smithy_types::error::display::DisplayErrorContext(&e)));
    }

    let listed = cw
        .list_metrics()
        .namespace("EcrKeeper")
        .dimensions(DimensionFilter::builder().name("Repository").value("app-template-dev").build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListMetrics: {}", aws_smithy_types::error::display::DisplayErrorContext(&e)));
    let names: Vec<&str> = listed.metrics().iter().filter_map(|m| m.metric_name()).collect();
    assert_eq!(names, ["ImagePushes"]);

    let query = MetricDataQuery::builder()
        .id("pushes")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder().namespace("EcrKeeper").metric_name("ImagePushes").dimensions(dimension).build(),
                )
                .period(3600)
                .stat("Sum")
                .build(),
        )
        .build();
    let data = cw
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from_secs(now - 3600))
        .end_time(DateTime::from_secs(now + 60))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetMetricData: {}", aws_smithy_types::error::display::DisplayErrorContext(&e)));
    let result = &data.metric_data_results()[0];
    assert_eq!(result.id(), Some("pushes"));
    assert_eq!(result.values().iter().sum::<f64>(), 7.0);
    // Timestamps came back as CBOR datetimes the SDK could decode.
    assert!(
        result.timestamps().iter().all(|t| (now - 7200..=now + 3600).contains(&t.secs())),
        "{:?}",
        result.timestamps()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_come_back_typed_and_other_services_pass_through() {
    let aws = LocalAws::start_with_cloudwatch();
    let cw = aws.cloudwatch().await;
    let err = cw
        .put_metric_data()
        .namespace("EcrKeeper")
        .metric_data(MetricDatum::builder().metric_name("X").value(1.0).unit(StandardUnit::Count).values(2.0).build())
        .send()
        .await
        .err()
        .map(|e| aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&e).unwrap_or_default().to_string());
    // AWS says InvalidParameterCombination here; moto says InvalidParameterValue. Either way the
    // error code survives the JSON → CBOR translation as a typed code, not a decoding failure.
    assert_eq!(err.as_deref(), Some("InvalidParameterValueException"));

    // ECR through the same endpoint reaches moto untouched.
    let ecr = aws.ecr().await;
    ecr.create_repository().repository_name("through-the-bridge").send().await.unwrap_or_else(|e| panic!("{e}"));
    let listed = ecr.describe_repositories().send().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.repositories().len(), 1);
}
