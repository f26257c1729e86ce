//! The IAM role the course IDE's instance assumes, with its inline policy and its managed-policy
//! attachments: one resource, planned as one line each.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::Client;
use serde_json::Value;

use crate::connection::clients::Clients;
use crate::course::lab::{FUNCTION_ROLE_PATH, IAM_PATH};
use crate::course::policy;
use crate::engine::apply::{Executed, Report};
use crate::engine::plan::{Action, Detail, Drift, Kind, ResourceId};
use crate::error::{Error, aws_error, sent, settled};
use crate::resources::Operation;
use crate::resources::lifecycle::{
    Events, Tagged, inventory_by_name, observe_by_name, remove_each, retain_by_name,
};
use crate::resources::ownership::{self, Claims, not_ours};
use crate::resources::status::Rows;
use crate::resources::tags::{self, Tags};
use crate::resources::{
    Change, CloudFormation, CreatedBy, Discovery, Inventoried, Keep, Lifecycle, ObservedState,
    Part, Resource,
};

/// The inline policy provision puts on a role (the one teardown takes off an adopted role).
const INLINE_POLICY_NAME: &str = crate::course::lab::INLINE_POLICY_NAME;

pub(crate) const ROLE: Kind = Kind::new("iam-role");
pub(crate) const ROLE_POLICY: Kind = Kind::new("iam-role-policy");
pub(crate) const ROLE_POLICY_ATTACHMENT: Kind = Kind::new("iam-role-policy-attachment");

/// What the command wants the role to be.
#[derive(Debug, Clone)]
pub(crate) struct DesiredRole {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) arn: String,
    pub(crate) trust_policy: Value,
    pub(crate) inline_policy_name: String,
    pub(crate) inline_policy: Value,
    pub(crate) managed_policy_arns: Vec<String>,
    /// On an adopted role, also remove what was not asked for (`--prune`); by default provision
    /// only adds to a role it did not create.
    pub(crate) prune: bool,
    /// Whether these are other permissions than the defaults (`--policy`, `--trust-policy`,
    /// `--policy-arn`): recorded on the role ([`PERMISSIONS_KEY`]) so that `status`, which knows
    /// only the defaults, can tell the role is as it was made.
    pub(crate) record_permissions: bool,
}

impl DesiredRole {
    /// The digest of the permissions asked for ([`permissions_digest`]).
    pub(crate) fn permissions(&self) -> String {
        permissions_digest(
            Some(&self.trust_policy),
            Some(&self.inline_policy),
            &self.managed_policy_arns,
        )
    }
}

/// The tag that records a role's permissions when they are not the defaults: their digest.
pub(crate) const PERMISSIONS_KEY: &str = "provision:permissions";

/// The digest of a role's permissions — its trust and inline policies in canonical form (see
/// `policy::normalize`) and its managed policies — as 32 hex digits. The SSM agent's policy is
/// left out: once attached for an SSM-connected IDE it stays, whoever asked.
pub(crate) fn permissions_digest(
    trust: Option<&Value>,
    inline: Option<&Value>,
    managed: &[String],
) -> String {
    use md5::{Digest, Md5};
    let canonical = |document: Option<&Value>| match document {
        Some(document) => policy::normalize(document).to_string(),
        None => "none".to_string(),
    };
    let mut arns: Vec<&str> = managed
        .iter()
        .map(String::as_str)
        .filter(|arn| !arn.ends_with(":iam::aws:policy/AmazonSSMManagedInstanceCore"))
        .collect();
    arns.sort_unstable();
    arns.dedup();
    let text = format!(
        "{}\n{}\n{}",
        canonical(trust),
        canonical(inline),
        arns.join("\n")
    );
    hex::encode(Md5::digest(text.as_bytes()))
}

/// What AWS has under the role's name.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ObservedRole {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) path: String,
    pub(crate) trust_policy: Option<Value>,
    pub(crate) tags: Tags,
    /// Names of every inline policy on the role.
    pub(crate) inline_policy_names: Vec<String>,
    /// The document of the inline policy provision manages, if present.
    pub(crate) managed_inline_policy: Option<Value>,
    pub(crate) attached_policy_arns: Vec<String>,
    /// Instance profiles holding the role (any owner); read only when asked for.
    pub(crate) instance_profiles: Vec<String>,
}

