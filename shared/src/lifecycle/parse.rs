//! Policy text → typed policy, collecting every structural and semantic problem in one pass.
//!
//! serde alone stops at the first error; a person fixing a policy wants the whole list, each
//! entry naming the rule, its priority and the field.

use super::model::{
    Action, ActionType, CountType, CountUnit, LifecyclePolicy, Rule, Selection, StorageClass, TagStatus,
};
use super::validate::{check_rule_count, check_rules, check_text_length, Located, Unknown, Violation};
use serde_json::{Map, Value};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the lifecycle policy is not valid JSON: {0}")]
    Json(String),
    #[error("the lifecycle policy is not valid ({} problem{}):\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, ViolationList(.0))]
    Invalid(Vec<Violation>),
}

impl PolicyError {
    pub fn violations(&self) -> &[Violation] {
        match self {
            PolicyError::Invalid(v) => v,
            PolicyError::Json(_) => &[],
        }
    }
}

struct ViolationList<'a>(&'a [Violation]);

impl fmt::Display for ViolationList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {v}")?;
        }
        Ok(())
    }
}

/// Parses and validates lifecycle policy text exactly as ECR would accept it.
pub fn parse_policy(text: &str) -> Result<LifecyclePolicy, PolicyError> {
    let value: Value = serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
    let mut out = Vec::new();
    check_text_length(text.chars().count(), &mut out);
    let rules = read_policy(&value, &mut out);
    if out.is_empty() {
        Ok(LifecyclePolicy { rules })
    } else {
        Err(PolicyError::Invalid(out))
    }
}

/// [`parse_policy`] for text a person wrote (a file, a stack's property): a key given twice,
/// which a JSON reader settles silently by keeping one value, is refused and named. A policy read
/// back from ECR goes through [`parse_policy`]: ECR took it as it is.
pub fn parse_authored_policy(text: &str) -> Result<LifecyclePolicy, PolicyError> {
    serde_json::from_str::<NoDuplicateKeys>(text).map_err(|e| PolicyError::Json(e.to_string()))?;
    parse_policy(text)
}

fn read_policy(value: &Value, out: &mut Vec<Violation>) -> Vec<Rule> {
    let Some(obj) = value.as_object() else {
        out.push(Violation::policy("", format!("expected a JSON object with \"rules\", found {}", kind(value))));
        return Vec::new();
    };
    for key in obj.keys().filter(|k| k.as_str() != "rules") {
        out.push(Violation::policy(key, format!("unknown field \"{key}\" (accepted: rules)")));
    }
    let Some(rules) = obj.get("rules") else {
        out.push(Violation::policy("rules", "\"rules\" is required"));
        return Vec::new();
    };
    let Some(items) = rules.as_array() else {
        out.push(Violation::policy("rules", format!("\"rules\" must be an array, found {}", kind(rules))));
        return Vec::new();
    };
    check_rule_count(items.len(), out);

    // Every rule object takes part in every check: a refused value holds a stand-in and the
    // checks that would read it are skipped, so one mistake neither hides nor repeats another.
    let parsed: Vec<Option<(Rule, Unknown)>> =
        items.iter().enumerate().map(|(i, item)| RuleReader::new(i + 1, item, out).read()).collect();
    let located: Vec<Located> =
        parsed.iter().enumerate().filter_map(|(i, r)| r.as_ref().map(|(r, u)| (i + 1, r, u))).collect();
    check_rules(&located, out);
    parsed.into_iter().flatten().map(|(rule, _)| rule).collect()
}

/// What a refused or missing part stands in as; the checks never read it (see [`Unknown`]).
fn stand_in_selection() -> Selection {
    Selection {
        tag_status: TagStatus::Untagged,
        tag_pattern_list: None,
        tag_prefix_list: None,
        storage_class: None,
        count_type: CountType::ImageCountMoreThan,
        count_unit: None,
        count_number: 1,
    }
}

const STAND_IN_ACTION: Action = Action { kind: ActionType::Expire, target_storage_class: None };

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads one rule object, recording problems; `read` gives the rule with stand-ins for the
/// refused fields, and which they are.
struct RuleReader<'a> {
    n: usize,
    priority: Option<i64>,
    value: &'a Value,
    out: &'a mut Vec<Violation>,
    unknown: Vec<String>,
}

const RULE_FIELDS: &[&str] = &["rulePriority", "description", "selection", "action"];
const SELECTION_FIELDS: &[&str] =
    &["tagStatus", "tagPatternList", "tagPrefixList", "storageClass", "countType", "countUnit", "countNumber"];
const ACTION_FIELDS: &[&str] = &["type", "targetStorageClass"];

impl<'a> RuleReader<'a> {
    fn new(n: usize, value: &'a Value, out: &'a mut Vec<Violation>) -> Self {
        let priority = value.get("rulePriority").and_then(Value::as_i64);
        RuleReader { n, priority, value, out, unknown: Vec::new() }
    }

    fn bad(&mut self, field: &str, message: String) {
        self.unknown.push(field.to_string());
        self.out.push(Violation::rule(self.n, self.priority, field, message));
    }

