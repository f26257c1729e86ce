//! An AWS account in memory, for the command plans' scenario tests: it executes every operation
//! against an [`ObservedState`] — what the commands would observe afterwards — and refuses what AWS
//! refuses (deleting a role that still has policies or profiles, deleting a non-empty bucket,
//! adding a role to a profile that does not exist), so a missing dependency edge fails a test.
//!
//! New buckets start as AWS makes them since April 2023: object ownership "bucket owner enforced"
//! (ACLs disabled) and all four Block Public Access settings on ("Amazon S3 now automatically
//! enables S3 Block Public Access and disables access control lists for all new buckets", AWS,
//! 2023).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_ec2::types::{IamInstanceProfileAssociationState, InstanceStateName};
use aws_sdk_s3::types::ObjectOwnership;
use aws_sdk_ssm::types::ParameterType;

use crate::apply::{Execute, Executed, Report, apply};
use crate::cli::{BucketArg, IamNames, NamesArgs};
use crate::error::Error;
use crate::input::RoleName;
use crate::lab::INLINE_POLICY_NAME;
use crate::plan::{PublicAccess, ResourceId};
use crate::policy;
use crate::resources::association::{
    AssociationOp, ObservedAssociation, ObservedInstance, Recorded,
};
use crate::resources::bucket::{BucketOp, ObservedBucket, Presence};
use crate::resources::iam_role::{ObservedRole, RoleOp};
use crate::resources::instance_profile::{MembershipOp, ObservedProfile, ProfileOp};
use crate::resources::object::{ObjectOp, ObservedObject, SiteOp};
use crate::resources::parameter::{ObservedParameter, ParameterOp};
use crate::resources::{Operation, Plan};
use crate::state::ObservedState;

const ACCOUNT: &str = "123456789012";

/// The default names of the commands, as the command line gives them.
pub(crate) fn names() -> NamesArgs {
    NamesArgs {
        iam: IamNames {
            role_name: RoleName::parse("dragons-lab-ec2-role").expect("a valid role name"),
            instance_profile_name: None,
        },
        bucket: BucketArg { bucket: None },
        all_owners: false,
    }
}

/// A running instance named like the course IDE.
pub(crate) fn instance(id: &str) -> ObservedInstance {
    ObservedInstance {
        id: id.into(),
        name: Some("ide".into()),
        state: Some(InstanceStateName::Running),
        ..Default::default()
    }
}

pub(crate) struct FakeAws {
    world: Mutex<ObservedState>,
    associations: AtomicU32,
}

impl FakeAws {
    pub(crate) fn new(start: &ObservedState) -> Self {
        Self {
            world: Mutex::new(start.clone()),
            associations: AtomicU32::new(0),
        }
    }

    pub(crate) fn state(&self) -> ObservedState {
        self.world.lock().expect("world").clone()
    }

