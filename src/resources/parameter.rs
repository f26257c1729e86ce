//! SSM Parameter Store parameters: the two the lab application reads to find its data.
//!
//! `ssm put-parameter --overwrite` adds a version on every run; provision writes a parameter only
//! when it is missing or its value differs. PutParameter refuses tags together with Overwrite, so an
//! overwrite that must also tag does so in a second request.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType, ResourceTypeForTagging};

use crate::connection::clients::Clients;
use crate::engine::apply::{Executed, Report};
use crate::engine::plan::{Action, Detail, Drift, Kind};
use crate::error::{Error, aws_error, sent, service_code, settled};
use crate::resources::bucket::BUCKET;
use crate::resources::lifecycle::{Tagged, inventory_by_name, remove_each, retain_by_name};
use crate::resources::ownership::{self, Claims, MANAGED_BY_KEY, MANAGED_BY_VALUE};
use crate::resources::status::Rows;
use crate::resources::tags::{self, Tags};
use crate::resources::{
    Change, CloudFormation, CreatedBy, Discovery, Inventoried, Keep, Lifecycle, ObservedState,
    Part, Resource,
};

pub(crate) const PARAMETER: Kind = Kind::new("ssm-parameter");

/// GetParameters takes at most ten names.
const NAMES_PER_REQUEST: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DesiredParameter {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObservedParameter {
    pub(crate) name: String,
    pub(crate) arn: Option<String>,
    pub(crate) value: String,
    pub(crate) kind: ParameterType,
    pub(crate) tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ParameterOp {
    /// A String parameter; `tags` only when it is created (SSM refuses them with `overwrite`).
    Put {
        name: String,
        value: String,
        overwrite: bool,
        tags: Tags,
    },
    Tag {
        name: String,
        tags: Tags,
    },
    Delete {
        name: String,
    },
}

pub(crate) struct Parameter;

impl Resource for Parameter {
    const KINDS: &'static [Kind] = &[PARAMETER];

    /// The names to read.
    type Query = [String];
    /// The parameters that exist, by name.
    type Observation = BTreeMap<String, ObservedParameter>;
    type Desired = DesiredParameter;
    type Observed = ObservedParameter;
    type Op = ParameterOp;

    /// Reads the parameters (one request per ten) and their tags (one request each), concurrently.
    async fn observe(
        clients: &Clients,
        names: &[String],
    ) -> Result<BTreeMap<String, ObservedParameter>, Error> {
        let ssm = &clients.ssm;
        let values = futures::future::join_all(
            names
                .chunks(NAMES_PER_REQUEST)
                .map(|chunk| ssm.get_parameters().set_names(Some(chunk.to_vec())).send()),
        );
        let tags = futures::future::join_all(names.iter().map(|name| {
            ssm.list_tags_for_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(name)
                .send()
        }));
        let (values, tags) = tokio::join!(values, tags);
        let mut tags_by_name = BTreeMap::new();
        for (name, result) in names.iter().zip(tags) {
            let tags = match result {
                Ok(output) => tags::from_sdk(output.tag_list()),
                // The parameter does not exist (yet).
                Err(e)
                    if matches!(
                        service_code(&e),
                        Some("InvalidResourceId" | "ParameterNotFound")
                    ) =>
                {
                    Tags::new()
                }
                Err(e) => return Err(aws_error("ssm:ListTagsForResource", e)),
            };
            tags_by_name.insert(name.clone(), tags);
        }
        let mut found = BTreeMap::new();
        for output in values {
            let output = output.map_err(|e| aws_error("ssm:GetParameters", e))?;
            for parameter in output.parameters() {
                let Some(name) = parameter.name() else {
                    continue;
                };
                found.insert(
                    name.to_string(),
                    ObservedParameter {
                        name: name.to_string(),
                        arn: parameter.arn().map(str::to_string),
                        value: parameter.value().unwrap_or_default().to_string(),
                        kind: parameter
                            .r#type()
                            .cloned()
                            .unwrap_or_else(|| ParameterType::from("")),
                        tags: tags_by_name.remove(name).unwrap_or_default(),
                    },
                );
            }
        }
        Ok(found)
    }

    /// A parameter that already holds the desired value is left alone, whoever set it; one of
    /// another value without provision's tag is someone's configuration: refused unless adopted.
    fn plan(
        desired: Option<&DesiredParameter>,
        observed: Option<&ObservedParameter>,
        claims: &Claims,
    ) -> Result<Vec<Change>, Error> {
        let Some(desired) = desired else {
            return Ok(observed
                .map(|current| {
                    claims.delete_if_ours(
                        &current.tags,
                        PARAMETER,
                        &current.name,
                        current.arn.as_deref(),
                        || {
                            vec![
                                ParameterOp::Delete {
                                    name: current.name.clone(),
                                }
                                .into(),
                            ]
                        },
                    )
                })
                .into_iter()
                .collect());
        };
        let (name, value) = (&desired.name, &desired.value);
        let change = match observed {
            None => Change::new(PARAMETER, name, Action::Create)
                .with_detail(Detail::note(format!("= {value}")))
                .with_operations(vec![
                    ParameterOp::Put {
                        name: name.clone(),
                        value: value.clone(),
                        overwrite: false,
                        tags: claims.tags(),
                    }
                    .into(),
                ]),
            Some(current) if current.value == *value && current.kind == ParameterType::String => {
                // Left alone, whoever set it; but the caller's own made before owners gets its
                // owner, and another owner's is made the caller's with --take-over (the claim of
                // one of provision's never asks for the not-provision's refusal).
                let claim = ownership::is_managed(&current.tags)
                    .then(|| {
                        claims
                            .claim(PARAMETER, name, &current.tags, || {
                                Error::failed("not provision's")
                            })
                            .ok()
                    })
                    .flatten();
                match claim.and_then(|claim| claims.tagging(&claim, &current.tags, claims.tags())) {
                    Some((detail, tags)) => Change::new(PARAMETER, name, Action::Update)
                        .with_detail(detail)
                        .with_operations(vec![
                            ParameterOp::Tag {
                                name: name.clone(),
                                tags,
                            }
                            .into(),
                        ]),
                    None => Change::unchanged(PARAMETER, name),
                }
            }
            Some(current) => {
                let claim = claims.claim(PARAMETER, name, &current.tags, || {
                    Error::failed(format!(
                        "SSM parameter {name} already holds `{}` and was not created by provision",
                        current.value
                    ))
                    .with_hint(format!(
                        "pass --adopt to let provision set it to `{value}` and manage it, or \
                         remove it with `aws ssm delete-parameter --name {name}`"
                    ))
                })?;
                let mut details: Vec<Detail> = vec![
                    Drift::Value {
                        current: current.value.clone(),
                        desired: value.clone(),
                    }
                    .into(),
                ];
                if current.kind != ParameterType::String {
                    details.push(
                        Drift::ParameterType {
                            current: current.kind.clone(),
                        }
                        .into(),
                    );
                }
                let mut operations = vec![
                    ParameterOp::Put {
                        name: name.clone(),
                        value: value.clone(),
                        overwrite: true,
                        tags: Tags::new(),
                    }
                    .into(),
                ];
                if let Some((detail, tags)) = claims.tagging(&claim, &current.tags, claims.tags()) {
                    details.push(detail);
                    operations.push(
                        ParameterOp::Tag {
                            name: name.clone(),
                            tags,
                        }
                        .into(),
                    );
                }
                Change::new(PARAMETER, name, Action::Update)
                    .with_details(details)
                    .with_operations(operations)
            }
        };
        Ok(vec![change.with_arn(desired.arn.clone())])
    }

    async fn execute(
        clients: &Clients,
        op: &ParameterOp,
        _: Report<'_>,
    ) -> Result<Executed, Error> {
        let ssm = &clients.ssm;
        match op {
            ParameterOp::Put {
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
                    request = request.set_tags(Some(tags::to_sdk(tags)?));
                }
                match request.send().await {
                    Ok(_) => {}
                    // A create whose answer was lost, retried by the SDK, finds its own parameter:
                    // if it holds the value and tags, the change is applied.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_parameter_already_exists())
                            && holds(ssm, name, value, tags).await =>
                    {
                        return Ok(Executed::default());
                    }
                    Err(e) => return Err(aws_error("ssm:PutParameter", e)),
                }
            }
            ParameterOp::Tag { name, tags } => sent(
                "ssm:AddTagsToResource",
                ssm.add_tags_to_resource()
                    .resource_type(ResourceTypeForTagging::Parameter)
                    .resource_id(name)
                    .set_tags(Some(tags::to_sdk(tags)?))
                    .send()
                    .await,
            )?,
            ParameterOp::Delete { name } => settled(
                "ssm:DeleteParameter",
                ssm.delete_parameter().name(name).send().await,
                |e| e.is_parameter_not_found(),
            )?,
        }
        Ok(Executed::default())
    }
}

/// Whether parameter `name` exists with `value` and carries `tags` (re-observed after a lost answer;
/// any error reading it means "not known to hold").
async fn holds(ssm: &aws_sdk_ssm::Client, name: &str, value: &str, tags: &Tags) -> bool {
    let current = ssm.get_parameter().name(name).send().await.ok();
    let has_value = current
        .as_ref()
        .and_then(|o| o.parameter())
        .and_then(|p| p.value())
        == Some(value);
    if !has_value || tags.is_empty() {
        return has_value;
    }
    let Ok(listed) = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
    else {
        return false;
    };
    let present = tags::from_sdk(listed.tag_list());
    tags.iter().all(|(k, v)| present.get(k) == Some(v))
}

/// Every parameter `filter` matches: DescribeParameters, every page.
pub(crate) async fn describe(
    clients: &Clients,
    filter: ParameterStringFilter,
) -> Result<
    Vec<aws_sdk_ssm::types::ParameterMetadata>,
    aws_smithy_runtime_api::client::result::SdkError<
        aws_sdk_ssm::operation::describe_parameters::DescribeParametersError,
        aws_smithy_runtime_api::http::Response,
    >,
> {
    let pages = clients
        .ssm
        .describe_parameters()
        .parameter_filters(filter)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await?;
    Ok(pages
        .into_iter()
        .flat_map(|p| p.parameters.unwrap_or_default())
        .collect())
}

/// Names of the parameters in this region tagged managed-by=provision.
async fn tagged_names(clients: &Clients) -> Result<Vec<String>, Error> {
    let filter = ParameterStringFilter::builder()
        .key(format!("tag:{MANAGED_BY_KEY}"))
        .values(MANAGED_BY_VALUE)
        .build()
        .map_err(|e| Error::failed("invalid parameter filter").with_cause(e.to_string()))?;
    let found = describe(clients, filter)
        .await
        .map_err(|e| aws_error("ssm:DescribeParameters", e))?;
    Ok(found
        .iter()
        .filter_map(|p| p.name().map(str::to_string))
        .collect())
}

impl Lifecycle for Parameter {
    const KIND: Kind = PARAMETER;
    const MADE_BY: &'static [Part] = &[Part::DragonsLab];
    /// The bucket parameter names the bucket: the lab application never finds it pointing at
    /// nothing.
    const NEEDS: &'static [Kind] = &[BUCKET];
    const CREATED_BY: CreatedBy = CreatedBy::LastModifiedUser;
    const CLOUDFORMATION: CloudFormation = CloudFormation::Type("AWS::SSM::Parameter");

    type Found = BTreeMap<String, ObservedParameter>;

    /// The parameters tagged as provision's, plus the lab's two, with their tags.
    async fn discover(discovery: &Discovery<'_>) -> Result<Self::Found, Error> {
        let mut names: std::collections::BTreeSet<String> =
            tagged_names(discovery.clients).await?.into_iter().collect();
        names.extend(discovery.parameter_names.iter().cloned());
        let names: Vec<String> = names.into_iter().collect();
        Parameter::observe(discovery.clients, &names).await
    }

    async fn complete(_: &Discovery<'_>, _: &mut ObservedState) -> Result<(), Error> {
        Ok(())
    }

    fn inventory(found: &Self::Found) -> Vec<Inventoried<'_>> {
        inventory_by_name(found)
    }

    fn retain(found: &mut Self::Found, keep: &mut dyn FnMut(&str, &Tags) -> bool) {
        retain_by_name(found, keep);
    }

    fn removal(observed: &ObservedState, _: Keep, claims: &Claims) -> Result<Vec<Change>, Error> {
        remove_each::<Parameter>(observed.parameters.values(), claims)
    }

    fn rows(rows: &mut Rows<'_>) -> Result<(), Error> {
        rows.planned::<Parameter>(
            PARAMETER,
            &rows.expected.parameters,
            |p| p.name.as_str(),
            &rows.observed.parameters,
            |_| vec![],
        )
    }
}

