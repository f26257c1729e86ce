//! The association between the course IDE's EC2 instance and the instance profile.
//!
//! EC2 learns of new IAM instance profiles a few seconds after IAM creates them; until then it
//! answers "Invalid IAM Instance Profile name" (some endpoints: NoSuchEntity). The association is
//! retried on exactly those answers, with backoff, within a bound.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, IamInstanceProfileSpecification};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::time::Instant;

use crate::error::{Error, aws_error};
use crate::plan::{Action, Change, Operation, ResourceKind};
use crate::resources::instance_profile::membership_id;

/// Instance states in which an instance can hold an IAM instance profile.
pub const ASSOCIABLE_STATES: &[&str] = &["pending", "running", "stopping", "stopped"];

/// `--instance-tag KEY=VALUE`, checked locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    pub key: String,
    pub value: String,
}

impl TagFilter {
    pub fn parse(text: &str) -> Result<Self, Error> {
        let malformed = |why: &str| {
            Error::usage(format!("--instance-tag `{text}` is malformed: {why}"))
                .with_hint("write it as KEY=VALUE, e.g. --instance-tag Name=dragons-ide (wildcards * and ? allowed)")
        };
        let Some((key, value)) = text.split_once('=') else {
            return Err(malformed("there is no `=`"));
        };
        if key.trim().is_empty() {
            return Err(malformed("the key is empty"));
        }
        if key.chars().count() > 128 {
            return Err(malformed("the key is longer than 128 characters"));
        }
        if value.chars().count() > 256 {
            return Err(malformed("the value is longer than 256 characters"));
        }
        Ok(Self {
            key: key.to_string(),
            value: value.to_string(),
        })
    }
}

/// Checks an instance id's form (`i-` and 8 or 17 hexadecimal digits).
pub fn check_instance_id(id: &str) -> Result<(), Error> {
    let digits = id.strip_prefix("i-").unwrap_or("");
    let valid = matches!(digits.len(), 8 | 17) && digits.chars().all(|c| c.is_ascii_hexdigit());
    if valid {
        Ok(())
    } else {
        Err(Error::usage(format!("`{id}` is not an EC2 instance id"))
            .with_hint("instance ids look like i-0123456789abcdef0; `aws ec2 describe-instances` lists them"))
    }
}

/// Which instances the command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceSelector {
    Id(String),
    Tags(Vec<TagFilter>),
}

impl std::fmt::Display for InstanceSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "instance id {id}"),
            Self::Tags(tags) => {
                let tags: Vec<String> = tags
                    .iter()
                    .map(|t| format!("{}={}", t.key, t.value))
                    .collect();
                write!(f, "tags {}", tags.join(", "))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedAssociation {
    pub id: String,
    pub profile_arn: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedInstance {
    pub id: String,
    pub name: Option<String>,
    pub state: String,
    pub association: Option<ObservedAssociation>,
}

impl ObservedInstance {
    fn describe(&self) -> String {
        format!(
            "{} ({}, {})",
            self.id,
            self.name
                .as_deref()
                .map_or("no Name tag".to_string(), |n| format!("Name={n}")),
            self.state
        )
    }
}

/// What the selector matched, and — only when it matched nothing — the instances that do exist.
#[derive(Debug, Clone, Default)]
pub struct InstanceObservation {
    pub matched: Vec<ObservedInstance>,
    pub others: Vec<ObservedInstance>,
}

/// Reads the matching instances and every current association in one concurrent round.
pub async fn observe(
    ec2: &Client,
    selector: &InstanceSelector,
) -> Result<InstanceObservation, Error> {
    let state_filter = Filter::builder()
        .name("instance-state-name")
        .set_values(Some(
            ASSOCIABLE_STATES.iter().map(|s| s.to_string()).collect(),
        ))
        .build();
    let mut describe = ec2.describe_instances().filters(state_filter);
    match selector {
        InstanceSelector::Id(id) => describe = describe.instance_ids(id),
        InstanceSelector::Tags(tags) => {
            for tag in tags {
                describe = describe.filters(
                    Filter::builder()
                        .name(format!("tag:{}", tag.key))
                        .values(&tag.value)
                        .build(),
                );
            }
        }
    }
    let instances = describe
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>();
    let associations = list_associations(ec2);
    let (instances, associations) = tokio::join!(instances, associations);
    let instances = match instances {
        Ok(pages) => pages,
        Err(e)
            if matches!(
                crate::error::service_code(&e),
                Some("InvalidInstanceID.NotFound" | "InvalidInstanceID.Malformed")
            ) =>
        {
            Vec::new()
        }
        Err(e) => return Err(aws_error("ec2:DescribeInstances", e)),
    };
    let associations = associations?;
    let matched: Vec<ObservedInstance> = instances
        .iter()
        .flat_map(|page| page.reservations())
        .flat_map(|r| r.instances())
        .map(|i| to_observed(i, &associations))
        .collect();
    let others = if matched.is_empty() {
        // Only to say what exists when nothing matched; costs a request on that path alone.
        ec2.describe_instances()
            .max_results(50)
            .send()
            .await
            .map_err(|e| aws_error("ec2:DescribeInstances", e))?
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| to_observed(i, &associations))
            .collect()
    } else {
        Vec::new()
    };
    Ok(InstanceObservation { matched, others })
}

pub async fn list_associations(
    ec2: &Client,
) -> Result<BTreeMap<String, ObservedAssociation>, Error> {
    let pages = ec2
        .describe_iam_instance_profile_associations()
        .max_results(1000)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("ec2:DescribeIamInstanceProfileAssociations", e))?;
    let mut by_instance = BTreeMap::new();
    for association in pages
        .iter()
        .flat_map(|page| page.iam_instance_profile_associations())
    {
        let state = association
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        // A disassociating association is on its way out; the instance is free once it is gone.
        if state == "disassociating" || state == "disassociated" {
            continue;
        }
        let (Some(instance), Some(id)) = (association.instance_id(), association.association_id())
        else {
            continue;
        };
        let profile_arn = association
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .unwrap_or_default()
            .to_string();
        by_instance.insert(
            instance.to_string(),
            ObservedAssociation {
                id: id.to_string(),
                profile_arn,
                state,
            },
        );
    }
    Ok(by_instance)
}

