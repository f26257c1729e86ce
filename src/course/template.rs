//! Policy templates: `{{name}}` placeholders filled from the run's account, region, the lab
//! application's region, partition, bucket and role name. A template is checked — every placeholder known, the result valid JSON —
//! before any AWS call, by rendering it with sample values.

use std::path::Path;

use serde_json::Value;

use crate::error::Error;
use crate::input::{BucketName, PARTITIONS, ParameterPrefix, Region, RoleName, is_account_id};

/// The placeholders a template may use.
pub(crate) const PLACEHOLDERS: &[&str] = &[
    "account_id",
    "region",
    "app_region",
    "parameter_path",
    "partition",
    "bucket",
    "role_name",
];

pub(crate) const DEFAULT_TRUST_POLICY: &str = include_str!("../../templates/ec2-trust-policy.json");
pub(crate) const DEFAULT_INLINE_POLICY: &str =
    include_str!("../../templates/dragons-lab-policy.json");

/// A template and where it came from (for messages).
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) origin: String,
    pub(crate) text: String,
}

/// The values placeholders are replaced with.
#[derive(Debug, Clone)]
pub(crate) struct Values<'a> {
    pub(crate) account_id: &'a str,
    pub(crate) region: &'a str,
    /// Where the lab application reads its parameters (`--app-region`).
    pub(crate) app_region: &'a str,
    /// `--parameter-prefix` as it appears in a parameter's ARN: `course/alice/` (or empty).
    pub(crate) parameter_path: &'a str,
    pub(crate) partition: &'a str,
    pub(crate) bucket: &'a str,
    pub(crate) role_name: &'a str,
}

impl Values<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "account_id" => self.account_id,
            "region" => self.region,
            "app_region" => self.app_region,
            "parameter_path" => self.parameter_path,
            "partition" => self.partition,
            "bucket" => self.bucket,
            "role_name" => self.role_name,
            _ => return None,
        })
    }
}

impl Template {
    pub(crate) fn embedded(name: &str, text: &str) -> Self {
        Self {
            origin: format!("embedded {name}"),
            text: text.to_string(),
        }
    }

    /// Reads a template file; an unreadable file is a usage error.
    pub(crate) fn read(path: &Path) -> Result<Self, Error> {
        let text =
            crate::local_file::read_text(path, "policy file", crate::local_file::POLICY_LIMIT)
                .map_err(|e| e.with_hint("check the path given to --policy / --trust-policy"))?;
        if text
            .as_bytes()
            .starts_with(crate::course::lab_data::UTF8_BOM)
        {
            return Err(crate::course::lab_data::bom_error(
                &path.display().to_string(),
            ));
        }
        Ok(Self {
            origin: path.display().to_string(),
            text,
        })
    }

    /// Checks placeholders and JSON validity with sample values, before any AWS call.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let sample = Values {
            account_id: "123456789012",
            region: "us-east-1",
            app_region: "us-east-1",
            parameter_path: "",
            partition: "aws",
            bucket: "sample-bucket",
            role_name: "sample-role",
        };
        self.render(&sample).map(|_| ())
    }

    /// Parses the template as JSON, then replaces placeholders inside its string values (and keys)
    /// only, so a value can never escape its string: a quote or brace in a value stays text. A
    /// placeholder outside a string is a template error. Every value is first checked by its own
    /// rules (`Values::check`), so a policy never holds a value a command would not accept.
    pub(crate) fn render(&self, values: &Values<'_>) -> Result<Value, Error> {
        values.check()?;
        let mut document: Value = serde_json::from_str(&self.text).map_err(|e| {
            match placeholder_outside_string(&self.text) {
                Some((name, line)) => Error::usage(format!(
                    "{}: placeholder {{{{{name}}}}} on line {line} is outside a JSON string",
                    self.origin
                ))
                .with_hint(
                    "placeholders are replaced inside string values only, e.g. \
                     \"Resource\": \"arn:{{partition}}:s3:::{{bucket}}\"",
                ),
                None => Error::usage(format!("{} is not valid JSON", self.origin))
                    .with_cause(e.to_string())
                    .with_hint(
                        "a policy file is a JSON document like templates/ec2-trust-policy.json",
                    ),
            }
        })?;
        let mut unknown = Vec::new();
        substitute(&mut document, values, &mut unknown).map_err(|()| {
            Error::usage(format!(
                "{}: a `{{{{` placeholder is never closed",
                self.origin
            ))
            .with_hint(placeholder_hint())
        })?;
        if !unknown.is_empty() {
            unknown.dedup();
            let list: Vec<String> = unknown.iter().map(|n| format!("{{{{{n}}}}}")).collect();
            return Err(Error::usage(format!(
                "{}: unknown placeholder {}",
                self.origin,
                list.join(", ")
            ))
            .with_hint(placeholder_hint()));
        }
        let has_statement = document
            .as_object()
            .is_some_and(|object| object.contains_key("Statement"));
        if !has_statement {
            return Err(Error::usage(format!(
                "{} is not a policy document: it has no \"Statement\"",
                self.origin
            ))
            .with_hint("a policy is a JSON object with \"Version\" and \"Statement\""));
        }
        Ok(document)
    }
}

