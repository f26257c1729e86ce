//! The plan: what will be done, resource by resource, fully resolved before anything is executed.
//!
//! A `Change` is one line of the plan — one resource, one action, what differs and why — together
//! with the exact requests (operations) that carry it out and the resources it must wait for. A
//! `Plan` is made once, by a command's pure planner, and checked when it is made: every dependency
//! names a change of the same plan and the dependencies have no cycle. Nothing edits it afterwards;
//! the executor has no choices left to make.
//!
//! This module knows nothing of AWS requests: `Change` and `Plan` are generic over the operation
//! type (`resources::Operation` in the program, a fake in the executor's tests).

use std::collections::{HashMap, HashSet};
use std::fmt;

use aws_sdk_s3::types::ObjectOwnership;
use aws_sdk_ssm::types::ParameterType;
use serde::{Serialize, Serializer};

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Action {
    Create,
    Update,
    Unchanged,
    Delete,
}

impl Action {
    /// The action for one setting of a resource: unchanged when it already holds, created along
    /// with a resource that is new, updated otherwise.
    pub(crate) fn for_setting(holds: bool, resource_is_new: bool) -> Self {
        match (holds, resource_is_new) {
            (true, _) => Self::Unchanged,
            (false, true) => Self::Create,
            (false, false) => Self::Update,
        }
    }

    pub(crate) fn symbol(self) -> char {
        match self {
            Self::Create => '+',
            Self::Update => '~',
            Self::Unchanged => '=',
            Self::Delete => '-',
        }
    }