fn to_observed(
    instance: &aws_sdk_ec2::types::Instance,
    associations: &BTreeMap<String, ObservedAssociation>,
) -> ObservedInstance {
    let id = instance.instance_id().unwrap_or_default().to_string();
    ObservedInstance {
        name: instance
            .tags()
            .iter()
            .find(|t| t.key() == Some("Name"))
            .and_then(|t| t.value())
            .map(str::to_string),
        state: instance
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        association: associations.get(&id).cloned(),
        id,
    }
}

/// Chooses the instances to associate: exactly one, or all with `all_matching`. Pure.
pub fn select(
    selector: &InstanceSelector,
    observation: &InstanceObservation,
    all_matching: bool,
) -> Result<Vec<ObservedInstance>, Error> {
    let matched = &observation.matched;
    if matched.is_empty() {
        let states = ASSOCIABLE_STATES.join("/");
        let mut error = Error::failed(format!("no {states} instance matches {selector}"));
        if observation.others.is_empty() {
            error = error.with_cause("the region has no instances");
        } else {
            for other in &observation.others {
                error = error.with_cause(format!("exists: {}", other.describe()));
            }
        }
        return Err(error.with_hint(
            "check --region and the tag (e.g. --instance-tag 'Name=*ide*'), or pass --instance-id",
        ));
    }
    if matched.len() > 1 && !all_matching {
        let mut error = Error::failed(format!("{} instances match {selector}", matched.len()));
        for instance in matched {
            error = error.with_cause(format!("matches: {}", instance.describe()));
        }
        return Err(error.with_hint(
            "narrow it with more --instance-tag flags or --instance-id, or pass --all-matching to associate them all",
        ));
    }
    Ok(matched.clone())
}

/// Plans each instance's association with the profile. Pure.
pub fn plan(profile_name: &str, profile_arn: &str, instances: &[ObservedInstance]) -> Vec<Change> {
    instances
        .iter()
        .map(|instance| {
            let mut details = vec![instance.name.as_deref().map_or_else(
                || instance.state.clone(),
                |n| format!("Name={n}, {}", instance.state),
            )];
            let (action, operations) = match &instance.association {
                Some(current) if current.profile_arn == profile_arn => (Action::Unchanged, vec![]),
                Some(current) => {
                    details.push(format!("replaces {}", current.profile_arn));
                    (
                        Action::Update,
                        vec![Operation::ReplaceInstanceProfileAssociation {
                            instance_id: instance.id.clone(),
                            association_id: current.id.clone(),
                            profile_name: profile_name.to_string(),
                        }],
                    )
                }
                None => (
                    Action::Create,
                    vec![Operation::AssociateInstanceProfile {
                        instance_id: instance.id.clone(),
                        profile_name: profile_name.to_string(),
                    }],
                ),
            };
            Change::new(
                ResourceKind::Ec2InstanceProfileAssociation,
                &instance.id,
                action,
            )
            .with_arn(profile_arn)
            .with_details(details)
            .with_operations(operations)
            .after(membership_id(profile_name))
        })
        .collect()
}

