//! What ECR will do with a repository's images under a lifecycle policy, offline and exactly.
//!
//! The semantics (see the ECR User Guide, "Lifecycle policies"):
//! 1. every rule selects, over *all* images of its storage class, the images its tag filter
//!    matches, and marks the ones its count or age criterion condemns;
//! 2. rules are applied by priority; an image is acted on by at most one rule, and once a rule's
//!    filter matched an image no lower-priority rule may act on it, even if that rule kept it.
//!
//! So an image's fate is decided by the *first* rule whose filter matches it, while count rules
//! still rank every image they select. One pass over the images, newest first, does both.
//! 3. an expired image takes its referrers (OCI 1.1 `subject`: signatures, SBOMs, attestations)
//!    with it, whatever their own rules say.

use super::model::{ActionType, CountType, LifecyclePolicy, Rule, StorageClass, TagStatus};
use crate::image::{short_digest, Image};
use crate::tag_match::TagMatcher;
use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, VecDeque};

/// What happens to one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fate {
    Expire,
    Transition,
    /// The first rule matching the image keeps it (and so shields it from every later rule).
    Keep,
    /// No rule of its storage class matches the image: nothing will ever act on it.
    Unmanaged,
    /// Being restored from archive; rules apply once it is active again.
    Restoring,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub fate: Fate,
    /// Index into `policy.rules` of the first rule whose filter matched the image.
    pub rule: Option<usize>,
    /// 1-based rank of the image among everything that rule selects, newest first.
    pub position: u32,
    /// When the rule's criterion was (or will be) first met; `None` when it never will be under
    /// the current inventory (a count rule that keeps the image, an unknown archive time).
    pub eligible_since: Option<DateTime<Utc>>,
    /// The rule would expire the image, but this manifest list (index into the images)
    /// references it, and ECR keeps referenced images while the list exists.
    pub referenced_by: Option<usize>,
    /// A referrer (signature, SBOM, attestation) expired with its subject, this image (index
    /// into the images): ECR deletes an image's referrers with it, whatever their own rules say.
    pub with_subject: Option<usize>,
}

/// The simulator's answer for one inventory: a decision per image, in input order.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    pub policy: &'a LifecyclePolicy,
    pub images: &'a [Image],
    pub now: DateTime<Utc>,
    pub decisions: Vec<Decision>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanSummary {
    pub images: usize,
    pub expire: usize,
    pub transition: usize,
    pub unmanaged: usize,
    /// Σ `imageSizeInBytes` of the images the plan expires.
    pub bytes_freed: u64,
}

/// A rule prepared for matching.
struct Compiled<'p> {
    rule: &'p Rule,
    index: usize,
    class: StorageClass,
    status: TagStatus,
    matchers: Vec<TagMatcher>,
    count: Criterion,
}

enum Criterion {
    /// Keep this many newest; remember the push times of the last `n` selected images so an
    /// image past the limit knows when it was pushed out.
    MoreThan {
        n: u32,
        recent: VecDeque<DateTime<Utc>>,
    },
    Age {
        since: CountType,
        limit: Duration,
    },
}

impl<'p> Compiled<'p> {
    fn new(index: usize, rule: &'p Rule) -> Self {
        let sel = &rule.selection;
        let (entries, prefixes) = sel.tag_filter();
        let matchers =
            entries.iter().map(|e| if prefixes { TagMatcher::prefix(e) } else { TagMatcher::pattern(e) }).collect();
        let count = match sel.count_type {
            CountType::ImageCountMoreThan => Criterion::MoreThan { n: sel.count_number, recent: VecDeque::new() },
            since => Criterion::Age { since, limit: Duration::days(i64::from(sel.count_number)) },
        };
        Compiled { rule, index, class: sel.storage_class(), status: sel.tag_status, matchers, count }
    }

    fn selects(&self, class: StorageClass, image: &Image) -> bool {
        if class != self.class {
            return false;
        }
        match self.status {
            TagStatus::Any => true,
            TagStatus::Untagged => image.tags.is_empty(),
            // Every entry must match at least one tag; different entries may use different tags.
            TagStatus::Tagged => !image.tags.is_empty() && self.matchers.iter().all(|m| m.matches_any(&image.tags)),
        }
    }

    fn is_count(&self) -> bool {
        matches!(self.count, Criterion::MoreThan { .. })
    }

    /// Called for every selected image in newest-first order: whether the criterion condemns
    /// it at `now`, and since when it does (or will).
    fn rank(
        &mut self,
        image: &Image,
        pushed: DateTime<Utc>,
        position: u32,
        now: DateTime<Utc>,
    ) -> (bool, Option<DateTime<Utc>>) {
        match &mut self.count {
            Criterion::MoreThan { n, recent } => {
                let eligible = if position > *n { recent.front().copied() } else { None };
                recent.push_back(pushed);
                if recent.len() > *n as usize {
                    recent.pop_front();
                }
                (position > *n, eligible)
            }
            Criterion::Age { since, limit } => {
                let from = match since {
                    CountType::SinceImagePulled => Some(image.last_used_at()),
                    CountType::SinceImageTransitioned => image.last_archived_at,
                    _ => Some(pushed),
                };
                // Strictly older than the limit: an image exactly N days old survives.
                let eligible = from.map(|t| t + *limit);
                (eligible.is_some_and(|t| t < now), eligible)
            }
        }
    }
}

