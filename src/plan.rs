//! The plan: what will be done, resource by resource, fully resolved before anything is executed.
//!
//! A `Change` is one line of the plan — one resource, one action, what differs — together with the
//! exact requests (`Operation`s) that carry it out and the resources it must wait for. Planning is
//! pure: the `plan` functions of each resource module take desired and observed state and return
//! changes, so `--dry-run` is "observe, plan, print" and the executor has no choices left to make.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    Delete,
}

impl Action {
    fn symbol(self) -> char {
        match self {
            Self::Create => '+',
            Self::Update => '~',
            Self::Unchanged => '=',
            Self::Delete => '-',
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

/// The kinds of resource `provision` manages, named as in the JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    IamRole,
    IamRolePolicy,
    IamRolePolicyAttachment,
    IamInstanceProfile,
    IamInstanceProfileRole,
    Ec2InstanceProfileAssociation,
    S3Bucket,
    S3BucketTags,
    S3BucketOwnershipControls,
    S3PublicAccessBlock,
    S3Object,
    S3SiteFiles,
    SsmParameter,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::IamRole => "iam-role",
            Self::IamRolePolicy => "iam-role-policy",
            Self::IamRolePolicyAttachment => "iam-role-policy-attachment",
            Self::IamInstanceProfile => "iam-instance-profile",
            Self::IamInstanceProfileRole => "iam-instance-profile-role",
            Self::Ec2InstanceProfileAssociation => "ec2-instance-profile-association",
            Self::S3Bucket => "s3-bucket",
            Self::S3BucketTags => "s3-bucket-tags",
            Self::S3BucketOwnershipControls => "s3-bucket-ownership-controls",
            Self::S3PublicAccessBlock => "s3-public-access-block",
            Self::S3Object => "s3-object",
            Self::S3SiteFiles => "s3-site-files",
            Self::SsmParameter => "ssm-parameter",
        })
    }
}

/// Identifies a resource within a plan: its kind and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId {
    pub kind: ResourceKind,
    pub name: String,
}

impl ResourceId {
    pub fn new(kind: ResourceKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }
}

/// A tag, as IAM, EC2, S3 and SSM all spell them.
pub type Tag = (String, String);

/// The tag every resource `provision` creates carries; teardown deletes only what has it.
pub const MANAGED_BY_KEY: &str = "managed-by";
pub const MANAGED_BY_VALUE: &str = "provision";

pub fn managed_by_tag() -> Tag {
    (MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string())
}

/// The four settings of an S3 public access block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicAccess {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccess {
    /// All four on: nothing in the bucket can be made public.
    pub const PRIVATE: Self = Self {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
    /// What public-read site files need: object ACLs allowed and honoured, public policies still
    /// blocked.
    pub const PUBLIC_READ_ACLS: Self = Self {
        block_public_acls: false,
        ignore_public_acls: false,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    /// Settings that differ from `other`, by their API names.
    pub fn differences(&self, other: &Self) -> Vec<String> {
        let pairs = [
            (
                "BlockPublicAcls",
                self.block_public_acls,
                other.block_public_acls,
            ),
            (
                "IgnorePublicAcls",
                self.ignore_public_acls,
                other.ignore_public_acls,
            ),
            (
                "BlockPublicPolicy",
                self.block_public_policy,
                other.block_public_policy,
            ),
            (
                "RestrictPublicBuckets",
                self.restrict_public_buckets,
                other.restrict_public_buckets,
            ),
        ];
        pairs
            .iter()
            .filter(|(_, a, b)| a != b)
            .map(|(name, a, b)| format!("{name} {a} → {b}"))
            .collect()
    }
}

/// Bytes to upload; shared, and shown by size rather than content.
#[derive(Clone, PartialEq, Eq)]
pub struct Body(pub std::sync::Arc<Vec<u8>>);

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Body({} bytes)", self.0.len())
    }
}

/// One file of `--site DIR`, to be uploaded public-read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFile {
    pub path: std::path::PathBuf,
    pub key: String,
    pub content_type: String,
    pub size: u64,
}