/// Plans the removal of every association with the profile `profile_arn` (teardown). Pure.
pub fn plan_absent(
    profile_arn: &str,
    associations: &BTreeMap<String, ObservedAssociation>,
) -> Vec<Change> {
    associations
        .iter()
        .filter(|(_, a)| a.profile_arn == profile_arn)
        .map(|(instance, association)| {
            Change::new(
                ResourceKind::Ec2InstanceProfileAssociation,
                instance,
                Action::Delete,
            )
            .with_arn(profile_arn)
            .with_details(vec![format!("disassociate {}", association.id)])
            .with_operations(vec![Operation::DisassociateInstanceProfile {
                instance_id: instance.clone(),
                association_id: association.id.clone(),
            }])
        })
        .collect()
}

/// Disassociates a profile from an instance; an association already gone counts as done.
pub async fn disassociate(ec2: &Client, association_id: &str) -> Result<(), Error> {
    crate::error::settled(
        "ec2:DisassociateIamInstanceProfile",
        ec2.disassociate_iam_instance_profile()
            .association_id(association_id)
            .send()
            .await,
        |e| matches!(e.code(), Some("InvalidAssociationID.NotFound")),
    )
}

/// How long and how often to retry while EC2 does not see a new profile yet.
#[derive(Debug, Clone, Copy)]
pub struct PropagationPolicy {
    pub timeout: Duration,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl PropagationPolicy {
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// True for the answers EC2 gives while a new instance profile has not reached it yet.
pub fn is_propagation_error<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    let Some(service) = error.as_service_error() else {
        return false;
    };
    match service.code() {
        Some("NoSuchEntity") => true,
        Some("InvalidParameterValue") => service
            .message()
            .is_some_and(|m| m.to_ascii_lowercase().contains("instance profile")),
        _ => false,
    }
}

/// Executes an association request, retrying propagation errors within `policy`. `on_wait` is told
/// of each wait (attempt number, delay) so the progress line can show it. Returns the association id.
pub async fn execute(
    ec2: &Client,
    operation: &Operation,
    policy: PropagationPolicy,
    mut on_wait: impl FnMut(u32, Duration),
) -> Result<String, Error> {
    let deadline = Instant::now() + policy.timeout;
    let mut delay = policy.first_delay;
    let mut attempt = 1;
    loop {
        let (result, action, profile) = match operation {
            Operation::AssociateInstanceProfile {
                instance_id,
                profile_name,
            } => {
                let result = ec2
                    .associate_iam_instance_profile()
                    .instance_id(instance_id)
                    .iam_instance_profile(
                        IamInstanceProfileSpecification::builder()
                            .name(profile_name)
                            .build(),
                    )
                    .send()
                    .await
                    .map(|o| association_id(o.iam_instance_profile_association()));
                (
                    result.map_err(Failure::Associate),
                    "ec2:AssociateIamInstanceProfile",
                    profile_name,
                )
            }
            Operation::ReplaceInstanceProfileAssociation {
                association_id: current,
                profile_name,
                ..
            } => {
                let result = ec2
                    .replace_iam_instance_profile_association()
                    .association_id(current)
                    .iam_instance_profile(
                        IamInstanceProfileSpecification::builder()
                            .name(profile_name)
                            .build(),
                    )
                    .send()
                    .await
                    .map(|o| association_id(o.iam_instance_profile_association()));
                (
                    result.map_err(Failure::Replace),
                    "ec2:ReplaceIamInstanceProfileAssociation",
                    profile_name,
                )
            }
            other => {
                return Err(Error::failed(format!(
                    "internal: {other:?} is not an association request"
                )));
            }
        };
        let failure = match result {
            Ok(id) => return Ok(id),
            Err(failure) => failure,
        };
        if !failure.is_propagation_error() {
            return Err(failure.into_error(action));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::failed(format!(
                "EC2 still does not see instance profile {profile} after {}s",
                policy.timeout.as_secs()
            ))
            .with_cause(format!("{action} answered: {}", failure.summary()))
            .with_hint(
                "new IAM instance profiles usually reach EC2 within a minute: re-run the same \
                 command (it picks up where it stopped), or allow longer with --propagation-timeout 5m",
            ));
        }
        let wait = delay.min(deadline - now);
        on_wait(attempt, wait);
        tokio::time::sleep(wait).await;
        delay = (delay * 2).min(policy.max_delay);
        attempt += 1;
    }
}

