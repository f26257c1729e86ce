//! The SSM Parameter Store parameters the lab application reads to find its data.
//!
//! `ssm put-parameter --overwrite` adds a version on every run; provision writes a parameter only
//! when it is missing or its value differs. PutParameter refuses tags together with Overwrite, so an
//! overwrite that must also tag does so in a second request.

use std::collections::BTreeMap;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{ParameterType, ResourceTypeForTagging};

use crate::error::{Error, aws_error, service_code};
use crate::plan::{Action, Change, Operation, ResourceKind};
use crate::resources::{is_managed, managed_tags};

pub const BUCKET_PARAMETER: &str = "dragon_data_bucket_name";
pub const KEY_PARAMETER: &str = "dragon_data_file_name";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedParameter {
    pub value: String,
    pub kind: String,
    pub tags: BTreeMap<String, String>,
}

/// Reads the parameters (one request) and their tags (one request each), concurrently.
pub async fn observe(
    ssm: &Client,
    names: &[&str],
) -> Result<BTreeMap<String, ObservedParameter>, Error> {
    let values = ssm
        .get_parameters()
        .set_names(Some(names.iter().map(|n| n.to_string()).collect()))
        .send();
    let tags = futures::future::join_all(names.iter().map(|name| {
        ssm.list_tags_for_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(*name)
            .send()
    }));
    let (values, tags) = tokio::join!(values, tags);
    let values = values.map_err(|e| aws_error("ssm:GetParameters", e))?;
    let mut tags_by_name = BTreeMap::new();
    for (name, result) in names.iter().zip(tags) {
        let tags: BTreeMap<String, String> = match result {
            Ok(output) => output
                .tag_list()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            // The parameter does not exist (yet).
            Err(e)
                if matches!(
                    service_code(&e),
                    Some("InvalidResourceId" | "ParameterNotFound")
                ) =>
            {
                BTreeMap::new()
            }
            Err(e) => return Err(aws_error("ssm:ListTagsForResource", e)),
        };
        tags_by_name.insert(name.to_string(), tags);
    }
    Ok(values
        .parameters()
        .iter()
        .filter_map(|p| {
            let name = p.name()?.to_string();
            Some((
                name.clone(),
                ObservedParameter {
                    value: p.value().unwrap_or_default().to_string(),
                    kind: p
                        .r#type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    tags: tags_by_name.remove(&name).unwrap_or_default(),
                },
            ))
        })
        .collect())
}

/// Plans one parameter. Pure. A parameter of another value without provision's tag is someone's
/// configuration: refused unless `adopt`.
pub fn plan(
    name: &str,
    value: &str,
    observed: Option<&ObservedParameter>,
    adopt: bool,
    arn: String,
) -> Result<Change, Error> {
    let change = match observed {
        None => Change::new(ResourceKind::SsmParameter, name, Action::Create)
            .with_details(vec![format!("= {value}")])
            .with_operations(vec![Operation::PutParameter {
                name: name.to_string(),
                value: value.to_string(),
                overwrite: false,
                tags: managed_tags(),
            }]),
        Some(current) if current.value == value && current.kind == "String" => {
            Change::unchanged(ResourceKind::SsmParameter, name)
        }
        Some(current) => {
            let managed = is_managed(&current.tags);
            if !managed && !adopt {
                return Err(Error::failed(format!(
                    "SSM parameter {name} already holds `{}` and was not created by provision",
                    current.value
                ))
                .with_hint(format!(
                    "pass --adopt to let provision set it to `{value}` and manage it, or remove it \
                     with `aws ssm delete-parameter --name {name}`"
                )));
            }
            let mut details = vec![format!("{} → {value}", current.value)];
            if current.kind != "String" {
                details.push(format!("type {} → String", current.kind));
            }
            let mut operations = vec![Operation::PutParameter {
                name: name.to_string(),
                value: value.to_string(),
                overwrite: true,
                tags: vec![],
            }];
            if !managed {
                details.push("adopt: tag managed-by=provision".into());
                operations.push(Operation::TagParameter {
                    name: name.to_string(),
                    tags: managed_tags(),
                });
            }
            Change::new(ResourceKind::SsmParameter, name, Action::Update)
                .with_details(details)
                .with_operations(operations)
        }
    };
    Ok(change.with_arn(arn))
}

