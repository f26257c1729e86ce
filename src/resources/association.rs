//! The association between the course IDE's EC2 instance and an instance profile.
//!
//! EC2 learns of new IAM instance profiles a few seconds after IAM creates them; until then it
//! answers "Invalid IAM Instance Profile name" (some endpoints: NoSuchEntity). The association is
//! retried on exactly those answers, with backoff, within the bound the plan carries.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, IamInstanceProfileAssociationState, IamInstanceProfileSpecification, InstanceStateName,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::time::Instant;

use crate::connection::clients::Clients;
use crate::engine::apply::{Executed, Progress, Report};
use crate::engine::plan::{Action, Detail, Drift, Kind};
use crate::error::{Error, aws_error, sent, service_code, settled};
use crate::input::{InstanceSelector, TagFilter};
use crate::resources::instance_profile::{MEMBERSHIP, PROFILE};
use crate::resources::ownership::is_created;
use crate::resources::ownership::{Claims, MANAGED_BY_KEY, MANAGED_BY_VALUE, OWNER_KEY};
use crate::resources::status::{Rows, StatusLine};
use crate::resources::tags::Tags;
use crate::resources::{Change, Resource};
use crate::resources::{
    CloudFormation, CreatedBy, Discovery, Inventoried, Keep, Lifecycle, ObservedState, Part,
};

pub(crate) const ASSOCIATION: Kind = Kind::new("ec2-instance-profile-association");

/// Instance states the selector finds: those in which an instance exists and may hold a profile.
pub(crate) const ASSOCIABLE_STATES: [InstanceStateName; 4] = [
    InstanceStateName::Pending,
    InstanceStateName::Running,
    InstanceStateName::Stopping,
    InstanceStateName::Stopped,
];

/// The states in which AWS associates a profile ("Attach an IAM role to an instance", EC2 User
/// Guide: the instance must be running or stopped); pending and stopping instances are told to
/// wait.
pub(crate) const SETTLED_STATES: [InstanceStateName; 2] =
    [InstanceStateName::Running, InstanceStateName::Stopped];

/// The tag an instance gets when provision associates it with a profile provision did not create
/// (`--existing-profile`): its value is the profile's name. Teardown removes such an association
/// — the one provision made, and only while the instance still holds that profile — and the tag.
pub(crate) const RECORD_TAG: &str = "provision:associated-profile";
/// Beside [`RECORD_TAG`]: the owner (see `owners`) of the recorded association.
pub(crate) const RECORD_OWNER_TAG: &str = "provision:associated-by";

/// The instance profile Cloud9 gives a no-ingress (SSM-connected) environment's instance.
pub(crate) const CLOUD9_SSM_PROFILE: &str = "AWSCloud9SSMInstanceProfile";

/// An instance, as much of it as the plan shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ObservedInstance {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) state: Option<InstanceStateName>,
    /// A Cloud9 environment's instance (`aws:cloud9:*` tags, or an `aws-cloud9-` name).
    pub(crate) cloud9: bool,
    /// Registered with Systems Manager (its agent connects it; a no-ingress IDE depends on it).
    pub(crate) ssm_managed: bool,
}

impl ObservedInstance {
    fn state(&self) -> &str {
        self.state.as_ref().map_or("unknown", |s| s.as_str())
    }

    /// `Name=ide, running`
    fn summary(&self) -> String {
        match &self.name {
            Some(name) => format!("Name={name}, {}", self.state()),
            None => self.state().to_string(),
        }
    }

    /// `i-0123 (Name=ide, running)`
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} ({}, {})",
            self.id,
            self.name
                .as_deref()
                .map_or("no Name tag".to_string(), |n| format!("Name={n}")),
            self.state()
        )
    }
}

/// An instance's current association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObservedAssociation {
    pub(crate) instance_id: String,
    pub(crate) id: String,
    pub(crate) profile_arn: String,
    pub(crate) state: IamInstanceProfileAssociationState,
}

/// What the selector matched, the instances that exist when it matched nothing, and every
/// current association by instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct InstanceObservation {
    pub(crate) matched: Vec<ObservedInstance>,
    pub(crate) others: Vec<ObservedInstance>,
    pub(crate) associations: BTreeMap<String, ObservedAssociation>,
    /// Instances carrying [`RECORD_TAG`], with what it records (read for teardown).
    pub(crate) recorded: BTreeMap<String, Recorded>,
}

impl InstanceObservation {
    /// The associations that give instances the profile of `profile_arn`.
    pub(crate) fn held_by<'a>(
        &'a self,
        profile_arn: &'a str,
    ) -> impl Iterator<Item = &'a ObservedAssociation> {
        self.associations
            .values()
            .filter(move |a| a.profile_arn == profile_arn)
    }
}

/// An association provision recorded on an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// The profile it associated ([`RECORD_TAG`]).
    pub(crate) profile: String,
    /// Its owner ([`RECORD_OWNER_TAG`]); `None` when recorded before owners.
    pub(crate) owner: Option<String>,
}

impl Recorded {
    /// The record as the tags of one of provision's resources, for the ownership rules.
    fn tags(&self) -> Tags {
        let mut tags = Tags::from([(MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string())]);
        if let Some(owner) = &self.owner {
            tags.insert(OWNER_KEY.to_string(), owner.clone());
        }
        tags
    }
}

/// An instance that should hold the profile.
#[derive(Debug, Clone)]
pub(crate) struct DesiredAssociation {
    pub(crate) instance: ObservedInstance,
    pub(crate) profile_name: String,
    pub(crate) profile_arn: String,
    /// How long to retry while EC2 does not see a new profile yet.
    pub(crate) propagation: PropagationPolicy,
    /// Replace an association with a profile provision did not create (`--replace`).
    pub(crate) replace: bool,
    /// Record the association on the instance ([`RECORD_TAG`]): for a profile provision did not
    /// create, so that teardown knows which association is provision's, and whose: the owner.
    pub(crate) record: Option<String>,
}

