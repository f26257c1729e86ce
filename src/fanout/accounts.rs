//! Where a fan-out runs: the accounts of `--accounts FILE` (account ids, role ARNs or profile
//! names, every line checked before any request) or of `--org`, and each account's credentials
//! (the role assumed in it, session `provision-<caller>`, or its profile).

use std::collections::BTreeSet;
use std::path::Path;

use crate::connection::aws::Aws;
use crate::error::Error;
use crate::input::{is_account_id, role_account};
use crate::settings::{FanOutArgs, GlobalArgs};

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
    pub(crate) fn account(&self) -> Option<&str> {
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

/// The accounts of the run: from `--accounts FILE`, or the organisation's (`--org`).
pub(crate) async fn accounts(base: &Aws, args: &FanOutArgs) -> Result<Vec<Account>, Error> {
    match (&args.accounts, args.org) {
        (Some(path), _) => read(path),
        (None, true) => organisation(base).await,
        (None, false) => Err(Error::usage("no accounts to fan out to")),
    }
}

pub(crate) fn read(path: &Path) -> Result<Vec<Account>, Error> {
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
pub(crate) async fn connect(
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
            Aws::connect(&global.connection()).await
        }
    }
}
