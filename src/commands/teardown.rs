//! `provision teardown`: everything provision created, in reverse dependency order, and nothing
//! else — after the account id is confirmed.

use std::io::IsTerminal;

use crate::aws::{Aws, Clients};
use crate::cli::{GlobalArgs, TeardownArgs};
use crate::commands::{Run, RunEach, apply_and_report, print_plan, with_aws};
use crate::error::Error;
use crate::fanout::{AccountResult, FanOut};
use crate::lab::Target;
use crate::printer::Printer;
use crate::resources::Plan;
use crate::resources::ownership::Claims;
use crate::state::teardown::{DesiredState, Scope, discover, plan};

/// The command, as the registry runs it (`cli::commands!`).
pub(crate) struct Runner;

impl Run for Runner {
    type Args = TeardownArgs;

    async fn run(global: &GlobalArgs, args: &TeardownArgs, printer: &Printer) -> Result<(), Error> {
        check_confirmable(global)?;
        with_aws(global, printer, async |aws| {
            let clients = aws.clients();
            let step = printer.step("discovering what provision created");
            let (target, plan) = prepare(aws, &clients, args).await?;
            step.finish("discovered what provision created");
            print_plan(printer, &plan, &target);
            if !global.dry_run && !plan.is_noop() {
                confirm(global, printer, &target.account, &plan)?;
            }
            apply_and_report(printer, global, "teardown", &plan, &target, &clients, None).await
        })
        .await
    }
}

impl RunEach for Runner {
    type Prepared = ();

    /// Refused before any request without a terminal to confirm on.
    fn prepare(global: &GlobalArgs, _: &TeardownArgs) -> Result<(), Error> {
        check_confirmable(global)
    }

    /// Every account's plan first, one question for all of them, then every removal.
    async fn each(
        fan_out: &FanOut<'_>,
        args: &TeardownArgs,
        _: &(),
    ) -> Result<Vec<AccountResult>, Error> {
        crate::fanout::teardown_each(fan_out, args).await
    }
}

/// Refused before any request: without a terminal there is no one to confirm to.
pub(crate) fn check_confirmable(global: &GlobalArgs) -> Result<(), Error> {
    if !global.yes && !global.dry_run && !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            "teardown deletes resources and asks to confirm first, but there is no terminal to ask on",
        )
        .with_hint("check the plan with --dry-run, then pass --yes to confirm"));
    }
    Ok(())
}

/// Discovers what provision created in one account and plans its removal.
pub(crate) async fn prepare(
    aws: &Aws,
    clients: &Clients,
    args: &TeardownArgs,
) -> Result<(Target, Plan), Error> {
    let scope = Scope::new(&args.names, args.only);
    let (target, observed) = discover(aws, clients, &scope).await?;
    let desired = DesiredState {
        keep_data: args.keep_data,
        claims: Claims {
            all_owners: args.names.all_owners,
            ..Claims::of(&target.owner)
        },
    };
    let plan = plan(&desired, &observed)?;
    Ok((target, plan))
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
