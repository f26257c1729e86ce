//! The IAM role the course IDE's instance assumes, its inline policy and its managed-policy
//! attachments.

use std::collections::BTreeMap;

use aws_sdk_iam::Client;
use serde_json::Value;

use crate::error::{Error, aws_error, sent, settled};
use crate::plan::{Action, Change, LEFT_ALONE, Operation, ResourceId, ResourceKind};
use crate::policy;
use crate::resources::{iam_tags, is_managed, managed_tags};

/// What the command wants the role to be.
#[derive(Debug, Clone)]
pub struct DesiredRole {
    pub name: String,
    pub path: String,
    pub arn: String,
    pub trust_policy: Value,
    pub inline_policy_name: String,
    pub inline_policy: Value,
    pub managed_policy_arns: Vec<String>,
}

/// What AWS has under the role's name.
#[derive(Debug, Clone, Default)]
pub struct ObservedRole {
    pub arn: String,
    pub path: String,
    pub trust_policy: Option<Value>,
    pub tags: BTreeMap<String, String>,
    /// Names of every inline policy on the role.
    pub inline_policy_names: Vec<String>,
    /// The document of the inline policy provision manages, if present.
    pub managed_inline_policy: Option<Value>,
    pub attached_policy_arns: Vec<String>,
    /// Instance profiles holding the role (any owner).
    pub instance_profiles: Vec<String>,
}

pub fn role_id(name: &str) -> ResourceId {
    ResourceId::new(ResourceKind::IamRole, name)
}

/// Reads the role, its tags, its inline policies and its attachments in one concurrent round;
/// with `with_profiles`, also the instance profiles holding it (teardown needs them).
pub async fn observe(
    iam: &Client,
    name: &str,
    inline_policy_name: &str,
    with_profiles: bool,
) -> Result<Option<ObservedRole>, Error> {
    let get_role = iam.get_role().role_name(name).send();
    let inline_names = iam
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<String>, _>>();
    let inline_document = iam
        .get_role_policy()
        .role_name(name)
        .policy_name(inline_policy_name)
        .send();
    let attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>();
    let profiles = async {
        if !with_profiles {
            return Ok(Vec::new());
        }
        iam.list_instance_profiles_for_role()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
    };
    let (role, inline_names, inline_document, attached, profiles) =
        tokio::join!(get_role, inline_names, inline_document, attached, profiles);

    let role = match role {
        Ok(output) => output,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(aws_error("iam:GetRole", e)),
    };
    let Some(role) = role.role() else {
        return Err(Error::failed(format!(
            "iam:GetRole returned no role for {name}"
        )));
    };
    let inline_policy_names = inline_names.map_err(|e| aws_error("iam:ListRolePolicies", e))?;
    let managed_inline_policy = match inline_document {
        Ok(output) => Some(policy::parse_returned(output.policy_document()).ok_or_else(|| {
            Error::failed(format!(
                "the inline policy {inline_policy_name} of role {name} is not a readable JSON document"
            ))
        })?),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => None,
        Err(e) => return Err(aws_error("iam:GetRolePolicy", e)),
    };
    let attached_policy_arns = attached
        .map_err(|e| aws_error("iam:ListAttachedRolePolicies", e))?
        .into_iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    Ok(Some(ObservedRole {
        arn: role.arn().to_string(),
        path: role.path().to_string(),
        trust_policy: role
            .assume_role_policy_document()
            .and_then(policy::parse_returned),
        tags: role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        inline_policy_names,
        managed_inline_policy,
        attached_policy_arns,
        instance_profiles: profiles
            .map_err(|e| aws_error("iam:ListInstanceProfilesForRole", e))?
            .into_iter()
            .map(|p| p.instance_profile_name().to_string())
            .collect(),
    }))
}

