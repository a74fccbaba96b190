//! QUOTA-1: the image count against ECR's per-repository quota.

use super::{result, IMAGES_PER_REPOSITORY};
use crate::audit::model::{CheckResult, CheckSeverity, Status};
use crate::image::Image;
use serde_json::{json, Value};

pub(super) fn image_count(images: &[Image]) -> CheckResult {
    let count = images.len();
    if count * 5 >= IMAGES_PER_REPOSITORY * 4 {
        result(
            "QUOTA-1",
            Status::Warn,
            CheckSeverity::Medium,
            format!("{count} images: at or above 80 % of ECR's {IMAGES_PER_REPOSITORY} per repository"),
            json!({"images": count}),
        )
    } else {
        result("QUOTA-1", Status::Pass, CheckSeverity::Medium, format!("{count} images"), Value::Null)
    }
}
