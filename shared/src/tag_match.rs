//! Tag filters: prefixes and `*` globs, compiled once per rule and matched without allocating.

/// One entry of a `tagPrefixList` or `tagPatternList`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagMatcher {
    Prefix(String),
    /// A glob anchored at both ends, split at its `*`s: `first*mid*…*last`.
    Glob {
        parts: Vec<String>,
    },
}

impl TagMatcher {
    pub fn prefix(prefix: &str) -> Self {
        TagMatcher::Prefix(prefix.to_string())
    }

    pub fn pattern(pattern: &str) -> Self {
        TagMatcher::Glob { parts: pattern.split('*').map(str::to_owned).collect() }
    }

    pub fn matches(&self, tag: &str) -> bool {
        match self {
            TagMatcher::Prefix(p) => tag.starts_with(p.as_str()),
            TagMatcher::Glob { parts } => glob_matches(parts, tag),
        }
    }

    /// True when at least one of the tags matches this entry.
    pub fn matches_any(&self, tags: &[String]) -> bool {
        tags.iter().any(|t| self.matches(t))
    }
}

/// `parts` is the pattern split at `*`, so it has at least one element and a single element
/// means no wildcard. Leftmost-first matching of the middle parts is exact for `*`-only globs.
fn glob_matches(parts: &[String], text: &str) -> bool {
    let (first, rest) = match parts.split_first() {
        Some(split) => split,
        None => return text.is_empty(),
    };
    let Some((last, middle)) = rest.split_last() else {
        return text == first;
    };
    if text.len() < first.len() + last.len() || !text.starts_with(first.as_str()) || !text.ends_with(last.as_str()) {
        return false;
    }
    let mut window = &text[first.len()..text.len() - last.len()];
    for part in middle {
        match window.find(part.as_str()) {
            Some(at) => window = &window[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str, t: &str) -> bool {
        TagMatcher::pattern(p).matches(t)
    }

    #[test]
    fn globs_are_anchored_at_both_ends() {
        assert!(glob("prod*", "prod-1"));
        assert!(glob("prod*", "prod"));
        assert!(!glob("prod*", "preprod-1"));
        assert!(glob("*-rc", "v1-rc"));
        assert!(!glob("*-rc", "v1-rc2"));
        assert!(glob("latest", "latest"));
        assert!(!glob("latest", "latest2"));
        assert!(glob("*", ""));
        assert!(glob("*", "anything"));
    }

    #[test]
    fn middle_parts_must_appear_in_order_without_overlap() {
        assert!(glob("v*.*.*", "v1.2.3"));
        assert!(!glob("v*.*.*", "v1.2"));
        assert!(glob("a*b*c", "abc"));
        assert!(glob("a*b*c", "a-b-b-c"));
        assert!(!glob("a*b*c", "acb"));
        // The prefix and suffix may not share characters.
        assert!(!glob("ab*ba", "aba"));
        assert!(glob("ab*ba", "abba"));
        assert!(glob("**x", "x"));
    }

    #[test]
    fn prefixes_match_the_start_only() {
        let m = TagMatcher::prefix("v");
        assert!(m.matches("v1.0"));
        assert!(m.matches("v"));
        assert!(!m.matches("dev"));
    }
}
