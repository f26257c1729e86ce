//! Runs a command in every account: at most `--concurrency` at once, each within
//! `--account-timeout`, one account's failure never stopping the others, a signal stopping every
//! account as it stops one run. A command that fans out says how it runs in one account
//! ([`RunEach`]); the runner does the rest.

use std::time::Instant;

use futures::stream::{self, StreamExt};

use crate::connection::aws::Aws;
use crate::engine::signals;
use crate::error::Error;
use crate::printer::Printer;
use crate::settings::{FanOutArgs, GlobalArgs};

use super::*;

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

/// Whether this run fans out: as the command's registry entry says (`cli::commands!`), refused
/// with why for a command that runs in one account (`dragons` reads one lab).
pub(crate) fn applies(reach: Reach, args: &FanOutArgs) -> Result<bool, Error> {
    if args.accounts.is_none() && !args.org {
        return Ok(false);
    }
    refused(reach).map(|()| true)
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
    let base = Aws::connect(&global.connection()).await?;
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

/// A command that runs in every account of `--accounts` / `--org` (`Reach::EachAccount`).
pub(crate) trait RunEach {
    /// Its arguments, as clap parses them (its `Run::Args`).
    type Args;
    /// What is checked and resolved on this machine before any request (the inputs).
    type Prepared;

    /// Checks the command's inputs before any request of the fan-out.
    fn prepare(global: &GlobalArgs, args: &Self::Args) -> Result<Self::Prepared, Error>;

    /// Runs the command in every account, each account's result with it.
    async fn each(
        fan_out: &FanOut<'_>,
        args: &Self::Args,
        prepared: &Self::Prepared,
    ) -> Result<Vec<AccountResult>, Error>;
}
