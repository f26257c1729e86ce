//! The course IDE's EC2 instance, made by provision (the instances of `instance-profile`'s
//! associations are someone else's: `association`). Launched in one request with everything it
//! is — tagged (`TagSpecifications`, so no untagged instance of provision's exists to resume),
//! holding the lab's instance profile, in its own security group, IMDSv2 required with a hop limit
//! of 1 ("Configure the instance metadata options", Amazon EC2 User Guide: a hop limit of 1 keeps
//! the credentials from containers and forwarded hops), an encrypted gp3 root volume, stopping
//! (not terminating) when it shuts itself down, and no key pair: it is reached through Session
//! Manager. `RunInstances` is idempotent through its client token, which the SDK fills in and
//! keeps across its retries, so a lost answer does not launch a second instance.
//!
//! An instance is not replaced for a newer image or another type: those are noted, not drift
//! (an IDE holds a student's work). What can change in place is drift: the metadata options, the
//! shutdown behaviour, the security groups.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{
    AttributeValue, BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState,
    IamInstanceProfileSpecification, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceStateName, ResourceType, ShutdownBehavior, TagSpecification, VolumeType,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::connection::clients::Clients;
use crate::engine::apply::{Executed, Progress, Report};
use crate::engine::plan::{Action, Detail, Drift, Kind};
use crate::error::{Error, aws_error, sent, service_code};
use crate::resources::instance_profile::{MEMBERSHIP, PROFILE};
use crate::resources::lifecycle::{Regional, Tagged, inventory_in_region, retain_by_name};
use crate::resources::ownership::{Claims, MANAGED_BY_KEY, MANAGED_BY_VALUE};
use crate::resources::security_group::SECURITY_GROUP;
use crate::resources::status::Rows;
use crate::resources::tags::{self, Tags};
use crate::resources::{
    Change, CloudFormation, CreatedBy, Discovery, Inventoried, Keep, Lifecycle, ObservedState,
    Part, Resource,
};

pub(crate) const INSTANCE: Kind = Kind::new("ec2-instance");

/// The tag that records the idle stop the instance's set-up installed at its first boot.
pub(crate) const IDLE_STOP_KEY: &str = "provision:idle-stop";

/// The states of an instance that is there (a terminated one is gone; one shutting down is
/// going).
const PRESENT_STATES: [InstanceStateName; 4] = [
    InstanceStateName::Pending,
    InstanceStateName::Running,
    InstanceStateName::Stopping,
    InstanceStateName::Stopped,
];

/// How long a terminated instance may take to be gone (its security group cannot be deleted
/// before: `DependencyViolation`), and how often it is asked.
const TERMINATION_TIMEOUT: Duration = Duration::from_secs(600);
const TERMINATION_POLL: Duration = Duration::from_secs(5);

/// The image to launch, and how it was found (the plan says which).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Image {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Its root device (`/dev/xvda` for Amazon Linux), where the root volume's settings go.
    pub(crate) root_device: String,
    /// The size of its root snapshot: the root volume is at least this.
    pub(crate) snapshot_gib: Option<i32>,
    /// `SSM parameter /aws/service/…`, or `the newest al2023-ami-* image owned by Amazon`.
    pub(crate) source: String,
}

