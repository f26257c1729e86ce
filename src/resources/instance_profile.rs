//! The instance profile that carries the role to EC2, and its one-role membership.

use std::collections::BTreeMap;

use aws_sdk_iam::Client;

use crate::error::{Error, aws_error, sent, settled};
use crate::plan::{Action, Change, Operation, ResourceId, ResourceKind};
use crate::resources::iam_role::{not_ours, role_id};
use crate::resources::{iam_tags, is_managed, managed_tags};

#[derive(Debug, Clone)]
pub struct DesiredProfile {
    pub name: String,
    pub path: String,
    pub arn: String,
    pub role_name: String,
}

#[derive(Debug, Clone, Default)]
pub struct ObservedProfile {
    pub arn: String,
    pub roles: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

pub fn profile_id(name: &str) -> ResourceId {
    ResourceId::new(ResourceKind::IamInstanceProfile, name)
}

pub fn membership_id(name: &str) -> ResourceId {
    ResourceId::new(ResourceKind::IamInstanceProfileRole, name)
}

pub async fn observe(iam: &Client, name: &str) -> Result<Option<ObservedProfile>, Error> {
    let output = match iam
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
        arn: profile.arn().to_string(),
        roles: profile
            .roles()
            .iter()
            .map(|r| r.role_name().to_string())
            .collect(),
        tags: profile
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    }))
}

/// Plans the profile and its membership. Pure. The profile itself does not wait for the role, so
/// the two are created concurrently; the membership waits for both.
pub fn plan(
    desired: &DesiredProfile,
    observed: Option<&ObservedProfile>,
    adopt: bool,
) -> Result<Vec<Change>, Error> {
    let name = &desired.name;
    let arn = observed.map_or(desired.arn.clone(), |o| o.arn.clone());
    let profile = match observed {
        None => Change::new(ResourceKind::IamInstanceProfile, name, Action::Create)
            .with_operations(vec![Operation::CreateInstanceProfile {
                name: name.clone(),
                path: desired.path.clone(),
                tags: managed_tags(),
            }]),
        Some(current) if !is_managed(&current.tags) => {
            if !adopt {
                return Err(not_ours("instance profile", name, &current.arn));
            }
            Change::new(ResourceKind::IamInstanceProfile, name, Action::Update)
                .with_details(vec!["adopt: tag managed-by=provision".into()])
                .with_operations(vec![Operation::TagInstanceProfile {
                    name: name.clone(),
                    tags: managed_tags(),
                }])
        }
        Some(_) => Change::unchanged(ResourceKind::IamInstanceProfile, name),
    };

    // A profile holds at most one role: a different one is removed before ours is added.
    let current_roles: &[String] = observed.map_or(&[], |o| o.roles.as_slice());
    let mut operations = Vec::new();
    let mut details = Vec::new();
    for other in current_roles.iter().filter(|r| **r != desired.role_name) {
        details.push(format!("replace role {other}"));
        operations.push(Operation::RemoveRoleFromInstanceProfile {
            profile: name.clone(),
            role: other.clone(),
        });
    }
    let has_role = current_roles.contains(&desired.role_name);
    if !has_role {
        operations.push(Operation::AddRoleToInstanceProfile {
            profile: name.clone(),
            role: desired.role_name.clone(),
        });
    }
    let action = match (operations.is_empty(), current_roles.is_empty()) {
        (true, _) => Action::Unchanged,
        (false, true) => Action::Create,
        (false, false) => Action::Update,
    };
    let membership = Change::new(ResourceKind::IamInstanceProfileRole, name, action)
        .with_details(details)
        .with_operations(operations)
        .after(profile_id(name))
        .after(role_id(&desired.role_name));
    Ok(vec![profile.with_arn(arn), membership])
}

/// Plans the profile's removal (teardown). Pure. Its associations with instances go first (see
/// `association::plan_absent`), then its roles leave it, then it is deleted.
pub fn plan_absent(
    name: &str,
    observed: &ObservedProfile,
    associations: &[ResourceId],
) -> Vec<Change> {
    if !is_managed(&observed.tags) {
        return vec![
            Change::unchanged(ResourceKind::IamInstanceProfile, name)
                .with_arn(observed.arn.clone())
                .with_details(vec![crate::plan::LEFT_ALONE.into()]),
        ];
    }
    let mut changes = Vec::new();
    let mut profile = Change::new(ResourceKind::IamInstanceProfile, name, Action::Delete)
        .with_arn(observed.arn.clone())
        .with_operations(vec![Operation::DeleteInstanceProfile {
            name: name.to_string(),
        }]);
    if !observed.roles.is_empty() {
        let mut membership =
            Change::new(ResourceKind::IamInstanceProfileRole, name, Action::Delete)
                .with_details(vec![format!("remove role {}", observed.roles.join(", "))])
                .with_operations(
                    observed
                        .roles
                        .iter()
                        .map(|role| Operation::RemoveRoleFromInstanceProfile {
                            profile: name.to_string(),
                            role: role.clone(),
                        })
                        .collect(),
                );
        for association in associations {
            membership = membership.after(association.clone());
        }
        profile = profile.after(membership.id());
        changes.push(membership);
    } else {
        for association in associations {
            profile = profile.after(association.clone());
        }
    }
    changes.push(profile);
    changes
}