/// Plans the role's removal (teardown: the desired state is "absent"). Pure. Only a role provision
/// manages is deleted: its inline policies and attachments first, then the role, after it has left
/// every instance profile. Another's role of the same name is reported and left alone.
pub fn plan_absent(name: &str, observed: &ObservedRole) -> Vec<Change> {
    if !is_managed(&observed.tags) {
        return vec![
            Change::unchanged(ResourceKind::IamRole, name)
                .with_arn(observed.arn.clone())
                .with_details(vec![LEFT_ALONE.into()]),
        ];
    }
    let mut changes = Vec::new();
    let mut role =
        Change::new(ResourceKind::IamRole, name, Action::Delete).with_arn(observed.arn.clone());
    for policy_name in &observed.inline_policy_names {
        let change = Change::new(
            ResourceKind::IamRolePolicy,
            format!("{name}/{policy_name}"),
            Action::Delete,
        )
        .with_operations(vec![Operation::DeleteRolePolicy {
            role: name.to_string(),
            policy_name: policy_name.clone(),
        }]);
        role = role.after(change.id());
        changes.push(change);
    }
    for arn in &observed.attached_policy_arns {
        let change = Change::new(
            ResourceKind::IamRolePolicyAttachment,
            attachment_name(name, arn),
            Action::Delete,
        )
        .with_arn(arn.clone())
        .with_operations(vec![Operation::DetachRolePolicy {
            role: name.to_string(),
            policy_arn: arn.clone(),
        }]);
        role = role.after(change.id());
        changes.push(change);
    }
    // The role leaves each profile first; where the profile is provision's too, its own removal
    // plan does that (see `commands::teardown`), and these requests are dropped from the plan.
    let mut operations: Vec<Operation> = observed
        .instance_profiles
        .iter()
        .map(|profile| Operation::RemoveRoleFromInstanceProfile {
            profile: profile.clone(),
            role: name.to_string(),
        })
        .collect();
    for profile in &observed.instance_profiles {
        role = role.after(crate::resources::instance_profile::membership_id(profile));
    }
    operations.push(Operation::DeleteRole {
        name: name.to_string(),
    });
    changes.push(role.with_operations(operations));
    changes
}

/// Plans the role, its inline policies and its attachments. Pure.
///
/// A role that exists without the `managed-by=provision` tag belongs to someone else: refused
/// unless `adopt`, which tags it. Inline policies and attachments not asked for are removed from a
/// role provision manages, so the role's permissions are exactly the ones the command states.
pub fn plan(
    desired: &DesiredRole,
    observed: Option<&ObservedRole>,
    adopt: bool,
) -> Result<Vec<Change>, Error> {
    let role = &desired.name;
    let trust_text = desired.trust_policy.to_string();
    let mut changes = Vec::new();

    let role_change = match observed {
        None => Change::new(ResourceKind::IamRole, role, Action::Create).with_operations(vec![
            Operation::CreateRole {
                name: role.clone(),
                path: desired.path.clone(),
                trust_policy: trust_text,
                tags: managed_tags(),
            },
        ]),
        Some(current) => {
            let mut details = Vec::new();
            let mut operations = Vec::new();
            if !is_managed(&current.tags) {
                if !adopt {
                    return Err(not_ours("IAM role", role, &current.arn));
                }
                details.push("adopt: tag managed-by=provision".to_string());
                operations.push(Operation::TagRole {
                    role: role.clone(),
                    tags: managed_tags(),
                });
            }
            let trust_differences = match &current.trust_policy {
                Some(document) => policy::differences(document, &desired.trust_policy),
                None => vec!["unreadable document".to_string()],
            };
            if !trust_differences.is_empty() {
                details.push(format!("trust policy: {}", trust_differences.join(", ")));
                operations.push(Operation::UpdateAssumeRolePolicy {
                    role: role.clone(),
                    document: trust_text,
                });
            }
            let action = if operations.is_empty() {
                Action::Unchanged
            } else {
                Action::Update
            };
            Change::new(ResourceKind::IamRole, role, action)
                .with_details(details)
                .with_operations(operations)
        }
    };
    changes.push(role_change.with_arn(observed.map_or(desired.arn.clone(), |o| o.arn.clone())));

    // The inline policy provision manages.
    let inline_name = format!("{role}/{}", desired.inline_policy_name);
    let put = Operation::PutRolePolicy {
        role: role.clone(),
        policy_name: desired.inline_policy_name.clone(),
        document: desired.inline_policy.to_string(),
    };
    let inline = match observed.and_then(|o| o.managed_inline_policy.as_ref()) {
        None => Change::new(ResourceKind::IamRolePolicy, &inline_name, Action::Create)
            .with_operations(vec![put]),
        Some(current) => {
            let differences = policy::differences(current, &desired.inline_policy);
            if differences.is_empty() {
                Change::unchanged(ResourceKind::IamRolePolicy, &inline_name)
            } else {
                Change::new(ResourceKind::IamRolePolicy, &inline_name, Action::Update)
                    .with_details(differences)
                    .with_operations(vec![put])
            }
        }
    };
    changes.push(inline.after(role_id(role)));

    // Inline policies nobody asked for.
    if let Some(current) = observed {
        for name in &current.inline_policy_names {
            if *name != desired.inline_policy_name {
                changes.push(
                    Change::new(
                        ResourceKind::IamRolePolicy,
                        format!("{role}/{name}"),
                        Action::Delete,
                    )
                    .with_details(vec!["not in the desired permissions".into()])
                    .with_operations(vec![Operation::DeleteRolePolicy {
                        role: role.clone(),
                        policy_name: name.clone(),
                    }]),
                );
            }
        }
    }

    // Managed policy attachments: exactly the ones asked for.
    let attached: &[String] = observed.map_or(&[], |o| o.attached_policy_arns.as_slice());
    for arn in &desired.managed_policy_arns {
        let name = attachment_name(role, arn);
        let change = if attached.contains(arn) {
            Change::unchanged(ResourceKind::IamRolePolicyAttachment, name)
        } else {
            Change::new(ResourceKind::IamRolePolicyAttachment, name, Action::Create)
                .with_operations(vec![Operation::AttachRolePolicy {
                    role: role.clone(),
                    policy_arn: arn.clone(),
                }])
        };
        changes.push(change.with_arn(arn.clone()).after(role_id(role)));
    }
    for arn in attached {
        if !desired.managed_policy_arns.contains(arn) {
            changes.push(
                Change::new(
                    ResourceKind::IamRolePolicyAttachment,
                    attachment_name(role, arn),
                    Action::Delete,
                )
                .with_arn(arn.clone())
                .with_details(vec!["not in the desired permissions".into()])
                .with_operations(vec![Operation::DetachRolePolicy {
                    role: role.clone(),
                    policy_arn: arn.clone(),
                }]),
            );
        }
    }
    Ok(changes)
}