/// The security group an instance is in: by id when it exists, by name in its VPC when it is
/// made in the same run (its id is resolved when the instance is launched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupRef {
    Id(String),
    Named { name: String, vpc_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DesiredInstance {
    /// Its `Name` tag.
    pub(crate) name: String,
    pub(crate) instance_type: String,
    /// The image to launch; `None` when not resolved (status, which compares a found instance).
    pub(crate) image: Option<Image>,
    /// Its subnet; `None`: the default VPC's choice.
    pub(crate) subnet_id: Option<String>,
    /// Its security group; `None` when not known (status).
    pub(crate) group: Option<GroupRef>,
    /// The name of the security group it is in, for the plan's words.
    pub(crate) group_name: String,
    pub(crate) profile_name: String,
    pub(crate) volume_gib: i32,
    /// The set-up script it runs at first boot.
    pub(crate) user_data: String,
    /// The region it is launched in (for the price the plan shows).
    pub(crate) region: String,
    /// Its idle stop as its `provision:idle-stop` tag records it (`30m`, `off`); empty when not
    /// known (status).
    pub(crate) idle_stop: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FoundInstance {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) state: InstanceStateName,
    pub(crate) instance_type: String,
    pub(crate) image_id: String,
    pub(crate) vpc_id: Option<String>,
    pub(crate) group_ids: Vec<String>,
    pub(crate) profile_arn: Option<String>,
    /// `required` for IMDSv2 only.
    pub(crate) http_tokens: Option<String>,
    pub(crate) hop_limit: Option<i32>,
    pub(crate) shutdown_behavior: Option<String>,
    pub(crate) region: String,
    pub(crate) tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InstanceOp {
    Run {
        name: String,
        instance_type: String,
        image_id: String,
        root_device: String,
        volume_gib: i32,
        subnet_id: Option<String>,
        group: GroupRef,
        profile_name: String,
        user_data: String,
        tags: Tags,
    },
    /// IMDSv2 required, hop limit 1.
    RequireImdsV2 {
        id: String,
    },
    /// Stop, not terminate, when it shuts itself down.
    StopOnShutdown {
        id: String,
    },
    SetGroups {
        id: String,
        group: GroupRef,
    },
    Tag {
        id: String,
        tags: Tags,
    },
    /// Terminates it and waits until it is gone.
    Terminate {
        id: String,
    },
}

pub(crate) struct Instance;

fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().collect()))
        .build()
}

fn present_states() -> Filter {
    filter(
        "instance-state-name",
        PRESENT_STATES.iter().map(|s| s.as_str().to_string()),
    )
}

/// The instances `filters` match (every page), each with its shutdown behaviour (one
/// `DescribeInstanceAttribute` each, concurrently).
async fn described(clients: &Clients, filters: Vec<Filter>) -> Result<Vec<FoundInstance>, Error> {
    let ec2 = &clients.ec2;
    let pages = ec2
        .describe_instances()
        .set_filters(Some(filters))
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("ec2:DescribeInstances", e))?;
    let region = ec2
        .config()
        .region()
        .map(ToString::to_string)
        .unwrap_or_default();
    let mut found: Vec<FoundInstance> = pages
        .iter()
        .flat_map(|page| page.reservations())
        .flat_map(|reservation| reservation.instances())
        .filter_map(|instance| {
            let tags = tags::from_ec2(instance.tags());
            let metadata = instance.metadata_options();
            Some(FoundInstance {
                id: instance.instance_id()?.to_string(),
                name: tags.get("Name").cloned().unwrap_or_default(),
                state: instance.state()?.name()?.clone(),
                instance_type: instance.instance_type()?.as_str().to_string(),
                image_id: instance.image_id().unwrap_or_default().to_string(),
                vpc_id: instance.vpc_id().map(str::to_string),
                group_ids: instance
                    .security_groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect(),
                profile_arn: instance
                    .iam_instance_profile()
                    .and_then(|p| p.arn())
                    .map(str::to_string),
                http_tokens: metadata
                    .and_then(|m| m.http_tokens())
                    .map(|t| t.as_str().to_string()),
                hop_limit: metadata.and_then(|m| m.http_put_response_hop_limit()),
                shutdown_behavior: None,
                region: region.clone(),
                tags,
            })
        })
        .collect();
    let behaviours = futures::future::join_all(found.iter().map(|instance| {
        ec2.describe_instance_attribute()
            .instance_id(&instance.id)
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::InstanceInitiatedShutdownBehavior)
            .send()
    }))
    .await;
    for (instance, behaviour) in found.iter_mut().zip(behaviours) {
        let behaviour = behaviour.map_err(|e| aws_error("ec2:DescribeInstanceAttribute", e))?;
        instance.shutdown_behavior = behaviour
            .instance_initiated_shutdown_behavior()
            .and_then(|v| v.value())
            .map(str::to_string);
    }
    Ok(found)
}

/// Found instances by name; a second of the same name is kept under `name/id`, so that teardown
/// still sees it.
fn by_name(found: Vec<FoundInstance>) -> BTreeMap<String, FoundInstance> {
    let mut collection = BTreeMap::new();
    for instance in found {
        let key = match collection.contains_key(&instance.name) {
            true => format!("{}/{}", instance.name, instance.id),
            false => instance.name.clone(),
        };
        collection.insert(key, instance);
    }
    collection
}