/// One request to AWS, with every argument resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    CreateRole {
        name: String,
        path: String,
        trust_policy: String,
        tags: Vec<Tag>,
    },
    UpdateAssumeRolePolicy {
        role: String,
        document: String,
    },
    TagRole {
        role: String,
        tags: Vec<Tag>,
    },
    PutRolePolicy {
        role: String,
        policy_name: String,
        document: String,
    },
    DeleteRolePolicy {
        role: String,
        policy_name: String,
    },
    AttachRolePolicy {
        role: String,
        policy_arn: String,
    },
    DetachRolePolicy {
        role: String,
        policy_arn: String,
    },
    CreateInstanceProfile {
        name: String,
        path: String,
        tags: Vec<Tag>,
    },
    TagInstanceProfile {
        name: String,
        tags: Vec<Tag>,
    },
    AddRoleToInstanceProfile {
        profile: String,
        role: String,
    },
    RemoveRoleFromInstanceProfile {
        profile: String,
        role: String,
    },
    AssociateInstanceProfile {
        instance_id: String,
        profile_name: String,
    },
    ReplaceInstanceProfileAssociation {
        instance_id: String,
        association_id: String,
        profile_name: String,
    },
    CreateBucket {
        bucket: String,
        region: String,
    },
    /// Replaces the bucket's whole tag set (S3 has no "add tags"): `tags` is the merged set.
    PutBucketTagging {
        bucket: String,
        tags: Vec<Tag>,
    },
    PutOwnershipControls {
        bucket: String,
        ownership: String,
    },
    PutPublicAccessBlock {
        bucket: String,
        settings: PublicAccess,
    },
    PutObject {
        bucket: String,
        key: String,
        body: Body,
        content_type: String,
        md5_hex: String,
    },
    UploadSiteFiles {
        bucket: String,
        files: Vec<SiteFile>,
    },
    PutParameter {
        name: String,
        value: String,
        overwrite: bool,
        tags: Vec<Tag>,
    },
    TagParameter {
        name: String,
        tags: Vec<Tag>,
    },
    DeleteRole {
        name: String,
    },
    DeleteInstanceProfile {
        name: String,
    },
    DisassociateInstanceProfile {
        instance_id: String,
        association_id: String,
    },
    /// Deletes every object version and delete marker, in batches of up to 1000, concurrently.
    EmptyBucket {
        bucket: String,
        region: String,
    },
    DeleteBucket {
        bucket: String,
        region: String,
    },
    DeleteParameter {
        name: String,
    },
}

/// One line of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub resource: ResourceKind,
    pub name: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// What differs, for updates; what is left alone and why, for refusals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// An identifier AWS assigned while applying (an association id), known only afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Resources that must be in place before this change runs.
    #[serde(skip)]
    pub depends_on: Vec<ResourceId>,
    /// The requests that carry the change out, in order.
    #[serde(skip)]
    pub operations: Vec<Operation>,
}

impl Change {
    pub fn new(resource: ResourceKind, name: impl Into<String>, action: Action) -> Self {
        Self {
            resource,
            name: name.into(),
            action,
            arn: None,
            details: Vec::new(),
            resource_id: None,
            depends_on: Vec::new(),
            operations: Vec::new(),
        }
    }

    pub fn unchanged(resource: ResourceKind, name: impl Into<String>) -> Self {
        Self::new(resource, name, Action::Unchanged)
    }

    pub fn with_arn(mut self, arn: impl Into<String>) -> Self {
        self.arn = Some(arn.into());
        self
    }

    pub fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }

    pub fn after(mut self, dependency: ResourceId) -> Self {
        self.depends_on.push(dependency);
        self
    }

    pub fn with_operations(mut self, operations: Vec<Operation>) -> Self {
        self.operations = operations;
        self
    }

    pub fn id(&self) -> ResourceId {
        ResourceId::new(self.resource, self.name.clone())
    }

    /// The plan line: `+ create iam-role dragons-lab-ec2-role (trust policy: …)`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{} {:<9} {} {}",
            self.action.symbol(),
            self.action,
            self.resource,
            self.name
        );
        if !self.details.is_empty() {
            line.push_str(&format!(" ({})", self.details.join("; ")));
        }
        line
    }
}

/// The detail of a resource that matches by name but is not provision's to delete.
pub const LEFT_ALONE: &str = "left alone (not created by provision)";

/// Counts of a plan's actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deleted: usize,
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

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn summary(&self) -> Summary {
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
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(|c| c.operations.is_empty())
    }

    pub fn find(&self, kind: ResourceKind, name: &str) -> Option<&Change> {
        self.changes
            .iter()
            .find(|c| c.resource == kind && c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_symbol_action_resource_and_details() {
        let change = Change::new(ResourceKind::IamRole, "lab", Action::Update)
            .with_details(vec!["trust policy differs".into()]);
        assert_eq!(
            change.line(),
            "~ update    iam-role lab (trust policy differs)"
        );
        let json = serde_json::to_value(&change).expect("serializes");
        assert_eq!(json["resource"], "iam-role");
        assert_eq!(json["action"], "update");
    }

    #[test]
    fn summary_counts_actions() {
        let plan = Plan {
            changes: vec![
                Change::new(ResourceKind::IamRole, "a", Action::Create),
                Change::unchanged(ResourceKind::IamInstanceProfile, "a"),
            ],
            warnings: vec![],
        };
        assert_eq!(
            plan.summary().to_string(),
            "1 created, 0 updated, 1 unchanged"
        );
        assert!(plan.is_noop());
    }
}