fn association_id(
    association: Option<&aws_sdk_ec2::types::IamInstanceProfileAssociation>,
) -> String {
    association
        .and_then(|a| a.association_id())
        .unwrap_or_default()
        .to_string()
}

/// The failure of either association request, kept typed for classification.
enum Failure {
    Associate(
        SdkError<
            aws_sdk_ec2::operation::associate_iam_instance_profile::AssociateIamInstanceProfileError,
            aws_smithy_runtime_api::http::Response,
        >,
    ),
    Replace(
        SdkError<
            aws_sdk_ec2::operation::replace_iam_instance_profile_association::ReplaceIamInstanceProfileAssociationError,
            aws_smithy_runtime_api::http::Response,
        >,
    ),
}

impl Failure {
    fn is_propagation_error(&self) -> bool {
        match self {
            Self::Associate(e) => is_propagation_error(e),
            Self::Replace(e) => is_propagation_error(e),
        }
    }

    fn summary(&self) -> String {
        fn code_and_message<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
            let service = error.as_service_error();
            format!(
                "{}: {}",
                service.and_then(|s| s.code()).unwrap_or("error"),
                service.and_then(|s| s.message()).unwrap_or_default()
            )
        }
        match self {
            Self::Associate(e) => code_and_message(e),
            Self::Replace(e) => code_and_message(e),
        }
    }

    fn into_error(self, action: &str) -> Error {
        match self {
            Self::Associate(e) => aws_error(action, e),
            Self::Replace(e) => aws_error(action, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, association: Option<&str>) -> ObservedInstance {
        ObservedInstance {
            id: id.into(),
            name: Some("ide".into()),
            state: "running".into(),
            association: association.map(|arn| ObservedAssociation {
                id: format!("iip-assoc-{id}"),
                profile_arn: arn.into(),
                state: "associated".into(),
            }),
        }
    }

    #[test]
    fn tag_filters_are_checked_locally() {
        assert_eq!(
            TagFilter::parse("Name=ide=1").expect("valid"),
            TagFilter {
                key: "Name".into(),
                value: "ide=1".into()
            }
        );
        assert!(TagFilter::parse("Name").is_err());
        assert!(TagFilter::parse("=ide").is_err());
        assert!(TagFilter::parse(&format!("{}=v", "k".repeat(129))).is_err());
        assert!(
            TagFilter::parse("Name=").is_ok(),
            "an empty value is a valid tag value"
        );
    }

    #[test]
    fn instance_ids_are_checked_locally() {
        assert!(check_instance_id("i-0123456789abcdef0").is_ok());
        assert!(check_instance_id("i-01234567").is_ok());
        assert!(check_instance_id("i-xyz").is_err());
        assert!(check_instance_id("0123456789abcdef0").is_err());
    }

    #[test]
    fn none_or_several_matches_are_errors_listing_instances() {
        let selector = InstanceSelector::Tags(vec![TagFilter {
            key: "Name".into(),
            value: "ide".into(),
        }]);
        let none = InstanceObservation {
            matched: vec![],
            others: vec![instance("i-1", None)],
        };
        let error = select(&selector, &none, false).expect_err("no match");
        assert!(
            error.causes()[0].contains("i-1 (Name=ide, running)"),
            "{error}"
        );
        let two = InstanceObservation {
            matched: vec![instance("i-1", None), instance("i-2", None)],
            others: vec![],
        };
        let error = select(&selector, &two, false).expect_err("two match");
        assert_eq!(error.causes().len(), 2);
        assert!(error.hints()[0].contains("--all-matching"));
        assert_eq!(select(&selector, &two, true).expect("all").len(), 2);
    }

    #[test]
    fn associations_are_created_replaced_or_left() {
        let ours = "arn:aws:iam::1:instance-profile/provision/lab";
        let changes = plan(
            "lab",
            ours,
            &[
                instance("i-1", None),
                instance("i-2", Some("arn:aws:iam::1:instance-profile/other")),
                instance("i-3", Some(ours)),
            ],
        );
        let actions: Vec<Action> = changes.iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            vec![Action::Create, Action::Update, Action::Unchanged]
        );
        assert!(matches!(
            &changes[1].operations[0],
            Operation::ReplaceInstanceProfileAssociation { association_id, .. } if association_id == "iip-assoc-i-2"
        ));
        assert!(changes[2].operations.is_empty());
    }
}