/// The security group's id, resolved by name in its VPC when the plan only knew the name.
async fn group_id(clients: &Clients, group: &GroupRef) -> Result<String, Error> {
    let (name, vpc_id) = match group {
        GroupRef::Id(id) => return Ok(id.clone()),
        GroupRef::Named { name, vpc_id } => (name, vpc_id),
    };
    let output = clients
        .ec2
        .describe_security_groups()
        .filters(filter("group-name", [name.clone()]))
        .filters(filter("vpc-id", [vpc_id.clone()]))
        .send()
        .await
        .map_err(|e| aws_error("ec2:DescribeSecurityGroups", e))?;
    output
        .security_groups()
        .iter()
        .find_map(|g| g.group_id().map(str::to_string))
        .ok_or_else(|| {
            Error::failed(format!(
                "security group {name} is not in {vpc_id}, where the instance is launched"
            ))
            .with_hint("re-run the same command: it makes the group first")
        })
}

/// How many instances of the region are running or starting (every page).
pub(crate) async fn running_count(clients: &Clients) -> Result<usize, Error> {
    let pages = clients
        .ec2
        .describe_instances()
        .filters(filter(
            "instance-state-name",
            ["pending".to_string(), "running".to_string()],
        ))
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("ec2:DescribeInstances", e))?;
    Ok(pages
        .iter()
        .flat_map(|p| p.reservations())
        .map(|r| r.instances().len())
        .sum())
}

/// The public parameter that names the latest Amazon Linux 2023 image for `arch`
/// (`x86_64` or `arm64`): "Query for the latest Amazon Linux AMI IDs using AWS Systems Manager
/// Parameter Store", Amazon EC2 User Guide.
pub(crate) fn al2023_parameter(arch: &str) -> String {
    format!("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}")
}

/// The latest Amazon Linux 2023 image for `arch`: from its public SSM parameter, or — where
/// the account may not read it (AWS Academy's Learner Lab is reported to deny it) — the newest
/// `al2023-ami-*` image owned by Amazon (`DescribeImages`). Never a hard-coded image id.
pub(crate) async fn latest_al2023(clients: &Clients, arch: &str) -> Result<Image, Error> {
    let parameter = al2023_parameter(arch);
    let named = clients
        .instance_ssm
        .get_parameter()
        .name(&parameter)
        .send()
        .await;
    let ec2 = &clients.ec2;
    let (request, source) = match named {
        Ok(output) => match output.parameter().and_then(|p| p.value()) {
            Some(id) => (
                ec2.describe_images().image_ids(id),
                format!("SSM parameter {parameter}"),
            ),
            None => return Err(Error::failed(format!("SSM parameter {parameter} is empty"))),
        },
        Err(e)
            if matches!(
                service_code(&e),
                Some("AccessDeniedException" | "ParameterNotFound" | "AccessDenied")
            ) =>
        {
            (
                ec2.describe_images()
                    .owners("amazon")
                    .filters(filter(
                        "name",
                        [format!("al2023-ami-2023.*-kernel-*-{arch}")],
                    ))
                    .filters(filter("architecture", [arch.to_string()]))
                    .filters(filter("state", ["available".to_string()])),
                format!(
                    "the newest al2023-ami-* image owned by Amazon: {parameter} is not readable \
                     here ({})",
                    service_code(&e).unwrap_or_default()
                ),
            )
        }
        Err(e) => return Err(aws_error("ssm:GetParameter", e)),
    };
    let images = request
        .send()
        .await
        .map_err(|e| aws_error("ec2:DescribeImages", e))?;
    let newest = images
        .images()
        .iter()
        .filter(|i| i.name().is_some_and(|n| !n.contains("minimal")))
        .max_by_key(|i| i.creation_date().unwrap_or_default().to_string())
        .ok_or_else(|| {
            Error::failed(format!(
                "no Amazon Linux 2023 image for {arch} in this region"
            ))
            .with_hint("run in another region (--region), or choose another --instance-type")
        })?;
    let root_device = newest.root_device_name().unwrap_or("/dev/xvda").to_string();
    let snapshot_gib = newest
        .block_device_mappings()
        .iter()
        .find(|m| m.device_name() == Some(root_device.as_str()))
        .and_then(|m| m.ebs())
        .and_then(|e| e.volume_size());
    Ok(Image {
        id: newest.image_id().unwrap_or_default().to_string(),
        name: newest.name().unwrap_or_default().to_string(),
        root_device,
        snapshot_gib,
        source,
    })
}