/// Whether an instance profile ARN is one provision creates (under its IAM path).
pub(crate) fn is_provision_profile(arn: &str) -> bool {
    arn.contains(&format!(
        ":instance-profile{}",
        crate::course::lab::IAM_PATH
    ))
}

/// The name of the profile an ARN names.
pub(crate) fn profile_name_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AssociationOp {
    Associate {
        instance_id: String,
        profile_name: String,
        propagation: PropagationPolicy,
    },
    Replace {
        instance_id: String,
        association_id: String,
        profile_name: String,
        propagation: PropagationPolicy,
    },
    Disassociate {
        instance_id: String,
        association_id: String,
    },
    /// Tags the instance with [`RECORD_TAG`] = the profile's name and [`RECORD_OWNER_TAG`].
    Record {
        instance_id: String,
        profile_name: String,
        owner: String,
    },
    /// Removes [`RECORD_TAG`] and [`RECORD_OWNER_TAG`] from the instance.
    Forget { instance_id: String },
}

pub(crate) struct Association;

impl Resource for Association {
    const KINDS: &'static [Kind] = &[ASSOCIATION];

    /// The instances to look at; `None` reads only the associations (teardown).
    type Query = Option<InstanceSelector>;
    type Observation = InstanceObservation;
    type Desired = DesiredAssociation;
    type Observed = ObservedAssociation;
    type Op = AssociationOp;

    /// Reads the matching instances and every current association in one concurrent round.
    async fn observe(
        clients: &Clients,
        selector: &Option<InstanceSelector>,
    ) -> Result<InstanceObservation, Error> {
        let ec2 = &clients.ec2;
        let instances = async {
            match selector {
                Some(selector) => describe(ec2, selector).await,
                None => Ok(Vec::new()),
            }
        };
        let managed = async {
            match selector {
                Some(_) => Some(ssm_managed(&clients.instance_ssm, None).await),
                None => None,
            }
        };
        let recorded = async {
            match selector {
                None => recorded(ec2).await,
                Some(_) => Ok(BTreeMap::new()),
            }
        };
        let (matched, associations, managed, recorded) =
            tokio::join!(instances, list_associations(ec2), managed, recorded);
        let (mut matched, associations, recorded) = (matched?, associations?, recorded?);
        let managed = match managed {
            Some(Managed::Partial) if !matched.is_empty() => {
                let ids = matched.iter().map(|i| i.id.clone()).collect();
                match ssm_managed(&clients.instance_ssm, Some(ids)).await {
                    Managed::Complete(ids) => ids,
                    Managed::Partial => Vec::new(),
                }
            }
            Some(Managed::Complete(ids)) => ids,
            _ => Vec::new(),
        };
        for instance in &mut matched {
            instance.ssm_managed = managed.contains(&instance.id);
        }
        let others = if selector.is_some() && matched.is_empty() {
            // Only to say what exists when nothing matched; costs a request on that path alone.
            ec2.describe_instances()
                .max_results(50)
                .send()
                .await
                .map_err(|e| aws_error("ec2:DescribeInstances", e))?
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .map(to_observed)
                .collect()
        } else {
            Vec::new()
        };
        Ok(InstanceObservation {
            matched,
            others,
            associations,
            recorded,
        })
    }

    /// Created, replaced if the instance holds another profile, or left alone; in teardown,
    /// removed. Which associations teardown removes (those of provision's profiles) the command
    /// decides.
    fn plan(
        desired: Option<&DesiredAssociation>,
        observed: Option<&ObservedAssociation>,
        _: &Claims,
    ) -> Result<Vec<Change>, Error> {
        let Some(desired) = desired else {
            return Ok(observed.map_or_else(Vec::new, |current| {
                vec![
                    Change::new(ASSOCIATION, &current.instance_id, Action::Delete)
                        .with_arn(&current.profile_arn)
                        .with_detail(Detail::note(format!("disassociate {}", current.id)))
                        .with_operations(vec![
                            AssociationOp::Disassociate {
                                instance_id: current.instance_id.clone(),
                                association_id: current.id.clone(),
                            }
                            .into(),
                        ]),
                ]
            }));
        };
        let instance = &desired.instance;
        let mut details = vec![Detail::note(instance.summary())];
        let (action, operations) = match observed {
            Some(current) if current.profile_arn == desired.profile_arn => {
                (Action::Unchanged, vec![])
            }
            Some(current) if !desired.replace && !is_provision_profile(&current.profile_arn) => {
                return Err(foreign_association(instance, current));
            }
            Some(current) => {
                details.push(Drift::OtherProfile(current.profile_arn.clone()).into());
                (
                    Action::Update,
                    vec![
                        AssociationOp::Replace {
                            instance_id: instance.id.clone(),
                            association_id: current.id.clone(),
                            profile_name: desired.profile_name.clone(),
                            propagation: desired.propagation,
                        }
                        .into(),
                    ],
                )
            }
            None => (
                Action::Create,
                vec![
                    AssociationOp::Associate {
                        instance_id: instance.id.clone(),
                        profile_name: desired.profile_name.clone(),
                        propagation: desired.propagation,
                    }
                    .into(),
                ],
            ),
        };
        let mut operations = operations;
        if let Some(owner) = desired.record.as_ref().filter(|_| !operations.is_empty()) {
            operations.push(
                AssociationOp::Record {
                    instance_id: instance.id.clone(),
                    profile_name: desired.profile_name.clone(),
                    owner: owner.clone(),
                }
                .into(),
            );
        }
        Ok(vec![
            Change::new(ASSOCIATION, &instance.id, action)
                .with_arn(&desired.profile_arn)
                .with_details(details)
                .with_operations(operations),
        ])
    }

