//! One module per subcommand. Each checks its input, connects, observes, plans (with `plans`),
//! and hands the plan to the shared tail here — print it, apply it unless `--dry-run`, report —
//! so every command reports the same way. Commands never import each other.

pub(crate) mod api_call;
pub(crate) mod api_users;
pub(crate) mod dragons;
pub(crate) mod dragons_api;
pub(crate) mod dragons_lab;
pub(crate) mod export;
pub(crate) mod ide;
pub(crate) mod ide_access;
pub(crate) mod instance_profile;
pub(crate) mod session;
pub(crate) mod status;
pub(crate) mod teardown;
pub(crate) mod whoami;

use serde::Serialize;

use crate::connection::aws::Aws;
use crate::connection::clients::Clients;
use crate::course::lab::Target;
use crate::engine::apply::{self, Execution};
use crate::engine::plan::Summary;
use crate::engine::signals;
use crate::error::{Error, ErrorBody};
use crate::printer::Printer;
use crate::resources::{Change, Plan};
use crate::settings::GlobalArgs;

/// A command, as `cli::commands!` registers it: the command line's run in the caller's account
/// (or, for the documentation commands, on this machine).
pub(crate) trait Run {
    /// Its arguments, as clap parses them.
    type Args;

    async fn run(global: &GlobalArgs, args: &Self::Args, printer: &Printer) -> Result<(), Error>;
}

/// The plan-and-apply commands' per-account result.
pub(crate) async fn applied(
    global: &GlobalArgs,
    command: &str,
    (target, plan): (crate::course::lab::Target, Plan),
    clients: &crate::connection::clients::Clients,
    site_url: Option<&str>,
    interrupt: signals::Interrupt,
) -> Result<crate::fanout::Done, Error> {
    let (document, failure) = apply_quietly(
        global, command, &plan, &target, clients, site_url, interrupt,
    )
    .await;
    Ok(crate::fanout::Done {
        summary: Some(plan.summary()),
        detail: plan.summary().to_string(),
        document,
        failure,
    })
}

/// Connects (resolving credentials once), runs `command`, and completes an access-denied error with
/// the identity that was refused, the decoded reason, and — under Cloud9 managed credentials —
/// that they are why. AWS decides what the credentials may do: nothing is refused in advance.
pub(crate) async fn with_aws<T>(
    global: &GlobalArgs,
    printer: &Printer,
    command: impl AsyncFnOnce(&Aws) -> Result<T, Error>,
) -> Result<T, Error> {
    let aws = Aws::connect(&global.connection()).await?;
    for warning in &aws.warnings {
        printer.warn(warning);
    }
    match command(&aws).await {
        Ok(value) => Ok(value),
        Err(error) => Err(aws.explain(error).await),
    }
}

/// The JSON document of a plan-and-apply command (the schema the README documents).
#[derive(Debug, Serialize)]
struct Report<'a> {
    schema_version: u32,
    command: &'a str,
    dry_run: bool,
    account: &'a str,
    region: &'a str,
    changes: Vec<ReportedChange<'a>>,
    summary: Summary,
    warnings: &'a [String],
    /// What to do once the plan is applied (turn off Cloud9's managed credentials, …).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    reminders: &'a [String],
    /// Where the `--site` files can be browsed (dragons-lab with `--site`).
    #[serde(skip_serializing_if = "Option::is_none")]
    site_url: Option<&'a str>,
    /// Why the run stopped early, when it did (a failed change, or a signal).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody<'a>>,
    /// The command that resumes a run that stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    resume: Option<String>,
}

/// A change as reported: the plan's line, what happened to it, and what AWS assigned.
#[derive(Debug, Serialize)]
struct ReportedChange<'a> {
    #[serde(flatten)]
    change: &'a Change,
    /// `applied`, `unchanged`, `failed`, `not started` or `interrupted`; absent in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_id: Option<&'a str>,
}

/// Prints the plan (before applying) in human mode, with its warnings.
pub(crate) fn print_plan(printer: &Printer, plan: &Plan, target: &Target) {
    for warning in plan.warnings() {
        printer.warn(warning);
    }
    let app = if target.app_region != target.region {
        format!(" (the lab application's region: {})", target.app_region)
    } else {
        String::new()
    };
    printer.data(format!(
        "Plan for account {} in {}{app}:",
        target.account, target.region
    ));
    for change in plan.changes() {
        printer.data(format!("  {}", crate::printer::painted_change(change)));
    }
}

