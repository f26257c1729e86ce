//! Policy templates: `{{name}}` placeholders filled from the run's account, region, partition,
//! bucket and role name. A template is checked — every placeholder known, the result valid JSON —
//! before any AWS call, by rendering it with sample values.

use std::path::Path;

use serde_json::Value;

use crate::error::Error;

/// The placeholders a template may use.
pub(crate) const PLACEHOLDERS: &[&str] =
    &["account_id", "region", "partition", "bucket", "role_name"];

pub(crate) const DEFAULT_TRUST_POLICY: &str = include_str!("../templates/ec2-trust-policy.json");
pub(crate) const DEFAULT_INLINE_POLICY: &str = include_str!("../templates/dragons-lab-policy.json");

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
    pub(crate) partition: &'a str,
    pub(crate) bucket: &'a str,
    pub(crate) role_name: &'a str,
}

impl Values<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "account_id" => self.account_id,
            "region" => self.region,
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
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::usage(format!("cannot read policy file {}", path.display()))
                .with_cause(e.to_string())
                .with_hint("check the path given to --policy / --trust-policy")
        })?;
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
            partition: "aws",
            bucket: "sample-bucket",
            role_name: "sample-role",
        };
        self.render(&sample).map(|_| ())
    }

    /// Replaces every placeholder and parses the result as a policy document.
    pub(crate) fn render(&self, values: &Values<'_>) -> Result<Value, Error> {
        let mut out = String::with_capacity(self.text.len());
        let mut rest = self.text.as_str();
        let mut unknown = Vec::new();
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                return Err(Error::usage(format!(
                    "{}: a `{{{{` placeholder is never closed",
                    self.origin
                ))
                .with_hint(placeholder_hint()));
            };
            let name = after[..end].trim();
            match values.get(name) {
                Some(value) => out.push_str(value),
                None => unknown.push(name.to_string()),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        if !unknown.is_empty() {
            let list: Vec<String> = unknown.iter().map(|n| format!("{{{{{n}}}}}")).collect();
            return Err(Error::usage(format!(
                "{}: unknown placeholder {}",
                self.origin,
                list.join(", ")
            ))
            .with_hint(placeholder_hint()));
        }
        let document: Value = serde_json::from_str(&out).map_err(|e| {
            Error::usage(format!("{} is not valid JSON", self.origin))
                .with_cause(e.to_string())
                .with_hint("a policy file is a JSON document like templates/ec2-trust-policy.json")
        })?;
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

    fn values() -> Values<'static> {
        Values {
            account_id: "111122223333",
            region: "ca-central-1",
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
        assert!(
            text.contains("arn:aws:ssm:ca-central-1:111122223333:parameter/dragon_data_file_name")
        );
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
}
