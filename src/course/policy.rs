//! Semantic comparison of IAM policy documents.
//!
//! IAM hands documents back URL-encoded and in whatever order it stored them, so text comparison
//! would report drift on every run. Documents are compared after normalisation: statement order and
//! the order of actions, resources and principals do not matter, a string equals a one-element
//! array, duplicates collapse, and action names compare case-insensitively (as IAM treats them).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Keys whose value is a set of strings: a lone string is a one-element set.
const SET_KEYS: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];
const ACTION_KEYS: &[&str] = &["Action", "NotAction"];
const PRINCIPAL_KEYS: &[&str] = &["Principal", "NotPrincipal"];

/// Parses a document as IAM returns it: plain JSON, or URL-encoded JSON.
pub(crate) fn parse_returned(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok().or_else(|| {
        let decoded = percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .ok()?
            .replace('+', " ");
        serde_json::from_str(&decoded).ok()
    })
}

/// The canonical form of a policy document.
pub(crate) fn normalize(document: &Value) -> Value {
    let Some(object) = document.as_object() else {
        return document.clone();
    };
    let mut out = BTreeMap::new();
    for (key, value) in object {
        if key == "Statement" {
            let statements: Vec<Value> = match value {
                Value::Array(items) => items.iter().map(normalize_statement).collect(),
                other => vec![normalize_statement(other)],
            };
            out.insert(key.clone(), sorted_unique(statements));
        } else {
            out.insert(key.clone(), canonical(value));
        }
    }
    sorted_object(out)
}