    /// The verb while it runs: "creating".
    pub(crate) fn progressive(self) -> &'static str {
        match self {
            Self::Create => "creating",
            Self::Update => "updating",
            Self::Delete => "deleting",
            Self::Unchanged => "checking",
        }
    }

    /// The verb once done: "created".
    pub(crate) fn past(self) -> &'static str {
        match self {
            Self::Create => "created",
            Self::Update => "updated",
            Self::Delete => "deleted",
            Self::Unchanged => "unchanged",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` so that width flags (`{:<9}`) line the plan up.
        f.pad(match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Unchanged => "unchanged",
            Self::Delete => "delete",
        })
    }
}

/// A kind of plan line, named as in the JSON output (`iam-role`). Each resource module declares
/// the kinds it plans, so a new resource kind needs no edit here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Kind(&'static str);

impl Kind {
    pub(crate) const fn new(name: &'static str) -> Self {
        Self(name)
    }

    pub(crate) fn id(self, name: impl Into<String>) -> ResourceId {
        ResourceId {
            kind: self,
            name: name.into(),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.0)
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// Identifies a resource within a plan: its kind and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ResourceId {
    pub(crate) kind: Kind,
    pub(crate) name: String,
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// The four settings of an S3 public access block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PublicAccess {
    pub(crate) block_public_acls: bool,
    pub(crate) ignore_public_acls: bool,
    pub(crate) block_public_policy: bool,
    pub(crate) restrict_public_buckets: bool,
}

impl PublicAccess {
    /// All four on: nothing in the bucket can be made public.
    pub(crate) const PRIVATE: Self = Self {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
    /// What public-read site files need: object ACLs allowed and honoured, public policies still
    /// blocked.
    pub(crate) const PUBLIC_READ_ACLS: Self = Self {
        block_public_acls: false,
        ignore_public_acls: false,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    /// The settings that differ from `desired`, by their API names.
    pub(crate) fn differences(&self, desired: &Self) -> Vec<Drift> {
        [
            (
                "BlockPublicAcls",
                self.block_public_acls,
                desired.block_public_acls,
            ),
            (
                "IgnorePublicAcls",
                self.ignore_public_acls,
                desired.ignore_public_acls,
            ),
            (
                "BlockPublicPolicy",
                self.block_public_policy,
                desired.block_public_policy,
            ),
            (
                "RestrictPublicBuckets",
                self.restrict_public_buckets,
                desired.restrict_public_buckets,
            ),
        ]
        .into_iter()
        .filter(|(_, current, desired)| current != desired)
        .map(|(setting, current, desired)| Drift::PublicAccessSetting {
            setting,
            current,
            desired,
        })
        .collect()
    }
}

/// How AWS differs from the desired state: the typed reason behind an update, which `status`
/// reports without reading any text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Drift {
    /// The role's trust policy differs in meaning.
    TrustPolicy(Vec<String>),
    /// A policy document differs in meaning (one difference).
    PolicyStatement(String),
    /// A role's permissions are not the ones recorded when it was made with others than the
    /// defaults (`provision:permissions`).
    RecordedPermissions,
    /// An inline policy or attachment that the desired permissions do not include.
    Unrequested,
    /// The instance profile holds another role.
    OtherRole(String),
    /// The instance is associated with another instance profile (its ARN).
    OtherProfile(String),
    /// The bucket's object ownership setting (none when not configured).
    ObjectOwnership {
        current: Option<ObjectOwnership>,
        desired: ObjectOwnership,
    },
    /// One setting of the public access block.
    PublicAccessSetting {
        setting: &'static str,
        current: bool,
        desired: bool,
    },
    /// The bucket has no public access block at all.
    NoPublicAccessBlock,
    /// The object's content differs (the desired size).
    Content { bytes: usize },
    /// The object's Content-Type.
    ContentType {
        current: Option<String>,
        desired: String,
    },
    /// A parameter's value.
    Value { current: String, desired: String },
    /// A parameter's type.
    ParameterType { current: ParameterType },
    /// The object's ACL grants access to everyone (`AllUsers`) or to any AWS account
    /// (`AuthenticatedUsers`): the grants, as `GROUP:PERMISSION`.
    PublicGrants(Vec<String>),
    /// One setting of a kind, named by the kind's own module (a security group's inbound
    /// rules): how it is and how it should be, as that module words them.
    Setting {
        setting: &'static str,
        current: String,
        desired: String,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TrustPolicy(differences) => write!(f, "trust policy: {}", differences.join(", ")),
            Self::PolicyStatement(difference) => f.write_str(difference),
            Self::RecordedPermissions => f.write_str(
                "permissions differ from the ones instance-profile recorded (provision:permissions)",
            ),
            Self::Unrequested => f.write_str("not in the desired permissions"),
            Self::OtherRole(role) => write!(f, "replace role {role}"),
            Self::OtherProfile(arn) => write!(f, "replaces {arn}"),
            Self::ObjectOwnership { current, desired } => write!(
                f,
                "{} → {}",
                current.as_ref().map_or("none", |c| c.as_str()),
                desired.as_str()
            ),
            Self::PublicAccessSetting {
                setting,
                current,
                desired,
            } => write!(f, "{setting} {current} → {desired}"),
            Self::NoPublicAccessBlock => f.write_str("none → all four settings"),
            Self::Content { bytes } => write!(f, "content differs ({bytes} bytes)"),
            Self::ContentType { current, desired } => write!(
                f,
                "Content-Type {} → {desired}",
                current.as_deref().unwrap_or("none")
            ),
            Self::Value { current, desired } => write!(f, "{current} → {desired}"),
            Self::ParameterType { current } => write!(f, "type {} → String", current.as_str()),
            Self::PublicGrants(grants) => {
                write!(f, "ACL grants {} → private", grants.join(", "))
            }
            Self::Setting {
                setting,
                current,
                desired,
            } => write!(f, "{setting} {current} → {desired}"),
        }
    }
}

/// One detail of a plan line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Detail {
    /// A same-named resource that provision did not create is taken over (`--adopt`): tagged.
    Adopt,
    /// Another owner's resource (described) is taken over (`--take-over`): its owner re-tagged.
    TakeOver(String),
    /// The caller's resource made before provision recorded owners: `provision:owner` added.
    RecordOwner,
    /// The caller's own create, interrupted before it was tagged (the local journal says so):
    /// provision's tags added.
    ResumeCreate,
    /// A resource that matches by name but that provision did not create: teardown leaves it.
    LeftAlone,
    /// What differs.
    Drift(Drift),
    /// A fact worth showing: where the resource is, its size, what a removal takes with it.
    Note(String),
}

impl Detail {
    /// Whether the detail is about who owns the resource, not about its configuration.
    pub(crate) fn is_ownership(&self) -> bool {
        matches!(
            self,
            Self::Adopt | Self::TakeOver(_) | Self::RecordOwner | Self::ResumeCreate
        )
    }

    pub(crate) fn note(text: impl Into<String>) -> Self {
        Self::Note(text.into())
    }
}

impl From<Drift> for Detail {
    fn from(drift: Drift) -> Self {
        Self::Drift(drift)
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Adopt => f.write_str("adopt: tag managed-by=provision"),
            Self::TakeOver(from) => write!(f, "take over from {from}: tag provision:owner"),
            Self::RecordOwner => f.write_str("record its owner: tag provision:owner"),
            Self::ResumeCreate => f.write_str(
                "finish your interrupted create (the local journal records it): tag \
                 managed-by=provision",
            ),
            Self::LeftAlone => f.write_str("left alone (not created by provision)"),
            Self::Drift(drift) => drift.fmt(f),
            Self::Note(text) => f.write_str(text),
        }
    }
}

impl Serialize for Detail {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One line of the plan, with the requests that carry it out.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Change<Op> {
    #[serde(rename = "resource")]
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) arn: Option<String>,
    /// What differs, for updates; what a line leaves alone and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) details: Vec<Detail>,
    /// Resources that must be in place (or gone) before this change runs.
    #[serde(skip)]
    pub(crate) depends_on: Vec<ResourceId>,
    /// The requests that carry the change out, in order.
    #[serde(skip)]
    pub(crate) operations: Vec<Op>,
}

impl<Op> Change<Op> {
    pub(crate) fn new(kind: Kind, name: impl Into<String>, action: Action) -> Self {
        Self {
            kind,
            name: name.into(),
            action,
            arn: None,
            details: Vec::new(),
            depends_on: Vec::new(),
            operations: Vec::new(),
        }
    }

    pub(crate) fn unchanged(kind: Kind, name: impl Into<String>) -> Self {
        Self::new(kind, name, Action::Unchanged)
    }

    pub(crate) fn with_arn(mut self, arn: impl Into<String>) -> Self {
        self.arn = Some(arn.into());
        self
    }

    pub(crate) fn with_details(mut self, details: Vec<Detail>) -> Self {
        self.details = details;
        self
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<Detail>) -> Self {
        self.details.push(detail.into());
        self
    }

    pub(crate) fn after(mut self, dependency: ResourceId) -> Self {
        if !self.depends_on.contains(&dependency) {
            self.depends_on.push(dependency);
        }
        self
    }

    pub(crate) fn with_operations(mut self, operations: Vec<Op>) -> Self {
        self.operations = operations;
        self
    }

    pub(crate) fn id(&self) -> ResourceId {
        self.kind.id(self.name.clone())
    }

    /// The differences this line reports, without ownership notes.
    pub(crate) fn drift(&self) -> impl Iterator<Item = &Drift> {
        self.details.iter().filter_map(|d| match d {
            Detail::Drift(drift) => Some(drift),
            _ => None,
        })
    }

    /// The plan line: `+ create    iam-role dragons-lab-ec2-role (trust policy: …)`.
    pub(crate) fn line(&self) -> String {
        let mut line = format!(
            "{} {:<9} {} {}",
            self.action.symbol(),
            self.action,
            self.kind,
            self.name
        );
        if !self.details.is_empty() {
            let details: Vec<String> = self.details.iter().map(Detail::to_string).collect();
            line.push_str(&format!(" ({})", details.join("; ")));
        }
        line
    }
}

/// Makes every change of `kind` among `changes` wait for `dependency`: how a command's plan joins
/// the plans of two resources.
pub(crate) fn wait_for<Op>(
    changes: Vec<Change<Op>>,
    kind: Kind,
    dependency: &ResourceId,
) -> Vec<Change<Op>> {
    changes
        .into_iter()
        .map(|change| {
            if change.kind == kind {
                change.after(dependency.clone())
            } else {
                change
            }
        })
        .collect()
}

/// Counts of a plan's actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Summary {
    pub(crate) created: usize,
    pub(crate) updated: usize,
    pub(crate) unchanged: usize,
    pub(crate) deleted: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} unchanged",
            self.created, self.updated, self.unchanged
        )?;
        if self.deleted > 0 {
            write!(f, ", {} deleted", self.deleted)?;
        }
        Ok(())
    }
}

/// A checked plan: every dependency is a change of the plan, no two changes share an id, and the
/// dependencies have no cycle — so the executor can always finish it.
#[derive(Debug, Clone)]
pub(crate) struct Plan<Op> {
    changes: Vec<Change<Op>>,
    warnings: Vec<String>,
    /// What the user should do once the plan is applied (said after the summary).
    reminders: Vec<String>,
}

impl<Op> Plan<Op> {
    pub(crate) fn new(changes: Vec<Change<Op>>, warnings: Vec<String>) -> Result<Self, Error> {
        let internal = |what: String| Error::failed(format!("internal: the plan {what}"));
        let mut index: HashMap<ResourceId, usize> = HashMap::new();
        for (position, change) in changes.iter().enumerate() {
            if index.insert(change.id(), position).is_some() {
                return Err(internal(format!("has {} twice", change.id())));
            }
        }
        for change in &changes {
            if let Some(missing) = change.depends_on.iter().find(|d| !index.contains_key(d)) {
                return Err(internal(format!(
                    "makes {} wait for {missing}, which it does not hold",
                    change.id()
                )));
            }
        }
        // Kahn's algorithm: a change is ordered once everything it waits for is.
        let mut ordered: HashSet<usize> = HashSet::new();
        loop {
            let ready: Vec<usize> = (0..changes.len())
                .filter(|i| !ordered.contains(i))
                .filter(|&i| {
                    changes[i]
                        .depends_on
                        .iter()
                        .all(|d| index.get(d).is_some_and(|j| ordered.contains(j)))
                })
                .collect();
            if ready.is_empty() {
                break;
            }
            ordered.extend(ready);
        }
        if let Some(stuck) = (0..changes.len()).find(|i| !ordered.contains(i)) {
            return Err(internal(format!(
                "has a dependency cycle through {}",
                changes[stuck].id()
            )));
        }
        Ok(Self {
            changes,
            warnings,
            reminders: Vec::new(),
        })
    }

    /// The plan with steps for the user to take once it is applied.
    pub(crate) fn with_reminders(mut self, reminders: Vec<String>) -> Self {
        self.reminders = reminders;
        self
    }

    pub(crate) fn reminders(&self) -> &[String] {
        &self.reminders
    }

    pub(crate) fn changes(&self) -> &[Change<Op>] {
        &self.changes
    }

    pub(crate) fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub(crate) fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in &self.changes {
            match change.action {
                Action::Create => summary.created += 1,
                Action::Update => summary.updated += 1,
                Action::Unchanged => summary.unchanged += 1,
                Action::Delete => summary.deleted += 1,
            }
        }
        summary
    }

    /// True when executing the plan would send no mutating request.
    pub(crate) fn is_noop(&self) -> bool {
        self.changes.iter().all(|c| c.operations.is_empty())
    }

    #[cfg(test)]
    pub(crate) fn find(&self, kind: Kind, name: &str) -> Option<&Change<Op>> {
        self.changes
            .iter()
            .find(|c| c.kind == kind && c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: Kind = Kind::new("iam-role");
    const PROFILE: Kind = Kind::new("iam-instance-profile");

    fn change(kind: Kind, name: &str, action: Action) -> Change<()> {
        Change::new(kind, name, action)
    }

    #[test]
    fn lines_show_symbol_action_kind_and_details() {
        let change = change(ROLE, "lab", Action::Update)
            .with_detail(Drift::TrustPolicy(vec!["adds statement Ec2".into()]));
        assert_eq!(
            change.line(),
            "~ update    iam-role lab (trust policy: adds statement Ec2)"
        );
        let json = serde_json::to_value(&change).expect("serializes");
        assert_eq!(json["resource"], "iam-role");
        assert_eq!(json["action"], "update");
        assert_eq!(json["details"][0], "trust policy: adds statement Ec2");
        assert!(json.get("arn").is_none());
    }

    #[test]
    fn summary_counts_actions() {
        let plan = Plan::new(
            vec![
                change(ROLE, "a", Action::Create),
                Change::unchanged(PROFILE, "a"),
            ],
            vec![],
        )
        .expect("valid");
        assert_eq!(
            plan.summary().to_string(),
            "1 created, 0 updated, 1 unchanged"
        );
        assert!(plan.is_noop());
    }

    #[test]
    fn a_dependency_outside_the_plan_is_an_error() {
        let error = Plan::new(
            vec![change(PROFILE, "a", Action::Create).after(ROLE.id("a"))],
            vec![],
        )
        .expect_err("missing dependency");
        assert!(
            error
                .message()
                .contains("makes iam-instance-profile a wait for iam-role a"),
            "{error}"
        );
    }

    #[test]
    fn cycles_and_twins_are_errors() {
        let cycle = Plan::new(
            vec![
                change(ROLE, "a", Action::Create).after(PROFILE.id("a")),
                change(PROFILE, "a", Action::Create).after(ROLE.id("a")),
            ],
            vec![],
        );
        assert!(cycle.expect_err("cycle").message().contains("cycle"));
        let twins = Plan::new(
            vec![
                change(ROLE, "a", Action::Create),
                change(ROLE, "a", Action::Delete),
            ],
            vec![],
        );
        assert!(twins.expect_err("twins").message().contains("twice"));
    }

    #[test]
    fn settings_take_the_action_of_their_resource() {
        assert_eq!(Action::for_setting(true, true), Action::Unchanged);
        assert_eq!(Action::for_setting(false, true), Action::Create);
        assert_eq!(Action::for_setting(false, false), Action::Update);
    }

    #[test]
    fn wait_for_joins_only_the_named_kind() {
        let joined = wait_for(
            vec![
                change(PROFILE, "p", Action::Create),
                change(ROLE, "r", Action::Create),
            ],
            PROFILE,
            &ROLE.id("r"),
        );
        assert_eq!(joined[0].depends_on, vec![ROLE.id("r")]);
        assert!(joined[1].depends_on.is_empty());
    }
}
