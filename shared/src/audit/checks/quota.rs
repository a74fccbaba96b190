//! QUOTA-1: the image count against ECR's per-repository quota. Referrers (signatures, SBOMs,
//! attestations; managed signing adds one per push) are images to the quota and are counted.

use super::{result, IMAGES_PER_REPOSITORY};
use crate::audit::model::{CheckResult, CheckSeverity, Status};
use crate::image::Image;
use serde_json::{json, Value};

pub(super) fn image_count(images: &[Image]) -> CheckResult {
    let count = images.len();
    let referrers = images.iter().filter(|i| i.subject.is_some()).count();
    let of_which = if referrers > 0 {
        format!(" (of which {} referrers: signatures, SBOMs, attestations)", referrers)
    } else {
        String::new()
    };
    if count * 5 >= IMAGES_PER_REPOSITORY * 4 {
        result(
            "QUOTA-1",
            Status::Warn,
            CheckSeverity::Medium,
            format!("{count} images{of_which}: at or above 80 % of ECR's {IMAGES_PER_REPOSITORY} per repository"),
            json!({"images": count, "referrers": referrers}),
        )
    } else {
        result(
            "QUOTA-1",
            Status::Pass,
            CheckSeverity::Medium,
            format!("{}{of_which}", crate::lifecycle::count(count as u64, "image", "images")),
            Value::Null,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::image_count;
    use crate::image::Image;
    use chrono::{TimeZone, Utc};

    #[test]
    fn one_image_is_one_image() {
        let at = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default();
        let one = [Image::new("sha256:a".to_string(), &["v1"], at, 1_000)];
        assert_eq!(image_count(&one).message, "1 image");
        let two = [one[0].clone(), Image::new("sha256:b".to_string(), &["v2"], at, 1_000)];
        assert_eq!(image_count(&two).message, "2 images");
        let signed = [
            one[0].clone(),
            Image::new("sha256:s", &[], at, 500).referring_to("sha256:a", "application/vnd.cncf.notary.signature"),
        ];
        assert_eq!(image_count(&signed).message, "2 images (of which 1 referrers: signatures, SBOMs, attestations)");
    }
}
