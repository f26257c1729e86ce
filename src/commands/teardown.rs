//! `provision teardown`: everything provision created, in reverse dependency order, and nothing
//! else — after the account id is confirmed.

use std::io::IsTerminal;

use crate::commands::applied;
use crate::commands::{Run, apply_and_report, print_plan, with_aws};
use crate::connection::aws::Aws;
use crate::connection::clients::Clients;
use crate::course::lab::Target;
use crate::engine::signals;
use crate::error::Error;
use crate::fanout::{AccountResult, FanOut, RunEach, table};
use crate::plans::teardown::{DesiredState, Scope, discover, plan};
use crate::printer::Printer;
use crate::resources::Plan;
use crate::resources::ownership::Claims;
use crate::settings::{GlobalArgs, Lab, TeardownArgs};
use futures::stream::{self, StreamExt};
use std::time::Instant;

/// The command, as the registry runs it (`cli::commands!`).
pub(crate) struct Runner;

impl Run for Runner {
    type Args = TeardownArgs;

    async fn run(global: &GlobalArgs, args: &TeardownArgs, printer: &Printer) -> Result<(), Error> {
        check_confirmable(global)?;
        with_aws(global, printer, async |aws| {
            let clients = aws.clients(&global.lab());
            let step = printer.step("discovering what provision created");
            let (target, plan) = prepare(aws, &clients, args, &global.lab()).await?;
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
    type Args = TeardownArgs;
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
        teardown_each(fan_out, args).await
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
    lab: &Lab,
) -> Result<(Target, Plan), Error> {
    let scope = Scope::new(&args.names, args.only);
    let (target, observed) = discover(aws, clients, &scope, lab).await?;
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

/// Teardown across accounts: every account's plan first, one question for all of them (with the
/// per-account totals), then every removal.
async fn teardown_each(
    fan_out: &FanOut<'_>,
    args: &crate::settings::TeardownArgs,
) -> Result<Vec<AccountResult>, Error> {
    let FanOut {
        global, printer, ..
    } = *fan_out;
    use std::collections::HashMap;
    use std::sync::Mutex;

    type Prepared = (
        crate::course::lab::Target,
        Plan,
        crate::connection::clients::Clients,
    );
    let plans: Mutex<HashMap<String, Prepared>> = Mutex::new(HashMap::new());
    let planning = GlobalArgs {
        dry_run: true,
        ..global.clone()
    };
    let lab = global.lab();
    let planned = FanOut {
        global: &planning,
        ..*fan_out
    }
    .each(async |aws, interrupt| {
        let clients = aws.clients(&lab);
        let (target, plan) = prepare(aws, &clients, args, &lab).await?;
        let done = applied(
            &planning,
            "teardown",
            (target.clone(), plan.clone()),
            &clients,
            None,
            interrupt,
        )
        .await?;
        if let Ok(mut plans) = plans.lock() {
            plans.insert(target.account.clone(), (target, plan, clients));
        }
        Ok(done)
    })
    .await;
    if global.dry_run {
        return Ok(planned);
    }
    let deletions: usize = planned
        .iter()
        .filter_map(|r| r.result.as_ref().ok()?.summary)
        .map(|s| s.deleted)
        .sum();
    let ready = planned.iter().filter(|r| r.failed().is_none()).count();
    if deletions > 0 && !global.yes {
        printer.data(table(&planned, true));
        let answer = printer.prompt(&format!(
            "Delete these {deletions} resources in {ready} accounts? Type the number of accounts \
             ({ready}) to confirm: "
        ));
        if answer.as_deref().map(str::trim) != Some(ready.to_string().as_str()) {
            return Err(Error::failed(
                "teardown cancelled: the number of accounts was not confirmed; nothing was deleted",
            ));
        }
    }
    let plans = plans.into_inner().unwrap_or_default();
    let (_applying, interrupt) = signals::applying();
    let results = stream::iter(planned)
        .map(|planned| {
            let prepared = planned
                .id
                .as_ref()
                .filter(|_| planned.failed().is_none())
                .and_then(|id| plans.get(id));
            let interrupt = interrupt.clone();
            async move {
                let Some((target, plan, clients)) = prepared else {
                    return planned;
                };
                let started = Instant::now();
                let done = applied(
                    global,
                    "teardown",
                    (target.clone(), plan.clone()),
                    clients,
                    None,
                    interrupt,
                )
                .await;
                AccountResult {
                    seconds: planned.seconds + started.elapsed().as_secs_f64(),
                    result: done,
                    ..planned
                }
            }
        })
        .buffered(usize::from(global.fan_out.concurrency))
        .collect::<Vec<_>>()
        .await;
    Ok(results)
}
