//! One module per subcommand. Each checks its input, connects, observes, plans (with `state`),
//! and hands the plan to the shared tail here — print it, apply it unless `--dry-run`, report —
//! so every command reports the same way. Commands never import each other.

pub(crate) mod dragons;
pub(crate) mod dragons_lab;
pub(crate) mod instance_profile;
pub(crate) mod status;
pub(crate) mod teardown;
pub(crate) mod whoami;

use serde::Serialize;

use crate::apply::{self, Execution};
use crate::aws::{Aws, Clients};
use crate::cli::GlobalArgs;
use crate::error::Error;
use crate::lab::Target;
use crate::plan::Summary;
use crate::printer::Printer;
use crate::resources::{Change, Plan};

/// Connects (resolving credentials once), refuses IAM work under credentials that may not do it
/// when `iam` is set, runs `command`, and completes an access-denied error with the identity that
/// was refused and the decoded reason.
pub(crate) async fn with_aws<T>(
    global: &GlobalArgs,
    iam: bool,
    command: impl AsyncFnOnce(&Aws) -> Result<T, Error>,
) -> Result<T, Error> {
    let aws = Aws::connect(global).await?;
    if iam {
        aws.require_iam_capable()?;
    }
    match command(&aws).await {
        Ok(value) => Ok(value),
        Err(error) => Err(aws.explain(error).await),
    }
}

/// The JSON document of a plan-and-apply command (the schema the README documents).
#[derive(Debug, Serialize)]
struct Report<'a> {
    command: &'a str,
    dry_run: bool,
    account: &'a str,
    region: &'a str,
    changes: Vec<ReportedChange<'a>>,
    summary: Summary,
    warnings: &'a [String],
    /// Where the `--site` files can be browsed (dragons-lab with `--site`).
    #[serde(skip_serializing_if = "Option::is_none")]
    site_url: Option<&'a str>,
}

/// A change as reported: the plan's line and what AWS assigned while applying it.
#[derive(Debug, Serialize)]
struct ReportedChange<'a> {
    #[serde(flatten)]
    change: &'a Change,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_id: Option<&'a str>,
}

/// Prints the plan (before applying) in human mode, with its warnings.
pub(crate) fn print_plan(printer: &Printer, plan: &Plan, target: &Target) {
    for warning in plan.warnings() {
        printer.warn(warning);
    }
    printer.data(format!(
        "Plan for account {} in {}:",
        target.account, target.region
    ));
    for change in plan.changes() {
        printer.data(format!("  {}", change.line()));
    }
}

/// Applies the plan unless `--dry-run` (or there is nothing to do), showing progress, then reports
/// the outcome. A failed change fails the command with its error.
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
        let execution = apply::apply(plan, clients, &|event| progress.event(event)).await;
        if let Some(error) = execution.error() {
            return Err(error.clone());
        }
        Some(execution)
    };
    print_outcome(
        printer,
        command,
        plan,
        execution.as_ref(),
        global.dry_run,
        target,
        site_url,
    )
}

/// Prints the outcome: the JSON report, or the summary and the ARNs.
fn print_outcome(
    printer: &Printer,
    command: &str,
    plan: &Plan,
    execution: Option<&Execution>,
    dry_run: bool,
    target: &Target,
    site_url: Option<&str>,
) -> Result<(), Error> {
    let summary = plan.summary();
    let changes: Vec<ReportedChange<'_>> = plan
        .changes()
        .iter()
        .enumerate()
        .map(|(index, change)| ReportedChange {
            change,
            resource_id: execution.and_then(|e| e.resource_id(index)),
        })
        .collect();
    if printer.is_json() {
        return printer.json(&Report {
            command,
            dry_run,
            account: &target.account,
            region: &target.region,
            changes,
            summary,
            warnings: plan.warnings(),
            site_url,
        });
    }
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
    printer.data(summary.to_string());
    for reported in &changes {
        // What AWS assigned (an association id) says more than the ARN it points at.
        let change = reported.change;
        if let Some(shown) = reported.resource_id.or(change.arn.as_deref()) {
            printer.data(format!("  {} {}: {shown}", change.kind, change.name));
        }
    }
    site_line();
    Ok(())
}