    async fn execute(
        clients: &Clients,
        op: &AssociationOp,
        report: Report<'_>,
    ) -> Result<Executed, Error> {
        let ec2 = &clients.ec2;
        match op {
            AssociationOp::Disassociate { association_id, .. } => settled(
                "ec2:DisassociateIamInstanceProfile",
                ec2.disassociate_iam_instance_profile()
                    .association_id(association_id)
                    .send()
                    .await,
                |e| e.code() == Some("InvalidAssociationID.NotFound"),
            )
            .map(|()| Executed::default()),
            AssociationOp::Record {
                instance_id,
                profile_name,
                owner,
            } => sent(
                "ec2:CreateTags",
                ec2.create_tags()
                    .resources(instance_id)
                    .tags(
                        aws_sdk_ec2::types::Tag::builder()
                            .key(RECORD_TAG)
                            .value(profile_name)
                            .build(),
                    )
                    .tags(
                        aws_sdk_ec2::types::Tag::builder()
                            .key(RECORD_OWNER_TAG)
                            .value(owner)
                            .build(),
                    )
                    .send()
                    .await,
            )
            .map(|()| Executed::default()),
            AssociationOp::Forget { instance_id } => settled(
                "ec2:DeleteTags",
                ec2.delete_tags()
                    .resources(instance_id)
                    .tags(aws_sdk_ec2::types::Tag::builder().key(RECORD_TAG).build())
                    .tags(
                        aws_sdk_ec2::types::Tag::builder()
                            .key(RECORD_OWNER_TAG)
                            .build(),
                    )
                    .send()
                    .await,
                |e| e.code() == Some("InvalidInstanceID.NotFound"),
            )
            .map(|()| Executed::default()),
            AssociationOp::Associate {
                instance_id,
                profile_name,
                propagation,
            } => associating(ec2, instance_id, None, profile_name, *propagation, report).await,
            AssociationOp::Replace {
                instance_id,
                association_id,
                profile_name,
                propagation,
            } => {
                associating(
                    ec2,
                    instance_id,
                    Some(association_id),
                    profile_name,
                    *propagation,
                    report,
                )
                .await
            }
        }
    }
}

/// Associates (or, given the current association, replaces), telling `report` of each wait.
async fn associating(
    ec2: &Client,
    instance_id: &str,
    replacing: Option<&str>,
    profile_name: &str,
    policy: PropagationPolicy,
    report: Report<'_>,
) -> Result<Executed, Error> {
    let id = associate(
        ec2,
        instance_id,
        replacing,
        profile_name,
        policy,
        |attempt, wait| {
            report.progress(Progress::Waiting(format!(
                "EC2 does not see the new instance profile yet, retry {attempt} in {}s",
                wait.as_secs_f32().ceil()
            )));
        },
    )
    .await?;
    Ok(Executed {
        resource_id: Some(id),
    })
}

async fn describe(
    ec2: &Client,
    selector: &InstanceSelector,
) -> Result<Vec<ObservedInstance>, Error> {
    let state_filter = Filter::builder()
        .name("instance-state-name")
        .set_values(Some(
            ASSOCIABLE_STATES
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        ))
        .build();
    let mut describe = ec2.describe_instances().filters(state_filter);
    match selector {
        InstanceSelector::Id(id) => describe = describe.instance_ids(id.as_str()),
        InstanceSelector::Tags(tags) => {
            for TagFilter { key, value } in tags {
                describe = describe.filters(
                    Filter::builder()
                        .name(format!("tag:{key}"))
                        .values(value)
                        .build(),
                );
            }
        }
    }
    let pages = match describe
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
    {
        Ok(pages) => pages,
        Err(e)
            if matches!(
                service_code(&e),
                Some("InvalidInstanceID.NotFound" | "InvalidInstanceID.Malformed")
            ) =>
        {
            Vec::new()
        }
        Err(e) => return Err(aws_error("ec2:DescribeInstances", e)),
    };
    Ok(pages
        .iter()
        .flat_map(|page| page.reservations())
        .flat_map(|r| r.instances())
        .map(to_observed)
        .collect())
}

/// The instances provision recorded an association on ([`RECORD_TAG`]), with the profile named.
async fn recorded(ec2: &Client) -> Result<BTreeMap<String, Recorded>, Error> {
    let pages = ec2
        .describe_instances()
        .filters(Filter::builder().name("tag-key").values(RECORD_TAG).build())
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("ec2:DescribeInstances", e))?;
    Ok(pages
        .iter()
        .flat_map(|page| page.reservations())
        .flat_map(|r| r.instances())
        .filter_map(|instance| {
            let tag = |key| {
                instance
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some(key))
                    .and_then(|t| t.value())
                    .map(str::to_string)
            };
            let recorded = Recorded {
                profile: tag(RECORD_TAG)?,
                owner: tag(RECORD_OWNER_TAG),
            };
            Some((instance.instance_id()?.to_string(), recorded))
        })
        .collect())
}

