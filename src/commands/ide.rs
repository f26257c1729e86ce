//! `provision ide`: the course IDE for accounts that can no longer create Cloud9 — an EC2
//! instance reached through Session Manager, holding the lab's instance profile.

use crate::commands::applied;
use crate::commands::{Run, apply_and_report, print_plan, with_aws};
use crate::error::Error;
use crate::fanout::{AccountResult, FanOut, RunEach};
use crate::plans::ide::{Inputs, prepare};
use crate::plans::restricted::explained;
use crate::printer::Printer;
use crate::settings::{GlobalArgs, IdeArgs};

/// The command, as the registry runs it (`cli::commands!`).
pub(crate) struct Runner;

impl Run for Runner {
    type Args = IdeArgs;

    async fn run(global: &GlobalArgs, args: &IdeArgs, printer: &Printer) -> Result<(), Error> {
        if let Some(action) = &args.action {
            return crate::commands::ide_access::run(global, action, printer).await;
        }
        let inputs = Inputs::from_args(args)?;
        with_aws(global, printer, async |aws| {
            let clients = aws.clients(&global.lab());
            let observing = printer.step(format!("observing IAM and EC2 for {}", inputs.name));
            let prepared = prepare(aws, &clients, &inputs, &global.lab()).await;
            let (target, plan) = explained(prepared, &inputs.iam, &clients).await?;
            observing.finish(format!("observed IAM and EC2 for {}", inputs.name));
            print_plan(printer, &plan, &target);
            let applied =
                apply_and_report(printer, global, "ide", &plan, &target, &clients, None).await;
            explained(applied, &inputs.iam, &clients).await
        })
        .await
    }
}

impl RunEach for Runner {
    type Args = IdeArgs;
    type Prepared = Inputs;

    fn prepare(_: &GlobalArgs, args: &IdeArgs) -> Result<Inputs, Error> {
        if args.action.is_some() {
            return Err(Error::usage(
                "`provision ide` with a subcommand acts on your own IDE, in one account",
            )
            .with_hint("leave out --accounts / --org (each student stops or reaches their own)"));
        }
        Inputs::from_args(args)
    }

    async fn each(
        fan_out: &FanOut<'_>,
        _: &IdeArgs,
        inputs: &Inputs,
    ) -> Result<Vec<AccountResult>, Error> {
        Ok(fan_out
            .each(async |aws, interrupt| {
                let clients = aws.clients(&fan_out.global.lab());
                let prepared = prepare(aws, &clients, inputs, &fan_out.global.lab()).await;
                let prepared = explained(prepared, &inputs.iam, &clients).await?;
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
