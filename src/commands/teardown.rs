//! `provision teardown`: everything provision created, in reverse dependency order, and nothing
//! else. It is the resource planners with an empty desired state: every change is a delete, and a
//! resource without the `managed-by=provision` tag is reported as left alone.

use std::collections::HashSet;
use std::io::IsTerminal;

use crate::apply::{self, ApplyOptions, Clients};
use crate::aws::Aws;
use crate::cli::{GlobalArgs, Part, TeardownArgs};
use crate::commands::{print_outcome, print_plan};
use crate::error::Error;
use crate::inventory::{self, Inventory};
use crate::plan::{Operation, Plan, ResourceId, ResourceKind};
use crate::printer::Printer;
use crate::resources::{association, bucket, iam_role, instance_profile, parameter};

/// Plans the removal of everything in the inventory. Pure.
pub fn plan(
    inventory: &Inventory,
    keep_data: bool,
    partition: &str,
    account: &str,
    region: &str,
) -> Plan {
    let mut plan = Plan::default();
    for (name, profile) in &inventory.profiles {
        let associations = if crate::resources::is_managed(&profile.tags) {
            association::plan_absent(&profile.arn, &inventory.associations)
        } else {
            Vec::new()
        };
        let ids: Vec<ResourceId> = associations.iter().map(|c| c.id()).collect();
        plan.changes.extend(associations);
        plan.changes
            .extend(instance_profile::plan_absent(name, profile, &ids));
    }
    // A role leaves a profile that provision removes as part of that profile's plan; only from
    // other profiles does the role remove itself.
    let emptied: HashSet<String> = plan
        .changes
        .iter()
        .filter(|c| c.resource == ResourceKind::IamInstanceProfileRole)
        .map(|c| c.name.clone())
        .collect();
    for (name, role) in &inventory.roles {
        for mut change in iam_role::plan_absent(name, role) {
            change.operations.retain(|op| {
                !matches!(op, Operation::RemoveRoleFromInstanceProfile { profile, .. } if emptied.contains(profile))
            });
            plan.changes.push(change);
        }
    }
    for entry in &inventory.buckets {
        plan.changes.push(bucket::plan_absent(
            &entry.name,
            &entry.region,
            partition,
            &entry.tags,
            keep_data,
        ));
    }
    for (name, tags) in &inventory.parameters {
        let arn = format!("arn:{partition}:ssm:{region}:{account}:parameter/{name}");
        plan.changes.push(parameter::plan_absent(name, tags, arn));
    }
    plan
}

pub async fn run(global: &GlobalArgs, args: &TeardownArgs, printer: &Printer) -> Result<(), Error> {
    let aws = Aws::connect(global).await?;
    if inventory::includes(args.only, Part::InstanceProfile) {
        aws.require_iam_capable()?;
    }
    match run_with(&aws, global, args, printer).await {
        Ok(()) => Ok(()),
        Err(error) => Err(aws.explain(error).await),
    }
}

async fn run_with(
    aws: &Aws,
    global: &GlobalArgs,
    args: &TeardownArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let clients = Clients::new(aws);
    let identity = aws.identity().await?;
    let (account, region) = (&identity.account, &aws.region);
    let step = printer.step("discovering what provision created");
    let inventory = inventory::discover(&clients, &args.names, args.only, account, region).await?;
    step.finish("discovered what provision created");
    let plan = plan(
        &inventory,
        args.keep_data,
        &identity.partition,
        account,
        region,
    );

    print_plan(printer, &plan, account, region);
    if !global.dry_run && !plan.is_noop() {
        confirm(global, printer, account, &plan)?;
        apply::apply(&plan, &clients, ApplyOptions::default(), printer).await?;
    }
    print_outcome(
        printer,
        "teardown",
        &plan,
        global.dry_run,
        account,
        region,
        None,
    )
}