impl Values<'_> {
    /// Checks every value by the rules of the flag or service it comes from.
    fn check(&self) -> Result<(), Error> {
        BucketName::parse(self.bucket)?;
        RoleName::parse(self.role_name)?;
        Region::parse(self.region)?;
        Region::parse(self.app_region)?;
        // The path of a prefix that is a path (`course/alice/`), or a plain prefix.
        match self.parameter_path.contains('/') {
            true => ParameterPrefix::parse(&format!("/{}", self.parameter_path))?,
            false => ParameterPrefix::parse(self.parameter_path)?,
        };
        if !is_account_id(self.account_id) {
            return Err(Error::failed(format!(
                "`{}` is not an AWS account id (12 digits)",
                self.account_id
            )));
        }
        if !PARTITIONS.contains(&self.partition) {
            return Err(Error::failed(format!(
                "`{}` is not an AWS partition ({})",
                self.partition,
                PARTITIONS.join(", ")
            )));
        }
        Ok(())
    }
}

/// Replaces placeholders in every string of `value`, recording unknown names; `Err` when a `{{` is
/// never closed.
impl Template {
    /// The template as CloudFormation takes it: each string holding placeholders becomes an
    /// `Fn::Sub` of the CloudFormation expressions `tokens` maps them to (`account_id` →
    /// `${AWS::AccountId}`), with IAM's own `${…}` policy variables kept literal (`${!…}`). The
    /// template must already be checked ([`Template::check`]).
    pub(crate) fn cloudformation(&self, tokens: &[(&str, &str)]) -> Result<Value, Error> {
        let mut document: Value = serde_json::from_str(&self.text).map_err(|e| {
            Error::usage(format!("{} is not valid JSON", self.origin)).with_cause(e.to_string())
        })?;
        let mut unknown = Vec::new();
        to_sub(&mut document, tokens, &mut unknown);
        match unknown.first() {
            None => Ok(document),
            Some(name) => Err(Error::usage(format!(
                "{}: placeholder {{{{{name}}}}} has no CloudFormation equivalent",
                self.origin
            ))),
        }
    }
}

fn to_sub(value: &mut Value, tokens: &[(&str, &str)], unknown: &mut Vec<String>) {
    match value {
        Value::String(text) if text.contains("{{") => {
            let mut out = String::new();
            let mut rest = text.replace("${", "${!");
            while let Some(start) = rest.find("{{") {
                out.push_str(&rest[..start]);
                let after = rest[start + 2..].to_string();
                let Some(end) = after.find("}}") else {
                    break;
                };
                let name = after[..end].trim().to_string();
                match tokens.iter().find(|(n, _)| *n == name) {
                    Some((_, token)) => out.push_str(token),
                    None => unknown.push(name),
                }
                rest = after[end + 2..].to_string();
            }
            out.push_str(&rest);
            *value = serde_json::json!({ "Fn::Sub": out });
        }
        Value::Array(items) => items.iter_mut().for_each(|i| to_sub(i, tokens, unknown)),
        Value::Object(map) => map.values_mut().for_each(|i| to_sub(i, tokens, unknown)),
        _ => {}
    }
}