/// Simulates `policy` over `images` at `now`.
///
/// The policy is assumed valid (see [`super::validate`]); an invalid one is simulated as written.
pub fn simulate<'a>(policy: &'a LifecyclePolicy, images: &'a [Image], now: DateTime<Utc>) -> Plan<'a> {
    let mut rules: Vec<Compiled> = policy.rules.iter().enumerate().map(|(i, r)| Compiled::new(i, r)).collect();
    rules.sort_by_key(|c| c.rule.rule_priority);

    // Pass 1, in input order (sequential memory): a bit per rule that selects the image. After
    // the first match only count rules matter, and only to rank the image.
    let words = rules.len().div_ceil(64).max(1);
    let mut selected = vec![0u64; images.len() * words];
    let unmanaged = Decision {
        fate: Fate::Unmanaged,
        rule: None,
        position: 0,
        eligible_since: None,
        referenced_by: None,
        with_subject: None,
    };
    let mut decisions = vec![unmanaged; images.len()];
    for (i, image) in images.iter().enumerate() {
        let Some(class) = image.status.storage_class() else {
            decisions[i].fate = Fate::Restoring;
            continue;
        };
        let bits = &mut selected[i * words..(i + 1) * words];
        let mut decided = false;
        for (slot, rule) in rules.iter().enumerate() {
            if (!decided || rule.is_count()) && rule.selects(class, image) {
                bits[slot / 64] |= 1 << (slot % 64);
                decided = true;
            }
        }
    }

    // Pass 2, newest first over the compact bits: rank for count rules, decide by the first.
    let referenced = manifest_list_children(images);
    let mut counters = vec![0u32; rules.len()];
    for (pushed, i) in newest_first_keyed(images) {
        let image = &images[i];
        let mut decided = false;
        for (w, &word) in selected[i * words..(i + 1) * words].iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                counters[slot] += 1;
                let position = counters[slot];
                let rule = &mut rules[slot];
                let (condemned, eligible_since) = rule.rank(image, pushed, position, now);
                if decided {
                    continue;
                }
                decided = true;
                let mut decision = Decision {
                    fate: Fate::Keep,
                    rule: Some(rule.index),
                    position,
                    eligible_since,
                    referenced_by: None,
                    with_subject: None,
                };
                if condemned {
                    decision.fate = match rule.rule.action.kind {
                        ActionType::Expire => match referenced.get(image.digest.as_str()) {
                            Some(&list) => {
                                decision.referenced_by = Some(list);
                                Fate::Keep
                            }
                            None => Fate::Expire,
                        },
                        ActionType::Transition => Fate::Transition,
                    };
                }
                decisions[i] = decision;
            }
        }
    }

    expire_referrers_with_their_subjects(images, &mut decisions);
    Plan { policy, images, now, decisions }
}

/// Pass 3: what an expiry takes with it. ECR deletes an image's referrers (their `subject` is
/// its digest) when it expires it, and theirs in turn (a signature of an SBOM).
fn expire_referrers_with_their_subjects(images: &[Image], decisions: &mut [Decision]) {
    let mut referrers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, image) in images.iter().enumerate() {
        if let Some(subject) = image.subject.as_deref() {
            referrers.entry(subject).or_default().push(i);
        }
    }
    if referrers.is_empty() {
        return;
    }
    let mut expiring: Vec<usize> = (0..images.len()).filter(|&i| decisions[i].fate == Fate::Expire).collect();
    while let Some(subject) = expiring.pop() {
        for &r in referrers.get(images[subject].digest.as_str()).into_iter().flatten() {
            if decisions[r].fate != Fate::Expire {
                decisions[r].fate = Fate::Expire;
                decisions[r].with_subject = Some(subject);
                decisions[r].eligible_since = decisions[subject].eligible_since;
                expiring.push(r);
            }
        }
    }
}

/// Image indices, newest (effective) push first; ties broken by digest so the plan never
/// depends on input order. Sorting precomputed keys keeps this well under the rule pass.
pub(crate) fn newest_first(images: &[Image]) -> Vec<usize> {
    newest_first_keyed(images).into_iter().map(|(_, i)| i).collect()
}

/// [`newest_first`] with each image's effective push time, so ranking never goes back to the
/// image for it.
fn newest_first_keyed(images: &[Image]) -> Vec<(DateTime<Utc>, usize)> {
    let mut keys: Vec<(DateTime<Utc>, usize)> =
        images.iter().enumerate().map(|(i, image)| (image.effective_pushed_at(), i)).collect();
    keys.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| images[a.1].digest.cmp(&images[b.1].digest)));
    keys
}

