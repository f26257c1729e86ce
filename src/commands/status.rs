//! `provision status`: one line per resource provision manages — discovered by ownership, plus the
//! names the other commands use — saying whether it is present, in sync with what the commands
//! would make it (and what differs), and owned (tagged `managed-by=provision`). It changes nothing.
//!
//! "In sync" is decided by the same planners the commands use, asked with `adopt` so that a
//! resource someone else owns is described rather than refused.

use serde::Serialize;

use crate::apply::Clients;
use crate::aws::Aws;
use crate::cli::{GlobalArgs, InstanceProfileArgs, NamesArgs};
use crate::commands::dragons_lab::DATA_CONTENT_TYPE;
use crate::commands::instance_profile;
use crate::error::Error;
use crate::inventory::{self, Inventory};
use crate::lab_data::DEFAULT_DRAGONS;
use crate::plan::{Action, Change, PublicAccess, ResourceKind};
use crate::printer::Printer;
use crate::resources::bucket::{self, DesiredBucket};
use crate::resources::object;
use crate::resources::parameter::{self, BUCKET_PARAMETER, KEY_PARAMETER};
use crate::resources::{iam_role, instance_profile as profile_resource, is_managed};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatusLine {
    pub resource: ResourceKind,
    pub name: String,
    pub present: bool,
    /// Whether it matches what the commands would make it; `null` when missing or not one the
    /// commands make by default.
    pub in_sync: Option<bool>,
    /// Whether it carries `managed-by=provision`; `null` when missing or untaggable.
    pub owned: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl StatusLine {
    fn missing(resource: ResourceKind, name: impl Into<String>) -> Self {
        Self {
            resource,
            name: name.into(),
            present: false,
            in_sync: None,
            owned: None,
            details: vec![],
        }
    }

    /// Present, but not one the commands make by default, so not compared with a desired state.
    fn present(
        resource: ResourceKind,
        name: impl Into<String>,
        owned: Option<bool>,
        details: Vec<String>,
    ) -> Self {
        Self {
            resource,
            name: name.into(),
            present: true,
            in_sync: None,
            owned,
            details,
        }
    }

    fn line(&self) -> String {
        let state = if !self.present {
            "missing".to_string()
        } else {
            let sync = match self.in_sync {
                Some(true) => "in sync",
                Some(false) => "drifted",
                None => "present",
            };
            let owned = match self.owned {
                Some(true) => ", owned",
                Some(false) => ", not created by provision",
                None => "",
            };
            format!("{sync}{owned}")
        };
        let mut line = format!(
            "{:<34} {:<46} {state}",
            self.resource.to_string(),
            self.name
        );
        if !self.details.is_empty() {
            line.push_str(&format!(" ({})", self.details.join("; ")));
        }
        line
    }
}

#[derive(Debug, Serialize)]
struct StatusReport<'a> {
    command: &'static str,
    account: &'a str,
    region: &'a str,
    resources: &'a [StatusLine],
}

/// Folds a resource's planned changes into one status line: in sync when nothing would change
/// (adopting, i.e. tagging, is ownership, reported separately).
fn from_changes(resource: ResourceKind, name: &str, changes: &[Change], owned: bool) -> StatusLine {
    let details: Vec<String> = changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .flat_map(|c| {
            let differences: Vec<String> = c
                .details
                .iter()
                .filter(|d| !d.starts_with("adopt:"))
                .cloned()
                .collect();
            if differences.is_empty() && c.resource != resource {
                vec![format!("{} {} would be {}d", c.resource, c.name, c.action)]
            } else {
                differences
            }
        })
        .collect();
    StatusLine {
        resource,
        name: name.to_string(),
        present: true,
        in_sync: Some(details.is_empty()),
        owned: Some(owned),
        details,
    }
}