/// EC2's answer while a new instance profile has not reached it ("Invalid IAM Instance Profile
/// name", as for an association: see `association`).
fn is_propagation_error<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("InvalidParameterValue")
        && error
            .message()
            .is_some_and(|m| m.to_ascii_lowercase().contains("instance profile"))
}

/// How long a launch retries while EC2 does not see a new instance profile.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(120);

/// The lines of an instance as the plan shows them: `t3.small, al2023-… (ami-…, from …)`.
fn launch_note(desired: &DesiredInstance, image: &Image) -> String {
    format!(
        "{}, {} ({}, {}), {} GiB gp3 encrypted, IMDSv2, in {}, no key pair; {}, its volume \
         {} running or stopped",
        desired.instance_type,
        image.name,
        image.id,
        image.source,
        desired.volume_gib,
        desired.group_name,
        crate::course::prices::hourly(&desired.instance_type, &desired.region),
        crate::course::prices::volume_monthly(desired.volume_gib)
    )
}

/// The tags an instance is launched with: provision's, and the idle stop its set-up installs.
fn launch_tags(claims: &Claims, idle_stop: &str) -> Tags {
    let mut tags = claims.tags();
    if !idle_stop.is_empty() {
        tags.insert(IDLE_STOP_KEY.to_string(), idle_stop.to_string());
    }
    tags
}

impl Resource for Instance {
    const KINDS: &'static [Kind] = &[INSTANCE];

    /// The `Name` tag looked for.
    type Query = str;
    /// Every present instance of that name.
    type Observation = Vec<FoundInstance>;
    type Desired = DesiredInstance;
    type Observed = FoundInstance;
    type Op = InstanceOp;

    async fn observe(clients: &Clients, name: &str) -> Result<Vec<FoundInstance>, Error> {
        described(
            clients,
            vec![filter("tag:Name", [name.to_string()]), present_states()],
        )
        .await
    }

    fn plan(
        desired: Option<&DesiredInstance>,
        observed: Option<&FoundInstance>,
        claims: &Claims,
    ) -> Result<Vec<Change>, Error> {
        let Some(desired) = desired else {
            return Ok(observed
                .map(|current| {
                    claims
                        .delete_if_ours(&current.tags, INSTANCE, &current.name, None, || {
                            vec![
                                InstanceOp::Terminate {
                                    id: current.id.clone(),
                                }
                                .into(),
                            ]
                        })
                        .with_detail(Detail::note(format!("terminate {}", current.id)))
                })
                .into_iter()
                .collect());
        };
        let name = &desired.name;
        let Some(current) = observed else {
            let (Some(image), Some(group)) = (&desired.image, &desired.group) else {
                return Err(Error::failed(format!(
                    "internal: instance {name} is planned without its image or security group"
                )));
            };
            return Ok(vec![
                Change::new(INSTANCE, name, Action::Create)
                    .with_detail(Detail::note(launch_note(desired, image)))
                    .with_operations(vec![
                        InstanceOp::Run {
                            name: name.clone(),
                            instance_type: desired.instance_type.clone(),
                            image_id: image.id.clone(),
                            root_device: image.root_device.clone(),
                            volume_gib: desired.volume_gib,
                            subnet_id: desired.subnet_id.clone(),
                            group: group.clone(),
                            profile_name: desired.profile_name.clone(),
                            user_data: desired.user_data.clone(),
                            tags: launch_tags(claims, &desired.idle_stop),
                        }
                        .into(),
                    ]),
            ]);
        };
        let claim = claims.claim(INSTANCE, name, &current.tags, || {
            Error::failed(format!(
                "instance {} is named {name} and was not made by provision",
                current.id
            ))
            .with_hint(
                "choose another --name for the IDE, or pass --adopt to let provision manage \
                 that instance as the IDE",
            )
        })?;
        let id = &current.id;
        let mut details: Vec<Detail> = Vec::new();
        let mut operations = Vec::new();
        if current.http_tokens.as_deref() != Some("required") || current.hop_limit != Some(1) {
            details.push(Detail::Drift(Drift::Setting {
                setting: "instance metadata",
                current: format!(
                    "tokens {}, hop limit {}",
                    current.http_tokens.as_deref().unwrap_or("optional"),
                    current
                        .hop_limit
                        .map_or("unknown".to_string(), |h| h.to_string())
                ),
                desired: "tokens required, hop limit 1".into(),
            }));
            operations.push(InstanceOp::RequireImdsV2 { id: id.clone() }.into());
        }
        if current.shutdown_behavior.as_deref() != Some("stop") {
            details.push(Detail::Drift(Drift::Setting {
                setting: "shutdown behaviour",
                current: current
                    .shutdown_behavior
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
                desired: "stop".into(),
            }));
            operations.push(InstanceOp::StopOnShutdown { id: id.clone() }.into());
        }
        if let Some(GroupRef::Id(group)) = &desired.group
            && current.group_ids != [group.clone()]
        {
            details.push(Detail::Drift(Drift::Setting {
                setting: "security groups",
                current: current.group_ids.join(", "),
                desired: format!("{group} ({})", desired.group_name),
            }));
            operations.push(
                InstanceOp::SetGroups {
                    id: id.clone(),
                    group: GroupRef::Id(group.clone()),
                }
                .into(),
            );
        }
        if let Some((detail, tags)) = claims.tagging(&claim, &current.tags, claims.tags()) {
            details.push(detail);
            operations.push(
                InstanceOp::Tag {
                    id: id.clone(),
                    tags,
                }
                .into(),
            );
        }
        let mut notes = vec![format!("{id}, {}", current.state.as_str())];
        let idle_stop = current.tags.get(IDLE_STOP_KEY);
        if let Some(idle_stop) = idle_stop
            && !desired.idle_stop.is_empty()
            && *idle_stop != desired.idle_stop
        {
            notes.push(format!(
                "idle stop {idle_stop} (not {}: its set-up ran at its first boot)",
                desired.idle_stop
            ));
        }
        if current.instance_type != desired.instance_type {
            notes.push(format!(
                "type {} (not {}: an IDE is not replaced for its type)",
                current.instance_type, desired.instance_type
            ));
        }
        if let Some(image) = &desired.image
            && image.id != current.image_id
        {
            notes.push(format!(
                "image {} (newer: {}; an IDE is not replaced for its image)",
                current.image_id, image.id
            ));
        }
        let change = match operations.is_empty() {
            true => Change::unchanged(INSTANCE, name),
            false => Change::new(INSTANCE, name, Action::Update).with_operations(operations),
        };
        Ok(vec![
            change
                .with_details(details)
                .with_detail(Detail::note(notes.join("; "))),
        ])
    }

