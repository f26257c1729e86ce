//! One command over many accounts: `--accounts FILE` (account ids, role ARNs or profile names) or
//! `--org` (the organisation's active accounts). For each account provision assumes a role in it
//! (session `provision-<caller>`) and runs the command's own observe → plan → apply with that
//! account's clients — several accounts at once (`--concurrency`), each within
//! `--account-timeout`, one account's failure never stopping the others. The result is a line per
//! account while running, then a table (or one JSON document with an entry per account), the
//! failures with their errors and hints, and the command that re-runs only the failed accounts.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::aws::Aws;
use crate::cli::{Command, FanOutArgs, GlobalArgs, Reach};
use crate::commands::{self, RunEach};
use crate::error::{Error, ErrorBody, ExitStatus};
use crate::input::{RoleName, is_account_id};
use crate::plan::Summary;
use crate::printer::Printer;
use crate::resources::Plan;
use crate::signals;

/// One line of an accounts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A 12-digit account id: the role `--account-role` in it is assumed.
    Id(String),
    /// A role ARN, assumed as given.
    Role { arn: String, account: String },
    /// A profile of the shared config files, used as it is.
    Profile(String),
}

impl Entry {
    /// The entry as the accounts file has it.
    pub(crate) fn text(&self) -> &str {
        match self {
            Self::Id(id) => id,
            Self::Role { arn, .. } => arn,
            Self::Profile(name) => name,
        }
    }

    /// The account, where the entry says it (a profile's is known once its credentials are).
    fn account(&self) -> Option<&str> {
        match self {
            Self::Id(id) => Some(id),
            Self::Role { account, .. } => Some(account),
            Self::Profile(_) => None,
        }
    }
}

/// An account to run in: its entry and, from `--org`, its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub(crate) entry: Entry,
    pub(crate) name: Option<String>,
}

/// Reads an accounts file: one entry a line — a 12-digit account id, an IAM role ARN, or a
/// profile name — with `#` comments and blank lines. Every line is checked before any request;
/// a duplicate is an error, as running a command twice at once in one account would be.
pub(crate) fn parse(text: &str, origin: &str) -> Result<Vec<Account>, Error> {
    let mut accounts = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let entry = line.split('#').next().unwrap_or_default().trim();
        if entry.is_empty() {
            continue;
        }
        let invalid = |why: String| {
            Error::usage(format!("{origin} line {number}: {why}")).with_hint(
                "each line is a 12-digit account id, a role ARN \
                 (arn:aws:iam::123456789012:role/NAME) or a profile name; # starts a comment",
            )
        };
        // A line is echoed in its error at most a screenful long (a file of one 1 MiB line).
        let quoted = crate::error::excerpt(entry, 120);
        let parsed = if is_account_id(entry) {
            Entry::Id(entry.to_string())
        } else if entry.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!(
                "`{quoted}` is not an account id (12 digits; a leading zero counts)"
            )));
        } else if looks_like_account_id(entry) {
            // Not a profile name: a mistyped id (`1111111111ab`), or one as the console shows it
            // (`1234-5678-9012`). Taken as a profile, it would fail only after a request.
            return Err(invalid(format!(
                "`{quoted}` looks like an account id but is not one (an account id is 12 digits, \
                 without dashes)"
            )));
        } else if entry.starts_with("arn:") {
            let account = role_account(entry).ok_or_else(|| {
                invalid(format!(
                    "`{quoted}` is not an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME)"
                ))
            })?;
            Entry::Role {
                arn: entry.to_string(),
                account,
            }
        } else if entry
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-@+".contains(c))
        {
            Entry::Profile(entry.to_string())
        } else {
            return Err(invalid(format!(
                "`{quoted}` is neither an account id, a role ARN nor a profile name"
            )));
        };
        let key = parsed.account().unwrap_or(entry).to_string();
        if !seen.insert(key.clone()) {
            return Err(invalid(format!(
                "{} is listed twice (each account runs once)",
                crate::error::excerpt(&key, 120)
            )));
        }
        accounts.push(Account {
            entry: parsed,
            name: None,
        });
    }
    if accounts.is_empty() {
        return Err(Error::usage(format!("{origin} lists no account"))
            .with_hint("list one account id, role ARN or profile name a line"));
    }
    Ok(accounts)
}

/// Whether an entry that is not an account id was meant as one: without its dashes, it starts
/// with nine digits or more (no profile name a person chooses does).
fn looks_like_account_id(entry: &str) -> bool {
    entry
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .take_while(char::is_ascii_digit)
        .count()
        >= 9
}