pub async fn run(global: &GlobalArgs, names: &NamesArgs, printer: &Printer) -> Result<(), Error> {
    let defaults = InstanceProfileArgs {
        role_name: names.role_name.clone(),
        instance_profile_name: names.instance_profile_name.clone(),
        trust_policy: None,
        policy: None,
        policy_arns: vec![],
        instance_tag: vec![],
        instance_id: None,
        all_matching: false,
        bucket: names.bucket.clone(),
        adopt: true,
        propagation_timeout: std::time::Duration::ZERO,
    };
    let inputs = instance_profile::check_inputs(&defaults)?;
    if let Some(bucket) = &names.bucket {
        crate::lab_data::check_bucket_name(bucket)?;
    }
    let aws = Aws::connect(global).await?;
    aws.require_iam_capable()?;
    match run_with(&aws, names, &inputs, printer).await {
        Ok(()) => Ok(()),
        Err(error) => Err(aws.explain(error).await),
    }
}

async fn run_with(
    aws: &Aws,
    names: &NamesArgs,
    inputs: &instance_profile::Inputs,
    printer: &Printer,
) -> Result<(), Error> {
    let clients = Clients::new(aws);
    let identity = aws.identity().await?;
    let (account, region, partition) = (&identity.account, &aws.region, &identity.partition);
    let lab_bucket = inventory::default_bucket(names, account, region);
    let step = printer.step("observing what provision manages");
    let (inventory, observed_bucket, parameters) = tokio::join!(
        inventory::discover(&clients, names, None, account, region),
        bucket::observe(&clients.s3, &lab_bucket),
        parameter::observe(&clients.ssm, &[BUCKET_PARAMETER, KEY_PARAMETER]),
    );
    let (inventory, observed_bucket, parameters) = (inventory?, observed_bucket?, parameters?);
    let key = parameters
        .get(KEY_PARAMETER)
        .map_or("dragons.json".to_string(), |p| p.value.clone());
    let observed_object = object::observe(&clients.s3, &lab_bucket, &key).await?;
    step.finish("observed what provision manages");

    let (desired_role, desired_profile) =
        instance_profile::desired_state(inputs, identity, region)?;
    let mut lines = Vec::new();
    iam_lines(&inventory, &desired_role, &desired_profile, &mut lines)?;

    // The lab bucket, compared with what dragons-lab makes it (private, or with --site's ACLs).
    match &observed_bucket.presence {
        bucket::Presence::Missing => {
            lines.push(StatusLine::missing(ResourceKind::S3Bucket, &lab_bucket))
        }
        bucket::Presence::OtherAccount => lines.push(StatusLine {
            details: vec!["the name belongs to another account".into()],
            owned: Some(false),
            ..StatusLine::missing(ResourceKind::S3Bucket, &lab_bucket)
        }),
        bucket::Presence::Owned { .. } => {
            let public_access =
                if observed_bucket.public_access == Some(PublicAccess::PUBLIC_READ_ACLS) {
                    PublicAccess::PUBLIC_READ_ACLS
                } else {
                    PublicAccess::PRIVATE
                };
            let desired = DesiredBucket {
                name: lab_bucket.clone(),
                region: region.clone(),
                partition: partition.clone(),
                public_access,
            };
            let changes = bucket::plan(&desired, &observed_bucket, true)?;
            lines.push(from_changes(
                ResourceKind::S3Bucket,
                &lab_bucket,
                &changes,
                is_managed(&observed_bucket.tags),
            ));
        }
    }
    for entry in inventory.buckets.iter().filter(|b| b.name != lab_bucket) {
        lines.push(StatusLine::present(
            ResourceKind::S3Bucket,
            entry.name.clone(),
            Some(is_managed(&entry.tags)),
            vec![format!("in {}", entry.region)],
        ));
    }
    let object_name = format!("{lab_bucket}/{key}");
    lines.push(match &observed_object {
        None => StatusLine::missing(ResourceKind::S3Object, object_name),
        Some(current) => {
            let desired = object::DesiredObject {
                bucket: lab_bucket.clone(),
                key: key.clone(),
                body: crate::plan::Body(std::sync::Arc::new(Vec::new())),
                md5_hex: object::md5_hex(DEFAULT_DRAGONS),
                content_type: DATA_CONTENT_TYPE.to_string(),
                partition: partition.clone(),
            };
            let change = object::plan(&desired, Some(current));
            let mut line = from_changes(ResourceKind::S3Object, &object_name, &[change], true);
            line.owned = None;
            if line.in_sync == Some(false) {
                line.details =
                    vec!["differs from the embedded dragons data (uploaded with --data?)".into()];
            }
            line
        }
    });
    for (name, value) in [
        (BUCKET_PARAMETER, lab_bucket.as_str()),
        (KEY_PARAMETER, key.as_str()),
    ] {
        let arn = format!("arn:{partition}:ssm:{region}:{account}:parameter/{name}");
        lines.push(match parameters.get(name) {
            None => StatusLine::missing(ResourceKind::SsmParameter, name),
            Some(current) => {
                let change = parameter::plan(name, value, Some(current), true, arn)?;
                from_changes(
                    ResourceKind::SsmParameter,
                    name,
                    &[change],
                    is_managed(&current.tags),
                )
            }
        });
    }
    for (name, tags) in &inventory.parameters {
        if name != BUCKET_PARAMETER && name != KEY_PARAMETER {
            lines.push(StatusLine::present(
                ResourceKind::SsmParameter,
                name.clone(),
                Some(is_managed(tags)),
                vec![],
            ));
        }
    }

    if printer.is_json() {
        return printer.json(&StatusReport {
            command: "status",
            account,
            region,
            resources: &lines,
        });
    }
    printer.data(format!("Status of account {account} in {region}:"));
    for line in &lines {
        printer.data(format!("  {}", line.line()));
    }
    Ok(())
}