/// Teardown of an association provision made with a profile it did not create: recorded on the
/// instance, and the instance still holds that profile. The association and the record go.
pub(crate) fn recorded_removal(
    observation: &InstanceObservation,
    association: &ObservedAssociation,
    claims: &Claims,
) -> Option<Change> {
    let recorded = observation.recorded.get(&association.instance_id)?;
    let instance = &association.instance_id;
    let tags = recorded.tags();
    if recorded.profile != profile_name_of(&association.profile_arn)
        || !claims.considers(ASSOCIATION, instance, &tags)
    {
        return None;
    }
    let profile = &recorded.profile;
    Some(claims.delete_if_ours(
        &tags,
        ASSOCIATION,
        instance,
        Some(&association.profile_arn),
        || {
            vec![
                AssociationOp::Disassociate {
                    instance_id: instance.clone(),
                    association_id: association.id.clone(),
                }
                .into(),
                AssociationOp::Forget {
                    instance_id: instance.clone(),
                }
                .into(),
            ]
        },
    ))
    .map(|change| match change.action {
        Action::Delete => change.with_detail(Detail::note(format!(
            "disassociate {} (made by provision with {profile})",
            association.id
        ))),
        _ => change,
    })
}

async fn list_associations(ec2: &Client) -> Result<BTreeMap<String, ObservedAssociation>, Error> {
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
        let Some(state) = association.state().cloned() else {
            continue;
        };
        // A disassociating association is on its way out; the instance is free once it is gone.
        if matches!(
            state,
            IamInstanceProfileAssociationState::Disassociating
                | IamInstanceProfileAssociationState::Disassociated
        ) {
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
                instance_id: instance.to_string(),
                id: id.to_string(),
                profile_arn,
                state,
            },
        );
    }
    Ok(by_instance)
}

fn to_observed(instance: &aws_sdk_ec2::types::Instance) -> ObservedInstance {
    let name = instance
        .tags()
        .iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(|t| t.value())
        .map(str::to_string);
    let cloud9 = instance
        .tags()
        .iter()
        .any(|t| t.key().is_some_and(|k| k.starts_with("aws:cloud9:")))
        || name
            .as_deref()
            .is_some_and(|n| n.starts_with("aws-cloud9-"));
    ObservedInstance {
        id: instance.instance_id().unwrap_or_default().to_string(),
        name,
        state: instance.state().and_then(|s| s.name()).cloned(),
        cloud9,
        ssm_managed: false,
    }
}

/// The instances Systems Manager manages in the region, read beside DescribeInstances so that it
/// costs no round trip: one page (50) of DescribeInstanceInformation, which in a course account
/// is all of them. `Complete(ids)` when that page was the last; `Partial` when there are more (the
/// matched instances are then asked for by id). One attempt: a refusal or an endpoint without the
/// operation means "not known to be managed", never a failed run.
enum Managed {
    Complete(Vec<String>),
    Partial,
}

async fn ssm_managed(ssm: &aws_sdk_ssm::Client, ids: Option<Vec<String>>) -> Managed {
    let mut request = ssm.describe_instance_information().max_results(50);
    if let Some(ids) = ids {
        let filter = aws_sdk_ssm::types::InstanceInformationStringFilter::builder()
            .key("InstanceIds")
            .set_values(Some(ids))
            .build();
        match filter {
            Ok(filter) => request = request.filters(filter),
            Err(_) => return Managed::Complete(Vec::new()),
        }
    }
    let answer = request
        .customize()
        .config_override(
            aws_sdk_ssm::config::Builder::default()
                .retry_config(crate::connection::clients::single_attempt()),
        )
        .send()
        .await;
    match answer {
        Ok(output) if output.next_token().is_some_and(|t| !t.is_empty()) => Managed::Partial,
        Ok(output) => Managed::Complete(
            output
                .instance_information_list()
                .iter()
                .filter_map(|i| i.instance_id().map(str::to_string))
                .collect(),
        ),
        Err(_) => Managed::Complete(Vec::new()),
    }
}

/// The refusal to replace, unasked, an association with a profile provision did not create: the
/// instance would lose that profile's permissions (a no-ingress Cloud9 IDE, its SSM connection).
fn foreign_association(instance: &ObservedInstance, current: &ObservedAssociation) -> Error {
    let profile = profile_name_of(&current.profile_arn);
    let mut error = Error::failed(format!(
        "instance {} holds instance profile {profile}, which provision did not create",
        instance.describe()
    ))
    .with_cause(format!(
        "replacing it removes {profile}'s permissions from the instance ({})",
        current.profile_arn
    ));
    if profile == CLOUD9_SSM_PROFILE || instance.ssm_managed {
        error = error.with_cause(
            "the instance is connected through Systems Manager (a no-ingress Cloud9 IDE): with --replace \
             the lab role also gets AmazonSSMManagedInstanceCore, so the IDE stays reachable",
        );
    }
    let mut command = crate::shell::command_line();
    command.push_str(" --replace");
    error.with_hint(format!("to replace it with the lab's profile: {command}"))
}

/// Chooses the instances to associate: exactly one, or all with `all_matching`. Pure.
pub(crate) fn select(
    selector: &InstanceSelector,
    observation: &InstanceObservation,
    all_matching: bool,
) -> Result<Vec<ObservedInstance>, Error> {
    let matched = &observation.matched;
    if matched.is_empty() {
        let states: Vec<&str> = ASSOCIABLE_STATES.iter().map(|s| s.as_str()).collect();
        let mut error = Error::failed(format!(
            "no {} instance matches {selector}",
            states.join("/")
        ));
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
    if let Some(unsettled) = matched.iter().find(|i| {
        i.state
            .as_ref()
            .is_some_and(|s| !SETTLED_STATES.contains(s))
    }) {
        return Err(Error::failed(format!(
            "instance {} is {}: AWS associates an instance profile with a running or stopped \
             instance",
            unsettled.describe(),
            unsettled.state()
        ))
        .with_hint(format!(
            "wait until it is running (or stopped) — `aws ec2 wait instance-running --instance-ids \
             {}` — then run the same command again",
            unsettled.id
        )));
    }
    Ok(matched.clone())
}

/// How long and how often to retry while EC2 does not see a new profile yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PropagationPolicy {
    pub(crate) timeout: Duration,
    pub(crate) first_delay: Duration,
    pub(crate) max_delay: Duration,
}