    async fn execute(
        clients: &Clients,
        op: &InstanceOp,
        report: Report<'_>,
    ) -> Result<Executed, Error> {
        let ec2 = &clients.ec2;
        match op {
            InstanceOp::Run { .. } => return run(clients, op, report).await,
            InstanceOp::RequireImdsV2 { id } => sent(
                "ec2:ModifyInstanceMetadataOptions",
                ec2.modify_instance_metadata_options()
                    .instance_id(id)
                    .http_tokens(HttpTokensState::Required)
                    .http_put_response_hop_limit(1)
                    .http_endpoint(InstanceMetadataEndpointState::Enabled)
                    .send()
                    .await,
            )?,
            InstanceOp::StopOnShutdown { id } => sent(
                "ec2:ModifyInstanceAttribute",
                ec2.modify_instance_attribute()
                    .instance_id(id)
                    .instance_initiated_shutdown_behavior(
                        AttributeValue::builder()
                            .value(ShutdownBehavior::Stop.as_str())
                            .build(),
                    )
                    .send()
                    .await,
            )?,
            InstanceOp::SetGroups { id, group } => {
                let group = group_id(clients, group).await?;
                sent(
                    "ec2:ModifyInstanceAttribute",
                    ec2.modify_instance_attribute()
                        .instance_id(id)
                        .groups(group)
                        .send()
                        .await,
                )?
            }
            InstanceOp::Tag { id, tags } => sent(
                "ec2:CreateTags",
                ec2.create_tags()
                    .resources(id)
                    .set_tags(Some(tags::to_ec2(tags)))
                    .send()
                    .await,
            )?,
            InstanceOp::Terminate { id } => terminate(clients, id, report).await?,
        }
        Ok(Executed::default())
    }
}