    /// Executes one operation as AWS would, after the executor's rules: creating what exists and
    /// deleting what is gone count as done.
    pub(crate) fn run(&self, operation: &Operation) -> Result<Executed, Error> {
        let mut world = self.world.lock().expect("world");
        let refuse = |why: String| Err(Error::failed(format!("fake AWS refuses: {why}")));
        match operation {
            Operation::Role(op) => match op {
                RoleOp::Create {
                    name,
                    path,
                    trust_policy,
                    tags,
                } => {
                    world.roles.entry(name.clone()).or_insert(ObservedRole {
                        name: name.clone(),
                        arn: format!("arn:aws:iam::{ACCOUNT}:role{path}{name}"),
                        path: path.clone(),
                        trust_policy: policy::parse_returned(trust_policy),
                        tags: tags.clone(),
                        ..Default::default()
                    });
                }
                RoleOp::UpdateTrustPolicy { role, document } => match world.roles.get_mut(role) {
                    Some(r) => r.trust_policy = policy::parse_returned(document),
                    None => return refuse(format!("no role {role}")),
                },
                RoleOp::Tag { role, tags } => match world.roles.get_mut(role) {
                    Some(r) => r.tags.extend(tags.clone()),
                    None => return refuse(format!("no role {role}")),
                },
                RoleOp::PutPolicy {
                    role,
                    policy_name,
                    document,
                } => match world.roles.get_mut(role) {
                    Some(r) => {
                        if !r.inline_policy_names.contains(policy_name) {
                            r.inline_policy_names.push(policy_name.clone());
                        }
                        if policy_name == INLINE_POLICY_NAME {
                            r.managed_inline_policy = policy::parse_returned(document);
                        }
                    }
                    None => return refuse(format!("no role {role}")),
                },
                RoleOp::DeletePolicy { role, policy_name } => {
                    if let Some(r) = world.roles.get_mut(role) {
                        r.inline_policy_names.retain(|p| p != policy_name);
                        if policy_name == INLINE_POLICY_NAME {
                            r.managed_inline_policy = None;
                        }
                    }
                }
                RoleOp::AttachPolicy { role, policy_arn } => match world.roles.get_mut(role) {
                    Some(r) if !r.attached_policy_arns.contains(policy_arn) => {
                        r.attached_policy_arns.push(policy_arn.clone())
                    }
                    Some(_) => {}
                    None => return refuse(format!("no role {role}")),
                },
                RoleOp::DetachPolicy { role, policy_arn } => {
                    if let Some(r) = world.roles.get_mut(role) {
                        r.attached_policy_arns.retain(|a| a != policy_arn);
                    }
                }
                RoleOp::Delete { name } => {
                    if let Some(r) = world.roles.get(name) {
                        if !r.inline_policy_names.is_empty()
                            || !r.attached_policy_arns.is_empty()
                            || !r.instance_profiles.is_empty()
                        {
                            return refuse(format!("DeleteConflict: role {name} is still in use"));
                        }
                        world.roles.remove(name);
                    }
                }
            },
            Operation::InstanceProfile(op) => match op {
                ProfileOp::Create { name, path, tags } => {
                    world
                        .profiles
                        .entry(name.clone())
                        .or_insert(ObservedProfile {
                            role_arns: Vec::new(),
                            name: name.clone(),
                            arn: format!("arn:aws:iam::{ACCOUNT}:instance-profile{path}{name}"),
                            roles: Vec::new(),
                            tags: tags.clone(),
                        });
                }
                ProfileOp::Tag { name, tags } => match world.profiles.get_mut(name) {
                    Some(p) => p.tags.extend(tags.clone()),
                    None => return refuse(format!("no instance profile {name}")),
                },
                ProfileOp::Delete { name } => {
                    if world
                        .profiles
                        .get(name)
                        .is_some_and(|p| !p.roles.is_empty())
                    {
                        return refuse(format!("DeleteConflict: profile {name} holds a role"));
                    }
                    world.profiles.remove(name);
                }
            },
            Operation::ProfileRoles(op) => match op {
                MembershipOp::Add { profile, role } => {
                    if !world.roles.contains_key(role) {
                        return refuse(format!("no role {role}"));
                    }
                    match world.profiles.get_mut(profile) {
                        None => return refuse(format!("no instance profile {profile}")),
                        Some(p) if !p.roles.is_empty() => {
                            return refuse(format!("LimitExceeded: {profile} holds a role"));
                        }
                        Some(p) => p.roles.push(role.clone()),
                    }
                    if let Some(r) = world.roles.get_mut(role) {
                        r.instance_profiles.push(profile.clone());
                    }
                }
                MembershipOp::Remove { profile, role } => {
                    if let Some(p) = world.profiles.get_mut(profile) {
                        p.roles.retain(|r| r != role);
                    }
                    if let Some(r) = world.roles.get_mut(role) {
                        r.instance_profiles.retain(|p| p != profile);
                    }
                }
            },
            Operation::Association(op) => match op {
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
                    let Some(profile) = world.profiles.get(profile_name) else {
                        return refuse(format!("no instance profile {profile_name}"));
                    };
                    let profile_arn = profile.arn.clone();
                    if !world.instances.matched.iter().any(|i| &i.id == instance_id) {
                        return refuse(format!("no instance {instance_id}"));
                    }
                    let current = world.instances.associations.get(instance_id);
                    match (op, current) {
                        (AssociationOp::Associate { .. }, Some(_)) => {
                            return refuse(format!("IncorrectState: {instance_id} is associated"));
                        }
                        (AssociationOp::Replace { association_id, .. }, current)
                            if current.map(|c| &c.id) != Some(association_id) =>
                        {
                            return refuse(format!("no association {association_id}"));
                        }
                        _ => {}
                    }
                    let id = format!(
                        "iip-assoc-{}",
                        self.associations.fetch_add(1, Ordering::Relaxed)
                    );
                    world.instances.associations.insert(
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
                        .instances
                        .associations
                        .retain(|_, a| &a.id != association_id);
                }
                AssociationOp::Record {
                    instance_id,
                    profile_name,
                    owner,
                } => {
                    world.instances.recorded.insert(
                        instance_id.clone(),
                        Recorded {
                            profile: profile_name.clone(),
                            owner: Some(owner.clone()),
                        },
                    );
                }
                AssociationOp::Forget { instance_id } => {
                    world.instances.recorded.remove(instance_id);
                }
            },
            Operation::Bucket(op) => match op {
                BucketOp::Create {
                    bucket,
                    region,
                    tags,
                } => match world.buckets.get(bucket) {
                    Some(ObservedBucket {
                        presence: Presence::OtherAccount,
                        ..
                    }) => return refuse(format!("BucketAlreadyExists: {bucket}")),
                    Some(_) => {}
                    None => {
                        world.buckets.insert(
                            bucket.clone(),
                            ObservedBucket {
                                name: bucket.clone(),
                                arn: None,
                                presence: Presence::Owned {
                                    region: region.clone(),
                                },
                                ownership: Some(ObjectOwnership::BucketOwnerEnforced),
                                public_access: Some(PublicAccess::PRIVATE),
                                tags: tags.clone(),
                            },
                        );
                    }
                },
                BucketOp::PutTags { bucket, tags } => match world.buckets.get_mut(bucket) {
                    Some(b) => b.tags = tags.clone(),
                    None => return refuse(format!("NoSuchBucket: {bucket}")),
                },
                BucketOp::PutOwnershipControls { bucket, ownership } => {
                    match world.buckets.get_mut(bucket) {
                        Some(b) => b.ownership = Some(ownership.clone()),
                        None => return refuse(format!("NoSuchBucket: {bucket}")),
                    }
                }
                BucketOp::PutPublicAccessBlock { bucket, settings } => {
                    match world.buckets.get_mut(bucket) {
                        Some(b) => b.public_access = Some(*settings),
                        None => return refuse(format!("NoSuchBucket: {bucket}")),
                    }
                }
                BucketOp::Empty { bucket, .. } => {
                    let prefix = format!("{bucket}/");
                    world.objects.retain(|key, _| !key.starts_with(&prefix));
                    world.listings.remove(bucket);
                }
                BucketOp::Delete { bucket, .. } => {
                    let prefix = format!("{bucket}/");
                    if world.objects.keys().any(|key| key.starts_with(&prefix)) {
                        return refuse(format!("BucketNotEmpty: {bucket}"));
                    }
                    world.buckets.remove(bucket);
                    world.listings.remove(bucket);
                }
            },
            Operation::Object(ObjectOp::Put {
                bucket,
                key,
                content_type,
                md5_hex,
                ..
            }) => {
                if !world.buckets.contains_key(bucket) {
                    return refuse(format!("NoSuchBucket: {bucket}"));
                }
                let object = ObservedObject {
                    etag: format!("\"{md5_hex}\""),
                    content_type: Some(content_type.clone()),
                    md5_metadata: Some(md5_hex.clone()),
                    public_grants: vec![],
                };
                world
                    .objects
                    .insert(format!("{bucket}/{key}"), object.clone());
                world
                    .listings
                    .entry(bucket.clone())
                    .or_default()
                    .insert(key.clone(), object);
            }
            Operation::Object(ObjectOp::MakePrivate { bucket, key }) => {
                let name = format!("{bucket}/{key}");
                match world.objects.get_mut(&name) {
                    Some(object) => object.public_grants.clear(),
                    None => return refuse(format!("NoSuchKey: {name}")),
                }
            }
            Operation::SiteFiles(SiteOp::Upload { bucket, files }) => {
                if !world.buckets.contains_key(bucket) {
                    return refuse(format!("NoSuchBucket: {bucket}"));
                }
                for file in files {
                    let object = ObservedObject {
                        etag: format!("\"{}\"", file.etag),
                        content_type: Some(file.content_type.clone()),
                        md5_metadata: Some(file.md5_hex.clone()),
                        public_grants: vec!["AllUsers:READ".to_string()],
                    };
                    world
                        .objects
                        .insert(format!("{bucket}/{}", file.key), object.clone());
                    world
                        .listings
                        .entry(bucket.clone())
                        .or_default()
                        .insert(file.key.clone(), object);
                }
            }
            Operation::Parameter(op) => match op {
                ParameterOp::Put {
                    name,
                    value,
                    overwrite,
                    tags,
                } => {
                    let existing = world.parameters.get(name).cloned();
                    if existing.is_some() && !overwrite {
                        return refuse(format!("ParameterAlreadyExists: {name}"));
                    }
                    world.parameters.insert(
                        name.clone(),
                        ObservedParameter {
                            name: name.clone(),
                            arn: None,
                            value: value.clone(),
                            kind: ParameterType::String,
                            tags: existing.map_or_else(|| tags.clone(), |p| p.tags),
                        },
                    );
                }
                ParameterOp::Tag { name, tags } => match world.parameters.get_mut(name) {
                    Some(p) => p.tags.extend(tags.clone()),
                    None => return refuse(format!("ParameterNotFound: {name}")),
                },
                ParameterOp::Delete { name } => {
                    world.parameters.remove(name);
                }
            },
        }
        Ok(Executed::default())
    }
}