fn iam_lines(
    inventory: &Inventory,
    desired_role: &iam_role::DesiredRole,
    desired_profile: &profile_resource::DesiredProfile,
    lines: &mut Vec<StatusLine>,
) -> Result<(), Error> {
    match inventory
        .roles
        .iter()
        .find(|(n, _)| *n == desired_role.name)
    {
        None => lines.push(StatusLine::missing(
            ResourceKind::IamRole,
            &desired_role.name,
        )),
        Some((name, role)) => {
            let changes = iam_role::plan(desired_role, Some(role), true)?;
            lines.push(from_changes(
                ResourceKind::IamRole,
                name,
                &changes,
                is_managed(&role.tags),
            ));
        }
    }
    for (name, role) in inventory
        .roles
        .iter()
        .filter(|(n, _)| *n != desired_role.name)
    {
        lines.push(StatusLine::present(
            ResourceKind::IamRole,
            name.clone(),
            Some(is_managed(&role.tags)),
            vec![],
        ));
    }
    match inventory
        .profiles
        .iter()
        .find(|(n, _)| *n == desired_profile.name)
    {
        None => lines.push(StatusLine::missing(
            ResourceKind::IamInstanceProfile,
            &desired_profile.name,
        )),
        Some((name, profile)) => {
            let changes = profile_resource::plan(desired_profile, Some(profile), true)?;
            lines.push(from_changes(
                ResourceKind::IamInstanceProfile,
                name,
                &changes,
                is_managed(&profile.tags),
            ));
        }
    }
    for (name, profile) in inventory
        .profiles
        .iter()
        .filter(|(n, _)| *n != desired_profile.name)
    {
        lines.push(StatusLine::present(
            ResourceKind::IamInstanceProfile,
            name.clone(),
            Some(is_managed(&profile.tags)),
            vec![format!("holds {}", profile.roles.join(", "))],
        ));
    }
    for (name, profile) in &inventory.profiles {
        for (instance, association) in inventory
            .associations
            .iter()
            .filter(|(_, a)| a.profile_arn == profile.arn)
        {
            lines.push(StatusLine::present(
                ResourceKind::Ec2InstanceProfileAssociation,
                instance.clone(),
                None,
                vec![format!("holds {name} ({})", association.id)],
            ));
        }
    }
    Ok(())
}