/// Which role to read, and how much of it.
#[derive(Debug, Clone)]
pub(crate) struct RoleQuery {
    pub(crate) name: String,
    /// The inline policy whose document is read.
    pub(crate) inline_policy_name: String,
    /// Also list the instance profiles holding the role (teardown needs them).
    pub(crate) with_profiles: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RoleOp {
    Create {
        name: String,
        path: String,
        trust_policy: String,
        tags: Tags,
    },
    UpdateTrustPolicy {
        role: String,
        document: String,
    },
    Tag {
        role: String,
        tags: Tags,
    },
    PutPolicy {
        role: String,
        policy_name: String,
        document: String,
    },
    DeletePolicy {
        role: String,
        policy_name: String,
    },
    AttachPolicy {
        role: String,
        policy_arn: String,
    },
    DetachPolicy {
        role: String,
        policy_arn: String,
    },
    Delete {
        name: String,
    },
}

pub(crate) struct Role;

impl Resource for Role {
    const KINDS: &'static [Kind] = &[ROLE, ROLE_POLICY, ROLE_POLICY_ATTACHMENT];

    type Query = RoleQuery;
    type Observation = Option<ObservedRole>;
    type Desired = DesiredRole;
    type Observed = ObservedRole;
    type Op = RoleOp;

    /// Reads the role, its inline policies and its attachments (and, when asked, the instance
    /// profiles holding it) in one concurrent round.
    async fn observe(clients: &Clients, query: &RoleQuery) -> Result<Option<ObservedRole>, Error> {
        let iam = &clients.iam;
        let name = query.name.as_str();
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
            .policy_name(&query.inline_policy_name)
            .send();
        let attached = iam
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>();
        let profiles = async {
            if !query.with_profiles {
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
            Ok(output) => Some(policy::parse_returned(output.policy_document()).ok_or_else(
                || {
                    Error::failed(format!(
                        "the inline policy {} of role {name} is not a readable JSON document",
                        query.inline_policy_name
                    ))
                },
            )?),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception()) =>
            {
                None
            }
            Err(e) => return Err(aws_error("iam:GetRolePolicy", e)),
        };
        let attached_policy_arns = attached
            .map_err(|e| aws_error("iam:ListAttachedRolePolicies", e))?
            .into_iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
        Ok(Some(ObservedRole {
            name: name.to_string(),
            arn: role.arn().to_string(),
            path: role.path().to_string(),
            trust_policy: role
                .assume_role_policy_document()
                .and_then(policy::parse_returned),
            tags: tags::from_sdk(role.tags()),
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

    /// A role that exists without the `managed-by=provision` tag belongs to someone else: refused
    /// unless adopted. Inline policies and attachments not asked for are removed from a role
    /// provision created, so its permissions are exactly the ones the command states; an adopted
    /// role (a lab account's shared one) only gains what is missing — statements of the trust
    /// policy, the inline policy, attachments — unless `prune`.
    fn plan(
        desired: Option<&DesiredRole>,
        observed: Option<&ObservedRole>,
        claims: &Claims,
    ) -> Result<Vec<Change>, Error> {
        match (desired, observed) {
            (None, None) => Ok(Vec::new()),
            (None, Some(observed)) => Ok(removal(observed, claims)),
            (Some(desired), observed) => wanted(desired, observed, claims),
        }
    }

    async fn execute(clients: &Clients, op: &RoleOp, _: Report<'_>) -> Result<Executed, Error> {
        execute(&clients.iam, op)
            .await
            .map(|()| Executed::default())
    }
}

/// Teardown: the inline policies and attachments go first, then the role. (It must also have left
/// every instance profile: the command's plan makes it wait for that.)
fn removal(observed: &ObservedRole, claims: &Claims) -> Vec<Change> {
    let name = observed.name.as_str();
    if ownership::is_adopted(&observed.tags) && claims.acts_on(ROLE, name, &observed.tags) {
        // Someone's role: only the inline policy provision put on it goes.
        let mut changes: Vec<Change> = observed
            .inline_policy_names
            .iter()
            .filter(|p| *p == INLINE_POLICY_NAME)
            .map(|policy_name| {
                Change::new(ROLE_POLICY, format!("{name}/{policy_name}"), Action::Delete)
                    .with_operations(vec![
                        RoleOp::DeletePolicy {
                            role: name.to_string(),
                            policy_name: policy_name.clone(),
                        }
                        .into(),
                    ])
            })
            .collect();
        changes.push(claims.delete_if_ours(
            &observed.tags,
            ROLE,
            name,
            Some(&observed.arn),
            Vec::new,
        ));
        return changes;
    }
    claims.remove_if_ours(&observed.tags, ROLE, name, Some(&observed.arn), || {
        let mut changes = Vec::new();
        let mut role = Change::new(ROLE, name, Action::Delete).with_arn(observed.arn.clone());
        for policy_name in &observed.inline_policy_names {
            let change = Change::new(ROLE_POLICY, format!("{name}/{policy_name}"), Action::Delete)
                .with_operations(vec![
                    RoleOp::DeletePolicy {
                        role: name.to_string(),
                        policy_name: policy_name.clone(),
                    }
                    .into(),
                ]);
            role = role.after(change.id());
            changes.push(change);
        }
        for arn in &observed.attached_policy_arns {
            let change = Change::new(
                ROLE_POLICY_ATTACHMENT,
                attachment_name(name, arn),
                Action::Delete,
            )
            .with_arn(arn.clone())
            .with_operations(vec![
                RoleOp::DetachPolicy {
                    role: name.to_string(),
                    policy_arn: arn.clone(),
                }
                .into(),
            ]);
            role = role.after(change.id());
            changes.push(change);
        }
        changes.push(role.with_operations(vec![
            RoleOp::Delete {
                name: name.to_string(),
            }
            .into(),
        ]));
        changes
    })
}

fn wanted(
    desired: &DesiredRole,
    observed: Option<&ObservedRole>,
    claims: &Claims,
) -> Result<Vec<Change>, Error> {
    let (role_change, shared) = match observed {
        None => (role_creation(desired, claims), false),
        Some(current) => role_update(desired, current, claims)?,
    };
    let role_id = ROLE.id(desired.name.clone());
    let mut changes =
        vec![role_change.with_arn(observed.map_or(desired.arn.clone(), |o| o.arn.clone()))];
    changes.push(inline_policy_line(desired, observed).after(role_id.clone()));
    // A shared role keeps its own inline policies and attachments.
    if let Some(current) = observed.filter(|_| !shared) {
        changes.extend(unrequested_inline_policies(desired, current));
    }
    changes.extend(attachment_lines(desired, observed, shared, &role_id));
    Ok(changes)
}

/// A new role: its trust policy, provision's tags, and the record of permissions other than the
/// defaults.
fn role_creation(desired: &DesiredRole, claims: &Claims) -> Change {
    let mut tags = claims.tags();
    if desired.record_permissions {
        tags.insert(PERMISSIONS_KEY.to_string(), desired.permissions());
    }
    Change::new(ROLE, &desired.name, Action::Create).with_operations(vec![
        RoleOp::Create {
            name: desired.name.clone(),
            path: desired.path.clone(),
            trust_policy: desired.trust_policy.to_string(),
            tags,
        }
        .into(),
    ])
}

/// An existing role's line — adoption, the permissions record, the trust policy — and whether it
/// is shared (someone else's that provision only adds to).
fn role_update(
    desired: &DesiredRole,
    current: &ObservedRole,
    claims: &Claims,
) -> Result<(Change, bool), Error> {
    let role = &desired.name;
    let mut details = Vec::new();
    let mut operations = Vec::new();
    let claim = claims.claim(ROLE, role, &current.tags, || {
        not_ours("IAM role", role, &current.arn)
    })?;
    if let Some((detail, tags)) = claims.tagging(&claim, &current.tags, claims.adopted_tags()) {
        details.push(detail);
        operations.push(
            RoleOp::Tag {
                role: role.clone(),
                tags,
            }
            .into(),
        );
    }
    let shared = claim.is_shared() && !desired.prune;
    let updates = [
        (!shared)
            .then(|| permissions_record(desired, current))
            .flatten(),
        trust_update(desired, current, shared),
    ];
    for (detail, operation) in updates.into_iter().flatten() {
        details.push(detail);
        operations.push(operation);
    }
    let action = match operations.is_empty() {
        true => Action::Unchanged,
        false => Action::Update,
    };
    let change = Change::new(ROLE, role, action)
        .with_details(details)
        .with_operations(operations);
    Ok((change, shared))
}

/// The permissions asked for are recorded when they are not the defaults, and kept up to date once
/// recorded (back to the defaults, the record says so).
fn permissions_record(
    desired: &DesiredRole,
    current: &ObservedRole,
) -> Option<(Detail, Operation)> {
    let recorded = current.tags.get(PERMISSIONS_KEY);
    let digest = desired.permissions();
    if !(desired.record_permissions || recorded.is_some()) || recorded == Some(&digest) {
        return None;
    }
    let detail = Detail::note(format!(
        "record the permissions asked for: {PERMISSIONS_KEY}={digest}"
    ));
    let operation = RoleOp::Tag {
        role: desired.name.clone(),
        tags: Tags::from([(PERMISSIONS_KEY.to_string(), digest)]),
    };
    Some((detail, operation.into()))
}

/// The trust policy's update, when it differs in meaning. A shared role's trust policy keeps its
/// statements; the desired ones are added.
fn trust_update(
    desired: &DesiredRole,
    current: &ObservedRole,
    shared: bool,
) -> Option<(Detail, Operation)> {
    let wanted = match (&current.trust_policy, shared) {
        (Some(document), true) => policy::with_missing_statements(document, &desired.trust_policy),
        _ => desired.trust_policy.clone(),
    };
    let differences = match &current.trust_policy {
        Some(document) => policy::differences(document, &wanted),
        None => vec!["unreadable document".to_string()],
    };
    if differences.is_empty() {
        return None;
    }
    let operation = RoleOp::UpdateTrustPolicy {
        role: desired.name.clone(),
        document: wanted.to_string(),
    };
    Some((Drift::TrustPolicy(differences).into(), operation.into()))
}

/// The inline policy provision manages.
fn inline_policy_line(desired: &DesiredRole, observed: Option<&ObservedRole>) -> Change {
    let name = format!("{}/{}", desired.name, desired.inline_policy_name);
    let put = RoleOp::PutPolicy {
        role: desired.name.clone(),
        policy_name: desired.inline_policy_name.clone(),
        document: desired.inline_policy.to_string(),
    };
    let Some(current) = observed.and_then(|o| o.managed_inline_policy.as_ref()) else {
        return Change::new(ROLE_POLICY, &name, Action::Create).with_operations(vec![put.into()]);
    };
    let differences = policy::differences(current, &desired.inline_policy);
    if differences.is_empty() {
        return Change::unchanged(ROLE_POLICY, &name);
    }
    Change::new(ROLE_POLICY, &name, Action::Update)
        .with_details(
            differences
                .into_iter()
                .map(|d| Drift::PolicyStatement(d).into())
                .collect(),
        )
        .with_operations(vec![put.into()])
}

/// Inline policies nobody asked for, removed.
fn unrequested_inline_policies(desired: &DesiredRole, current: &ObservedRole) -> Vec<Change> {
    let role = &desired.name;
    current
        .inline_policy_names
        .iter()
        .filter(|name| **name != desired.inline_policy_name)
        .map(|name| {
            Change::new(ROLE_POLICY, format!("{role}/{name}"), Action::Delete)
                .with_detail(Drift::Unrequested)
                .with_operations(vec![
                    RoleOp::DeletePolicy {
                        role: role.clone(),
                        policy_name: name.clone(),
                    }
                    .into(),
                ])
        })
        .collect()
}

/// Managed policy attachments: exactly the ones asked for (a shared role keeps its others).
fn attachment_lines(
    desired: &DesiredRole,
    observed: Option<&ObservedRole>,
    shared: bool,
    role_id: &ResourceId,
) -> Vec<Change> {
    let role = &desired.name;
    let attached: &[String] = observed.map_or(&[], |o| o.attached_policy_arns.as_slice());
    let mut changes = Vec::new();
    for arn in &desired.managed_policy_arns {
        let name = attachment_name(role, arn);
        let change = if attached.contains(arn) {
            Change::unchanged(ROLE_POLICY_ATTACHMENT, name)
        } else {
            Change::new(ROLE_POLICY_ATTACHMENT, name, Action::Create).with_operations(vec![
                RoleOp::AttachPolicy {
                    role: role.clone(),
                    policy_arn: arn.clone(),
                }
                .into(),
            ])
        };
        changes.push(change.with_arn(arn.clone()).after(role_id.clone()));
    }
    for arn in attached.iter().filter(|_| !shared) {
        if !desired.managed_policy_arns.contains(arn) {
            changes.push(
                Change::new(
                    ROLE_POLICY_ATTACHMENT,
                    attachment_name(role, arn),
                    Action::Delete,
                )
                .with_arn(arn.clone())
                .with_detail(Drift::Unrequested)
                .with_operations(vec![
                    RoleOp::DetachPolicy {
                        role: role.clone(),
                        policy_arn: arn.clone(),
                    }
                    .into(),
                ]),
            );
        }
    }
    changes
}

fn attachment_name(role: &str, policy_arn: &str) -> String {
    let short = policy_arn.rsplit('/').next().unwrap_or(policy_arn);
    format!("{role}/{short}")
}

/// Executes one IAM role request. Creating what already exists (a concurrent run) and deleting
/// what is already gone count as done.
async fn execute(iam: &Client, op: &RoleOp) -> Result<(), Error> {
    match op {
        RoleOp::Create {
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
                .set_tags(Some(tags::to_sdk(tags)?))
                .send()
                .await,
            |e| e.is_entity_already_exists_exception(),
        ),
        RoleOp::UpdateTrustPolicy { role, document } => sent(
            "iam:UpdateAssumeRolePolicy",
            iam.update_assume_role_policy()
                .role_name(role)
                .policy_document(document)
                .send()
                .await,
        ),
        RoleOp::Tag { role, tags } => sent(
            "iam:TagRole",
            iam.tag_role()
                .role_name(role)
                .set_tags(Some(tags::to_sdk(tags)?))
                .send()
                .await,
        ),
        RoleOp::PutPolicy {
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
        RoleOp::DeletePolicy { role, policy_name } => settled(
            "iam:DeleteRolePolicy",
            iam.delete_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .send()
                .await,
            |e| e.is_no_such_entity_exception(),
        ),
        RoleOp::AttachPolicy { role, policy_arn } => sent(
            "iam:AttachRolePolicy",
            iam.attach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await,
        ),
        RoleOp::DetachPolicy { role, policy_arn } => settled(
            "iam:DetachRolePolicy",
            iam.detach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await,
            |e| e.is_no_such_entity_exception(),
        ),
        RoleOp::Delete { name } => settled(
            "iam:DeleteRole",
            iam.delete_role().role_name(name).send().await,
            |e| e.is_no_such_entity_exception(),
        ),
    }
}

impl Lifecycle for Role {
    const KIND: Kind = ROLE;
    const MADE_BY: &'static [Part] = &[Part::InstanceProfile, Part::DragonsApi];
    const NEEDS: &'static [Kind] = &[];
    const CREATED_BY: CreatedBy = CreatedBy::Event {
        name: "CreateRole",
        recorded: Events::Global,
    };
    const CLOUDFORMATION: CloudFormation = CloudFormation::Type("AWS::IAM::Role");

    type Found = BTreeMap<String, ObservedRole>;

    /// The roles under provision's path, and the one of the commands' name wherever it is: the
    /// functions' roles (under `FUNCTION_ROLE_PATH`) where `dragons-api`'s resources are looked
    /// for, the others where `instance-profile`'s are.
    async fn discover(discovery: &Discovery<'_>) -> Result<Self::Found, Error> {
        let listed = discovery
            .clients
            .iam
            .list_roles()
            .path_prefix(IAM_PATH)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("iam:ListRoles", e))?;
        let made_by = |path: &str| match path.starts_with(FUNCTION_ROLE_PATH) {
            true => Part::DragonsApi,
            false => Part::InstanceProfile,
        };
        let mut names: BTreeSet<String> = listed
            .iter()
            .filter(|r| discovery.includes(&[made_by(r.path())]))
            .map(|r| r.role_name().to_string())
            .collect();
        if discovery.includes(&[Part::InstanceProfile]) {
            names.insert(discovery.role_name.to_string());
        }
        observe_each(discovery.clients, names).await
    }

    /// Roles outside provision's path that its profiles hold (an adopted one); usually none.
    async fn complete(
        discovery: &Discovery<'_>,
        observed: &mut ObservedState,
    ) -> Result<(), Error> {
        let held: BTreeSet<String> = observed
            .profiles
            .values()
            .flat_map(|p| p.roles.iter().cloned())
            .filter(|r| !observed.roles.contains_key(r))
            .collect();
        let found = observe_each(discovery.clients, held).await?;
        observed.roles.extend(found);
        Ok(())
    }

    fn inventory(found: &Self::Found) -> Vec<Inventoried<'_>> {
        inventory_by_name(found)
    }

    fn retain(found: &mut Self::Found, keep: &mut dyn FnMut(&str, &Tags) -> bool) {
        retain_by_name(found, keep);
    }

    fn removal(observed: &ObservedState, _: Keep, claims: &Claims) -> Result<Vec<Change>, Error> {
        remove_each::<Role>(observed.roles.values(), claims)
    }

    fn rows(rows: &mut Rows<'_>) -> Result<(), Error> {
        let (expected, observed, claims) = (&rows.expected.roles, rows.observed, rows.claims);
        let names: Vec<&str> = expected.iter().map(|r| r.name.as_str()).collect();
        rows.by_name(
            ROLE,
            &names,
            &observed.roles,
            |name, current| {
                let desired = expected.iter().find(|r| r.name == name);
                match desired.and_then(|desired| recorded_elsewhere(desired, current)) {
                    Some(changes) => Ok(changes),
                    None => Role::plan(desired, Some(current), claims),
                }
            },
            |_| vec![],
        )
    }
}

/// A role whose record says it was made with other permissions than `desired`'s (the defaults
/// `status` knows): compared with that record — in sync while its permissions are the recorded
/// ones. `None` when the role records none, or the defaults.
fn recorded_elsewhere(desired: &DesiredRole, current: &ObservedRole) -> Option<Vec<Change>> {
    let recorded = current.tags.get(PERMISSIONS_KEY)?;
    if *recorded == desired.permissions() {
        return None;
    }
    let now = permissions_digest(
        current.trust_policy.as_ref(),
        current.managed_inline_policy.as_ref(),
        &current.attached_policy_arns,
    );
    Some(match now == *recorded {
        true => vec![Change::unchanged(ROLE, &current.name)],
        false => vec![
            Change::new(ROLE, &current.name, Action::Update)
                .with_detail(Drift::RecordedPermissions),
        ],
    })
}

/// Reads the named roles concurrently, with the profiles that hold each (teardown removes the
/// role from them first).
async fn observe_each(
    clients: &Clients,
    names: BTreeSet<String>,
) -> Result<BTreeMap<String, ObservedRole>, Error> {
    observe_by_name(names, |name| async move {
        let query = RoleQuery {
            name,
            inline_policy_name: INLINE_POLICY_NAME.to_string(),
            with_profiles: true,
        };
        Role::observe(clients, &query).await
    })
    .await
}

impl Tagged for ObservedRole {
    fn name(&self) -> &str {
        &self.name
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

#[cfg(test)]
impl crate::resources::simulated::Simulated for Role {
    fn simulate(
        op: &RoleOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        let roles = &mut world.observed.roles;
        let no_role = |role: &str| format!("no role {role}");
        match op {
            RoleOp::Create {
                name,
                path,
                trust_policy,
                tags,
            } => {
                roles.entry(name.clone()).or_insert(ObservedRole {
                    name: name.clone(),
                    arn: format!(
                        "arn:aws:iam::{}:role{path}{name}",
                        crate::resources::simulated::ACCOUNT
                    ),
                    path: path.clone(),
                    trust_policy: policy::parse_returned(trust_policy),
                    tags: tags.clone(),
                    ..Default::default()
                });
            }
            RoleOp::UpdateTrustPolicy { role, document } => {
                let r = roles.get_mut(role).ok_or_else(|| no_role(role))?;
                r.trust_policy = policy::parse_returned(document);
            }
            RoleOp::Tag { role, tags } => {
                let r = roles.get_mut(role).ok_or_else(|| no_role(role))?;
                r.tags.extend(tags.clone());
            }
            RoleOp::PutPolicy {
                role,
                policy_name,
                document,
            } => {
                let r = roles.get_mut(role).ok_or_else(|| no_role(role))?;
                if !r.inline_policy_names.contains(policy_name) {
                    r.inline_policy_names.push(policy_name.clone());
                }
                if policy_name == crate::course::lab::INLINE_POLICY_NAME {
                    r.managed_inline_policy = policy::parse_returned(document);
                }
            }
            RoleOp::DeletePolicy { role, policy_name } => {
                if let Some(r) = roles.get_mut(role) {
                    r.inline_policy_names.retain(|p| p != policy_name);
                    if policy_name == crate::course::lab::INLINE_POLICY_NAME {
                        r.managed_inline_policy = None;
                    }
                }
            }
            RoleOp::AttachPolicy { role, policy_arn } => {
                let r = roles.get_mut(role).ok_or_else(|| no_role(role))?;
                if !r.attached_policy_arns.contains(policy_arn) {
                    r.attached_policy_arns.push(policy_arn.clone());
                }
            }
            RoleOp::DetachPolicy { role, policy_arn } => {
                if let Some(r) = roles.get_mut(role) {
                    r.attached_policy_arns.retain(|a| a != policy_arn);
                }
            }
            RoleOp::Delete { name } => {
                if let Some(r) = roles.get(name) {
                    if !r.inline_policy_names.is_empty()
                        || !r.attached_policy_arns.is_empty()
                        || !r.instance_profiles.is_empty()
                    {
                        return Err(format!("DeleteConflict: role {name} is still in use"));
                    }
                    roles.remove(name);
                }
            }
        }
        Ok(Executed::default())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::plan::Detail;
    use crate::resources::Operation;
    #[allow(unused_imports)]
    use crate::resources::ownership::{adopted_tags, managed_tags, test_claims};
    use serde_json::json;

    pub(crate) fn desired() -> DesiredRole {
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
            prune: false,
            record_permissions: false,
        }
    }

    fn observed_as_desired() -> ObservedRole {
        let desired = desired();
        ObservedRole {
            name: desired.name.clone(),
            arn: desired.arn.clone(),
            path: desired.path.clone(),
            trust_policy: Some(desired.trust_policy.clone()),
            tags: managed_tags(),
            inline_policy_names: vec!["provision-policy".into()],
            managed_inline_policy: Some(desired.inline_policy.clone()),
            attached_policy_arns: vec![],
            instance_profiles: vec!["lab-role".into()],
        }
    }

    fn plan(
        desired: Option<&DesiredRole>,
        observed: Option<&ObservedRole>,
        adopt: bool,
    ) -> Result<Vec<Change>, Error> {
        <Role as Resource>::plan(desired, observed, &test_claims(adopt))
    }

    #[test]
    fn teardown_deletes_policies_and_attachments_before_the_role() {
        let mut observed = observed_as_desired();
        observed.attached_policy_arns = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()];
        let changes = plan(None, Some(&observed), false).expect("plans");
        let role = changes.last().expect("role change");
        assert_eq!(role.action, Action::Delete);
        assert_eq!(
            role.depends_on,
            vec![
                ROLE_POLICY.id("lab-role/provision-policy"),
                ROLE_POLICY_ATTACHMENT.id("lab-role/ReadOnlyAccess")
            ],
            "inline policy, attachment"
        );
        assert_eq!(
            role.operations,
            vec![Operation::Role(RoleOp::Delete {
                name: "lab-role".into()
            })]
        );
        assert!(changes.iter().all(|c| c.action == Action::Delete));

        observed.tags.clear();
        let left = plan(None, Some(&observed), false).expect("plans");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].details, vec![Detail::LeftAlone]);
        assert!(left[0].operations.is_empty());
        assert!(plan(None, None, false).expect("plans").is_empty());
    }

    #[test]
    fn a_missing_role_is_created_with_its_policy() {
        let changes = plan(Some(&desired()), None, false).expect("plans");
        let actions: Vec<_> = changes.iter().map(|c| (c.kind, c.action)).collect();
        assert_eq!(
            actions,
            vec![(ROLE, Action::Create), (ROLE_POLICY, Action::Create)]
        );
        assert_eq!(changes[1].depends_on, vec![ROLE.id("lab-role")]);
        assert!(matches!(
            &changes[0].operations[0],
            Operation::Role(RoleOp::Create { tags, .. }) if tags == &managed_tags()
        ));
    }

    #[test]
    fn an_equal_role_is_unchanged_and_sends_nothing() {
        let changes = plan(Some(&desired()), Some(&observed_as_desired()), false).expect("plans");
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
        let changes = plan(Some(&desired()), Some(&observed), false).expect("plans");
        assert_eq!(changes[0].action, Action::Update);
        assert!(matches!(
            changes[0].details[0],
            Detail::Drift(Drift::TrustPolicy(_))
        ));
        assert!(changes[0].line().contains("(trust policy: "));
        assert!(matches!(
            changes[0].operations[0],
            Operation::Role(RoleOp::UpdateTrustPolicy { .. })
        ));
    }

    #[test]
    fn an_untagged_role_is_refused_unless_adopted() {
        let mut observed = observed_as_desired();
        observed.tags.clear();
        let error = plan(Some(&desired()), Some(&observed), false).expect_err("refused");
        assert!(error.message().contains("not created by provision"));
        assert!(error.hints()[0].contains("--adopt"));
        let changes = plan(Some(&desired()), Some(&observed), true).expect("adopted");
        assert_eq!(changes[0].action, Action::Update);
        assert_eq!(changes[0].details, vec![Detail::Adopt]);
        assert!(matches!(
            changes[0].operations[0],
            Operation::Role(RoleOp::Tag { .. })
        ));
    }

    /// A lab account's shared role (LabRole): trusted by more than EC2, with policies of its own.
    fn shared_role() -> ObservedRole {
        let mut observed = observed_as_desired();
        observed.tags.clear();
        observed.trust_policy = Some(json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": ["lambda.amazonaws.com", "ecs-tasks.amazonaws.com"]}}]}));
        observed.inline_policy_names = vec!["lab-permissions".into()];
        observed.managed_inline_policy = None;
        observed.attached_policy_arns = vec!["arn:aws:iam::aws:policy/PowerUserAccess".into()];
        observed
    }

    #[test]
    fn adopting_a_shared_role_only_adds_unless_pruned() {
        let changes = plan(Some(&desired()), Some(&shared_role()), true).expect("adopted");
        let lines: Vec<String> = changes.iter().map(Change::line).collect();
        assert!(
            lines.iter().all(|l| !l.starts_with("- delete")),
            "nothing of the role's own is removed: {lines:?}"
        );
        let Operation::Role(RoleOp::UpdateTrustPolicy { document, .. }) = changes[0]
            .operations
            .iter()
            .find(|op| matches!(op, Operation::Role(RoleOp::UpdateTrustPolicy { .. })))
            .expect("the EC2 statement is added")
        else {
            panic!("trust policy update")
        };
        let document: Value = serde_json::from_str(document).expect("JSON");
        let text = document.to_string();
        assert!(text.contains("lambda.amazonaws.com"), "kept: {text}");
        assert!(text.contains("ec2.amazonaws.com"), "added: {text}");
        assert!(
            changes[0].operations.iter().any(|op| matches!(op,
                Operation::Role(RoleOp::Tag { tags, .. }) if tags.get("provision:adopted").map(String::as_str) == Some("true"))),
            "marked as adopted"
        );

        // Adopted earlier (tagged): a later run still only adds.
        let mut adopted = shared_role();
        adopted.tags = adopted_tags();
        let later = plan(Some(&desired()), Some(&adopted), false).expect("ours by adoption");
        assert!(later.iter().all(|c| c.action != Action::Delete));

        // --prune: exactly the desired role.
        let pruning = DesiredRole {
            prune: true,
            ..desired()
        };
        let pruned = plan(Some(&pruning), Some(&adopted), false).expect("pruned");
        let lines: Vec<String> = pruned.iter().map(Change::line).collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("- delete    iam-role-policy lab-role/lab-permissions")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l
                .starts_with("- delete    iam-role-policy-attachment lab-role/PowerUserAccess")),
            "{lines:?}"
        );

        // Teardown leaves an adopted role, taking off only provision's inline policy.
        adopted.inline_policy_names.push("provision-policy".into());
        let removal = plan(None, Some(&adopted), false).expect("teardown");
        let lines: Vec<String> = removal.iter().map(Change::line).collect();
        assert_eq!(
            lines,
            [
                "- delete    iam-role-policy lab-role/provision-policy",
                "= unchanged iam-role lab-role (left alone (adopted, not created by provision))"
            ]
        );
    }

    #[test]
    fn unrequested_permissions_are_removed_and_requested_ones_attached() {
        let mut desired = desired();
        desired.managed_policy_arns = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()];
        let mut observed = observed_as_desired();
        observed.inline_policy_names.push("hand-made".into());
        observed.attached_policy_arns = vec!["arn:aws:iam::aws:policy/AdministratorAccess".into()];
        let changes = plan(Some(&desired), Some(&observed), false).expect("plans");
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