/// Launches the instance, retrying (bounded, visibly) while EC2 does not yet see a profile made
/// moments before.
async fn run(clients: &Clients, op: &InstanceOp, report: Report<'_>) -> Result<Executed, Error> {
    let InstanceOp::Run {
        name,
        instance_type,
        image_id,
        root_device,
        volume_gib,
        subnet_id,
        group,
        profile_name,
        user_data,
        tags,
    } = op
    else {
        return Err(Error::failed("internal: not a launch"));
    };
    let group = group_id(clients, group).await?;
    let mut tags = tags.clone();
    tags.insert("Name".into(), name.clone());
    let tag = |kind: ResourceType| {
        TagSpecification::builder()
            .resource_type(kind)
            .set_tags(Some(tags::to_ec2(&tags)))
            .build()
    };
    let deadline = Instant::now() + PROPAGATION_TIMEOUT;
    let mut attempt = 1;
    loop {
        let launched = clients
            .ec2
            .run_instances()
            .image_id(image_id)
            .instance_type(aws_sdk_ec2::types::InstanceType::from(
                instance_type.as_str(),
            ))
            .min_count(1)
            .max_count(1)
            .set_subnet_id(subnet_id.clone())
            .security_group_ids(&group)
            .iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(profile_name)
                    .build(),
            )
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_tokens(HttpTokensState::Required)
                    .http_put_response_hop_limit(1)
                    .http_endpoint(InstanceMetadataEndpointState::Enabled)
                    .build(),
            )
            .block_device_mappings(
                BlockDeviceMapping::builder()
                    .device_name(root_device)
                    .ebs(
                        EbsBlockDevice::builder()
                            .volume_size(*volume_gib)
                            .volume_type(VolumeType::Gp3)
                            .encrypted(true)
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            )
            .instance_initiated_shutdown_behavior(ShutdownBehavior::Stop)
            .user_data(aws_smithy_types::base64::encode(user_data))
            .tag_specifications(tag(ResourceType::Instance))
            .tag_specifications(tag(ResourceType::Volume))
            .send()
            .await;
        match launched {
            Ok(output) => {
                return Ok(Executed {
                    resource_id: output
                        .instances()
                        .first()
                        .and_then(|i| i.instance_id())
                        .map(str::to_string),
                });
            }
            Err(e)
                if e.as_service_error().is_some_and(is_propagation_error)
                    && Instant::now() < deadline =>
            {
                report.progress(Progress::Waiting(format!(
                    "EC2 does not see instance profile {profile_name} yet (attempt {attempt})"
                )));
                tokio::time::sleep(Duration::from_secs(1)).await;
                attempt += 1;
            }
            Err(e) => return Err(aws_error("ec2:RunInstances", e)),
        }
    }
}

/// Terminates the instance and waits (bounded) until it is gone, so that its security group can
/// go after it.
/// Instance `id`'s state now; `None` when EC2 no longer lists it.
pub(crate) async fn state_of(
    clients: &Clients,
    id: &str,
) -> Result<Option<InstanceStateName>, Error> {
    let output = clients
        .ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .map_err(|e| aws_error("ec2:DescribeInstances", e))?;
    Ok(output
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find_map(|i| i.state().and_then(|s| s.name()).cloned()))
}

async fn terminate(clients: &Clients, id: &str, report: Report<'_>) -> Result<(), Error> {
    let ec2 = &clients.ec2;
    match ec2.terminate_instances().instance_ids(id).send().await {
        Ok(_) => {}
        Err(e) if service_code(&e) == Some("InvalidInstanceID.NotFound") => return Ok(()),
        Err(e) => return Err(aws_error("ec2:TerminateInstances", e)),
    }
    let deadline = Instant::now() + TERMINATION_TIMEOUT;
    loop {
        let state = state_of(clients, id).await?;
        if matches!(state, None | Some(InstanceStateName::Terminated)) {
            return Ok(());
        }
        if report.halted() {
            return Err(Error::halted(format!(
                "instance {id} is terminating: the run stopped before it was gone"
            )));
        }
        if Instant::now() >= deadline {
            return Err(Error::failed(format!(
                "instance {id} is still {} after {} minutes",
                state.as_ref().map_or("there", |s| s.as_str()),
                TERMINATION_TIMEOUT.as_secs() / 60
            ))
            .with_hint("re-run the same command: it waits for the instance again"));
        }
        report.progress(Progress::Waiting(format!(
            "instance {id} is {}",
            state.as_ref().map_or("", |s| s.as_str())
        )));
        tokio::time::sleep(TERMINATION_POLL).await;
    }
}

