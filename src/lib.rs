//! `provision`: sets up, and at course end tears down, the AWS resources of a university cloud
//! course. Observe → plan → apply: `resources` observe AWS and plan each resource purely, `plans`
//! holds each command's desired and observed state and its plan, `apply` executes a plan, and
//! `commands` compose them; `printer` is the only writer to the terminal.
//!
//! The crate's one public item is [`main`]; everything else is the program's own.

mod cli;
mod commands;
mod connection;
mod course;
mod engine;
mod error;
mod fanout;
mod input;
mod local_file;
mod plans;
mod printer;
mod requests;
mod resources;
mod settings;
mod shell;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use serde::Serialize;

use cli::Cli;
use error::{Error, ErrorBody, ExitStatus};
use printer::Printer;
use settings::OutputFormat;

/// Parses the command line, runs the command, renders its error, and returns the documented exit
/// code: 0 success, 1 a failed operation, 2 usage or invalid input.
pub fn main() -> ExitCode {
    // `--color` is known before the command line is parsed, so that a usage error — clap's, or a
    // value our parsers refused — is coloured (or not) as asked.
    let color = color_asked();
    let clap_color = match color {
        Some(settings::ColorWhen::Always) => clap::ColorChoice::Always,
        Some(settings::ColorWhen::Never) => clap::ColorChoice::Never,
        Some(settings::ColorWhen::Auto) | None => clap::ColorChoice::Auto,
    };
    use_color(color.unwrap_or(settings::ColorWhen::Auto));
    let cli = match Cli::command()
        .color(clap_color)
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(error) => return invalid_command_line(&error),
    };
    if let Some(url) = &cli.global.endpoint_url {
        endpoint_everywhere(url);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(ExitStatus::Failure as u8);
        }
    };
    ExitCode::from(runtime.block_on(run(cli)) as u8)
}

/// `--endpoint-url` for every client, the SDK's own included: the credential providers (a role
/// profile's STS, SSO, web identity) build their clients from the environment, not from the
/// run's configuration, so the flag is also put where they look — `AWS_ENDPOINT_URL` — and the
/// settings that would override or ignore it there are removed, as the AWS CLI's `--endpoint-url`
/// overrides them all. A test bed that one request escapes is not a test bed.
fn endpoint_everywhere(url: &str) {
    let overriding: Vec<std::ffi::OsString> = std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| {
            name.to_str().is_some_and(|name| {
                name.starts_with("AWS_ENDPOINT_URL_")
                    || name == "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
            })
        })
        .collect();
    // SAFETY: called from `main` before the runtime is built: no other thread exists to read
    // the environment while it changes.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", url);
        for name in overriding {
            std::env::remove_var(name);
        }
    }
}

/// The `--color` of the command line, read before it is parsed (the last one wins, as clap's).
fn color_asked() -> Option<settings::ColorWhen> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut asked = None;
    for (at, arg) in args.iter().enumerate() {
        let value = match arg.strip_prefix("--color=") {
            Some(value) => Some(value),
            None if arg == "--color" => args.get(at + 1).map(String::as_str),
            None => None,
        };
        asked = match value {
            Some("always") => Some(settings::ColorWhen::Always),
            Some("never") => Some(settings::ColorWhen::Never),
            Some("auto") => Some(settings::ColorWhen::Auto),
            _ => asked,
        };
        if arg == "--" {
            break;
        }
    }
    asked
}

/// Colour as `when` says, for everything that writes: our printer (anstream) and the progress
/// bars (indicatif, through console, whose spinner timer is dim). anstream decides `auto`: a
/// terminal, and neither NO_COLOR nor (to force) CLICOLOR_FORCE; console follows its decision.
fn use_color(when: settings::ColorWhen) {
    match when {
        settings::ColorWhen::Auto => anstream::ColorChoice::Auto.write_global(),
        settings::ColorWhen::Always => anstream::ColorChoice::Always.write_global(),
        settings::ColorWhen::Never => anstream::ColorChoice::Never.write_global(),
    }
    let colours = |choice: anstream::ColorChoice| choice != anstream::ColorChoice::Never;
    console::set_colors_enabled_stderr(colours(anstream::AutoStream::choice(&std::io::stderr())));
    console::set_colors_enabled(colours(anstream::AutoStream::choice(&std::io::stdout())));
}

/// Runs a parsed command line and renders its error, returning the exit status.
async fn run(cli: Cli) -> ExitStatus {
    use_color(cli.global.color);
    let printer = Printer::new(cli.global.output, cli.global.quiet, cli.global.verbose);
    let global = &cli.global;
    {
        let printer = printer.clone();
        let command = cli.command.name();
        engine::signals::install(move |signal, applied| {
            printer.clear();
            let message = if applied {
                format!(
                    "interrupted by {} after the changes were made",
                    signal.name()
                )
            } else {
                format!(
                    "interrupted by {} before any change was made; nothing was changed",
                    signal.name()
                )
            };
            let error = Error::interrupted(signal.exit_status(), message);
            let _ = report(&printer, command, &error);
        });
    }
    let result = match fanout::applies(cli.command.reach(), &global.fan_out) {
        Err(error) => Err(error),
        Ok(true) => cli.command.fan_out(global, &printer).await,
        Ok(false) => cli.command.run(global, &printer).await,
    };
    match result {
        Ok(()) => ExitStatus::Success,
        Err(error) => report(&printer, cli.command.name(), &error),
    }
}