/// Executes one instance-profile request; "already exists" on create and "not found" on removal
/// count as done.
pub async fn execute(iam: &Client, operation: &Operation) -> Result<(), Error> {
    match operation {
        Operation::CreateInstanceProfile { name, path, tags } => settled(
            "iam:CreateInstanceProfile",
            iam.create_instance_profile()
                .instance_profile_name(name)
                .path(path)
                .set_tags(Some(iam_tags(tags)?))
                .send()
                .await,
            |e| e.is_entity_already_exists_exception(),
        ),
        Operation::TagInstanceProfile { name, tags } => sent(
            "iam:TagInstanceProfile",
            iam.tag_instance_profile()
                .instance_profile_name(name)
                .set_tags(Some(iam_tags(tags)?))
                .send()
                .await,
        ),
        Operation::AddRoleToInstanceProfile { profile, role } => sent(
            "iam:AddRoleToInstanceProfile",
            iam.add_role_to_instance_profile()
                .instance_profile_name(profile)
                .role_name(role)
                .send()
                .await,
        ),
        Operation::DeleteInstanceProfile { name } => settled(
            "iam:DeleteInstanceProfile",
            iam.delete_instance_profile()
                .instance_profile_name(name)
                .send()
                .await,
            |e| e.is_no_such_entity_exception(),
        ),
        Operation::RemoveRoleFromInstanceProfile { profile, role } => settled(
            "iam:RemoveRoleFromInstanceProfile",
            iam.remove_role_from_instance_profile()
                .instance_profile_name(profile)
                .role_name(role)
                .send()
                .await,
            |e| e.is_no_such_entity_exception(),
        ),
        other => Err(Error::failed(format!(
            "internal: {other:?} is not an instance profile request"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> DesiredProfile {
        DesiredProfile {
            name: "lab".into(),
            path: "/provision/".into(),
            arn: "arn:aws:iam::123456789012:instance-profile/provision/lab".into(),
            role_name: "lab-role".into(),
        }
    }

    #[test]
    fn a_new_profile_and_membership_wait_for_the_right_things() {
        let changes = plan(&desired(), None, false).expect("plans");
        assert_eq!(changes[0].action, Action::Create);
        assert!(changes[0].depends_on.is_empty(), "created beside the role");
        assert_eq!(changes[1].action, Action::Create);
        assert_eq!(
            changes[1].depends_on,
            vec![profile_id("lab"), role_id("lab-role")]
        );
    }

    #[test]
    fn a_profile_holding_another_role_gets_ours_instead() {
        let observed = ObservedProfile {
            arn: desired().arn,
            roles: vec!["someone-elses".into()],
            tags: [("managed-by".to_string(), "provision".to_string())].into(),
        };
        let changes = plan(&desired(), Some(&observed), false).expect("plans");
        assert_eq!(changes[0].action, Action::Unchanged);
        assert_eq!(changes[1].action, Action::Update);
        assert_eq!(
            changes[1].operations,
            vec![
                Operation::RemoveRoleFromInstanceProfile {
                    profile: "lab".into(),
                    role: "someone-elses".into()
                },
                Operation::AddRoleToInstanceProfile {
                    profile: "lab".into(),
                    role: "lab-role".into()
                }
            ]
        );
    }

    #[test]
    fn an_untagged_profile_is_refused() {
        let observed = ObservedProfile {
            arn: desired().arn,
            roles: vec!["lab-role".into()],
            tags: BTreeMap::new(),
        };
        assert!(plan(&desired(), Some(&observed), false).is_err());
        let adopted = plan(&desired(), Some(&observed), true).expect("adopted");
        assert_eq!(adopted[0].action, Action::Update);
        assert_eq!(adopted[1].action, Action::Unchanged);
    }
}
