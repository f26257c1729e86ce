//! `provision instance-profile`: the EC2 trust policy, an IAM role with its permissions, an instance
//! profile holding it, and its association with the course IDE's instance.

use crate::apply::{self, ApplyOptions, Clients};
use crate::aws::{Aws, Identity};
use crate::cli::{GlobalArgs, InstanceProfileArgs};
use crate::commands::{print_outcome, print_plan};
use crate::error::Error;
use crate::plan::Plan;
use crate::printer::Printer;
use crate::resources::association::{self, InstanceSelector, PropagationPolicy, TagFilter};
use crate::resources::iam_role::{self, DesiredRole};
use crate::resources::instance_profile::{self, DesiredProfile};
use crate::template::{self, Template, Values};

/// Every resource provision creates in IAM lives under this path, so teardown can find them.
pub const IAM_PATH: &str = "/provision/";
/// The name of the inline policy provision manages on the role.
pub const INLINE_POLICY_NAME: &str = "provision-policy";
/// The bucket the lab uses unless `--bucket` says otherwise (shared with dragons-lab).
pub const DEFAULT_BUCKET_TEMPLATE: &str = "dragons-lab-{{account_id}}-{{region}}";

/// The default lab bucket of an account in a region.
pub fn default_bucket_name(account: &str, region: &str) -> String {
    DEFAULT_BUCKET_TEMPLATE
        .replace("{{account_id}}", account)
        .replace("{{region}}", region)
}
const ADMINISTRATOR_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

/// The command's input, checked locally before any AWS call.
pub(crate) struct Inputs {
    role_name: String,
    profile_name: String,
    trust_policy: Template,
    inline_policy: Template,
    policy_arns: Vec<String>,
    selector: Option<InstanceSelector>,
    bucket: Option<String>,
}

pub(crate) fn check_inputs(args: &InstanceProfileArgs) -> Result<Inputs, Error> {
    check_iam_name("role", "--role-name", &args.role_name, 64)?;
    let profile_name = args
        .instance_profile_name
        .clone()
        .unwrap_or_else(|| args.role_name.clone());
    check_iam_name(
        "instance profile",
        "--instance-profile-name",
        &profile_name,
        128,
    )?;

    let selector = match (&args.instance_id, args.instance_tag.is_empty()) {
        (Some(_), false) => {
            return Err(
                Error::usage("--instance-id and --instance-tag cannot be used together")
                    .with_hint("name the instance one way: by id, or by tags"),
            );
        }
        (Some(id), true) => {
            association::check_instance_id(id)?;
            Some(InstanceSelector::Id(id.clone()))
        }
        (None, false) => Some(InstanceSelector::Tags(
            args.instance_tag
                .iter()
                .map(|t| TagFilter::parse(t))
                .collect::<Result<_, _>>()?,
        )),
        (None, true) => None,
    };
    if args.all_matching && !matches!(selector, Some(InstanceSelector::Tags(_))) {
        return Err(Error::usage("--all-matching needs --instance-tag")
            .with_hint("add --instance-tag KEY=VALUE to choose the instances"));
    }

    for arn in &args.policy_arns {
        check_policy_arn(arn)?;
    }
    let trust_policy = match &args.trust_policy {
        Some(path) => Template::read(path)?,
        None => Template::embedded("ec2-trust-policy.json", template::DEFAULT_TRUST_POLICY),
    };
    let inline_policy = match &args.policy {
        Some(path) => Template::read(path)?,
        None => Template::embedded("dragons-lab-policy.json", template::DEFAULT_INLINE_POLICY),
    };
    trust_policy.check()?;
    inline_policy.check()?;
    if args.bucket.as_deref() == Some("") {
        return Err(Error::usage("--bucket is empty").with_hint("omit it for the default name"));
    }
    Ok(Inputs {
        role_name: args.role_name.clone(),
        profile_name,
        trust_policy,
        inline_policy,
        policy_arns: args.policy_arns.clone(),
        selector,
        bucket: args.bucket.clone(),
    })
}

/// IAM names: 1 to `max` characters of letters, digits and `+=,.@_-`.
pub fn check_iam_name(what: &str, flag: &str, name: &str, max: usize) -> Result<(), Error> {
    let length = name.chars().count();
    if length == 0 || length > max {
        return Err(Error::usage(format!(
            "{what} name `{name}` is {length} characters long; IAM allows 1 to {max}"
        ))
        .with_hint(format!("choose a shorter name with {flag}")));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
    {
        return Err(Error::usage(format!(
            "{what} name `{name}` contains `{bad}`; IAM allows letters, digits and + = , . @ _ -"
        ))
        .with_hint(format!("choose another name with {flag}")));
    }
    Ok(())
}

fn check_policy_arn(arn: &str) -> Result<(), Error> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[5].starts_with("policy/")
        && parts[5].len() > "policy/".len();
    if valid {
        Ok(())
    } else {
        Err(
            Error::usage(format!("--policy-arn `{arn}` is not an IAM policy ARN"))
                .with_hint("managed policy ARNs look like arn:aws:iam::aws:policy/ReadOnlyAccess"),
        )
    }
}

