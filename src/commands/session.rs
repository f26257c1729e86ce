//! `provision session`: long-term keys plus an MFA code become a temporary profile, as the course
//! teaches by hand (`aws sts get-session-token`, `aws configure --profile`, then editing the
//! credentials file for `aws_session_token`) — in one step, reused until it expires.
//!
//! Everything that can be checked locally is checked before any request: the code's form, the
//! duration against STS's limits, that a code can be had (a terminal, or `--token-code`), and that
//! the credentials file may be written (not Cloud9's, not a profile of long-term keys).

use std::time::Duration;

use aws_types::SdkConfig;
use serde::Serialize;

use crate::commands::Run;
use crate::connection::credentials;
use crate::connection::mfa::{self, MfaProfile, Session};
use crate::connection::profiles::SharedFiles;
use crate::error::Error;
use crate::printer::Printer;
use crate::settings::{GlobalArgs, SessionArgs};

/// The JSON document of `provision session`.
#[derive(Debug, Serialize)]
struct Report<'a> {
    schema_version: u32,
    command: &'static str,
    /// The profile the session is kept in (absent with `--print-env`).
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
    /// The profile it was made from.
    base: &'a str,
    /// `session-token` (sts:GetSessionToken) or `assume-role` (the profile's role, with MFA).
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    /// The MFA device the code came from (absent when the kept session was reused).
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_serial: Option<&'a str>,
    expires: String,
    expires_in_seconds: u64,
    /// The kept session was still good: no request was made.
    reused: bool,
    /// The credentials file written, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    written_to: Option<String>,
    /// With `--print-env`: the variables to set.
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<std::collections::BTreeMap<&'static str, &'a str>>,
}

/// The command, as the registry runs it (`cli::commands!`).
pub(crate) struct Runner;

impl Run for Runner {
    type Args = SessionArgs;

    async fn run(global: &GlobalArgs, args: &SessionArgs, printer: &Printer) -> Result<(), Error> {
        // The shared files are read and checked (regular files, size, syntax) before anything else.
        let files = SharedFiles::load()?;
        let connection = global.connection();
        let explicit = crate::connection::sources::explicit_profile(&connection)?;
        if let Some(name) = &explicit {
            crate::connection::sources::check_profile_exists(name, &files)?;
        }
        let asked = explicit.unwrap_or_else(|| "default".to_string());
        let profile = session_profile(&files, &asked, args, printer)?;
        let base = profile.base.clone();
        let into = args
            .into
            .clone()
            .unwrap_or_else(|| profile.session_profile());
        let duration = mfa::duration_for(&profile, args.duration)?;
        let serial = configured_serial(args, &profile)?;
        if !args.force
            && let Some(session) = mfa::kept(&files.credentials, &into)
                .filter(|session| session.base == base && session.is_fresh())
        {
            return report(printer, args, &session, None, None, None, true);
        }
        check_before_any_request(&files, args, &into, &base)?;

        // STS answers in every region; the profile's region, else us-east-1, is used for the call.
        let (config, _, warnings) =
            crate::connection::sources::load_config(&connection, &base, Some("us-east-1")).await?;
        for warning in &warnings {
            printer.warn(warning);
        }
        let bounds = credentials::Bounds {
            config: config.clone(),
            timeout: global.timeout,
            verbose: global.verbose,
        };
        let base_config = config
            .to_builder()
            .credentials_provider(mfa::base_credentials(&bounds, &files, &profile).await?)
            .build();
        let serial = match serial {
            Some(serial) => serial,
            None => device(printer, &base_config).await?,
        };
        let code = match &args.token_code {
            Some(code) => code.clone(),
            None => mfa::prompt_code(&serial)?,
        };
        let made = Made {
            profile: &profile,
            serial: &serial,
            code: &code,
            duration,
            into: &into,
        };
        let session = made.start(printer, &base_config).await?;
        let written = if args.print_env {
            None
        } else {
            Some(mfa::store(&session)?)
        };
        let kind = if profile.is_role() {
            "assume-role"
        } else {
            "session-token"
        };
        report(
            printer,
            args,
            &session,
            Some(kind),
            Some(&serial),
            written.map(|path| path.display().to_string()),
            false,
        )
    }
}

/// The profile whose session is made: the one asked for, or — for a role profile without a device
/// of its own whose source_profile names one — that source, from whose session every command with
/// the role profile then assumes its role.
fn session_profile(
    files: &SharedFiles,
    asked: &str,
    args: &SessionArgs,
    printer: &Printer,
) -> Result<MfaProfile, Error> {
    let profile = MfaProfile::of(asked, &files.config, &files.credentials);
    let chained = match (&args.mfa_serial, &profile.mfa_serial) {
        (None, None) if profile.is_role() => {
            mfa::chained_holder(&credentials::walk(asked, files)?, files)
        }
        _ => None,
    };
    Ok(match chained {
        Some(holder) => {
            let note = format!(
                "profile {asked} assumes its role with profile {}'s keys, which name an \
                 mfa_serial: the session is {}'s, and commands with --profile {asked} assume the \
                 role from it",
                holder.base, holder.base
            );
            printer.step(note.clone()).finish(note);
            holder
        }
        None => profile,
    })
}

