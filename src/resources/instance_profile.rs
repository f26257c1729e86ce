//! The instance profile that carries a role to EC2 ([`InstanceProfile`]), and which roles it holds
//! ([`ProfileRoles`]). The membership is a resource of its own because its owner is not always the
//! profile's: teardown empties the profiles provision created, and takes a role it deletes out of a
//! profile it leaves alone.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::Client;

use crate::connection::clients::Clients;
use crate::course::lab::IAM_PATH;
use crate::engine::apply::{Executed, Report};
use crate::engine::plan::{Action, Detail, Drift, Kind};
use crate::error::{Error, aws_error, sent, settled};
use crate::resources::iam_role::ROLE;
use crate::resources::lifecycle::{
    Events, Tagged, inventory_by_name, observe_by_name, remove_each, retain_by_name,
};
use crate::resources::ownership::{Claims, not_ours};
use crate::resources::status::Rows;
use crate::resources::tags::{self, Tags};
use crate::resources::{
    Change, CloudFormation, CreatedBy, Discovery, Inventoried, Keep, Lifecycle, ObservedState,
    Part, Resource,
};

pub(crate) const PROFILE: Kind = Kind::new("iam-instance-profile");
pub(crate) const MEMBERSHIP: Kind = Kind::new("iam-instance-profile-role");

#[derive(Debug, Clone)]
pub(crate) struct DesiredProfile {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) arn: String,
}

/// An instance profile as IAM reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ObservedProfile {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) roles: Vec<String>,
    /// The ARNs of `roles`, in the same order.
    pub(crate) role_arns: Vec<String>,
    pub(crate) tags: Tags,
}