    fn read(mut self) -> Option<(Rule, Unknown)> {
        let Some(obj) = self.value.as_object() else {
            let found = kind(self.value);
            self.bad("", format!("a rule must be a JSON object, found {found}"));
            return None;
        };
        self.unknown_fields(obj, "", RULE_FIELDS);
        let rule_priority = self.positive(obj, "", "rulePriority");
        let description = match obj.get("description") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                let found = kind(other);
                self.bad("description", format!("description must be a string, found {found}"));
                None
            }
        };
        let selection = self.object(obj, "selection").map(|sel| self.selection(sel)).unwrap_or_else(stand_in_selection);
        let action = self.object(obj, "action").map(|act| self.action(act)).unwrap_or(STAND_IN_ACTION);
        let rule = Rule { rule_priority: rule_priority.unwrap_or(0), description, selection, action };
        Some((rule, Unknown(self.unknown)))
    }

    fn selection(&mut self, sel: &Map<String, Value>) -> Selection {
        self.unknown_fields(sel, "selection.", SELECTION_FIELDS);
        let tag_status = self.required_enum(sel, "selection.", "tagStatus", TagStatus::from_wire, TagStatus::ACCEPTED);
        let tag_pattern_list = self.string_list(sel, "tagPatternList");
        let tag_prefix_list = self.string_list(sel, "tagPrefixList");
        let storage_class =
            self.optional_enum(sel, "selection.", "storageClass", StorageClass::from_wire, StorageClass::ACCEPTED);
        let count_type = self.required_enum(sel, "selection.", "countType", CountType::from_wire, CountType::ACCEPTED);
        let count_unit = self.optional_enum(sel, "selection.", "countUnit", CountUnit::from_wire, CountUnit::ACCEPTED);
        let count_number = self.positive(sel, "selection.", "countNumber");
        let stand_in = stand_in_selection();
        Selection {
            tag_status: tag_status.unwrap_or(stand_in.tag_status),
            tag_pattern_list: tag_pattern_list.unwrap_or_default(),
            tag_prefix_list: tag_prefix_list.unwrap_or_default(),
            storage_class: storage_class.unwrap_or_default(),
            count_type: count_type.unwrap_or(stand_in.count_type),
            count_unit: count_unit.unwrap_or_default(),
            count_number: count_number.unwrap_or(stand_in.count_number),
        }
    }

    fn action(&mut self, act: &Map<String, Value>) -> Action {
        self.unknown_fields(act, "action.", ACTION_FIELDS);
        let kind = self.required_enum(act, "action.", "type", ActionType::from_wire, ActionType::ACCEPTED);
        let target =
            self.optional_enum(act, "action.", "targetStorageClass", StorageClass::from_wire, StorageClass::ACCEPTED);
        Action { kind: kind.unwrap_or(STAND_IN_ACTION.kind), target_storage_class: target.unwrap_or_default() }
    }

    fn unknown_fields(&mut self, obj: &Map<String, Value>, path: &str, accepted: &[&str]) {
        for key in obj.keys().filter(|k| !accepted.contains(&k.as_str())) {
            self.bad(
                &format!("{path}{key}"),
                format!("unknown field \"{path}{key}\" (accepted: {})", accepted.join(", ")),
            );
        }
    }

    fn object<'v>(&mut self, obj: &'v Map<String, Value>, name: &str) -> Option<&'v Map<String, Value>> {
        match obj.get(name) {
            None => {
                self.bad(name, format!("\"{name}\" is required"));
                None
            }
            Some(Value::Object(inner)) => Some(inner),
            Some(other) => {
                let found = kind(other);
                self.bad(name, format!("\"{name}\" must be an object, found {found}"));
                None
            }
        }
    }

    fn positive(&mut self, obj: &Map<String, Value>, path: &str, name: &str) -> Option<u32> {
        let field = format!("{path}{name}");
        match obj.get(name) {
            None => {
                self.bad(&field, format!("{name} is required"));
                None
            }
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n > 0 => Some(n),
                _ => {
                    self.bad(&field, format!("{name} must be a positive integer, found {v}"));
                    None
                }
            },
        }
    }

    fn required_enum<T>(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        name: &str,
        from_wire: fn(&str) -> Option<T>,
        accepted: &[&str],
    ) -> Option<T> {
        if !obj.contains_key(name) {
            self.bad(&format!("{path}{name}"), format!("{name} is required (accepted: {})", accepted.join(", ")));
            return None;
        }
        self.optional_enum(obj, path, name, from_wire, accepted).ok().flatten()
    }

    /// `Ok(None)` when absent, `Err(())` when present but not one of the accepted values.
    fn optional_enum<T>(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        name: &str,
        from_wire: fn(&str) -> Option<T>,
        accepted: &[&str],
    ) -> Result<Option<T>, ()> {
        let Some(v) = obj.get(name) else { return Ok(None) };
        match v.as_str().and_then(from_wire) {
            Some(t) => Ok(Some(t)),
            None => {
                self.bad(&format!("{path}{name}"), format!("{name} {v} is not one of: {}", accepted.join(", ")));
                Err(())
            }
        }
    }

    fn string_list(&mut self, obj: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, ()> {
        let Some(v) = obj.get(name) else { return Ok(None) };
        let strings: Option<Vec<String>> =
            v.as_array().and_then(|items| items.iter().map(|i| i.as_str().map(str::to_owned)).collect());
        match strings {
            Some(list) => Ok(Some(list)),
            None => {
                self.bad(&format!("selection.{name}"), format!("{name} must be an array of strings, found {v}"));
                Err(())
            }
        }
    }
}

/// A JSON document read only to refuse an object that names a key twice.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeysVisitor).map(|()| NoDuplicateKeys)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("the key \"{key}\" appears twice in one object")));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(())
    }
}

/// What a valid policy does that its author may not mean, one line each (not errors: ECR takes
/// the policy as it is).
pub fn policy_notes(policy: &LifecyclePolicy) -> Vec<String> {
    let mut notes = Vec::new();
    for rule in &policy.rules {
        for prefix in rule.selection.tag_prefix_list.iter().flatten().filter(|p| p.contains('*')) {
            notes.push(format!(
                "rule {}: tagPrefixList \"{prefix}\" is a literal prefix, so its * matches only a * in the tag; \
                 for a wildcard use tagPatternList [\"{prefix}\"]",
                rule.rule_priority
            ));
        }
    }
    notes
}