/// Child digest → index of a manifest list in the inventory that references it.
fn manifest_list_children(images: &[Image]) -> HashMap<&str, usize> {
    let mut children = HashMap::new();
    for (i, image) in images.iter().enumerate() {
        for child in &image.child_digests {
            children.entry(child.as_str()).or_insert(i);
        }
    }
    children
}

impl<'a> Plan<'a> {
    /// Indices of images acted on (expired or transitioned), oldest push first.
    pub fn actions(&self) -> Vec<usize> {
        let mut acted: Vec<usize> = (0..self.images.len())
            .filter(|&i| matches!(self.decisions[i].fate, Fate::Expire | Fate::Transition))
            .collect();
        self.sort_oldest_first(&mut acted);
        acted
    }

    /// Indices of images no rule can ever act on, oldest push first.
    pub fn unmanaged(&self) -> Vec<usize> {
        let mut idle: Vec<usize> =
            (0..self.images.len()).filter(|&i| self.decisions[i].fate == Fate::Unmanaged).collect();
        self.sort_oldest_first(&mut idle);
        idle
    }

    fn sort_oldest_first(&self, indices: &mut [usize]) {
        indices.sort_by(|&a, &b| {
            let (ia, ib) = (&self.images[a], &self.images[b]);
            ia.effective_pushed_at().cmp(&ib.effective_pushed_at()).then_with(|| ia.digest.cmp(&ib.digest))
        });
    }

    pub fn summary(&self) -> PlanSummary {
        let mut s = PlanSummary { images: self.images.len(), ..PlanSummary::default() };
        for (image, decision) in self.images.iter().zip(&self.decisions) {
            match decision.fate {
                Fate::Expire => {
                    s.expire += 1;
                    s.bytes_freed += image.size_bytes;
                }
                Fate::Transition => s.transition += 1,
                Fate::Unmanaged => s.unmanaged += 1,
                Fate::Keep | Fate::Restoring => {}
            }
        }
        s
    }

    /// The rule that decided image `i`, if any.
    pub fn rule_of(&self, i: usize) -> Option<&'a Rule> {
        self.decisions[i].rule.map(|r| &self.policy.rules[r])
    }

    /// One sentence a person can check against the policy, e.g.
    /// `rule 1 keeps the 10 newest images matching v*; this is #14`.
    pub fn reason(&self, i: usize) -> String {
        let image = &self.images[i];
        let decision = &self.decisions[i];
        if let Some(subject) = decision.with_subject {
            let kind = image.artifact_type.as_deref().unwrap_or("referrer");
            return format!(
                "a {kind} of {}, which expires, and ECR deletes an image's referrers with it",
                short_digest(&self.images[subject].digest)
            );
        }
        let Some(rule) = self.rule_of(i) else {
            return match decision.fate {
                Fate::Restoring => "being restored from archive; rules apply once it is active".into(),
                _ if image.tags.is_empty() => {
                    "no rule matches untagged images in its storage class: it will never be expired".into()
                }
                _ => format!("no rule matches its tags ({}): it will never be expired", image.tags.join(", ")),
            };
        };
        let sel = &rule.selection;
        let p = rule.rule_priority;
        let what = rule.selection_phrase();
        let mut text = match &sel.count_type {
            CountType::ImageCountMoreThan => {
                let verb = match rule.action.kind {
                    ActionType::Expire => "keeps",
                    ActionType::Transition => "keeps in standard storage",
                };
                format!("rule {p} {verb} the {} newest {what}; this is #{}", sel.count_number, decision.position)
            }
            since => {
                let verb = match rule.action.kind {
                    ActionType::Expire => "expires",
                    ActionType::Transition => "archives",
                };
                let n = sel.count_number;
                let (criterion, from, event) = match since {
                    CountType::SinceImagePulled => {
                        let event =
                            if image.last_pulled_at.is_some() { "last pulled" } else { "pushed, never pulled," };
                        (format!("not pulled for more than {n} days"), Some(image.last_used_at()), event)
                    }
                    CountType::SinceImageTransitioned => {
                        (format!("archived more than {n} days ago"), image.last_archived_at, "archived")
                    }
                    _ => (format!("pushed more than {n} days ago"), Some(image.effective_pushed_at()), "pushed"),
                };
                let age = match from {
                    Some(t) => format!("this one was {event} {} ago", describe_age(self.now - t)),
                    None => "its archive time is unknown, so it stays".into(),
                };
                format!("rule {p} {verb} {what} {criterion}; {age}")
            }
        };
        if let Some(list) = decision.referenced_by {
            text.push_str(&format!("; kept while manifest list {} references it", self.images[list].digest));
        }
        text
    }
}

/// `3 days`, `1 day`, `5 hours`, `12 minutes`: whole units, rounded down.
pub fn describe_age(age: Duration) -> String {
    let plural = |n: i64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    if age.num_days() >= 1 {
        plural(age.num_days(), "day")
    } else if age.num_hours() >= 1 {
        plural(age.num_hours(), "hour")
    } else if age.num_minutes() >= 0 {
        plural(age.num_minutes(), "minute")
    } else {
        format!("in the future by {}", describe_age(-age))
    }
}