impl Execute<Operation> for FakeAws {
    async fn execute(&self, operation: &Operation, _: Report<'_>) -> Result<Executed, Error> {
        self.run(operation)
    }
}

/// Plans from `start`, applies the plan with the real executor, and checks that a plan made from
/// the result has nothing left to do. Returns the result.
pub(crate) async fn converge(
    start: &ObservedState,
    plan: impl Fn(&ObservedState) -> Result<Plan, Error>,
) -> ObservedState {
    let fake = FakeAws::new(start);
    let first = plan(start).unwrap_or_else(|e| panic!("planning failed: {e}"));
    let execution = apply(&first, &fake, &|_| {}, crate::signals::Interrupt::never()).await;
    if let Some(error) = execution.error() {
        panic!("applying failed: {error}");
    }
    let end = fake.state();
    let again = plan(&end).unwrap_or_else(|e| panic!("planning again failed: {e}"));
    let left: Vec<String> = again
        .changes()
        .iter()
        .filter(|c| !c.operations.is_empty())
        .map(|c| c.line())
        .collect();
    assert!(left.is_empty(), "not converged: {left:?}");
    end
}

/// What [`every_prefix`] found.
#[derive(Debug)]
pub(crate) struct Prefixes {
    /// The operations of the plan from the start.
    pub(crate) operations: usize,
    /// The prefixes (how many operations were done) after which planning failed, and why.
    pub(crate) refused: Vec<(usize, Error)>,
}