impl Tagged for ObservedParameter {
    fn name(&self) -> &str {
        &self.name
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

#[cfg(test)]
impl crate::resources::simulated::Simulated for Parameter {
    fn simulate(
        op: &ParameterOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        let parameters = &mut world.observed.parameters;
        match op {
            ParameterOp::Put {
                name,
                value,
                overwrite,
                tags,
            } => {
                let existing = parameters.get(name).cloned();
                if existing.is_some() && !overwrite {
                    return Err(format!("ParameterAlreadyExists: {name}"));
                }
                parameters.insert(
                    name.clone(),
                    ObservedParameter {
                        name: name.clone(),
                        arn: None,
                        value: value.clone(),
                        kind: aws_sdk_ssm::types::ParameterType::String,
                        tags: existing.map_or_else(|| tags.clone(), |p| p.tags),
                    },
                );
            }
            ParameterOp::Tag { name, tags } => {
                let p = parameters
                    .get_mut(name)
                    .ok_or_else(|| format!("ParameterNotFound: {name}"))?;
                p.tags.extend(tags.clone());
            }
            ParameterOp::Delete { name } => {
                parameters.remove(name);
            }
        }
        Ok(Executed::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Operation;
    #[allow(unused_imports)]
    use crate::resources::ownership::{adopted_tags, managed_tags, test_claims};

    fn observed(value: &str, managed: bool) -> ObservedParameter {
        ObservedParameter {
            name: "p".into(),
            arn: Some("arn:aws:ssm:us-east-1:1:parameter/p".into()),
            value: value.into(),
            kind: ParameterType::String,
            tags: if managed { managed_tags() } else { Tags::new() },
        }
    }

    fn plan(observed: Option<&ObservedParameter>, adopt: bool) -> Result<Change, Error> {
        let desired = DesiredParameter {
            name: "p".into(),
            value: "v".into(),
            arn: "arn:aws:ssm:us-east-1:1:parameter/p".into(),
        };
        Parameter::plan(Some(&desired), observed, &test_claims(adopt)).map(|mut c| c.remove(0))
    }

    #[test]
    fn parameters_are_written_only_when_missing_or_different() {
        let created = plan(None, false).expect("plans");
        assert!(
            matches!(&created.operations[0], Operation::Parameter(ParameterOp::Put { overwrite: false, tags, .. }) if !tags.is_empty())
        );
        assert!(
            plan(Some(&observed("v", true)), false)
                .expect("plans")
                .operations
                .is_empty()
        );
        assert!(
            plan(Some(&observed("v", false)), false)
                .expect("plans")
                .operations
                .is_empty(),
            "an equal value is left alone whoever set it"
        );
        let updated = plan(Some(&observed("old", true)), false).expect("plans");
        assert_eq!(updated.line(), "~ update    ssm-parameter p (old → v)");
        assert!(
            matches!(&updated.operations[..], [Operation::Parameter(ParameterOp::Put { overwrite: true, tags, .. })] if tags.is_empty())
        );
        let mut secure = observed("v", true);
        secure.kind = ParameterType::SecureString;
        assert_eq!(
            plan(Some(&secure), false).expect("plans").line(),
            "~ update    ssm-parameter p (v → v; type SecureString → String)"
        );
    }

    #[test]
    fn someone_elses_value_is_refused_unless_adopted() {
        let error = plan(Some(&observed("theirs", false)), false).expect_err("refused");
        assert!(error.message().contains("already holds `theirs`"));
        let adopted = plan(Some(&observed("theirs", false)), true).expect("adopted");
        assert!(matches!(
            &adopted.operations[..],
            [
                Operation::Parameter(ParameterOp::Put { .. }),
                Operation::Parameter(ParameterOp::Tag { .. })
            ]
        ));
        assert_eq!(adopted.details.last(), Some(&Detail::Adopt));
    }

    #[test]
    fn teardown_deletes_only_tagged_parameters() {
        let deleted =
            Parameter::plan(None, Some(&observed("v", true)), &test_claims(false)).expect("plans");
        assert_eq!(deleted[0].action, Action::Delete);
        let left =
            Parameter::plan(None, Some(&observed("v", false)), &test_claims(false)).expect("plans");
        assert_eq!(left[0].details, vec![Detail::LeftAlone]);
    }
}