/// True when two documents mean the same.
#[cfg(test)]
fn equivalent(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

/// Human-readable differences between the current and desired documents (empty when equivalent).
pub(crate) fn differences(current: &Value, desired: &Value) -> Vec<String> {
    let current = normalize(current);
    let desired = normalize(desired);
    if current == desired {
        return Vec::new();
    }
    let statements = |doc: &Value| -> Vec<Value> {
        doc.get("Statement")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (now, want) = (statements(&current), statements(&desired));
    let mut out = Vec::new();
    for statement in want.iter().filter(|s| !now.contains(s)) {
        out.push(format!("adds statement {}", brief(statement)));
    }
    for statement in now.iter().filter(|s| !want.contains(s)) {
        out.push(format!("removes statement {}", brief(statement)));
    }
    if out.is_empty() {
        out.push("document differs".to_string());
    }
    out
}

/// `current` with the statements of `desired` it lacks added, and nothing removed: what adopting a
/// shared document (a lab account's role) may do without `--prune`. Statements keep the form they
/// were written in (IAM checks action names as written); they are compared normalised.
pub(crate) fn with_missing_statements(current: &Value, desired: &Value) -> Value {
    let statements = |doc: &Value| -> Vec<Value> {
        match doc.get("Statement") {
            Some(Value::Array(items)) => items.clone(),
            Some(one) => vec![one.clone()],
            None => Vec::new(),
        }
    };
    let mut merged = statements(current);
    let present: Vec<Value> = merged.iter().map(normalize_statement).collect();
    for statement in statements(desired) {
        if !present.contains(&normalize_statement(&statement)) {
            merged.push(statement);
        }
    }
    let mut document = current.as_object().cloned().unwrap_or_default();
    document
        .entry("Version")
        .or_insert_with(|| Value::String("2012-10-17".into()));
    document.insert("Statement".into(), Value::Array(merged));
    Value::Object(document)
}

fn brief(statement: &Value) -> String {
    if let Some(sid) = statement.get("Sid").and_then(Value::as_str) {
        return sid.to_string();
    }
    let text = statement.to_string();
    if text.len() > 120 {
        format!(
            "{}…",
            &text[..text.char_indices().nth(117).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

fn normalize_statement(statement: &Value) -> Value {
    let Some(object) = statement.as_object() else {
        return statement.clone();
    };
    let mut out = BTreeMap::new();
    for (key, value) in object {
        let key_str = key.as_str();
        let normalized = if SET_KEYS.contains(&key_str) {
            let lower = ACTION_KEYS.contains(&key_str);
            string_set(value, lower)
        } else if PRINCIPAL_KEYS.contains(&key_str) {
            normalize_principal(value)
        } else if key_str == "Condition" {
            normalize_condition(value)
        } else {
            canonical(value)
        };
        out.insert(key.clone(), normalized);
    }
    sorted_object(out)
}

/// An object whose keys are in sorted order whatever serde_json's map type keeps, so that its text
/// is canonical (serde_json may be built with `preserve_order`).
fn sorted_object(entries: BTreeMap<String, Value>) -> Value {
    Value::Object(entries.into_iter().collect::<Map<String, Value>>())
}

/// A value with every object's keys sorted, recursively.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            sorted_object(map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn normalize_principal(value: &Value) -> Value {
    match value {
        // "*" and {"AWS": "*"} are the same principal.
        Value::String(star) if star == "*" => {
            let mut map = Map::new();
            map.insert("AWS".into(), Value::Array(vec![Value::String("*".into())]));
            Value::Object(map)
        }
        Value::Object(map) => sorted_object(
            map.iter()
                .map(|(kind, ids)| (kind.clone(), string_set(ids, false)))
                .collect(),
        ),
        other => canonical(other),
    }
}

fn normalize_condition(value: &Value) -> Value {
    match value {
        Value::Object(operators) => sorted_object(
            operators
                .iter()
                .map(|(operator, keys)| {
                    let keys = match keys {
                        Value::Object(keys) => sorted_object(
                            keys.iter()
                                .map(|(k, v)| (k.clone(), string_set(v, false)))
                                .collect(),
                        ),
                        other => canonical(other),
                    };
                    (operator.clone(), keys)
                })
                .collect(),
        ),
        other => canonical(other),
    }
}

/// A string or an array of scalars, as a sorted, de-duplicated array.
fn string_set(value: &Value, lowercase: bool) -> Value {
    let items: Vec<Value> = match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let items = items
        .into_iter()
        .map(|item| match canonical(&item) {
            Value::String(s) if lowercase => Value::String(s.to_ascii_lowercase()),
            // Condition values may be numbers or booleans; IAM compares them as strings.
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            other => other,
        })
        .collect();
    sorted_unique(items)
}

fn sorted_unique(items: Vec<Value>) -> Value {
    let by_text: BTreeMap<String, Value> = items
        .into_iter()
        .map(|item| (item.to_string(), item))
        .collect();
    Value::Array(by_text.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adopting_adds_missing_statements_and_keeps_the_rest() {
        let shared = serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]},
             "Action": "sts:AssumeRole"}]});
        let ec2 = serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        let merged = with_missing_statements(&shared, &ec2);
        assert_eq!(merged["Statement"].as_array().map(Vec::len), Some(2));
        assert!(
            differences(&shared, &merged)
                .iter()
                .all(|d| d.starts_with("adds"))
        );
        // Nothing to add: the same document.
        assert!(equivalent(&with_missing_statements(&merged, &ec2), &merged));
    }
    use serde_json::json;

    #[test]
    fn reordered_statements_and_actions_are_equivalent() {
        let a = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
            {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": ["arn:b", "arn:a"]}
        ]});
        let b = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ssm:getparameter"], "Resource": ["arn:a", "arn:b", "arn:a"]},
            {"Resource": ["*"], "Action": ["s3:ListBucket", "s3:GetObject"], "Effect": "Allow"}
        ]});
        assert_eq!(normalize(&a), normalize(&b));
        assert!(differences(&a, &b).is_empty());
    }

    #[test]
    fn a_changed_principal_is_a_difference() {
        let ec2 = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}});
        let lambda = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]});
        assert!(!equivalent(&ec2, &lambda));
        let diff = differences(&ec2, &lambda);
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert!(diff[0].starts_with("adds statement"));
    }

    #[test]
    fn url_encoded_documents_parse() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            parse_returned(encoded),
            Some(json!({"Version": "2012-10-17", "Statement": []}))
        );
        assert_eq!(parse_returned("{\"a\": 1}"), Some(json!({"a": 1})));
        assert_eq!(parse_returned("%7Bnot"), None);
    }

    #[test]
    fn condition_values_compare_as_sets() {
        let a = json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": true}}}]});
        let b = json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": ["true"]}}}]});
        assert!(equivalent(&a, &b));
    }
}