impl Lifecycle for Instance {
    const KIND: Kind = INSTANCE;
    const MADE_BY: &'static [Part] = &[Part::Ide];
    /// Launched holding the profile (with its role in it) and in its group: removed before them.
    const NEEDS: &'static [Kind] = &[PROFILE, MEMBERSHIP, SECURITY_GROUP];
    /// Launched with its owner tag, in the same request: never without one.
    const CREATED_BY: CreatedBy = CreatedBy::Recorded;
    const CLOUDFORMATION: CloudFormation = CloudFormation::Type("AWS::EC2::Instance");

    type Found = BTreeMap<String, FoundInstance>;

    /// The region's present instances tagged `managed-by=provision`.
    async fn discover(discovery: &Discovery<'_>) -> Result<Self::Found, Error> {
        let found = described(
            discovery.clients,
            vec![
                filter(&format!("tag:{MANAGED_BY_KEY}"), [MANAGED_BY_VALUE.into()]),
                present_states(),
            ],
        )
        .await?;
        Ok(by_name(found))
    }

    async fn complete(_: &Discovery<'_>, _: &mut ObservedState) -> Result<(), Error> {
        Ok(())
    }

    fn inventory(found: &Self::Found) -> Vec<Inventoried<'_>> {
        inventory_in_region(found)
    }

    fn retain(found: &mut Self::Found, keep: &mut dyn FnMut(&str, &Tags) -> bool) {
        retain_by_name(found, keep);
    }

    fn removal(observed: &ObservedState, _: Keep, claims: &Claims) -> Result<Vec<Change>, Error> {
        crate::resources::lifecycle::remove_each::<Instance>(
            observed.ec2_instances.values(),
            claims,
        )
    }

    fn rows(rows: &mut Rows<'_>) -> Result<(), Error> {
        rows.planned::<Instance>(
            INSTANCE,
            &rows.expected.ec2_instances,
            |i| i.name.as_str(),
            &rows.observed.ec2_instances,
            status_details,
        )?;
        rows.describe_compared(INSTANCE, &rows.observed.ec2_instances, status_details);
        Ok(())
    }
}

/// An IDE as status shows it: its id and state, type, idle stop and the cost of an hour running.
fn status_details(instance: &FoundInstance) -> Vec<String> {
    vec![format!(
        "{}, {}, {}, idle stop {}, {}",
        instance.id,
        instance.state.as_str(),
        instance.instance_type,
        instance
            .tags
            .get(IDLE_STOP_KEY)
            .map_or("unknown", String::as_str),
        crate::course::prices::hourly(&instance.instance_type, &instance.region)
    )]
}