/// Applies the plan unless `--dry-run` (or there is nothing to do), showing progress, then reports
/// the outcome. A run that stops early — a change failed, or a signal — reports every change's
/// outcome and the command that resumes it, then fails with the failure's error (exit 1) or the
/// signal's status (130, 143).
pub(crate) async fn apply_and_report(
    printer: &Printer,
    global: &GlobalArgs,
    command: &str,
    plan: &Plan,
    target: &Target,
    clients: &Clients,
    site_url: Option<&str>,
) -> Result<(), Error> {
    let execution = if global.dry_run || plan.is_noop() {
        None
    } else {
        let progress = printer.apply_progress();
        let (applying, interrupt) = signals::applying();
        let execution =
            apply::apply(plan, clients, &|event| progress.event(event), interrupt).await;
        progress.abandon_running();
        drop(applying);
        Some(execution)
    };
    let failure = execution.as_ref().and_then(stopped_early);
    print_outcome(
        printer,
        &Outcome {
            command,
            plan,
            execution: execution.as_ref(),
            dry_run: global.dry_run,
            target,
            site_url,
            failure: failure.as_ref(),
        },
    )?;
    match failure {
        Some(error) if printer.is_json() => Err(error.in_report()),
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Applies the plan of one account of a fan-out, drawing nothing (the fan-out shows a line per
/// account), and returns that account's JSON document — the one `--output json` prints for a
/// single account — with the error that stopped it early, if one did.
pub(crate) async fn apply_quietly(
    global: &GlobalArgs,
    command: &str,
    plan: &Plan,
    target: &Target,
    clients: &Clients,
    site_url: Option<&str>,
    interrupt: signals::Interrupt,
) -> (serde_json::Value, Option<Error>) {
    let execution = if global.dry_run || plan.is_noop() {
        None
    } else {
        Some(apply::apply(plan, clients, &|_| {}, interrupt).await)
    };
    let failure = execution.as_ref().and_then(stopped_early);
    let outcome = Outcome {
        command,
        plan,
        execution: execution.as_ref(),
        dry_run: global.dry_run,
        target,
        site_url,
        failure: failure.as_ref(),
    };
    let document = serde_json::to_value(report(&outcome)).unwrap_or_default();
    (document, failure)
}

/// The error of a run that stopped early, with what was applied and how to resume.
fn stopped_early(execution: &Execution) -> Option<Error> {
    let count = |name: &str| {
        execution
            .outcomes
            .iter()
            .filter(|o| o.name() == name)
            .count()
    };
    let (applied, not_started, cut_off) =
        (count("applied"), count("not started"), count("interrupted"));
    let resume = format!("resume with: {}", crate::shell::command_line());
    if let Some(signal) = execution.interrupted {
        let mut message = format!(
            "interrupted by {}: {applied} change{} applied, {not_started} not started",
            signal.name(),
            plural(applied)
        );
        if cut_off > 0 {
            message.push_str(&format!(
                ", {cut_off} cut off in flight (may have been applied; the re-run checks)"
            ));
        }
        return Some(Error::interrupted(signal.exit_status(), message).with_hint(resume));
    }
    let error = execution.error()?.clone();
    Some(
        error
            .with_cause(format!(
                "{applied} change{} applied before the failure, {not_started} not started",
                plural(applied)
            ))
            .with_hint(format!(
                "once the cause is fixed, re-run the same command — it resumes from what was \
                 applied; {resume}"
            )),
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Everything the outcome report needs.
struct Outcome<'a> {
    command: &'a str,
    plan: &'a Plan,
    execution: Option<&'a Execution>,
    dry_run: bool,
    target: &'a Target,
    site_url: Option<&'a str>,
    failure: Option<&'a Error>,
}

/// Each change as reported: with its outcome and what AWS assigned.
fn reported<'a>(outcome: &Outcome<'a>) -> Vec<ReportedChange<'a>> {
    let Outcome {
        plan,
        execution,
        dry_run,
        ..
    } = *outcome;
    plan.changes()
        .iter()
        .enumerate()
        .map(|(index, change)| ReportedChange {
            change,
            outcome: execution
                .and_then(|e| e.outcomes.get(index))
                .map(apply::Outcome::name)
                .or((!dry_run).then_some("unchanged")),
            resource_id: execution.and_then(|e| e.resource_id(index)),
        })
        .collect()
}

/// The JSON document of a plan-and-apply command.
fn report<'a>(outcome: &Outcome<'a>) -> Report<'a> {
    Report {
        schema_version: crate::printer::SCHEMA_VERSION,
        command: outcome.command,
        dry_run: outcome.dry_run,
        account: &outcome.target.account,
        region: &outcome.target.region,
        changes: reported(outcome),
        summary: outcome.plan.summary(),
        warnings: outcome.plan.warnings(),
        reminders: outcome.plan.reminders(),
        site_url: outcome.site_url,
        error: outcome.failure.map(ErrorBody::from),
        resume: outcome.failure.map(|_| crate::shell::command_line()),
    }
}

/// Prints the outcome: the JSON report, or the summary and the ARNs — or, for a run that stopped
/// early, each change's outcome.
fn print_outcome(printer: &Printer, outcome: &Outcome<'_>) -> Result<(), Error> {
    if printer.is_json() {
        return printer.json(&report(outcome));
    }
    let Outcome {
        plan,
        dry_run,
        site_url,
        failure,
        ..
    } = *outcome;
    let summary = plan.summary();
    let changes = reported(outcome);
    let site_line = || {
        if let Some(url) = site_url {
            printer.data(format!("Site: {url}"));
        }
    };
    if dry_run {
        printer.data(format!(
            "Dry run: {} to create, {} to update, {} unchanged{} — nothing was changed.",
            summary.created,
            summary.updated,
            summary.unchanged,
            if summary.deleted > 0 {
                format!(", {} to delete", summary.deleted)
            } else {
                String::new()
            }
        ));
        site_line();
        return Ok(());
    }
    printer.data(String::new());
    if failure.is_some() {
        printer.data("The run stopped early. Each change:");
        for reported in &changes {
            let change = reported.change;
            let outcome = reported.outcome.unwrap_or("unchanged");
            let mark = match outcome {
                "applied" => "✓",
                "failed" | "interrupted" => "✗",
                "not started" => "-",
                _ => "=",
            };
            printer.data(format!(
                "  {mark} {outcome:<11} {} {} {}",
                change.action, change.kind, change.name
            ));
        }
        return Ok(());
    }
    printer.data(crate::printer::painted_summary(&summary));
    for reported in &changes {
        // What AWS assigned (an association id) says more than the ARN it points at.
        let change = reported.change;
        if let Some(shown) = reported.resource_id.or(change.arn.as_deref()) {
            printer.data(format!("  {} {}: {shown}", change.kind, change.name));
        }
    }
    site_line();
    for reminder in plan.reminders() {
        printer.data(format!("Next: {reminder}"));
    }
    Ok(())
}
