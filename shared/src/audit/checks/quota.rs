//! QUOTA-1: the image count against ECR's per-repository quota. Referrers (signatures, SBOMs,
//! attestations; managed signing adds one per push) are images to the quota and are counted.

use super::{result, IMAGES_PER_REPOSITORY};
use crate::audit::model::{CheckResult, CheckSeverity, Status};
use crate::image::Image;
use serde_json::{json, Value};

pub(super) fn image_count(images: &[Image], applied: Option<u64>) -> CheckResult {
    let count = images.len() as u64;
    let referrers = images.iter().filter(|i| i.subject.is_some()).count();
    let of_which = if referrers > 0 {
        format!(" (of which {} referrers: signatures, SBOMs, attestations)", referrers)
    } else {
        String::new()
    };
    let (quota, source) = match applied {
        Some(q) => (q, "the applied quota (Service Quotas)"),
        None => (IMAGES_PER_REPOSITORY, "ECR's default quota"),
    };
    let evidence = json!({"images": count, "referrers": referrers, "quota": quota, "quotaSource": if applied.is_some() { "service-quotas" } else { "default" }});
    if count * 5 >= quota * 4 {
        result(
            "QUOTA-1",
            Status::Warn,
            CheckSeverity::Medium,
            format!("{count} images{of_which}: at or above 80 % of {source}, {quota} per repository"),
            evidence,
        )
    } else {
        result(
            "QUOTA-1",
            Status::Pass,
            CheckSeverity::Medium,
            format!("{}{of_which}", crate::lifecycle::count(count, "image", "images")),
            if applied.is_some() { evidence } else { Value::Null },
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
        assert_eq!(image_count(&one, None).message, "1 image");
        let two = [one[0].clone(), Image::new("sha256:b".to_string(), &["v2"], at, 1_000)];
        assert_eq!(image_count(&two, None).message, "2 images");
        let signed = [
            one[0].clone(),
            Image::new("sha256:s", &[], at, 500).referring_to("sha256:a", "application/vnd.cncf.notary.signature"),
        ];
        assert_eq!(
            image_count(&signed, None).message,
            "2 images (of which 1 referrers: signatures, SBOMs, attestations)"
        );
    }

    #[test]
    fn the_applied_quota_replaces_the_default_and_referrers_count_toward_it() {
        let at = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default();
        let image = |d: &str| Image::new(d.to_string(), &[], at, 1_000);
        // 3 images and 5 signatures of them: 8 of an applied quota of 10 is 80 %
        let mut images: Vec<Image> = (0..3).map(|i| image(&format!("sha256:{i}"))).collect();
        images.extend(
            (0..5).map(|i| {
                image(&format!("sha256:s{i}")).referring_to("sha256:0", "application/vnd.cncf.notary.signature")
            }),
        );
        let warned = image_count(&images, Some(10));
        assert_eq!(warned.status, crate::audit::Status::Warn);
        assert_eq!(
            warned.message,
            "8 images (of which 5 referrers: signatures, SBOMs, attestations): at or above 80 % of the applied quota (Service Quotas), 10 per repository"
        );
        assert_eq!(warned.evidence["quotaSource"], "service-quotas");
        assert_eq!(image_count(&images[..7], Some(10)).status, crate::audit::Status::Pass);
        assert_eq!(image_count(&images, None).status, crate::audit::Status::Pass, "8 of the default 100,000");
    }
}