/// The account of an IAM role ARN, when `arn` is one.
pub(crate) fn role_account(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, partition, "iam", "", account, resource] = parts[..] else {
        return None;
    };
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    (crate::input::PARTITIONS.contains(&partition) && is_account_id(account))
        .then_some(())
        .and(RoleName::parse(name).ok())
        .map(|_| account.to_string())
}

/// The session name provision assumes roles with: `provision-<caller>`, from the caller's user or
/// session name, in the characters and length STS allows (`[\w+=,.@-]`, 2 to 64).
pub(crate) fn session_name(caller_arn: &str) -> String {
    let caller = caller_arn.rsplit(['/', ':']).next().unwrap_or("caller");
    let cleaned: String = caller
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) => c,
            _ => '-',
        })
        .collect();
    let mut name = format!("provision-{cleaned}");
    name.truncate(64);
    name
}

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
    fn failed(&self) -> Option<&Error> {
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

/// The accounts of the run: from `--accounts FILE`, or the organisation's (`--org`).
pub(crate) async fn accounts(base: &Aws, args: &FanOutArgs) -> Result<Vec<Account>, Error> {
    match (&args.accounts, args.org) {
        (Some(path), _) => read(path),
        (None, true) => organisation(base).await,
        (None, false) => Err(Error::usage("no accounts to fan out to")),
    }
}

fn read(path: &Path) -> Result<Vec<Account>, Error> {
    let text =
        crate::local_file::read_text(path, "the accounts file", crate::local_file::ACCOUNTS_LIMIT)
            .map_err(|e| {
                e.with_hint("give --accounts a file of account ids, role ARNs or profile names")
            })?;
    parse(&text, &path.display().to_string())
}

/// The organisation's active accounts (Organizations ListAccounts, every page), by name.
async fn organisation(base: &Aws) -> Result<Vec<Account>, Error> {
    let pages = base
        .organizations()
        .list_accounts()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| {
            crate::error::aws_error("organizations:ListAccounts", e).with_hint(
                "--org lists the accounts from the organisation's management account (or a \
                 delegated administrator); elsewhere, list them in a file for --accounts",
            )
        })?;
    let mut accounts: Vec<Account> = pages
        .iter()
        .flat_map(|page| page.accounts())
        .filter(|a| {
            a.state()
                .is_some_and(|s| *s == aws_sdk_organizations::types::AccountState::Active)
        })
        .filter_map(|a| {
            Some(Account {
                entry: Entry::Id(a.id()?.to_string()),
                name: a.name().map(str::to_string),
            })
        })
        .collect();
    accounts.sort_by(|a, b| a.entry.text().cmp(b.entry.text()));
    Ok(accounts)
}

/// The credentials of one account: the role assumed in it, or its profile.
async fn connect(
    base: &Aws,
    global: &GlobalArgs,
    account: &Account,
    session: &str,
) -> Result<Aws, Error> {
    let args = &global.fan_out;
    match &account.entry {
        Entry::Id(id) => {
            let partition = &base.identity().await?.partition;
            let arn = format!("arn:{partition}:iam::{id}:role/{}", args.account_role);
            base.assume(&arn, session, args.external_id.as_deref())
                .await
        }
        Entry::Role { arn, .. } => base.assume(arn, session, args.external_id.as_deref()).await,
        Entry::Profile(name) => {
            let mut global = global.clone();
            global.profile = Some(name.clone());
            Aws::connect(&global).await
        }
    }
}

