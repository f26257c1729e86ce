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
use crate::plans::restricted::explained;
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