fn substitute(value: &mut Value, values: &Values<'_>, unknown: &mut Vec<String>) -> Result<(), ()> {
    match value {
        Value::String(text) => {
            *text = fill(text, values, unknown)?;
        }
        Value::Array(items) => {
            for item in items {
                substitute(item, values, unknown)?;
            }
        }
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                substitute(&mut item, values, unknown)?;
                map.insert(fill(&key, values, unknown)?, item);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

fn fill(text: &str, values: &Values<'_>, unknown: &mut Vec<String>) -> Result<String, ()> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(())?;
        let name = after[..end].trim();
        match values.get(name) {
            Some(value) => out.push_str(value),
            None => unknown.push(name.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The first `{{name}}` outside a JSON string, with its line number.
fn placeholder_outside_string(text: &str) -> Option<(String, usize)> {
    let (mut in_string, mut escaped, mut line) = (false, false, 1);
    for (index, c) in text.char_indices() {
        match c {
            '\n' => line += 1,
            _ if in_string && escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' if !in_string && text[index..].starts_with("{{") => {
                let after = &text[index + 2..];
                let name = after.find("}}").map_or(after, |end| &after[..end]);
                return Some((name.trim().chars().take(40).collect(), line));
            }
            _ => {}
        }
    }
    None
}

fn placeholder_hint() -> String {
    let known: Vec<String> = PLACEHOLDERS
        .iter()
        .map(|n| format!("{{{{{n}}}}}"))
        .collect();
    format!("templates may use {}", known.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22, finding 10: `{{parameter_path}}` was missing from the README's list.
    #[test]
    fn the_readme_lists_every_placeholder() {
        let readme = include_str!("../../README.md");
        for name in PLACEHOLDERS {
            assert!(
                readme.contains(&format!("`{{{{{name}}}}}`")),
                "README.md does not list {{{{{name}}}}}"
            );
        }
    }

    fn values() -> Values<'static> {
        Values {
            account_id: "111122223333",
            region: "ca-central-1",
            app_region: "us-east-1",
            parameter_path: "",
            partition: "aws",
            bucket: "lab-bucket",
            role_name: "lab-role",
        }
    }

    #[test]
    fn renders_the_default_inline_policy() {
        let template = Template::embedded("dragons-lab-policy.json", DEFAULT_INLINE_POLICY);
        let document = template.render(&values()).expect("renders");
        let text = document.to_string();
        assert!(text.contains("arn:aws:s3:::lab-bucket/*"));
        // The parameters are where the lab application reads them, not in the bucket's region.
        assert!(
            text.contains("arn:aws:ssm:us-east-1:111122223333:parameter/dragon_data_file_name")
        );
        assert!(!text.contains("ssm:ca-central-1"));
        assert!(!text.contains("{{"));
    }

    #[test]
    fn unknown_placeholders_are_usage_errors() {
        let template = Template {
            origin: "p.json".into(),
            text: r#"{"Statement": [], "X": "{{acount_id}}"}"#.into(),
        };
        let error = template.check().expect_err("unknown placeholder");
        assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        assert!(
            error.message().contains("{{acount_id}}"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn invalid_json_and_non_policies_are_refused() {
        let broken = Template {
            origin: "p.json".into(),
            text: "{ not json".into(),
        };
        assert!(broken.check().is_err());
        let not_policy = Template {
            origin: "p.json".into(),
            text: "[1, 2]".into(),
        };
        assert!(
            not_policy
                .check()
                .unwrap_err()
                .message()
                .contains("Statement")
        );
    }

    #[test]
    fn values_cannot_escape_their_string() {
        let hostile = r#"*", "Action": "*", "Resource": "arn:aws:*:*:*:*"#;
        let hostile_values = Values {
            bucket: hostile,
            ..values()
        };
        let template = Template::embedded("dragons-lab-policy.json", DEFAULT_INLINE_POLICY);
        let error = template
            .render(&hostile_values)
            .expect_err("the bucket is checked by the S3 naming rules");
        assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        // Even unchecked, substitution keeps the value inside its string.
        let mut document: Value =
            serde_json::from_str(DEFAULT_INLINE_POLICY).expect("the template is JSON");
        substitute(&mut document, &hostile_values, &mut Vec::new()).expect("substitutes");
        let statements = document["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 3);
        assert!(statements.iter().all(|s| s["Action"] != "*"));
        assert_eq!(
            statements[0]["Resource"],
            format!("arn:aws:s3:::{hostile}"),
            "the whole value is one string"
        );
    }

    #[test]
    fn placeholders_outside_strings_are_template_errors() {
        let template = Template {
            origin: "p.json".into(),
            text: "{\"Statement\": [],\n \"Resource\": {{bucket}} }".into(),
        };
        let error = template.check().expect_err("outside a string");
        assert!(
            error
                .message()
                .contains("{{bucket}} on line 2 is outside a JSON string"),
            "{}",
            error.message()
        );
        let quoted_braces = Template {
            origin: "p.json".into(),
            text: r#"{"Statement": [], "Sid": "a \" {{role_name}}"}"#.into(),
        };
        assert!(
            quoted_braces.check().is_ok(),
            "an escaped quote stays inside the string"
        );
    }

    #[test]
    fn values_are_checked_by_their_own_rules() {
        let template = Template::embedded("dragons-lab-policy.json", DEFAULT_INLINE_POLICY);
        for (field, bad) in [
            ("account_id", "12345"),
            ("region", "us east 1"),
            ("app_region", "us-east-1\""),
            ("partition", "aws\""),
            ("parameter_path", "a\"/"),
            ("role_name", "a b"),
        ] {
            let mut v = values();
            match field {
                "account_id" => v.account_id = bad,
                "region" => v.region = bad,
                "app_region" => v.app_region = bad,
                "partition" => v.partition = bad,
                "parameter_path" => v.parameter_path = bad,
                _ => v.role_name = bad,
            }
            assert!(template.render(&v).is_err(), "{field}={bad}");
        }
    }
}