impl PropagationPolicy {
    /// Polls soon and often: EC2 usually sees a new profile within seconds, and a wait that
    /// overshoots that moment is time the student waits for nothing. 0.5 s, then every 1 s
    /// (a few dozen requests a minute at most, well inside EC2's request limits).
    pub(crate) fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(1),
        }
    }
}

/// True for the answers EC2 gives while a new instance profile has not reached it yet.
fn is_propagation_error<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
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

/// The id of the instance's current association if it is with instance profile `profile_name`
/// (re-observed after a failed request; any error reading it means "no").
async fn holding(ec2: &Client, instance_id: &str, profile_name: &str) -> Option<String> {
    let output = ec2
        .describe_iam_instance_profile_associations()
        .filters(
            Filter::builder()
                .name("instance-id")
                .values(instance_id)
                .build(),
        )
        .send()
        .await
        .ok()?;
    output
        .iam_instance_profile_associations()
        .iter()
        .filter(|a| {
            matches!(
                a.state(),
                Some(
                    IamInstanceProfileAssociationState::Associating
                        | IamInstanceProfileAssociationState::Associated
                )
            )
        })
        .find(|a| {
            a.instance_id() == Some(instance_id)
                && a.iam_instance_profile()
                    .and_then(|p| p.arn())
                    .and_then(|arn| arn.rsplit('/').next())
                    == Some(profile_name)
        })
        .and_then(|a| a.association_id())
        .map(str::to_string)
}