/// Runs `command` in every account — at most `--concurrency` at once, each within
/// `--account-timeout` — drawing a line per account, and returns every account's result in the
/// accounts' order. A signal stops new accounts from starting; those applying stop within the
/// apply's grace period and report what they did.
pub(crate) async fn each<F>(
    base: &Aws,
    global: &GlobalArgs,
    accounts: &[Account],
    printer: &Printer,
    command: F,
) -> Vec<AccountResult>
where
    F: AsyncFn(&Aws, signals::Interrupt) -> Result<Done, Error>,
{
    let session = match base.identity().await {
        Ok(identity) => session_name(&identity.arn),
        Err(_) => session_name("caller"),
    };
    let (_applying, interrupt) = signals::applying();
    let args = &global.fan_out;
    let results = stream::iter(accounts.iter().cloned().enumerate())
        .map(|(index, account)| {
            let session = session.clone();
            let interrupt = interrupt.clone();
            let command = &command;
            async move {
                let label = account
                    .name
                    .clone()
                    .unwrap_or_else(|| account.entry.text().to_string());
                let step = printer.step(format!("{label}: running"));
                let started = Instant::now();
                let run = async {
                    // After a signal, no account starts; one already applying stops within the
                    // apply's grace period and reports what it did.
                    if let Some(signal) = interrupt.fired() {
                        return Err(Error::interrupted(
                            signal.exit_status(),
                            format!("not started: interrupted by {}", signal.name()),
                        ));
                    }
                    let aws = connect(base, global, &account, &session).await?;
                    let id = aws.identity().await?.account.clone();
                    let done = command(&aws, interrupt.clone()).await;
                    Ok::<_, Error>((id, done))
                };
                let outcome = match tokio::time::timeout(args.account_timeout, run).await {
                    Ok(Ok((id, done))) => (Some(id), done),
                    Ok(Err(error)) => (None, Err(error)),
                    Err(_) => (
                        None,
                        Err(Error::failed(format!(
                            "did not finish within --account-timeout {}s",
                            args.account_timeout.as_secs()
                        ))
                        .with_hint("raise --account-timeout, or re-run the failed accounts")),
                    ),
                };
                let seconds = started.elapsed().as_secs_f64();
                let result = AccountResult {
                    id: outcome
                        .0
                        .or_else(|| account.entry.account().map(str::to_string)),
                    account,
                    result: outcome.1,
                    seconds,
                };
                match result.failed() {
                    None => step.finish(format!(
                        "{label}: {} ({seconds:.1} s)",
                        result.result.as_ref().map_or("", |d| d.detail.as_str())
                    )),
                    Some(error) => {
                        let mut step = step;
                        step.set_message(format!("{label}: {} ({seconds:.1} s)", error.message()));
                        step.fail();
                    }
                }
                (index, result)
            }
        })
        .buffer_unordered(usize::from(args.concurrency))
        .collect::<Vec<_>>()
        .await;
    let mut results = results;
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
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
    let command = crate::cli::quoted_command(&kept);
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
fn table(results: &[AccountResult], dry_run: bool) -> String {
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

/// Whether this run fans out: as the command's registry entry says (`cli::commands!`), refused
/// with why for a command that runs in one account (`dragons` reads one lab).
pub(crate) fn applies(command: &Command, args: &FanOutArgs) -> Result<bool, Error> {
    if args.accounts.is_none() && !args.org {
        return Ok(false);
    }
    refused(command.reach()).map(|()| true)
}

/// The plan-and-apply commands' per-account result.
pub(crate) async fn applied(
    global: &GlobalArgs,
    command: &str,
    (target, plan): (crate::lab::Target, Plan),
    clients: &crate::aws::Clients,
    site_url: Option<&str>,
    interrupt: signals::Interrupt,
) -> Result<Done, Error> {
    let (document, failure) = commands::apply_quietly(
        global, command, &plan, &target, clients, site_url, interrupt,
    )
    .await;
    Ok(Done {
        summary: Some(plan.summary()),
        detail: plan.summary().to_string(),
        document,
        failure,
    })
}

/// Where a fan-out runs: the base connection, the accounts, and how to report.
pub(crate) struct FanOut<'a> {
    /// The command's name, as typed.
    pub(crate) name: &'static str,
    pub(crate) base: &'a Aws,
    pub(crate) global: &'a GlobalArgs,
    pub(crate) accounts: &'a [Account],
    pub(crate) printer: &'a Printer,
}

impl FanOut<'_> {
    /// Runs `command` in every account ([`each`]), completing an access denial with who was
    /// refused and why.
    pub(crate) async fn each<F>(&self, command: F) -> Vec<AccountResult>
    where
        F: AsyncFn(&Aws, signals::Interrupt) -> Result<Done, Error>,
    {
        each(
            self.base,
            self.global,
            self.accounts,
            self.printer,
            async |aws: &Aws, interrupt| match command(aws, interrupt).await {
                Err(error) => Err(aws.explain(error).await),
                done => done,
            },
        )
        .await
    }
}

/// Runs command `C` (registered as `name`) in every account of `--accounts` / `--org` and
/// reports. Everything local is checked before any request: the command's inputs, the accounts
/// file.
pub(crate) async fn run_each<C: RunEach>(
    name: &'static str,
    global: &GlobalArgs,
    args: &C::Args,
    printer: &Printer,
) -> Result<(), Error> {
    let early = match &global.fan_out.accounts {
        Some(path) => Some(read(path)?),
        None => None,
    };
    let prepared = C::prepare(global, args)?;
    let base = Aws::connect(global).await?;
    for warning in &base.warnings {
        printer.warn(warning);
    }
    let accounts = match early {
        Some(accounts) => accounts,
        None => accounts(&base, &global.fan_out).await?,
    };
    let fan_out = FanOut {
        name,
        base: &base,
        global,
        accounts: &accounts,
        printer,
    };
    let results = C::each(&fan_out, args, &prepared).await?;
    report(printer, global, name, &results)
}