/// Plans a parameter's removal (teardown). Pure.
pub fn plan_absent(name: &str, tags: &BTreeMap<String, String>, arn: String) -> Change {
    let change = if is_managed(tags) {
        Change::new(ResourceKind::SsmParameter, name, Action::Delete).with_operations(vec![
            Operation::DeleteParameter {
                name: name.to_string(),
            },
        ])
    } else {
        Change::unchanged(ResourceKind::SsmParameter, name)
            .with_details(vec![crate::plan::LEFT_ALONE.into()])
    };
    change.with_arn(arn)
}

/// Names of the parameters in this region tagged managed-by=provision.
pub async fn discover(ssm: &Client) -> Result<Vec<String>, Error> {
    let filter = aws_sdk_ssm::types::ParameterStringFilter::builder()
        .key(format!("tag:{}", crate::plan::MANAGED_BY_KEY))
        .values(crate::plan::MANAGED_BY_VALUE)
        .build()
        .map_err(|e| Error::failed("invalid parameter filter").with_cause(e.to_string()))?;
    let pages = ssm
        .describe_parameters()
        .parameter_filters(filter)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("ssm:DescribeParameters", e))?;
    Ok(pages
        .iter()
        .flat_map(|p| p.parameters())
        .filter_map(|p| p.name().map(str::to_string))
        .collect())
}

fn ssm_tags(tags: &[(String, String)]) -> Result<Vec<aws_sdk_ssm::types::Tag>, Error> {
    tags.iter()
        .map(|(k, v)| {
            aws_sdk_ssm::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| Error::failed("invalid tag").with_cause(e.to_string()))
        })
        .collect()
}

pub async fn execute(ssm: &Client, operation: &Operation) -> Result<(), Error> {
    match operation {
        Operation::PutParameter {
            name,
            value,
            overwrite,
            tags,
        } => {
            let mut request = ssm
                .put_parameter()
                .name(name)
                .value(value)
                .r#type(ParameterType::String)
                .overwrite(*overwrite);
            if !tags.is_empty() {
                request = request.set_tags(Some(ssm_tags(tags)?));
            }
            request
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("ssm:PutParameter", e))
        }
        Operation::TagParameter { name, tags } => ssm
            .add_tags_to_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .set_tags(Some(ssm_tags(tags)?))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("ssm:AddTagsToResource", e)),
        Operation::DeleteParameter { name } => crate::error::settled(
            "ssm:DeleteParameter",
            ssm.delete_parameter().name(name).send().await,
            |e| e.is_parameter_not_found(),
        ),
        other => Err(Error::failed(format!(
            "internal: {other:?} is not a parameter request"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(value: &str, managed: bool) -> ObservedParameter {
        ObservedParameter {
            value: value.into(),
            kind: "String".into(),
            tags: if managed {
                [("managed-by".to_string(), "provision".to_string())].into()
            } else {
                BTreeMap::new()
            },
        }
    }

    #[test]
    fn parameters_are_written_only_when_missing_or_different() {
        let arn = || "arn:aws:ssm:us-east-1:1:parameter/p".to_string();
        let created = plan("p", "v", None, false, arn()).expect("plans");
        assert!(
            matches!(&created.operations[0], Operation::PutParameter { overwrite: false, tags, .. } if !tags.is_empty())
        );
        assert!(
            plan("p", "v", Some(&observed("v", true)), false, arn())
                .expect("plans")
                .operations
                .is_empty()
        );
        assert!(
            plan("p", "v", Some(&observed("v", false)), false, arn())
                .expect("plans")
                .operations
                .is_empty(),
            "an equal value is left alone whoever set it"
        );
        let updated = plan("p", "v", Some(&observed("old", true)), false, arn()).expect("plans");
        assert_eq!(updated.details, vec!["old → v"]);
        assert!(
            matches!(&updated.operations[..], [Operation::PutParameter { overwrite: true, tags, .. }] if tags.is_empty())
        );
    }

    #[test]
    fn someone_elses_value_is_refused_unless_adopted() {
        let arn = || "arn:aws:ssm:us-east-1:1:parameter/p".to_string();
        let error =
            plan("p", "v", Some(&observed("theirs", false)), false, arn()).expect_err("refused");
        assert!(error.message().contains("already holds `theirs`"));
        let adopted =
            plan("p", "v", Some(&observed("theirs", false)), true, arn()).expect("adopted");
        assert!(matches!(
            &adopted.operations[..],
            [
                Operation::PutParameter { .. },
                Operation::TagParameter { .. }
            ]
        ));
    }
}