/// The MFA device, where the command line or the profile names it (checked); a role's must be
/// named.
fn configured_serial(args: &SessionArgs, profile: &MfaProfile) -> Result<Option<String>, Error> {
    let base = &profile.base;
    let serial = match (&args.mfa_serial, &profile.mfa_serial) {
        (Some(serial), _) => Some(serial.clone()),
        (None, Some(configured)) => Some(
            crate::input::check_serial(configured)
                .map_err(|e| e.with_cause(format!("it is profile {base}'s mfa_serial setting")))?,
        ),
        (None, None) => None,
    };
    if profile.is_role() && serial.is_none() {
        return Err(Error::usage(format!(
            "profile {base} assumes a role; its MFA device must be named"
        ))
        .with_hint(format!(
            "add `mfa_serial = ARN` to profile {base}, or pass --mfa-serial ARN"
        )));
    }
    Ok(serial)
}

/// What is refused before any request: a credentials file the session cannot be written to, and
/// no code with no terminal to ask for one on.
fn check_before_any_request(
    files: &SharedFiles,
    args: &SessionArgs,
    into: &str,
    base: &str,
) -> Result<(), Error> {
    if !args.print_env {
        let path = mfa::credentials_target()?;
        mfa::check_writable(&files.credentials, &path, into, base)?;
    }
    if args.token_code.is_none() && !mfa::can_prompt() {
        return Err(Error::usage(
            "the MFA code is asked for on a terminal, and there is none here",
        )
        .with_hint("pass the six digits the device shows now with --token-code CODE"));
    }
    Ok(())
}

/// The caller's one MFA device, from iam:ListMFADevices.
async fn device(printer: &Printer, base_config: &SdkConfig) -> Result<String, Error> {
    let step = printer.step("finding your MFA device (iam:ListMFADevices)");
    match mfa::discover_serial(base_config).await {
        Ok(serial) => {
            step.finish(format!("MFA device {serial}"));
            Ok(serial)
        }
        Err(error) => {
            step.fail();
            Err(error)
        }
    }
}

/// The session to make.
struct Made<'a> {
    profile: &'a MfaProfile,
    serial: &'a str,
    code: &'a str,
    duration: Duration,
    into: &'a str,
}

impl Made<'_> {
    /// Makes it: sts:AssumeRole with the code for a role profile, sts:GetSessionToken otherwise.
    async fn start(&self, printer: &Printer, base_config: &SdkConfig) -> Result<Session, Error> {
        let step = printer.step(if self.profile.is_role() {
            format!(
                "assuming {} with MFA (sts:AssumeRole)",
                self.profile.role_arn.as_deref().unwrap_or_default()
            )
        } else {
            "starting the session (sts:GetSessionToken)".to_string()
        });
        let started = mfa::start(
            base_config,
            self.profile,
            self.serial,
            self.code,
            self.duration,
            self.into,
        )
        .await;
        match started {
            Ok(session) => {
                step.finish(format!(
                    "session until {} ({})",
                    mfa::timestamp(session.expires),
                    remaining(session.remaining())
                ));
                Ok(session)
            }
            Err(error) => {
                step.fail();
                Err(error)
            }
        }
    }
}

fn report(
    printer: &Printer,
    args: &SessionArgs,
    session: &Session,
    kind: Option<&'static str>,
    serial: Option<&str>,
    written_to: Option<String>,
    reused: bool,
) -> Result<(), Error> {
    let kept_in = (!args.print_env || reused).then_some(session.profile.as_str());
    if printer.is_json() {
        let environment = args.print_env.then(|| {
            let mut variables = std::collections::BTreeMap::from([
                ("AWS_ACCESS_KEY_ID", session.access_key_id.as_str()),
                ("AWS_SECRET_ACCESS_KEY", session.secret_access_key.as_str()),
                ("AWS_SESSION_TOKEN", session.session_token.as_str()),
            ]);
            if let Some(region) = &session.region {
                variables.insert("AWS_REGION", region.as_str());
            }
            variables
        });
        return printer.json(&Report {
            schema_version: crate::printer::SCHEMA_VERSION,
            command: "session",
            profile: kept_in,
            base: &session.base,
            kind,
            mfa_serial: serial,
            expires: mfa::timestamp(session.expires),
            expires_in_seconds: session.remaining().as_secs(),
            reused,
            written_to,
            environment,
        });
    }
    if args.print_env {
        printer.raw(&session.env_lines().join("\n"));
        if reused {
            printer.step("").finish(format!(
                "the session kept as profile {} is good for {} more; --force makes a new one",
                session.profile,
                remaining(session.remaining())
            ));
        }
        return Ok(());
    }
    if reused {
        printer.data(format!(
            "Profile {} holds a session of profile {} good until {} ({} left): nothing to do. \
             --force makes a new one.",
            session.profile,
            session.base,
            mfa::timestamp(session.expires),
            remaining(session.remaining())
        ));
    } else {
        printer.data(format!(
            "Wrote profile {} to {}: a session of profile {} with MFA device {}, until {} ({}).",
            session.profile,
            written_to.as_deref().unwrap_or("the credentials file"),
            session.base,
            serial.unwrap_or("?"),
            mfa::timestamp(session.expires),
            remaining(session.remaining())
        ));
    }
    printer.data(format!(
        "Use it: provision --profile {0} …   (or export AWS_PROFILE={0} for the AWS CLI too)",
        session.profile
    ));
    Ok(())
}

/// `1h 0m`, `42m`.
fn remaining(duration: Duration) -> String {
    let minutes = duration.as_secs() / 60;
    if minutes >= 60 {
        format!("{}h {}m", minutes / 60, minutes % 60)
    } else {
        format!("{minutes}m")
    }
}