/// Interrupts a run after every prefix of its operations (in plan order) and runs the command
/// again from there: the new plan must not redo a change that was complete, and must converge.
pub(crate) async fn every_prefix(
    start: &ObservedState,
    plan: impl Fn(&ObservedState) -> Result<Plan, Error>,
) -> Prefixes {
    let fresh = plan(start).unwrap_or_else(|e| panic!("planning failed: {e}"));
    let steps: Vec<(ResourceId, &Operation)> = fresh
        .changes()
        .iter()
        .flat_map(|c| c.operations.iter().map(move |op| (c.id(), op)))
        .collect();
    let mut refused = Vec::new();
    for done in 0..=steps.len() {
        let fake = FakeAws::new(start);
        for (id, op) in &steps[..done] {
            fake.run(op)
                .unwrap_or_else(|e| panic!("{id} out of order after {done} steps: {e}"));
        }
        let complete: HashSet<&ResourceId> = steps[..done]
            .iter()
            .map(|(id, _)| id)
            .filter(|id| steps[done..].iter().all(|(later, _)| later != *id))
            .collect();
        let half_made = fake.state();
        match plan(&half_made) {
            Err(error) => refused.push((done, error)),
            Ok(again) => {
                for change in again.changes().iter().filter(|c| !c.operations.is_empty()) {
                    assert!(
                        !complete.contains(&change.id()),
                        "after {done} steps, {} is planned again",
                        change.line()
                    );
                }
                converge(&half_made, &plan).await;
            }
        }
    }
    Prefixes {
        operations: steps.len(),
        refused,
    }
}