/// The roles a profile should hold: exactly these (IAM allows one).
#[derive(Debug, Clone)]
pub(crate) struct DesiredRoles {
    pub(crate) profile: String,
    pub(crate) roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ProfileOp {
    Create {
        name: String,
        path: String,
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

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MembershipOp {
    Add { profile: String, role: String },
    Remove { profile: String, role: String },
}

pub(crate) struct InstanceProfile;

impl Resource for InstanceProfile {
    const KINDS: &'static [Kind] = &[PROFILE];

    type Query = str;
    type Observation = Option<ObservedProfile>;
    type Desired = DesiredProfile;
    type Observed = ObservedProfile;
    type Op = ProfileOp;

    async fn observe(clients: &Clients, name: &str) -> Result<Option<ObservedProfile>, Error> {
        let output = match clients
            .iam
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(aws_error("iam:GetInstanceProfile", e)),
        };
        let Some(profile) = output.instance_profile() else {
            return Err(Error::failed(format!(
                "iam:GetInstanceProfile returned no instance profile for {name}"
            )));
        };
        Ok(Some(ObservedProfile {
            name: name.to_string(),
            arn: profile.arn().to_string(),
            roles: profile
                .roles()
                .iter()
                .map(|r| r.role_name().to_string())
                .collect(),
            role_arns: profile
                .roles()
                .iter()
                .map(|r| r.arn().to_string())
                .collect(),
            tags: tags::from_sdk(profile.tags()),
        }))
    }

    /// The profile itself; it does not wait for its role, so the two are created concurrently.
    /// Teardown deletes it once it is empty (the command's plan makes it wait for that).
    fn plan(
        desired: Option<&DesiredProfile>,
        observed: Option<&ObservedProfile>,
        claims: &Claims,
    ) -> Result<Vec<Change>, Error> {
        let Some(desired) = desired else {
            return Ok(observed
                .map(|current| {
                    claims.delete_if_ours(
                        &current.tags,
                        PROFILE,
                        &current.name,
                        Some(&current.arn),
                        || {
                            vec![
                                ProfileOp::Delete {
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
        let name = &desired.name;
        let change = match observed {
            None => Change::new(PROFILE, name, Action::Create).with_operations(vec![
                ProfileOp::Create {
                    name: name.clone(),
                    path: desired.path.clone(),
                    tags: claims.tags(),
                }
                .into(),
            ]),
            Some(current) => {
                let claim = claims.claim(PROFILE, name, &current.tags, || {
                    not_ours("instance profile", name, &current.arn)
                })?;
                match claims.tagging(&claim, &current.tags, claims.adopted_tags()) {
                    None => Change::unchanged(PROFILE, name),
                    Some((detail, tags)) => Change::new(PROFILE, name, Action::Update)
                        .with_detail(detail)
                        .with_operations(vec![
                            ProfileOp::Tag {
                                name: name.clone(),
                                tags,
                            }
                            .into(),
                        ]),
                }
            }
        };
        Ok(vec![change.with_arn(
            observed.map_or(desired.arn.clone(), |o| o.arn.clone()),
        )])
    }

    async fn execute(clients: &Clients, op: &ProfileOp, _: Report<'_>) -> Result<Executed, Error> {
        let iam = &clients.iam;
        match op {
            ProfileOp::Create { name, path, tags } => settled(
                "iam:CreateInstanceProfile",
                iam.create_instance_profile()
                    .instance_profile_name(name)
                    .path(path)
                    .set_tags(Some(tags::to_sdk(tags)?))
                    .send()
                    .await,
                |e| e.is_entity_already_exists_exception(),
            ),
            ProfileOp::Tag { name, tags } => sent(
                "iam:TagInstanceProfile",
                iam.tag_instance_profile()
                    .instance_profile_name(name)
                    .set_tags(Some(tags::to_sdk(tags)?))
                    .send()
                    .await,
            ),
            ProfileOp::Delete { name } => settled(
                "iam:DeleteInstanceProfile",
                iam.delete_instance_profile()
                    .instance_profile_name(name)
                    .send()
                    .await,
                |e| e.is_no_such_entity_exception(),
            ),
        }
        .map(|()| Executed::default())
    }
}

pub(crate) struct ProfileRoles;

impl Resource for ProfileRoles {
    const KINDS: &'static [Kind] = &[MEMBERSHIP];

    type Query = str;
    type Observation = Option<ObservedProfile>;
    type Desired = DesiredRoles;
    type Observed = ObservedProfile;
    type Op = MembershipOp;

    /// The membership is read with its profile.
    async fn observe(clients: &Clients, name: &str) -> Result<Option<ObservedProfile>, Error> {
        InstanceProfile::observe(clients, name).await
    }

    /// A profile holds at most one role: a different one is removed before ours is added. With no
    /// desired roles, every role leaves the profile. Whose profile it is, the command decides.
    fn plan(
        desired: Option<&DesiredRoles>,
        observed: Option<&ObservedProfile>,
        _: &Claims,
    ) -> Result<Vec<Change>, Error> {
        let current: &[String] = observed.map_or(&[], |o| o.roles.as_slice());
        let Some(desired) = desired else {
            let Some(observed) = observed.filter(|o| !o.roles.is_empty()) else {
                return Ok(Vec::new());
            };
            return Ok(vec![
                Change::new(MEMBERSHIP, &observed.name, Action::Delete)
                    .with_detail(Detail::note(format!(
                        "remove role {}",
                        observed.roles.join(", ")
                    )))
                    .with_operations(removals(&observed.name, &observed.roles)),
            ]);
        };
        let profile = &desired.profile;
        let adding: Vec<&String> = desired
            .roles
            .iter()
            .filter(|r| !current.contains(r))
            .collect();
        let leaving: Vec<String> = current
            .iter()
            .filter(|r| !desired.roles.contains(r))
            .cloned()
            .collect();
        let details = leaving
            .iter()
            .map(|role| {
                if adding.is_empty() {
                    Detail::note(format!("remove role {role}"))
                } else {
                    Drift::OtherRole(role.clone()).into()
                }
            })
            .collect();
        let mut operations = removals(profile, &leaving);
        operations.extend(adding.iter().map(|role| {
            MembershipOp::Add {
                profile: profile.clone(),
                role: (*role).clone(),
            }
            .into()
        }));
        let action = Action::for_setting(operations.is_empty(), current.is_empty());
        Ok(vec![
            Change::new(MEMBERSHIP, profile, action)
                .with_details(details)
                .with_operations(operations),
        ])
    }

    async fn execute(
        clients: &Clients,
        op: &MembershipOp,
        _: Report<'_>,
    ) -> Result<Executed, Error> {
        execute_membership(&clients.iam, op)
            .await
            .map(|()| Executed::default())
    }
}

fn removals(profile: &str, roles: &[String]) -> Vec<crate::resources::Operation> {
    roles
        .iter()
        .map(|role| {
            MembershipOp::Remove {
                profile: profile.to_string(),
                role: role.clone(),
            }
            .into()
        })
        .collect()
}

/// The roles instance profile `profile` holds, re-observed after a lost answer: none when the
/// profile is gone, `None` when it cannot be read.
async fn roles_of(iam: &Client, profile: &str) -> Option<Vec<String>> {
    match iam
        .get_instance_profile()
        .instance_profile_name(profile)
        .send()
        .await
    {
        Ok(output) => output.instance_profile.map(|p| {
            p.roles()
                .iter()
                .map(|r| r.role_name().to_string())
                .collect()
        }),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Some(Vec::new())
        }
        Err(_) => None,
    }
}

async fn execute_membership(iam: &Client, op: &MembershipOp) -> Result<(), Error> {
    match op {
        MembershipOp::Add { profile, role } => {
            let result = iam
                .add_role_to_instance_profile()
                .instance_profile_name(profile)
                .role_name(role)
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                // A profile holds one role: a retried add whose first answer was lost meets
                // LimitExceeded. If the role it holds is this one, the change is applied.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_limit_exceeded_exception())
                        && roles_of(iam, profile)
                            .await
                            .is_some_and(|roles| roles == [role.as_str()]) =>
                {
                    Ok(())
                }
                Err(e) => Err(aws_error("iam:AddRoleToInstanceProfile", e)),
            }
        }
        MembershipOp::Remove { profile, role } => {
            let result = iam
                .remove_role_from_instance_profile()
                .instance_profile_name(profile)
                .role_name(role)
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_no_such_entity_exception()) =>
                {
                    Ok(())
                }
                // A retried removal whose first answer was lost may meet any error (AWS says
                // NoSuchEntity, emulators differ): if the profile no longer holds the role, the
                // change is applied.
                Err(_)
                    if roles_of(iam, profile)
                        .await
                        .is_some_and(|roles| !roles.contains(role)) =>
                {
                    Ok(())
                }
                Err(e) => Err(aws_error("iam:RemoveRoleFromInstanceProfile", e)),
            }
        }
    }
}

impl Lifecycle for InstanceProfile {
    const KIND: Kind = PROFILE;
    const MADE_BY: &'static [Part] = &[Part::InstanceProfile];
    const NEEDS: &'static [Kind] = &[];
    const CREATED_BY: CreatedBy = CreatedBy::Event {
        name: "CreateInstanceProfile",
        recorded: Events::Global,
    };
    const CLOUDFORMATION: CloudFormation = CloudFormation::Type("AWS::IAM::InstanceProfile");

    type Found = BTreeMap<String, ObservedProfile>;

    /// The profiles under provision's path, and the one of the commands' name wherever it is.
    async fn discover(discovery: &Discovery<'_>) -> Result<Self::Found, Error> {
        let listed = discovery
            .clients
            .iam
            .list_instance_profiles()
            .path_prefix(IAM_PATH)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("iam:ListInstanceProfiles", e))?;
        let mut names: BTreeSet<String> = listed
            .iter()
            .map(|p| p.instance_profile_name().to_string())
            .collect();
        names.insert(discovery.profile_name.to_string());
        observe_each(discovery.clients, names).await
    }

    /// Profiles elsewhere that hold a role found (a role cannot be deleted while a profile
    /// holds it); usually none, so no request.
    async fn complete(
        discovery: &Discovery<'_>,
        observed: &mut ObservedState,
    ) -> Result<(), Error> {
        let elsewhere: BTreeSet<String> = observed
            .roles
            .values()
            .flat_map(|r| r.instance_profiles.iter().cloned())
            .filter(|p| !observed.profiles.contains_key(p))
            .collect();
        let found = observe_each(discovery.clients, elsewhere).await?;
        observed.profiles.extend(found);
        Ok(())
    }

    fn inventory(found: &Self::Found) -> Vec<Inventoried<'_>> {
        inventory_by_name(found)
    }

    fn retain(found: &mut Self::Found, keep: &mut dyn FnMut(&str, &Tags) -> bool) {
        retain_by_name(found, keep);
    }

    fn removal(observed: &ObservedState, _: Keep, claims: &Claims) -> Result<Vec<Change>, Error> {
        remove_each::<InstanceProfile>(observed.profiles.values(), claims)
    }

    /// A profile's row is its own plan and its membership's: the role it should hold.
    fn rows(rows: &mut Rows<'_>) -> Result<(), Error> {
        let (expected, observed, claims) = (rows.expected, rows.observed, rows.claims);
        let names: Vec<&str> = expected.profiles.iter().map(|p| p.name.as_str()).collect();
        rows.by_name(
            PROFILE,
            &names,
            &observed.profiles,
            |name, current| {
                let desired = expected.profiles.iter().find(|p| p.name == name);
                let mut changes = InstanceProfile::plan(desired, Some(current), claims)?;
                if let Some(membership) = expected.memberships.iter().find(|m| m.profile == name) {
                    changes.extend(ProfileRoles::plan(Some(membership), Some(current), claims)?);
                }
                Ok(changes)
            },
            |other| vec![format!("holds {}", other.roles.join(", "))],
        )
    }
}

/// Reads the named profiles concurrently.
async fn observe_each(
    clients: &Clients,
    names: BTreeSet<String>,
) -> Result<BTreeMap<String, ObservedProfile>, Error> {
    observe_by_name(names, |name| async move {
        InstanceProfile::observe(clients, &name).await
    })
    .await
}

/// A profile's roles are read with the profile ([`ObservedProfile::roles`]): the membership kind
/// has no collection of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WithItsProfile;

impl Lifecycle for ProfileRoles {
    const KIND: Kind = MEMBERSHIP;
    const MADE_BY: &'static [Part] = &[Part::InstanceProfile];
    const NEEDS: &'static [Kind] = &[ROLE, PROFILE];
    const CREATED_BY: CreatedBy = CreatedBy::PartOf(PROFILE);
    const CLOUDFORMATION: CloudFormation = CloudFormation::PropertyOf(PROFILE);

    type Found = WithItsProfile;

    async fn discover(_: &Discovery<'_>) -> Result<Self::Found, Error> {
        Ok(WithItsProfile)
    }

    async fn complete(_: &Discovery<'_>, _: &mut ObservedState) -> Result<(), Error> {
        Ok(())
    }

    fn inventory(_: &Self::Found) -> Vec<Inventoried<'_>> {
        Vec::new()
    }

    fn retain(_: &mut Self::Found, _: &mut dyn FnMut(&str, &Tags) -> bool) {}

    /// A profile provision removes loses its roles; someone else's profile keeps its other
    /// roles, and the roles provision deletes leave it.
    fn removal(observed: &ObservedState, _: Keep, claims: &Claims) -> Result<Vec<Change>, Error> {
        let deleted_roles: BTreeSet<&str> = observed
            .roles
            .values()
            .filter(|r| claims.removes(ROLE, &r.name, &r.tags))
            .map(|r| r.name.as_str())
            .collect();
        let mut changes = Vec::new();
        for profile in observed.profiles.values() {
            if claims.removes(PROFILE, &profile.name, &profile.tags) {
                changes.extend(ProfileRoles::plan(None, Some(profile), claims)?);
                continue;
            }
            let keeps: Vec<String> = profile
                .roles
                .iter()
                .filter(|r| !deleted_roles.contains(r.as_str()))
                .cloned()
                .collect();
            if keeps.len() == profile.roles.len() {
                continue;
            }
            let desired = DesiredRoles {
                profile: profile.name.clone(),
                roles: keeps,
            };
            changes.extend(ProfileRoles::plan(Some(&desired), Some(profile), claims)?);
        }
        Ok(changes)
    }

    /// Shown in its profile's row, whose plan includes it.
    fn rows(_: &mut Rows<'_>) -> Result<(), Error> {
        Ok(())
    }
}
impl Tagged for ObservedProfile {
    fn name(&self) -> &str {
        &self.name
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

#[cfg(test)]
impl crate::resources::simulated::Simulated for InstanceProfile {
    fn simulate(
        op: &ProfileOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        let profiles = &mut world.observed.profiles;
        match op {
            ProfileOp::Create { name, path, tags } => {
                profiles.entry(name.clone()).or_insert(ObservedProfile {
                    role_arns: Vec::new(),
                    name: name.clone(),
                    arn: format!(
                        "arn:aws:iam::{}:instance-profile{path}{name}",
                        crate::resources::simulated::ACCOUNT
                    ),
                    roles: Vec::new(),
                    tags: tags.clone(),
                });
            }
            ProfileOp::Tag { name, tags } => {
                let p = profiles
                    .get_mut(name)
                    .ok_or_else(|| format!("no instance profile {name}"))?;
                p.tags.extend(tags.clone());
            }
            ProfileOp::Delete { name } => {
                if profiles.get(name).is_some_and(|p| !p.roles.is_empty()) {
                    return Err(format!("DeleteConflict: profile {name} holds a role"));
                }
                profiles.remove(name);
            }
        }
        Ok(Executed::default())
    }
}

#[cfg(test)]
impl crate::resources::simulated::Simulated for ProfileRoles {
    fn simulate(
        op: &MembershipOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        let observed = &mut world.observed;
        match op {
            MembershipOp::Add { profile, role } => {
                if !observed.roles.contains_key(role) {
                    return Err(format!("no role {role}"));
                }
                match observed.profiles.get_mut(profile) {
                    None => return Err(format!("no instance profile {profile}")),
                    Some(p) if !p.roles.is_empty() => {
                        return Err(format!("LimitExceeded: {profile} holds a role"));
                    }
                    Some(p) => p.roles.push(role.clone()),
                }
                if let Some(r) = observed.roles.get_mut(role) {
                    r.instance_profiles.push(profile.clone());
                }
            }
            MembershipOp::Remove { profile, role } => {
                if let Some(p) = observed.profiles.get_mut(profile) {
                    p.roles.retain(|r| r != role);
                }
                if let Some(r) = observed.roles.get_mut(role) {
                    r.instance_profiles.retain(|p| p != profile);
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
    #[allow(unused_imports)]
    use crate::resources::ownership::{adopted_tags, managed_tags, test_claims};

    fn desired() -> DesiredProfile {
        DesiredProfile {
            name: "lab".into(),
            path: "/provision/".into(),
            arn: "arn:aws:iam::123456789012:instance-profile/provision/lab".into(),
        }
    }

    fn lab_role() -> DesiredRoles {
        DesiredRoles {
            profile: "lab".into(),
            roles: vec!["lab-role".into()],
        }
    }

    fn observed(roles: &[&str], tags: Tags) -> ObservedProfile {
        ObservedProfile {
            role_arns: Vec::new(),
            name: "lab".into(),
            arn: desired().arn,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            tags,
        }
    }

    #[test]
    fn a_new_profile_and_membership_are_created() {
        let profile =
            InstanceProfile::plan(Some(&desired()), None, &test_claims(false)).expect("plans");
        assert_eq!(profile[0].action, Action::Create);
        assert!(profile[0].depends_on.is_empty(), "created beside the role");
        let membership =
            ProfileRoles::plan(Some(&lab_role()), None, &test_claims(false)).expect("plans");
        assert_eq!(membership[0].action, Action::Create);
        assert_eq!(
            membership[0].operations,
            vec![Operation::ProfileRoles(MembershipOp::Add {
                profile: "lab".into(),
                role: "lab-role".into()
            })]
        );
    }

    #[test]
    fn a_profile_holding_another_role_gets_ours_instead() {
        let observed = observed(&["someone-elses"], managed_tags());
        let profile = InstanceProfile::plan(Some(&desired()), Some(&observed), &test_claims(false))
            .expect("ok");
        assert_eq!(profile[0].action, Action::Unchanged);
        let membership =
            ProfileRoles::plan(Some(&lab_role()), Some(&observed), &test_claims(false))
                .expect("ok");
        assert_eq!(membership[0].action, Action::Update);
        assert_eq!(
            membership[0].line(),
            "~ update    iam-instance-profile-role lab (replace role someone-elses)"
        );
        assert_eq!(
            membership[0].operations,
            vec![
                Operation::ProfileRoles(MembershipOp::Remove {
                    profile: "lab".into(),
                    role: "someone-elses".into()
                }),
                Operation::ProfileRoles(MembershipOp::Add {
                    profile: "lab".into(),
                    role: "lab-role".into()
                })
            ]
        );
    }

    #[test]
    fn an_untagged_profile_is_refused_unless_adopted() {
        let observed = observed(&["lab-role"], Tags::new());
        assert!(
            InstanceProfile::plan(Some(&desired()), Some(&observed), &test_claims(false)).is_err()
        );
        let adopted = InstanceProfile::plan(Some(&desired()), Some(&observed), &test_claims(true))
            .expect("ok");
        assert_eq!(adopted[0].action, Action::Update);
        assert_eq!(adopted[0].details, vec![Detail::Adopt]);
        let membership =
            ProfileRoles::plan(Some(&lab_role()), Some(&observed), &test_claims(true)).expect("ok");
        assert_eq!(membership[0].action, Action::Unchanged);
    }

    #[test]
    fn teardown_empties_the_profile_and_deletes_only_ours() {
        let ours = observed(&["lab-role"], managed_tags());
        let membership = ProfileRoles::plan(None, Some(&ours), &test_claims(false)).expect("ok");
        assert_eq!(
            membership[0].line(),
            "- delete    iam-instance-profile-role lab (remove role lab-role)"
        );
        let profile = InstanceProfile::plan(None, Some(&ours), &test_claims(false)).expect("ok");
        assert_eq!(profile[0].action, Action::Delete);
        let empty = observed(&[], managed_tags());
        assert!(
            ProfileRoles::plan(None, Some(&empty), &test_claims(false))
                .expect("ok")
                .is_empty()
        );
        let theirs = observed(&["lab-role"], Tags::new());
        let left = InstanceProfile::plan(None, Some(&theirs), &test_claims(false)).expect("ok");
        assert_eq!(left[0].details, vec![Detail::LeftAlone]);
        // A role being deleted leaves a profile that is not provision's.
        let without = DesiredRoles {
            profile: "lab".into(),
            roles: vec![],
        };
        let leave =
            ProfileRoles::plan(Some(&without), Some(&theirs), &test_claims(false)).expect("ok");
        assert_eq!(
            leave[0].line(),
            "~ update    iam-instance-profile-role lab (remove role lab-role)"
        );
    }
}