/// Sends an association request — AssociateIamInstanceProfile, or with `replacing` (the current
/// association's id) ReplaceIamInstanceProfileAssociation — retrying propagation errors within
/// `policy`. `on_wait` is told of each wait (attempt number, delay). Returns the association id.
async fn associate(
    ec2: &Client,
    instance_id: &str,
    replacing: Option<&str>,
    profile_name: &str,
    policy: PropagationPolicy,
    mut on_wait: impl FnMut(u32, Duration),
) -> Result<String, Error> {
    let deadline = Instant::now() + policy.timeout;
    let mut delay = policy.first_delay;
    let mut attempt = 1;
    let profile = || {
        IamInstanceProfileSpecification::builder()
            .name(profile_name)
            .build()
    };
    loop {
        let (result, action) = match replacing {
            None => (
                ec2.associate_iam_instance_profile()
                    .instance_id(instance_id)
                    .iam_instance_profile(profile())
                    .send()
                    .await
                    .map(|o| association_id(o.iam_instance_profile_association()))
                    .map_err(Failure::Associate),
                "ec2:AssociateIamInstanceProfile",
            ),
            Some(current) => (
                ec2.replace_iam_instance_profile_association()
                    .association_id(current)
                    .iam_instance_profile(profile())
                    .send()
                    .await
                    .map(|o| association_id(o.iam_instance_profile_association()))
                    .map_err(Failure::Replace),
                "ec2:ReplaceIamInstanceProfileAssociation",
            ),
        };
        let failure = match result {
            Ok(id) => return Ok(id),
            Err(failure) => failure,
        };
        if !failure.is_propagation_error() {
            // A request whose answer was lost and that the SDK retried meets its own work
            // (IncorrectState: "there is an existing association"; a replaced association id
            // that is gone). If the instance now holds the profile, the change is applied.
            if let Some(id) = holding(ec2, instance_id, profile_name).await {
                return Ok(id);
            }
            return Err(failure.into_error(action));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::failed(format!(
                "EC2 still does not see instance profile {profile_name} after {}s",
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

impl Lifecycle for Association {
    const KIND: Kind = ASSOCIATION;
    const MADE_BY: &'static [Part] = &[Part::InstanceProfile];
    const NEEDS: &'static [Kind] = &[PROFILE, MEMBERSHIP];
    const CREATED_BY: CreatedBy = CreatedBy::Recorded;
    const CLOUDFORMATION: CloudFormation =
        CloudFormation::Not("a template cannot change an instance it did not create");

    type Found = InstanceObservation;

    /// Every association of the account's instances, and what provision recorded on them.
    async fn discover(discovery: &Discovery<'_>) -> Result<Self::Found, Error> {
        Association::observe(discovery.clients, &None).await
    }

    async fn complete(_: &Discovery<'_>, _: &mut ObservedState) -> Result<(), Error> {
        Ok(())
    }

    /// Its owner is recorded on its instance (`CreatedBy::Recorded`), never looked up.
    fn inventory(_: &Self::Found) -> Vec<Inventoried<'_>> {
        Vec::new()
    }

    /// Whose an association is follows from its profile and its record (see `removal`).
    fn retain(_: &mut Self::Found, _: &mut dyn FnMut(&str, &Tags) -> bool) {}

    /// The associations of every profile provision removes, and those provision made with a
    /// profile it did not create (`--existing-profile`), recorded on their instances; such a
    /// profile itself is left alone.
    fn removal(observed: &ObservedState, _: Keep, claims: &Claims) -> Result<Vec<Change>, Error> {
        let mut changes = Vec::new();
        for profile in observed
            .profiles
            .values()
            .filter(|p| claims.removes(PROFILE, &p.name, &p.tags))
        {
            for association in observed.instances.held_by(&profile.arn) {
                changes.extend(Association::plan(None, Some(association), claims)?);
            }
        }
        let created_profiles: Vec<&str> = observed
            .profiles
            .values()
            .filter(|p| is_created(&p.tags))
            .map(|p| p.arn.as_str())
            .collect();
        for association in observed.instances.associations.values() {
            if created_profiles.contains(&association.profile_arn.as_str()) {
                continue;
            }
            changes.extend(recorded_removal(&observed.instances, association, claims));
        }
        Ok(changes)
    }

    /// Each association one of provision's profiles holds: shown, not compared (which instance
    /// should hold the profile is `instance-profile --instance-tag`'s, not status's, to say).
    fn rows(rows: &mut Rows<'_>) -> Result<(), Error> {
        let (observed, claims) = (rows.observed, rows.claims);
        for profile in observed
            .profiles
            .values()
            .filter(|p| claims.considers(PROFILE, &p.name, &p.tags))
        {
            for association in observed.instances.held_by(&profile.arn) {
                rows.push(StatusLine::present(
                    ASSOCIATION,
                    &association.instance_id,
                    None,
                    vec![format!("holds {} ({})", profile.name, association.id)],
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
impl crate::resources::simulated::Simulated for Association {
    fn simulate(
        op: &AssociationOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        match op {
            AssociationOp::Associate {
                instance_id,
                profile_name,
                ..
            }
            | AssociationOp::Replace {
                instance_id,
                profile_name,
                ..
            } => {
                let Some(profile) = world.observed.profiles.get(profile_name) else {
                    return Err(format!("no instance profile {profile_name}"));
                };
                let profile_arn = profile.arn.clone();
                let instances = &world.observed.instances;
                if !instances.matched.iter().any(|i| &i.id == instance_id) {
                    return Err(format!("no instance {instance_id}"));
                }
                let current = instances.associations.get(instance_id);
                match (op, current) {
                    (AssociationOp::Associate { .. }, Some(_)) => {
                        return Err(format!("IncorrectState: {instance_id} is associated"));
                    }
                    (AssociationOp::Replace { association_id, .. }, current)
                        if current.map(|c| &c.id) != Some(association_id) =>
                    {
                        return Err(format!("no association {association_id}"));
                    }
                    _ => {}
                }
                let id = format!("iip-assoc-{}", world.next_serial());
                world.observed.instances.associations.insert(
                    instance_id.clone(),
                    ObservedAssociation {
                        instance_id: instance_id.clone(),
                        id: id.clone(),
                        profile_arn,
                        state: IamInstanceProfileAssociationState::Associated,
                    },
                );
                return Ok(Executed {
                    resource_id: Some(id),
                });
            }
            AssociationOp::Disassociate { association_id, .. } => {
                world
                    .observed
                    .instances
                    .associations
                    .retain(|_, a| &a.id != association_id);
            }
            AssociationOp::Record {
                instance_id,
                profile_name,
                owner,
            } => {
                world.observed.instances.recorded.insert(
                    instance_id.clone(),
                    Recorded {
                        profile: profile_name.clone(),
                        owner: Some(owner.clone()),
                    },
                );
            }
            AssociationOp::Forget { instance_id } => {
                world.observed.instances.recorded.remove(instance_id);
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

    fn instance(id: &str) -> ObservedInstance {
        ObservedInstance {
            id: id.into(),
            name: Some("ide".into()),
            state: Some(InstanceStateName::Running),
            ..Default::default()
        }
    }

    fn association(instance: &str, arn: &str) -> ObservedAssociation {
        ObservedAssociation {
            instance_id: instance.into(),
            id: format!("iip-assoc-{instance}"),
            profile_arn: arn.into(),
            state: IamInstanceProfileAssociationState::Associated,
        }
    }

    fn desired(instance_id: &str, arn: &str) -> DesiredAssociation {
        DesiredAssociation {
            instance: instance(instance_id),
            profile_name: "lab".into(),
            profile_arn: arn.into(),
            propagation: PropagationPolicy::with_timeout(Duration::from_secs(120)),
            replace: false,
            record: None,
        }
    }

    #[test]
    fn none_or_several_matches_are_errors_listing_instances() {
        let selector = InstanceSelector::Tags(vec![TagFilter {
            key: "Name".into(),
            value: "ide".into(),
        }]);
        let none = InstanceObservation {
            others: vec![instance("i-1")],
            ..Default::default()
        };
        let error = select(&selector, &none, false).expect_err("no match");
        assert!(
            error.causes()[0].contains("i-1 (Name=ide, running)"),
            "{error}"
        );
        assert!(
            error
                .message()
                .contains("no pending/running/stopping/stopped instance matches tags Name=ide"),
            "{error}"
        );
        let two = InstanceObservation {
            matched: vec![instance("i-1"), instance("i-2")],
            ..Default::default()
        };
        let error = select(&selector, &two, false).expect_err("two match");
        assert_eq!(error.causes().len(), 2);
        assert!(error.hints()[0].contains("--all-matching"));
        assert_eq!(select(&selector, &two, true).expect("all").len(), 2);
    }

    #[test]
    fn a_profile_provision_did_not_create_is_replaced_only_when_asked() {
        let ours = "arn:aws:iam::1:instance-profile/provision/lab";
        let cloud9 = association(
            "i-5",
            "arn:aws:iam::1:instance-profile/cloud9/AWSCloud9SSMInstanceProfile",
        );
        let error = Association::plan(
            Some(&desired("i-5", ours)),
            Some(&cloud9),
            &test_claims(false),
        )
        .expect_err("refused without --replace");
        assert!(
            error.message().contains(
                "holds instance profile AWSCloud9SSMInstanceProfile, which provision did not create"
            ),
            "{error}"
        );
        assert!(
            error.to_string().contains("AmazonSSMManagedInstanceCore"),
            "{error}"
        );
        assert!(error.hints()[0].contains("--replace"), "{error}");
        let replacing = DesiredAssociation {
            replace: true,
            ..desired("i-5", ours)
        };
        let replaced =
            Association::plan(Some(&replacing), Some(&cloud9), &test_claims(false)).expect("asked");
        assert_eq!(replaced[0].action, Action::Update);
    }

    #[test]
    fn pending_and_stopping_instances_are_told_to_wait() {
        let selector = InstanceSelector::Tags(vec![TagFilter {
            key: "Name".into(),
            value: "ide".into(),
        }]);
        for state in [InstanceStateName::Pending, InstanceStateName::Stopping] {
            let observation = InstanceObservation {
                matched: vec![ObservedInstance {
                    state: Some(state.clone()),
                    ..instance("i-6")
                }],
                ..Default::default()
            };
            let error = select(&selector, &observation, false).expect_err("not yet");
            assert!(
                error.message().contains(&format!("is {}", state.as_str())),
                "{error}"
            );
            assert!(
                error.hints()[0].contains("aws ec2 wait instance-running"),
                "{error}"
            );
        }
    }

    #[test]
    fn associations_are_created_replaced_left_or_removed() {
        let ours = "arn:aws:iam::1:instance-profile/provision/lab";
        let plan = |instance: &str, current: Option<&ObservedAssociation>| {
            Association::plan(Some(&desired(instance, ours)), current, &test_claims(false))
                .expect("plans")
                .remove(0)
        };
        assert_eq!(plan("i-1", None).action, Action::Create);
        let other = association("i-2", "arn:aws:iam::1:instance-profile/provision/other");
        let replaced = plan("i-2", Some(&other));
        assert_eq!(replaced.action, Action::Update);
        assert_eq!(
            replaced.line(),
            "~ update    ec2-instance-profile-association i-2 (Name=ide, running; replaces \
             arn:aws:iam::1:instance-profile/provision/other)"
        );
        assert!(matches!(
            &replaced.operations[0],
            Operation::Association(AssociationOp::Replace { association_id, .. })
                if association_id == "iip-assoc-i-2"
        ));
        let same = plan("i-3", Some(&association("i-3", ours)));
        assert_eq!(same.action, Action::Unchanged);
        assert!(same.operations.is_empty());
        let removed = Association::plan(None, Some(&association("i-4", ours)), &test_claims(false))
            .expect("plans")
            .remove(0);
        assert_eq!(
            removed.line(),
            "- delete    ec2-instance-profile-association i-4 (disassociate iip-assoc-i-4)"
        );
    }

    /// What moto cannot produce, with aws-smithy-mocks: the delay before EC2 sees a new IAM
    /// instance profile ("Invalid IAM Instance Profile name" for a few seconds, as the AWS
    /// documentation on instance profiles warns), and throttling. Time is paused, so waits cost
    /// nothing.
    mod propagation {
        use aws_sdk_ec2::operation::associate_iam_instance_profile::{
            AssociateIamInstanceProfileError, AssociateIamInstanceProfileOutput,
        };
        use aws_sdk_ec2::operation::describe_iam_instance_profile_associations::DescribeIamInstanceProfileAssociationsOutput;
        use aws_sdk_ec2::types::IamInstanceProfileAssociation;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        use aws_smithy_types::error::metadata::ErrorMetadata;

        use super::super::*;
        use crate::connection::clients::{MAX_ATTEMPTS, retry_config};
        use crate::error::ExitStatus;

        async fn run(
            ec2: &Client,
            timeout: u64,
            waits: &mut Vec<(u32, Duration)>,
        ) -> Result<String, Error> {
            associate(
                ec2,
                "i-0123456789abcdef0",
                None,
                "dragons-lab-ec2-role",
                PropagationPolicy::with_timeout(Duration::from_secs(timeout)),
                |attempt, wait| waits.push((attempt, wait)),
            )
            .await
        }

        fn invalid_profile_name() -> AssociateIamInstanceProfileError {
            AssociateIamInstanceProfileError::generic(
                ErrorMetadata::builder()
                    .code("InvalidParameterValue")
                    .message("Value (dragons-lab-ec2-role) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")
                    .build(),
            )
        }

        fn no_such_entity() -> AssociateIamInstanceProfileError {
            AssociateIamInstanceProfileError::generic(
                ErrorMetadata::builder()
                    .code("NoSuchEntity")
                    .message("Instance profile dragons-lab-ec2-role not found")
                    .build(),
            )
        }

        fn associated() -> AssociateIamInstanceProfileOutput {
            AssociateIamInstanceProfileOutput::builder()
                .iam_instance_profile_association(
                    IamInstanceProfileAssociation::builder()
                        .association_id("iip-assoc-0123")
                        .build(),
                )
                .build()
        }

        #[tokio::test(start_paused = true)]
        async fn the_association_is_retried_through_propagation_errors_and_then_succeeds() {
            let rule = mock!(aws_sdk_ec2::Client::associate_iam_instance_profile)
                .sequence()
                .error(invalid_profile_name)
                .times(2)
                .error(no_such_entity)
                .error(invalid_profile_name)
                .output(associated)
                .build();
            let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule]);
            let mut waits = Vec::new();
            let id = run(&ec2, 120, &mut waits)
                .await
                .expect("succeeds once EC2 sees the profile");
            assert_eq!(id, "iip-assoc-0123");
            assert_eq!(rule.num_calls(), 5);
            let millis: Vec<u128> = waits.iter().map(|(_, w)| w.as_millis()).collect();
            assert_eq!(
                millis,
                vec![500, 1000, 1000, 1000],
                "soon, then every second: the wait ends soon after EC2 sees the profile"
            );
        }

        #[tokio::test(start_paused = true)]
        async fn the_association_gives_up_after_the_bound_with_a_clear_message() {
            let rule = mock!(aws_sdk_ec2::Client::associate_iam_instance_profile)
                .sequence()
                .error(invalid_profile_name)
                .repeatedly()
                .build();
            let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule]);
            let started = tokio::time::Instant::now();
            let error = run(&ec2, 20, &mut Vec::new()).await.expect_err("gives up");
            let waited = started.elapsed();
            assert!(
                waited >= Duration::from_secs(20) && waited < Duration::from_secs(21),
                "{waited:?}"
            );
            assert_eq!(error.status(), ExitStatus::Failure);
            assert!(
                error
                    .message()
                    .contains("still does not see instance profile dragons-lab-ec2-role after 20s"),
                "{error}"
            );
            assert!(
                error.causes()[0].contains("Invalid IAM Instance Profile name"),
                "{error}"
            );
            assert!(
                error.hints()[0].contains("--propagation-timeout"),
                "{error}"
            );
            // 0.5 + 19 × 1 + the 0.5 s left = 20 s: 22 attempts, the last at the bound.
            assert_eq!(rule.num_calls(), 22);
        }

        /// EC2's answer when the instance already has an association.
        fn existing_association() -> AssociateIamInstanceProfileError {
            AssociateIamInstanceProfileError::generic(
                ErrorMetadata::builder()
                    .code("IncorrectState")
                    .message("There is an existing association for instance i-0123456789abcdef0")
                    .build(),
            )
        }

        #[tokio::test(start_paused = true)]
        async fn other_errors_are_not_retried_as_propagation() {
            let rule = mock!(aws_sdk_ec2::Client::associate_iam_instance_profile)
                .then_error(existing_association);
            // Re-observed: the instance holds no association with this profile.
            let observe = mock!(aws_sdk_ec2::Client::describe_iam_instance_profile_associations)
                .then_output(|| DescribeIamInstanceProfileAssociationsOutput::builder().build());
            let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&rule, &observe]);
            let mut waits = Vec::new();
            let error = run(&ec2, 120, &mut waits).await.expect_err("fails at once");
            assert!(waits.is_empty(), "must not wait");
            assert_eq!(rule.num_calls(), 1);
            assert_eq!(observe.num_calls(), 1);
            assert!(error.causes()[0].starts_with("IncorrectState"), "{error}");
        }

        #[tokio::test(start_paused = true)]
        async fn a_lost_answer_is_recognised_by_the_association_it_made() {
            // The first attempt associated the profile but its answer was lost; the SDK's retry
            // meets IncorrectState. The instance holds the profile: the change is applied.
            let rule = mock!(aws_sdk_ec2::Client::associate_iam_instance_profile)
                .then_error(existing_association);
            let observe = mock!(aws_sdk_ec2::Client::describe_iam_instance_profile_associations)
                .then_output(|| {
                    DescribeIamInstanceProfileAssociationsOutput::builder()
                        .iam_instance_profile_associations(
                            IamInstanceProfileAssociation::builder()
                                .association_id("iip-assoc-lost")
                                .instance_id("i-0123456789abcdef0")
                                .state(IamInstanceProfileAssociationState::Associating)
                                .iam_instance_profile(
                                    aws_sdk_ec2::types::IamInstanceProfile::builder()
                                        .arn("arn:aws:iam::123456789012:instance-profile/provision/dragons-lab-ec2-role")
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                });
            let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&rule, &observe]);
            let id = run(&ec2, 120, &mut Vec::new()).await.expect("applied");
            assert_eq!(id, "iip-assoc-lost");
        }

        const THROTTLING: &str = "<Response><Errors><Error><Code>RequestLimitExceeded</Code>\
            <Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>";

        #[tokio::test(start_paused = true)]
        async fn throttling_is_retried_by_the_sdk() {
            let rule = mock!(aws_sdk_ec2::Client::associate_iam_instance_profile)
                .sequence()
                .http_status(503, Some(THROTTLING.to_string()))
                .times(3)
                .output(associated)
                .build();
            let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule], |config| config
                .retry_config(retry_config()));
            let mut waits = Vec::new();
            let id = run(&ec2, 120, &mut waits)
                .await
                .expect("succeeds after throttling");
            assert!(
                waits.is_empty(),
                "throttling is the SDK's to retry, not a propagation wait"
            );
            assert_eq!(id, "iip-assoc-0123");
            assert_eq!(rule.num_calls(), 4);
        }

        #[tokio::test(start_paused = true)]
        async fn throttling_that_persists_fails_after_the_configured_attempts() {
            let rule = mock!(aws_sdk_ec2::Client::associate_iam_instance_profile)
                .sequence()
                .http_status(503, Some(THROTTLING.to_string()))
                .repeatedly()
                .build();
            let observe = mock!(aws_sdk_ec2::Client::describe_iam_instance_profile_associations)
                .then_output(|| DescribeIamInstanceProfileAssociationsOutput::builder().build());
            let ec2 = mock_client!(
                aws_sdk_ec2,
                RuleMode::MatchAny,
                [&rule, &observe],
                |config| config.retry_config(retry_config())
            );
            let error = run(&ec2, 120, &mut Vec::new()).await.expect_err("gives up");
            assert_eq!(rule.num_calls(), MAX_ATTEMPTS as usize);
            assert!(
                error.causes()[0].starts_with("RequestLimitExceeded"),
                "{error}"
            );
        }
    }
}