fn attachment_name(role: &str, policy_arn: &str) -> String {
    let short = policy_arn.rsplit('/').next().unwrap_or(policy_arn);
    format!("{role}/{short}")
}

/// The refusal for a same-named resource that provision did not create.
pub fn not_ours(what: &str, name: &str, arn: &str) -> Error {
    Error::failed(format!(
        "{what} {name} already exists and was not created by provision ({arn} has no managed-by=provision tag)"
    ))
    .with_hint(format!(
        "choose another name, or pass --adopt to let provision manage {name} (it will be tagged and \
         brought to the desired state)"
    ))
}

/// Executes one IAM role request. Creating what already exists (a concurrent run) and deleting
/// what is already gone count as done.
pub async fn execute(iam: &Client, operation: &Operation) -> Result<(), Error> {
    match operation {
        Operation::CreateRole {
            name,
            path,
            trust_policy,
            tags,
        } => settled(
            "iam:CreateRole",
            iam.create_role()
                .role_name(name)
                .path(path)
                .assume_role_policy_document(trust_policy)
                .description("Created by provision for the course IDE's EC2 instance")
                .set_tags(Some(iam_tags(tags)?))
                .send()
                .await,
            |e| e.is_entity_already_exists_exception(),
        ),
        Operation::UpdateAssumeRolePolicy { role, document } => sent(
            "iam:UpdateAssumeRolePolicy",
            iam.update_assume_role_policy()
                .role_name(role)
                .policy_document(document)
                .send()
                .await,
        ),
        Operation::TagRole { role, tags } => sent(
            "iam:TagRole",
            iam.tag_role()
                .role_name(role)
                .set_tags(Some(iam_tags(tags)?))
                .send()
                .await,
        ),
        Operation::PutRolePolicy {
            role,
            policy_name,
            document,
        } => sent(
            "iam:PutRolePolicy",
            iam.put_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .policy_document(document)
                .send()
                .await,
        ),
        Operation::DeleteRolePolicy { role, policy_name } => settled(
            "iam:DeleteRolePolicy",
            iam.delete_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .send()
                .await,
            |e| e.is_no_such_entity_exception(),
        ),
        Operation::AttachRolePolicy { role, policy_arn } => sent(
            "iam:AttachRolePolicy",
            iam.attach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await,
        ),
        Operation::DeleteRole { name } => settled(
            "iam:DeleteRole",
            iam.delete_role().role_name(name).send().await,
            |e| e.is_no_such_entity_exception(),
        ),
        Operation::DetachRolePolicy { role, policy_arn } => settled(
            "iam:DetachRolePolicy",
            iam.detach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await,
            |e| e.is_no_such_entity_exception(),
        ),
        other => Err(Error::failed(format!(
            "internal: {other:?} is not an IAM role request"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired() -> DesiredRole {
        DesiredRole {
            name: "lab-role".into(),
            path: "/provision/".into(),
            arn: "arn:aws:iam::123456789012:role/provision/lab-role".into(),
            trust_policy: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
            inline_policy_name: "provision-policy".into(),
            inline_policy: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "s3:GetObject", "Resource": "*"}]}),
            managed_policy_arns: vec![],
        }
    }

    fn observed_as_desired() -> ObservedRole {
        let desired = desired();
        ObservedRole {
            arn: desired.arn.clone(),
            path: desired.path.clone(),
            trust_policy: Some(desired.trust_policy.clone()),
            tags: [("managed-by".to_string(), "provision".to_string())].into(),
            inline_policy_names: vec!["provision-policy".into()],
            managed_inline_policy: Some(desired.inline_policy.clone()),
            attached_policy_arns: vec![],
            instance_profiles: vec!["lab-role".into()],
        }
    }

    #[test]
    fn teardown_deletes_policies_and_attachments_before_the_role() {
        let mut observed = observed_as_desired();
        observed.attached_policy_arns = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()];
        let changes = plan_absent("lab-role", &observed);
        let role = changes.last().expect("role change");
        assert_eq!(role.action, Action::Delete);
        assert_eq!(
            role.depends_on.len(),
            3,
            "inline policy, attachment, profile membership"
        );
        assert_eq!(
            role.operations.last(),
            Some(&Operation::DeleteRole {
                name: "lab-role".into()
            })
        );
        assert!(changes.iter().all(|c| c.action == Action::Delete));

        observed.tags.clear();
        let left = plan_absent("lab-role", &observed);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].details, vec![LEFT_ALONE.to_string()]);
        assert!(left[0].operations.is_empty());
    }

    #[test]
    fn a_missing_role_is_created_with_its_policy() {
        let changes = plan(&desired(), None, false).expect("plans");
        let actions: Vec<_> = changes.iter().map(|c| (c.resource, c.action)).collect();
        assert_eq!(
            actions,
            vec![
                (ResourceKind::IamRole, Action::Create),
                (ResourceKind::IamRolePolicy, Action::Create)
            ]
        );
        assert_eq!(changes[1].depends_on, vec![role_id("lab-role")]);
        assert!(matches!(
            &changes[0].operations[0],
            Operation::CreateRole { tags, .. } if tags == &managed_tags()
        ));
    }

    #[test]
    fn an_equal_role_is_unchanged_and_sends_nothing() {
        let changes = plan(&desired(), Some(&observed_as_desired()), false).expect("plans");
        assert!(changes.iter().all(|c| c.action == Action::Unchanged));
        assert!(changes.iter().all(|c| c.operations.is_empty()));
    }

    #[test]
    fn a_changed_trust_policy_is_updated() {
        let mut observed = observed_as_desired();
        observed.trust_policy = Some(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        );
        let changes = plan(&desired(), Some(&observed), false).expect("plans");
        assert_eq!(changes[0].action, Action::Update);
        assert!(changes[0].details[0].starts_with("trust policy"));
        assert!(matches!(
            changes[0].operations[0],
            Operation::UpdateAssumeRolePolicy { .. }
        ));
    }

    #[test]
    fn an_untagged_role_is_refused_unless_adopted() {
        let mut observed = observed_as_desired();
        observed.tags.clear();
        let error = plan(&desired(), Some(&observed), false).expect_err("refused");
        assert!(error.message().contains("not created by provision"));
        assert!(error.hints()[0].contains("--adopt"));
        let changes = plan(&desired(), Some(&observed), true).expect("adopted");
        assert_eq!(changes[0].action, Action::Update);
        assert!(matches!(
            changes[0].operations[0],
            Operation::TagRole { .. }
        ));
    }

    #[test]
    fn unrequested_permissions_are_removed_and_requested_ones_attached() {
        let mut desired = desired();
        desired.managed_policy_arns = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()];
        let mut observed = observed_as_desired();
        observed.inline_policy_names.push("hand-made".into());
        observed.attached_policy_arns = vec!["arn:aws:iam::aws:policy/AdministratorAccess".into()];
        let changes = plan(&desired, Some(&observed), false).expect("plans");
        let lines: Vec<String> = changes.iter().map(Change::line).collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("- delete    iam-role-policy lab-role/hand-made")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l
                    .starts_with("+ create    iam-role-policy-attachment lab-role/ReadOnlyAccess")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with(
                "- delete    iam-role-policy-attachment lab-role/AdministratorAccess"
            )),
            "{lines:?}"
        );
    }
}
