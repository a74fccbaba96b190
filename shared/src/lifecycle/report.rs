//! The lifecycle preview as a stable JSON document (for scripts) and a table (for people),
//! both from the same [`Plan`].

use super::simulate::{describe_age, newest_first, Fate, Plan};
use crate::image::{short_digest, Image};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewReport {
    /// Expired or transitioned images, oldest push first.
    pub actions: Vec<PreviewAction>,
    /// Images no rule can ever act on, oldest push first.
    pub unmanaged: Vec<UnmanagedImage>,
    pub summary: PreviewSummary,
    /// Running images the policy expires or archives, when workloads were read (`--in-use`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_risk: Option<Vec<AtRisk>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewAction {
    pub image_digest: String,
    pub image_tags: Vec<String>,
    pub action: &'static str,
    pub rule_priority: u32,
    pub reason: String,
    /// A referrer expired with its subject: the subject's digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with_subject: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnmanagedImage {
    pub image_digest: String,
    pub image_tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewSummary {
    pub images: usize,
    pub expire: usize,
    pub transition: usize,
    pub unmanaged: usize,
    pub bytes_freed: u64,
}

impl PreviewReport {
    pub fn from_plan(plan: &Plan) -> Self {
        let actions = plan
            .actions()
            .into_iter()
            .map(|i| {
                let image = &plan.images[i];
                let with_subject = plan.decisions[i].with_subject;
                // A referrer goes by its subject's rule, not by its own.
                let decided_by = with_subject.unwrap_or(i);
                PreviewAction {
                    image_digest: image.digest.clone(),
                    image_tags: image.tags.clone(),
                    action: match plan.decisions[i].fate {
                        Fate::Transition => "transition",
                        _ => "expire",
                    },
                    rule_priority: plan.rule_of(decided_by).map_or(0, |r| r.rule_priority),
                    reason: plan.reason(i),
                    with_subject: with_subject.map(|s| plan.images[s].digest.clone()),
                }
            })
            .collect();
        let unmanaged = plan
            .unmanaged()
            .into_iter()
            .map(|i| UnmanagedImage {
                image_digest: plan.images[i].digest.clone(),
                image_tags: plan.images[i].tags.clone(),
            })
            .collect();
        let s = plan.summary();
        PreviewReport {
            actions,
            unmanaged,
            summary: PreviewSummary {
                images: s.images,
                expire: s.expire,
                transition: s.transition,
                unmanaged: s.unmanaged,
                bytes_freed: s.bytes_freed,
            },
            at_risk: None,
        }
    }
}

/// `order` with every referrer moved right under its subject (when the subject is in the
/// inventory), each with its depth: 0 for an image, 1 for its referrers, 2 for theirs.
fn under_their_subjects(images: &[Image], order: &[usize]) -> Vec<(usize, usize)> {
    let index: HashMap<&str, usize> = images.iter().enumerate().map(|(i, im)| (im.digest.as_str(), i)).collect();
    let mut referrers: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut placed_under = vec![false; images.len()];
    for &i in order {
        if let Some(&s) = images[i].subject.as_deref().and_then(|s| index.get(s)) {
            if s != i {
                referrers.entry(s).or_default().push(i);
                placed_under[i] = true;
            }
        }
    }
    let mut out = Vec::with_capacity(order.len());
    let mut seen = vec![false; images.len()];
    for &i in order.iter().filter(|&&i| !placed_under[i]) {
        let mut stack = vec![(i, 0usize)];
        while let Some((j, depth)) = stack.pop() {
            if std::mem::replace(&mut seen[j], true) {
                continue;
            }
            out.push((j, depth));
            for &r in referrers.get(&j).into_iter().flatten().rev() {
                stack.push((r, depth + 1));
            }
        }
    }
    // A cycle of subjects (not a real inventory) still shows every image once.
    out.extend(order.iter().filter(|&&i| !seen[i]).map(|&i| (i, 0)));
    out
}

/// One line per image, newest first (a referrer right under its subject): digest, tags, age,
/// size and fate with its reason.
pub fn render_table(plan: &Plan) -> String {
    let order = under_their_subjects(plan.images, &newest_first(plan.images));
    let rows: Vec<[String; 5]> = order
        .iter()
        .map(|&(i, depth)| {
            let image = &plan.images[i];
            let tags = if image.tags.is_empty() { "<untagged>".to_string() } else { image.tags.join(",") };
            let tags = match (depth, image.artifact_type.as_deref()) {
                (0, _) => tags,
                (d, kind) => format!("{}└ {} {tags}", "  ".repeat(d - 1), kind.unwrap_or("referrer")),
            };
            let fate = match plan.decisions[i].fate {
                Fate::Expire => "EXPIRE",
                Fate::Transition => "ARCHIVE",
                Fate::Keep => "keep",
                Fate::Unmanaged => "UNMANAGED",
                Fate::Restoring => "restoring",
            };
            [
                short_digest(&image.digest),
                tags,
                describe_age(plan.now - image.effective_pushed_at()),
                human_bytes(image.size_bytes),
                format!("{fate}: {}", plan.reason(i)),
            ]
        })
        .collect();
    let header = ["DIGEST", "TAGS", "AGE", "SIZE", "FATE"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| -> String {
        let mut out = String::new();
        for (k, cell) in cells.iter().enumerate() {
            if k == 4 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[k]));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(header);
    out.push('\n');
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
        out.push('\n');
    }
    let s = plan.summary();
    out.push_str(&format!(
        "{}: {} expire ({} freed), {} archive, {} unmanaged\n",
        count(s.images as u64, "image", "images"),
        s.expire,
        human_bytes(s.bytes_freed),
        s.transition,
        s.unmanaged
    ));
    out
}

/// Binary units, as ECR bills them (1 GB = 2^30 bytes).
/// `1 image`, `3 images`: a count with its noun.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A time as people read it in reports: to the second, UTC.
pub fn to_second(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// An in-use image the policy will expire or archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AtRisk {
    pub image_digest: String,
    pub image_tags: Vec<String>,
    /// `expire` or `transition`.
    pub action: String,
    pub rule_priority: u32,
    pub workloads: Vec<String>,
    /// When the rule's criterion is (or was) met; ECR acts within 24 hours of it.
    pub eligible_since: Option<String>,
    /// False: the rule acts later, when `eligibleSince` comes.
    pub now: bool,
}
