//! One module per subcommand. Each takes its settings and the printer and returns, through
//! `Result`, the exit status; the shared tail — print the plan, apply it unless `--dry-run`, report —
//! lives here so every command reports the same way.

pub mod dragons;
pub mod dragons_lab;
pub mod instance_profile;
pub mod status;
pub mod teardown;
pub mod whoami;

use serde::Serialize;

use crate::error::Error;
use crate::plan::{Change, Plan, Summary};
use crate::printer::Printer;

/// The JSON document of a plan-and-apply command (the schema the README documents).
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub command: &'a str,
    pub dry_run: bool,
    pub account: &'a str,
    pub region: &'a str,
    pub changes: &'a [Change],
    pub summary: Summary,
    pub warnings: &'a [String],
    /// Where the `--site` files can be browsed (dragons-lab with `--site`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_url: Option<&'a str>,
}

/// Prints the plan (before applying) in human mode.
pub fn print_plan(printer: &Printer, plan: &Plan, account: &str, region: &str) {
    for warning in &plan.warnings {
        printer.warn(warning);
    }
    printer.data(format!("Plan for account {account} in {region}:"));
    for change in &plan.changes {
        printer.data(format!("  {}", change.line()));
    }
}

/// Prints the outcome: the JSON report, or the summary and the ARNs.
pub fn print_outcome(
    printer: &Printer,
    command: &str,
    plan: &Plan,
    dry_run: bool,
    account: &str,
    region: &str,
    site_url: Option<&str>,
) -> Result<(), Error> {
    let summary = plan.summary();
    if printer.is_json() {
        return printer.json(&Report {
            command,
            dry_run,
            account,
            region,
            changes: &plan.changes,
            summary,
            warnings: &plan.warnings,
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
    for change in &plan.changes {
        // What AWS assigned (an association id) says more than the ARN it points at.
        if let Some(shown) = change.resource_id.as_ref().or(change.arn.as_ref()) {
            printer.data(format!("  {} {}: {shown}", change.resource, change.name));
        }
    }
    site_line();
    Ok(())
}
