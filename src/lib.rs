//! `provision`: sets up, and at course end tears down, the AWS resources of a university cloud
//! course. Observe → plan → apply: `resources` observe AWS and plan changes purely, `apply` executes
//! a plan, `commands` compose them; `printer` is the only writer to the terminal.

pub mod apply;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod error;
pub mod inventory;
pub mod lab_data;
pub mod plan;
pub mod policy;
pub mod printer;
pub mod resources;
pub mod template;

use cli::{Cli, Command};
use error::{Error, ExitStatus};
use printer::Printer;
use serde::Serialize;

/// Runs a parsed command line and renders its error, returning the exit status.
pub async fn run(cli: Cli) -> ExitStatus {
    let printer = Printer::new(cli.global.output, cli.global.quiet, cli.global.verbose);
    let (name, result) = match &cli.command {
        Command::InstanceProfile(args) => (
            "instance-profile",
            commands::instance_profile::run(&cli.global, args, &printer).await,
        ),
        Command::DragonsLab(args) => (
            "dragons-lab",
            commands::dragons_lab::run(&cli.global, args, &printer).await,
        ),
        Command::Dragons(args) => (
            "dragons",
            commands::dragons::run(&cli.global, args, &printer).await,
        ),
        Command::Teardown(args) => (
            "teardown",
            commands::teardown::run(&cli.global, args, &printer).await,
        ),
        Command::Status(args) => (
            "status",
            commands::status::run(&cli.global, args, &printer).await,
        ),
        Command::Whoami => ("whoami", commands::whoami::run(&cli.global, &printer).await),
    };
    match result {
        Ok(()) => ExitStatus::Success,
        Err(error) => {
            printer.error(&error);
            if printer.is_json() {
                let _ = printer.json(&ErrorReport::new(name, &error));
            }
            error.status()
        }
    }
}

/// `--output json`'s document when a command fails.
#[derive(Debug, Serialize)]
struct ErrorReport<'a> {
    command: &'a str,
    error: ErrorBody<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    causes: &'a [String],
    hints: &'a [String],
    exit_code: i32,
}

impl<'a> ErrorReport<'a> {
    fn new(command: &'a str, error: &'a Error) -> Self {
        Self {
            command,
            error: ErrorBody {
                message: error.message(),
                causes: error.causes(),
                hints: error.hints(),
                exit_code: error.status() as i32,
            },
        }
    }
}