/// Asks for the account id before deleting; `--yes` skips it; with no terminal to ask on, refuses.
fn confirm(
    global: &GlobalArgs,
    printer: &Printer,
    account: &str,
    plan: &Plan,
) -> Result<(), Error> {
    if global.yes {
        return Ok(());
    }
    let deletions = plan.summary().deleted;
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(format!(
            "refusing to delete {deletions} resources of account {account} without confirmation, and there is no terminal to ask on"
        ))
        .with_hint("check the plan with --dry-run, then pass --yes to confirm"));
    }
    let answer = printer.prompt(&format!(
        "Delete these {deletions} resources of account {account}? Type the account id to confirm: "
    ));
    if answer.as_deref().map(str::trim) == Some(account) {
        Ok(())
    } else {
        Err(Error::failed(
            "teardown cancelled: the account id was not confirmed; nothing was deleted",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;
    use crate::resources::association::ObservedAssociation;
    use crate::resources::iam_role::ObservedRole;
    use crate::resources::instance_profile::ObservedProfile;
    use std::collections::BTreeMap;

    fn managed() -> BTreeMap<String, String> {
        [("managed-by".to_string(), "provision".to_string())].into()
    }

    fn inventory() -> Inventory {
        let profile_arn = "arn:aws:iam::1:instance-profile/provision/lab".to_string();
        Inventory {
            roles: vec![(
                "lab".into(),
                ObservedRole {
                    arn: "arn:aws:iam::1:role/provision/lab".into(),
                    tags: managed(),
                    inline_policy_names: vec!["provision-policy".into()],
                    instance_profiles: vec!["lab".into(), "someone-elses".into()],
                    ..Default::default()
                },
            )],
            profiles: vec![(
                "lab".into(),
                ObservedProfile {
                    arn: profile_arn.clone(),
                    roles: vec!["lab".into()],
                    tags: managed(),
                },
            )],
            associations: [(
                "i-1".to_string(),
                ObservedAssociation {
                    id: "iip-assoc-1".into(),
                    profile_arn,
                    state: "associated".into(),
                },
            )]
            .into(),
            buckets: vec![],
            parameters: [("dragon_data_file_name".to_string(), BTreeMap::new())].into(),
        }
    }

    #[test]
    fn teardown_runs_in_reverse_dependency_order_and_spares_what_is_not_ours() {
        let plan = plan(&inventory(), false, "aws", "1", "us-east-1");
        let id = |kind, name: &str| ResourceId::new(kind, name);
        let find = |kind, name: &str| {
            plan.find(kind, name)
                .unwrap_or_else(|| panic!("{kind} {name}"))
        };
        let membership = find(ResourceKind::IamInstanceProfileRole, "lab");
        assert!(
            membership
                .depends_on
                .contains(&id(ResourceKind::Ec2InstanceProfileAssociation, "i-1"))
        );
        let profile = find(ResourceKind::IamInstanceProfile, "lab");
        assert!(profile.depends_on.contains(&membership.id()));
        let role = find(ResourceKind::IamRole, "lab");
        assert!(
            role.depends_on
                .contains(&id(ResourceKind::IamRolePolicy, "lab/provision-policy"))
        );
        assert!(role.depends_on.contains(&membership.id()));
        // The role leaves only the profile that is not provision's itself; ours is emptied by its plan.
        assert_eq!(
            role.operations,
            vec![
                Operation::RemoveRoleFromInstanceProfile {
                    profile: "someone-elses".into(),
                    role: "lab".into()
                },
                Operation::DeleteRole { name: "lab".into() },
            ]
        );
        let parameter = find(ResourceKind::SsmParameter, "dragon_data_file_name");
        assert_eq!(parameter.action, Action::Unchanged, "untagged: left alone");
        assert!(parameter.operations.is_empty());
    }

    #[test]
    fn keep_data_keeps_the_bucket() {
        let mut inventory = inventory();
        inventory
            .buckets
            .push(crate::inventory::ObservedBucketEntry {
                name: "dragons-lab-1-us-east-1".into(),
                region: "us-east-1".into(),
                tags: managed(),
            });
        let kept = plan(&inventory, true, "aws", "1", "us-east-1");
        let bucket = kept
            .find(ResourceKind::S3Bucket, "dragons-lab-1-us-east-1")
            .expect("bucket");
        assert!(bucket.operations.is_empty());
        let deleted = plan(&inventory, false, "aws", "1", "us-east-1");
        let bucket = deleted
            .find(ResourceKind::S3Bucket, "dragons-lab-1-us-east-1")
            .expect("bucket");
        assert!(matches!(
            bucket.operations[0],
            Operation::EmptyBucket { .. }
        ));
    }
}