/// A command that runs in one account, asked to fan out: its registry entry's refusal (`applies`
/// refuses it before this is reached).
pub(crate) fn refused(reach: Reach) -> Result<(), Error> {
    match reach {
        Reach::EachAccount => Ok(()),
        Reach::OneAccount { why, hint } => {
            let error = Error::usage(why);
            Err(match hint {
                Some(hint) => error.with_hint(hint),
                None => error,
            })
        }
    }
}

/// Teardown across accounts: every account's plan first, one question for all of them (with the
/// per-account totals), then every removal.
pub(crate) async fn teardown_each(
    fan_out: &FanOut<'_>,
    args: &crate::cli::TeardownArgs,
) -> Result<Vec<AccountResult>, Error> {
    let FanOut {
        base,
        global,
        accounts,
        printer,
        ..
    } = *fan_out;
    use std::collections::HashMap;
    use std::sync::Mutex;

    use crate::commands::teardown;
    type Prepared = (crate::lab::Target, Plan, crate::aws::Clients);
    let plans: Mutex<HashMap<String, Prepared>> = Mutex::new(HashMap::new());
    let planning = GlobalArgs {
        dry_run: true,
        ..global.clone()
    };
    let planned = each(
        base,
        &planning,
        accounts,
        printer,
        async |aws, interrupt| {
            let clients = aws.clients();
            let run = async {
                let (target, plan) = teardown::prepare(aws, &clients, args).await?;
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
            };
            match run.await {
                Err(error) => Err(aws.explain(error).await),
                done => done,
            }
        },
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_file_holds_ids_role_arns_and_profiles() {
        let text = "# the class of 2026\n111111111111\n\
                    arn:aws:iam::222222222222:role/course/Admin  # an instructor role\n\
                    \n  student-3  \n";
        let accounts = parse(text, "accounts.txt").expect("parses");
        assert_eq!(
            accounts.iter().map(|a| a.entry.clone()).collect::<Vec<_>>(),
            [
                Entry::Id("111111111111".into()),
                Entry::Role {
                    arn: "arn:aws:iam::222222222222:role/course/Admin".into(),
                    account: "222222222222".into()
                },
                Entry::Profile("student-3".into()),
            ]
        );
    }

    #[test]
    fn a_bad_line_is_named_before_any_request() {
        for (text, why) in [
            (
                "111111111111\n111111111111\n",
                "line 2: 111111111111 is listed twice",
            ),
            (
                "111111111111\narn:aws:iam::222222222222:role/Admin\narn:aws:iam::222222222222:role/Other\n",
                "line 3: 222222222222 is listed twice",
            ),
            (
                "arn:aws:s3:::bucket\n",
                "line 1: `arn:aws:s3:::bucket` is not an IAM role ARN",
            ),
            ("12345\n", "line 1: `12345` is not an account id"),
            ("student one\n", "line 1: `student one` is neither"),
            (
                "1111111111ab\n",
                "line 1: `1111111111ab` looks like an account id",
            ),
            (
                "1111-2222-3333\n",
                "line 1: `1111-2222-3333` looks like an account id",
            ),
            ("# nothing\n\n", "lists no account"),
        ] {
            let error = parse(text, "accounts.txt").expect_err(text);
            assert!(error.message().contains(why), "{text:?}: {error}");
            assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        }
    }

    /// A 1 MiB line is quoted a screenful long, not whole.
    #[test]
    fn a_long_line_is_quoted_at_most_a_screenful() {
        let text = format!("{}\n", "x y".repeat(350_000));
        let error = parse(&text, "accounts.txt").expect_err("not an entry");
        assert!(
            error.message().len() < 400,
            "{} bytes",
            error.message().len()
        );
        assert!(
            error.message().contains("more characters"),
            "{}",
            &error.message()[..200]
        );
    }

    #[test]
    fn the_session_is_named_after_the_caller() {
        assert_eq!(
            session_name("arn:aws:iam::111111111111:user/teachers/ada"),
            "provision-ada"
        );
        assert_eq!(
            session_name("arn:aws:sts::111111111111:assumed-role/Admin/ada@example.edu"),
            "provision-ada@example.edu"
        );
        assert_eq!(
            session_name(&format!("arn:aws:iam::1:user/{}", "x".repeat(80))).len(),
            64
        );
    }
}
