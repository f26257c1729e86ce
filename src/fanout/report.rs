//! What a fan-out reports: each account's result, then a table (or one JSON document with an
//! entry per account), the failures with their errors and hints, and the command that re-runs only
//! the failed accounts.

use serde::Serialize;

use crate::engine::plan::Summary;
use crate::error::{Error, ErrorBody, ExitStatus};
use crate::printer::Printer;
use crate::settings::GlobalArgs;

use super::*;

/// What one account's run gave.
#[derive(Debug)]
pub(crate) struct Done {
    /// The plan's counts, for plan-and-apply commands.
    pub(crate) summary: Option<Summary>,
    /// A short result for the table ("6 in sync, …", an ARN).
    pub(crate) detail: String,
    /// The account's document, as `--output json` prints it for one account.
    pub(crate) document: serde_json::Value,
    /// The error that stopped an apply early (the document holds what was applied).
    pub(crate) failure: Option<Error>,
}

/// One account's entry in the report.
#[derive(Debug)]
pub(crate) struct AccountResult {
    pub(crate) account: Account,
    /// The account id, once known.
    pub(crate) id: Option<String>,
    pub(crate) result: Result<Done, Error>,
    pub(crate) seconds: f64,
}

impl AccountResult {
    pub(crate) fn failed(&self) -> Option<&Error> {
        match &self.result {
            Ok(done) => done.failure.as_ref(),
            Err(error) => Some(error),
        }
    }

    /// The account's name: the organisation's, the profile's, the role's; `-` for a bare id.
    fn label(&self) -> String {
        match (&self.account.name, &self.account.entry) {
            (Some(name), _) => name.clone(),
            (None, Entry::Profile(name)) => name.clone(),
            (None, Entry::Role { arn, .. }) => arn.rsplit('/').next().unwrap_or(arn).to_string(),
            (None, Entry::Id(_)) => "-".to_string(),
        }
    }
}

/// The fan-out's JSON document.
#[derive(Serialize)]
struct Report<'a> {
    schema_version: u32,
    command: &'a str,
    dry_run: bool,
    accounts: Vec<AccountEntry<'a>>,
    summary: Totals,
    /// The entries of the failed accounts, as an accounts file lists them.
    failed: Vec<&'a str>,
}

#[derive(Serialize)]
struct AccountEntry<'a> {
    entry: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    result: &'static str,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody<'a>>,
}

#[derive(Serialize, Default)]
struct Totals {
    accounts: usize,
    succeeded: usize,
    failed: usize,
    created: usize,
    updated: usize,
    unchanged: usize,
    deleted: usize,
}

