//! `provision instance-profile`: the EC2 trust policy, an IAM role with its permissions, an instance
//! profile holding it, and its association with the course IDE's instance.

use crate::commands::applied;
use crate::commands::{Run, apply_and_report, print_plan, with_aws};
use crate::connection::aws::Aws;
use crate::connection::clients::Clients;
use crate::course::lab::Target;
use crate::error::Error;
use crate::fanout::{AccountResult, FanOut, RunEach};
use crate::plans::instance_profile::{
    DesiredState, Inputs, check_lab_reads, observe, observe_existing, plan, plan_existing,
};
use crate::plans::restricted::LAB_INSTANCE_PROFILE;
use crate::printer::Printer;
use crate::resources::Plan;
use crate::settings::{GlobalArgs, InstanceProfileArgs, Lab};

/// The command, as the registry runs it (`cli::commands!`).
pub(crate) struct Runner;

impl Run for Runner {
    type Args = InstanceProfileArgs;

    async fn run(
        global: &GlobalArgs,
        args: &InstanceProfileArgs,
        printer: &Printer,
    ) -> Result<(), Error> {
        let inputs = Inputs::from_args(args)?;
        with_aws(global, printer, async |aws| {
            let clients = aws.clients(&global.lab());
            let observing = printer.step(match inputs.existing {
                Some(_) => "observing the instance profile and EC2",
                None => "observing IAM and EC2",
            });
            let (target, plan) = prepare(aws, &clients, &inputs, &global.lab(), args).await?;
            observing.finish(match inputs.existing {
                Some(_) => "observed the instance profile and EC2",
                None => "observed IAM and EC2",
            });
            print_plan(printer, &plan, &target);
            let applied = apply_and_report(
                printer,
                global,
                "instance-profile",
                &plan,
                &target,
                &clients,
                None,
            )
            .await;
            explained(applied, &inputs, &clients).await
        })
        .await
    }
}

impl RunEach for Runner {
    type Args = InstanceProfileArgs;
    type Prepared = Inputs;

    fn prepare(_: &GlobalArgs, args: &InstanceProfileArgs) -> Result<Inputs, Error> {
        Inputs::from_args(args)
    }

    async fn each(
        fan_out: &FanOut<'_>,
        args: &InstanceProfileArgs,
        inputs: &Inputs,
    ) -> Result<Vec<AccountResult>, Error> {
        Ok(fan_out
            .each(async |aws, interrupt| {
                let clients = aws.clients(&fan_out.global.lab());
                let prepared = prepare(aws, &clients, inputs, &fan_out.global.lab(), args).await;
                let prepared = explained(prepared, inputs, &clients).await?;
                applied(
                    fan_out.global,
                    fan_out.name,
                    prepared,
                    &clients,
                    None,
                    interrupt,
                )
                .await
            })
            .await)
    }
}

/// Observes and plans in one account: the role, profile and associations, or — with
/// `--existing-profile NAME` — only the associations, after checking the profile's role allows
/// the lab application's reads (a warning of the plan when it does not).
pub(crate) async fn prepare(
    aws: &Aws,
    clients: &Clients,
    inputs: &Inputs,
    lab: &Lab,
    args: &InstanceProfileArgs,
) -> Result<(Target, Plan), Error> {
    let Some(name) = &inputs.existing else {
        let (target, observed) = observe(aws, clients, inputs, lab).await?;
        let plan = plan(&DesiredState::new(inputs, &target)?, &observed)?;
        return Ok((target, plan));
    };
    let (target, observed) = observe_existing(aws, clients, inputs, lab, name).await?;
    let warning = match observed
        .profiles
        .get(name)
        .and_then(|p| p.role_arns.first())
    {
        Some(role_arn) => {
            let bucket = target.lab_bucket(args.bucket.bucket.as_ref().map(|b| b.as_str()));
            check_lab_reads(clients, &target, &bucket, role_arn).await
        }
        None => None,
    };
    let plan = plan_existing(inputs, &target, name, &observed, warning)?;
    Ok((target, plan))
}

/// A refused IAM write in an account that provides LabInstanceProfile gets the command that uses
/// it instead.
pub(crate) async fn explained<T>(
    result: Result<T, Error>,
    inputs: &Inputs,
    clients: &Clients,
) -> Result<T, Error> {
    match result {
        Err(error) if inputs.existing.is_none() && is_denied_iam_write(&error) => {
            Err(with_existing_profile_hint(clients, error).await)
        }
        other => other,
    }
}

/// IAM writes a restricted lab account refuses.
fn is_denied_iam_write(error: &Error) -> bool {
    error.access_denied().is_some_and(|denied| {
        [
            "iam:CreateRole",
            "iam:CreateInstanceProfile",
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:AddRoleToInstanceProfile",
            "iam:TagRole",
        ]
        .contains(&denied.action.as_str())
    })
}

/// When IAM writes are refused and the account has a LabInstanceProfile, the way out is to use it:
/// the hint names the exact command.
async fn with_existing_profile_hint(clients: &Clients, error: Error) -> Error {
    use crate::resources::Resource;
    let exists =
        crate::resources::instance_profile::InstanceProfile::observe(clients, LAB_INSTANCE_PROFILE)
            .await
            .ok()
            .flatten()
            .is_some();
    if !exists {
        return error;
    }
    error.with_hint(format!(
        "this account provides instance profile {LAB_INSTANCE_PROFILE} (a restricted lab account): \
         associate it as it is, with no IAM writes: {}",
        existing_profile_command(LAB_INSTANCE_PROFILE)
    ))
}

/// This run's command line with the IAM-creating flags replaced by `--existing-profile NAME`.
fn existing_profile_command(name: &str) -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    without_iam_flags(&args, name)
}

/// `args` without the flags that create or change IAM, plus `--existing-profile NAME`, quoted.
fn without_iam_flags(args: &[String], name: &str) -> String {
    const DROPPED_WITH_VALUE: &[&str] = &[
        "--role-name",
        "--instance-profile-name",
        "--policy",
        "--trust-policy",
        "--policy-arn",
    ];
    const DROPPED: &[&str] = &["--adopt", "--prune"];
    let mut kept = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let (flag, inline_value) = match word.split_once('=') {
            Some((flag, _)) => (flag, true),
            None => (word.as_str(), false),
        };
        if DROPPED.contains(&flag) {
            continue;
        }
        if DROPPED_WITH_VALUE.contains(&flag) {
            if !inline_value {
                words.next();
            }
            continue;
        }
        kept.push(word.clone());
    }
    kept.extend(["--existing-profile".to_string(), name.to_string()]);
    crate::shell::quoted_command(&kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suggested_command_keeps_the_instance_and_drops_what_writes_iam() {
        let args: Vec<String> = [
            "instance-profile",
            "--role-name",
            "my-role",
            "--instance-tag",
            "Name=my ide",
            "--policy-arn=arn:aws:iam::aws:policy/ReadOnlyAccess",
            "--adopt",
            "--region",
            "us-east-1",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            without_iam_flags(&args, "LabInstanceProfile"),
            "provision instance-profile --instance-tag 'Name=my ide' --region us-east-1 \
             --existing-profile LabInstanceProfile"
        );
    }
}