/// Renders a failed command's error on stderr and, with `--output json`, as the JSON document.
fn report(printer: &Printer, command: &str, error: &Error) -> ExitStatus {
    printer.error(error);
    if printer.is_json() && !error.is_in_report() {
        let _ = printer.json(&ErrorReport::new(command, error));
    }
    error.status()
}

/// A command line clap refused. A value our own parsers refused (`input`) is rendered like every
/// other error — with its hint, and as JSON with `--output json`; the rest (help, version, unknown
/// flags) as clap renders them.
fn invalid_command_line(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args
        .windows(2)
        .any(|pair| pair[0] == "--output" && pair[1] == "json")
        || args.iter().any(|a| a == "--output=json");
    let ours = std::error::Error::source(error).and_then(|s| s.downcast_ref::<Error>());
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    let converted;
    let ours = match ours {
        Some(ours) => ours,
        // Help and version are what was asked for; other clap errors are rendered by clap for
        // people, and as the same JSON error document as every other error for programs.
        None if json && !informational => {
            converted = clap_usage_error(error);
            &converted
        }
        None => {
            let _ = error.print();
            return ExitCode::from(error.exit_code() as u8);
        }
    };
    let format = if json {
        OutputFormat::Json
    } else {
        OutputFormat::Human
    };
    let subcommands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let command = args
        .iter()
        .find(|a| subcommands.contains(a))
        .map_or("provision", String::as_str);
    ExitCode::from(report(&Printer::new(format, false, false), command, ours) as u8)
}

/// A clap usage error as one of ours: its first line as the message, its usage as a hint.
fn clap_usage_error(error: &clap::Error) -> Error {
    let rendered = error.render().to_string();
    let mut lines = rendered.lines().filter(|l| !l.trim().is_empty());
    let message = lines
        .next()
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ")
        .to_string();
    let mut usage = Error::usage(message);
    for line in lines {
        usage = usage.with_hint(line.trim().to_string());
    }
    usage
}

/// `--output json`'s document when a command fails.
#[derive(Debug, Serialize)]
struct ErrorReport<'a> {
    schema_version: u32,
    command: &'a str,
    error: ErrorBody<'a>,
}

impl<'a> ErrorReport<'a> {
    fn new(command: &'a str, error: &'a Error) -> Self {
        Self {
            schema_version: printer::SCHEMA_VERSION,
            command,
            error: ErrorBody::from(error),
        }
    }
}

#[cfg(test)]
mod layout {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The rooms of `src/`, top to bottom: a room's code uses only rooms below it (README, "How it
    /// works"). A top-level file is a room of its own; a folder is one room.
    const ROOMS: &[&str] = &[
        "lib",
        "cli",
        "commands",
        "fanout",
        "printer",
        "plans",
        "resources",
        "course",
        "engine",
        "connection",
        "settings",
        "input",
        "local_file",
        "error",
        "requests",
        "shell",
    ];

    /// Every `crate::room` a file's code (its tests left out) names.
    fn uses(text: &str) -> BTreeSet<String> {
        let code = match text.find("#[cfg(test)]\nmod ") {
            Some(tests) => &text[..tests],
            None => text,
        };
        code.match_indices("crate::")
            .map(|(at, _)| {
                code[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect::<String>()
            })
            .filter(|room| !room.is_empty())
            .collect()
    }

    fn files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    /// Issue 23: the module graph has no arrow running back up and no circle. Every `crate::`
    /// path in a room names the room itself or one below it; a new file must be given a room.
    #[test]
    fn every_room_uses_only_rooms_below_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        files(&src, &mut found);
        let mut wrong = Vec::new();
        for path in found {
            let relative = path.strip_prefix(&src).expect("under src");
            let first = relative
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .unwrap_or_default();
            let room = match first.strip_suffix(".rs") {
                Some("main") => "lib",
                Some(stem) => stem,
                None => first,
            };
            let Some(level) = ROOMS.iter().position(|r| *r == room) else {
                wrong.push(format!("{} is in no room", relative.display()));
                continue;
            };
            let text = std::fs::read_to_string(&path).expect("readable");
            for used in uses(&text) {
                match ROOMS.iter().position(|r| *r == used) {
                    Some(below) if below >= level => {}
                    Some(_) => wrong.push(format!("{} uses {used}, above it", relative.display())),
                    None => wrong.push(format!(
                        "{} uses crate::{used}, no room",
                        relative.display()
                    )),
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