/// Prints the table (or the JSON document), the failures and the command that re-runs them;
/// an error (exit 1) when any account failed.
pub(crate) fn report(
    printer: &Printer,
    global: &GlobalArgs,
    command: &str,
    results: &[AccountResult],
) -> Result<(), Error> {
    let mut totals = Totals {
        accounts: results.len(),
        ..Totals::default()
    };
    for result in results {
        match result.failed() {
            Some(_) => totals.failed += 1,
            None => totals.succeeded += 1,
        }
        if let Ok(Done {
            summary: Some(summary),
            ..
        }) = &result.result
        {
            totals.created += summary.created;
            totals.updated += summary.updated;
            totals.unchanged += summary.unchanged;
            totals.deleted += summary.deleted;
        }
    }
    let failed: Vec<&AccountResult> = results.iter().filter(|r| r.failed().is_some()).collect();
    let rerun = rerun_command(global, &failed);
    if let Some(path) = &global.fan_out.failures_to {
        let listed: String = failed
            .iter()
            .map(|r| format!("{}\n", r.account.entry.text()))
            .collect();
        std::fs::write(path, listed).map_err(|e| {
            Error::failed(format!(
                "cannot write the failed accounts to {}",
                path.display()
            ))
            .with_cause(e.to_string())
        })?;
    }
    if printer.is_json() {
        printer.json(&Report {
            schema_version: crate::printer::SCHEMA_VERSION,
            command,
            dry_run: global.dry_run,
            accounts: results
                .iter()
                .map(|r| AccountEntry {
                    entry: r.account.entry.text(),
                    account: r.id.as_deref(),
                    name: r.account.name.as_deref(),
                    result: if r.failed().is_some() { "failed" } else { "ok" },
                    seconds: (r.seconds * 10.0).round() / 10.0,
                    summary: r.result.as_ref().ok().and_then(|d| d.summary),
                    document: r.result.as_ref().ok().map(|d| &d.document),
                    error: r.failed().map(ErrorBody::from),
                })
                .collect(),
            summary: totals,
            failed: failed.iter().map(|r| r.account.entry.text()).collect(),
        })?;
    } else {
        printer.data(table(results, global.dry_run));
        let counted = results
            .iter()
            .any(|r| r.result.as_ref().is_ok_and(|d| d.summary.is_some()));
        let changes = match (counted, global.dry_run) {
            (false, _) => String::new(),
            (true, false) => format!(
                " — {} created, {} updated, {} unchanged, {} deleted",
                totals.created, totals.updated, totals.unchanged, totals.deleted
            ),
            (true, true) => format!(
                " — {} to create, {} to update, {} unchanged, {} to delete (dry run: nothing \
                 was changed)",
                totals.created, totals.updated, totals.unchanged, totals.deleted
            ),
        };
        printer.data(format!(
            "{} accounts: {} succeeded, {} failed{changes}",
            totals.accounts, totals.succeeded, totals.failed
        ));
        for result in &failed {
            if let Some(error) = result.failed() {
                printer.data(format!(
                    "\n{} ({}):",
                    result.label(),
                    result.account.entry.text()
                ));
                for line in error.to_string().lines() {
                    printer.data(format!("  {line}"));
                }
            }
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    // A signal ends the fan-out as it ends one run: 130 or 143, with each account's outcome
    // above (applied, interrupted, not started).
    let signal = failed
        .iter()
        .filter_map(|r| r.failed().map(Error::status))
        .find(|s| matches!(s, ExitStatus::Interrupted | ExitStatus::Terminated));
    let error = match signal {
        Some(status) => Error::interrupted(
            status,
            format!(
                "interrupted by {}: {} of {} accounts did not finish",
                match status {
                    ExitStatus::Terminated => "SIGTERM",
                    _ => "SIGINT",
                },
                failed.len(),
                results.len()
            ),
        ),
        None => Error::failed(format!(
            "{} of {} accounts failed",
            failed.len(),
            results.len()
        )),
    }
    .with_hint(rerun);
    Err(match printer.is_json() {
        true => error.in_report(),
        false => error,
    })
}

/// The command that re-runs only the failed accounts.
fn rerun_command(global: &GlobalArgs, failed: &[&AccountResult]) -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut kept = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let flag = word.split_once('=').map_or(word.as_str(), |(f, _)| f);
        if flag == "--org" {
            continue;
        }
        if flag == "--accounts" || flag == "--failures-to" {
            if !word.contains('=') {
                words.next();
            }
            continue;
        }
        kept.push(word.clone());
    }
    let file = global
        .fan_out
        .failures_to
        .as_ref()
        .map_or("FAILED.txt".to_string(), |p| p.display().to_string());
    kept.extend(["--accounts".to_string(), file.clone()]);
    let command = crate::shell::quoted_command(&kept);
    match &global.fan_out.failures_to {
        Some(_) => format!("re-run only the failed accounts (listed in {file}): {command}"),
        None => {
            let listed: Vec<&str> = failed.iter().map(|r| r.account.entry.text()).collect();
            format!(
                "re-run only the failed accounts: put them in a file ({}), or pass \
                 --failures-to FILE, then: {command}",
                listed.join(" ")
            )
        }
    }
}

/// The per-account table: account, name, created/updated/unchanged/deleted (for plan-and-apply
/// commands; "to create"… in a dry run), result, seconds.
pub(crate) fn table(results: &[AccountResult], dry_run: bool) -> String {
    let counted = results
        .iter()
        .any(|r| r.result.as_ref().is_ok_and(|d| d.summary.is_some()));
    let mut header = vec!["ACCOUNT", "NAME"];
    if counted {
        header.extend(match dry_run {
            false => ["CREATED", "UPDATED", "UNCHANGED", "DELETED"],
            true => ["TO CREATE", "TO UPDATE", "UNCHANGED", "TO DELETE"],
        });
    }
    header.extend(["RESULT", "SECONDS"]);
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let summary = r.result.as_ref().ok().and_then(|d| d.summary);
            let count = |n: fn(&Summary) -> usize| {
                summary.as_ref().map_or("-".into(), |s| n(s).to_string())
            };
            let result = match (&r.result, r.failed()) {
                (_, Some(_)) => "failed".to_string(),
                (Ok(done), None) if summary.is_none() => done.detail.clone(),
                _ => "ok".to_string(),
            };
            let mut row = vec![r.id.clone().unwrap_or_else(|| "?".into()), r.label()];
            if counted {
                row.extend([
                    count(|s| s.created),
                    count(|s| s.updated),
                    count(|s| s.unchanged),
                    count(|s| s.deleted),
                ]);
            }
            row.extend([result, format!("{:.1}", r.seconds)]);
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header)];
    for row in &rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}