impl Tagged for FoundInstance {
    fn name(&self) -> &str {
        &self.name
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

impl Regional for FoundInstance {
    fn region(&self) -> &str {
        &self.region
    }
}

#[cfg(test)]
impl crate::resources::simulated::Simulated for Instance {
    fn simulate(
        op: &InstanceOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        let serial = world.next_serial();
        let observed = &mut world.observed;
        match op {
            InstanceOp::Run {
                name,
                instance_type,
                image_id,
                group,
                profile_name,
                tags,
                ..
            } => {
                if !observed.profiles.contains_key(profile_name) {
                    return Err(format!("Invalid IAM Instance Profile name {profile_name}"));
                }
                let group_id = match group {
                    GroupRef::Id(id) => id.clone(),
                    GroupRef::Named { name, .. } => observed
                        .security_groups
                        .get(name)
                        .map(|g| g.id.clone())
                        .ok_or_else(|| format!("InvalidGroup.NotFound: {name}"))?,
                };
                let mut tags = tags.clone();
                tags.insert("Name".into(), name.clone());
                let id = format!("i-{serial:017x}");
                observed.ec2_instances.insert(
                    name.clone(),
                    FoundInstance {
                        id: id.clone(),
                        name: name.clone(),
                        state: InstanceStateName::Pending,
                        instance_type: instance_type.clone(),
                        image_id: image_id.clone(),
                        vpc_id: None,
                        group_ids: vec![group_id],
                        profile_arn: Some(format!("instance-profile/{profile_name}")),
                        http_tokens: Some("required".into()),
                        hop_limit: Some(1),
                        shutdown_behavior: Some("stop".into()),
                        region: "us-east-1".into(),
                        tags,
                    },
                );
                return Ok(Executed {
                    resource_id: Some(id),
                });
            }
            InstanceOp::Terminate { id } => {
                observed.ec2_instances.retain(|_, i| i.id != *id);
            }
            InstanceOp::RequireImdsV2 { id }
            | InstanceOp::StopOnShutdown { id }
            | InstanceOp::SetGroups { id, .. }
            | InstanceOp::Tag { id, .. } => {
                let instance = observed
                    .ec2_instances
                    .values_mut()
                    .find(|i| i.id == *id)
                    .ok_or_else(|| format!("InvalidInstanceID.NotFound: {id}"))?;
                match op {
                    InstanceOp::RequireImdsV2 { .. } => {
                        instance.http_tokens = Some("required".into());
                        instance.hop_limit = Some(1);
                    }
                    InstanceOp::StopOnShutdown { .. } => {
                        instance.shutdown_behavior = Some("stop".into());
                    }
                    InstanceOp::SetGroups {
                        group: GroupRef::Id(group),
                        ..
                    } => instance.group_ids = vec![group.clone()],
                    InstanceOp::Tag { tags, .. } => instance.tags.extend(tags.clone()),
                    _ => {}
                }
            }
        }
        Ok(Executed::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Operation;
    use crate::resources::ownership::{managed_tags, test_claims};

    fn desired() -> DesiredInstance {
        DesiredInstance {
            name: "ide".into(),
            instance_type: "t3.small".into(),
            image: Some(Image {
                id: "ami-2".into(),
                name: "al2023-ami".into(),
                root_device: "/dev/xvda".into(),
                snapshot_gib: Some(8),
                source: "SSM parameter".into(),
            }),
            subnet_id: None,
            group: Some(GroupRef::Id("sg-1".into())),
            group_name: "ide".into(),
            profile_name: "lab".into(),
            volume_gib: 16,
            user_data: "#!/bin/bash".into(),
            idle_stop: "30m".into(),
            region: "us-east-1".into(),
        }
    }

    fn found(tags: Tags) -> FoundInstance {
        FoundInstance {
            id: "i-1".into(),
            name: "ide".into(),
            state: InstanceStateName::Running,
            instance_type: "t3.small".into(),
            image_id: "ami-2".into(),
            vpc_id: Some("vpc-1".into()),
            group_ids: vec!["sg-1".into()],
            profile_arn: None,
            http_tokens: Some("required".into()),
            hop_limit: Some(1),
            shutdown_behavior: Some("stop".into()),
            region: "us-east-1".into(),
            tags,
        }
    }

    #[test]
    fn an_ide_as_launched_is_unchanged_and_what_changes_in_place_is_drift() {
        let claims = test_claims(false);
        let created = Instance::plan(Some(&desired()), None, &claims).expect("plans");
        assert!(matches!(
            &created[0].operations[..],
            [Operation::Instance(InstanceOp::Run { tags, group: GroupRef::Id(_), .. })]
                if !tags.is_empty()
        ));
        let same =
            Instance::plan(Some(&desired()), Some(&found(managed_tags())), &claims).expect("plans");
        assert!(same[0].operations.is_empty(), "{}", same[0].line());
        let mut loose = found(managed_tags());
        loose.http_tokens = Some("optional".into());
        loose.hop_limit = Some(2);
        loose.shutdown_behavior = Some("terminate".into());
        loose.group_ids = vec!["sg-9".into()];
        loose.image_id = "ami-1".into();
        let drifted = Instance::plan(Some(&desired()), Some(&loose), &claims).expect("plans");
        assert_eq!(
            drifted[0].line(),
            "~ update    ec2-instance ide (instance metadata tokens optional, hop limit 2 → tokens \
             required, hop limit 1; shutdown behaviour terminate → stop; security groups sg-9 → \
             sg-1 (ide); i-1, running; image ami-1 (newer: ami-2; an IDE is not replaced for its \
             image))"
        );
        assert_eq!(drifted[0].operations.len(), 3);
    }

    #[test]
    fn someone_else_s_instance_of_the_name_is_refused_and_teardown_terminates_only_ours() {
        let theirs = found(Tags::new());
        let error = Instance::plan(Some(&desired()), Some(&theirs), &test_claims(false))
            .expect_err("refused");
        assert!(
            error.message().contains("was not made by provision"),
            "{error}"
        );
        let left = Instance::plan(None, Some(&theirs), &test_claims(false)).expect("plans");
        assert!(left[0].operations.is_empty());
        let ours =
            Instance::plan(None, Some(&found(managed_tags())), &test_claims(false)).expect("plans");
        assert!(matches!(
            &ours[0].operations[..],
            [Operation::Instance(InstanceOp::Terminate { id })] if id == "i-1"
        ));
    }
}