/// Resolves every name, ARN and template of the desired role and profile.
pub(crate) fn desired_state(
    inputs: &Inputs,
    identity: &Identity,
    region: &str,
) -> Result<(DesiredRole, DesiredProfile), Error> {
    let account = identity.account.as_str();
    let partition = identity.partition.as_str();
    let bucket = inputs
        .bucket
        .clone()
        .unwrap_or_else(|| default_bucket_name(account, region));
    let values = Values {
        account_id: account,
        region,
        partition,
        bucket: &bucket,
        role_name: &inputs.role_name,
    };
    let role = DesiredRole {
        name: inputs.role_name.clone(),
        path: IAM_PATH.to_string(),
        arn: format!(
            "arn:{partition}:iam::{account}:role{IAM_PATH}{}",
            inputs.role_name
        ),
        trust_policy: inputs.trust_policy.render(&values)?,
        inline_policy_name: INLINE_POLICY_NAME.to_string(),
        inline_policy: inputs.inline_policy.render(&values)?,
        managed_policy_arns: inputs.policy_arns.clone(),
    };
    let profile = DesiredProfile {
        name: inputs.profile_name.clone(),
        path: IAM_PATH.to_string(),
        arn: format!(
            "arn:{partition}:iam::{account}:instance-profile{IAM_PATH}{}",
            inputs.profile_name
        ),
        role_name: inputs.role_name.clone(),
    };
    Ok((role, profile))
}

pub async fn run(
    global: &GlobalArgs,
    args: &InstanceProfileArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let inputs = check_inputs(args)?;
    let aws = Aws::connect(global).await?;
    aws.require_iam_capable()?;
    let result = run_with(&aws, global, args, &inputs, printer).await;
    match result {
        Ok(()) => Ok(()),
        Err(error) => Err(aws.explain(error).await),
    }
}

async fn run_with(
    aws: &Aws,
    global: &GlobalArgs,
    args: &InstanceProfileArgs,
    inputs: &Inputs,
    printer: &Printer,
) -> Result<(), Error> {
    let clients = Clients::new(aws);
    let (iam, ec2) = (&clients.iam, &clients.ec2);

    // Observe everything at once: identity, role, profile, instances.
    let observing = printer.step("observing IAM and EC2");
    let instances = async {
        match &inputs.selector {
            Some(selector) => association::observe(ec2, selector).await.map(Some),
            None => Ok(None),
        }
    };
    let (identity, role, profile, instances) = tokio::join!(
        aws.identity(),
        iam_role::observe(iam, &inputs.role_name, INLINE_POLICY_NAME, false),
        instance_profile::observe(iam, &inputs.profile_name),
        instances,
    );
    let identity = identity?;
    let (role, profile, instances) = (role?, profile?, instances?);
    observing.finish("observed IAM and EC2");

    let account = identity.account.as_str();
    let (desired_role, desired_profile) = desired_state(inputs, identity, &aws.region)?;

    let mut plan = Plan::default();
    plan.changes
        .extend(iam_role::plan(&desired_role, role.as_ref(), args.adopt)?);
    let profile_changes = instance_profile::plan(&desired_profile, profile.as_ref(), args.adopt)?;
    let profile_arn = profile_changes[0]
        .arn
        .clone()
        .unwrap_or_else(|| desired_profile.arn.clone());
    plan.changes.extend(profile_changes);
    if let (Some(selector), Some(observation)) = (&inputs.selector, &instances) {
        let chosen = association::select(selector, observation, args.all_matching)?;
        plan.changes.extend(association::plan(
            &inputs.profile_name,
            &profile_arn,
            &chosen,
        ));
    }
    if inputs.policy_arns.iter().any(|a| a == ADMINISTRATOR_ACCESS) {
        plan.warnings.push(format!(
            "attaching AdministratorAccess gives every process on the instance full control of \
             account {account}; the default inline policy grants only what the Dragons lab needs"
        ));
    }

    print_plan(printer, &plan, account, &aws.region);
    if !global.dry_run && !plan.is_noop() {
        let options = ApplyOptions {
            propagation: PropagationPolicy::with_timeout(args.propagation_timeout),
        };
        let applied = apply::apply(&plan, &clients, options, printer).await?;
        for change in &mut plan.changes {
            if let Some(id) = applied.association_ids.get(&change.name) {
                change.resource_id = Some(id.clone());
            }
        }
    }
    print_outcome(
        printer,
        "instance-profile",
        &plan,
        global.dry_run,
        account,
        &aws.region,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_names_are_checked() {
        assert!(check_iam_name("role", "--role-name", "dragons-lab-ec2-role", 64).is_ok());
        assert!(check_iam_name("role", "--role-name", &"r".repeat(65), 64).is_err());
        assert!(check_iam_name("role", "--role-name", "has space", 64).is_err());
        assert!(check_iam_name("role", "--role-name", "", 64).is_err());
    }

    #[test]
    fn policy_arns_are_checked() {
        assert!(check_policy_arn(ADMINISTRATOR_ACCESS).is_ok());
        assert!(check_policy_arn("arn:aws:iam::123456789012:policy/path/mine").is_ok());
        assert!(check_policy_arn("AdministratorAccess").is_err());
        assert!(check_policy_arn("arn:aws:s3:::bucket").is_err());
    }
}
