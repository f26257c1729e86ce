//! The command line: the global flags (`settings`) and one subcommand per capability, registered
//! once in `commands!` with its runner and reach. Doc comments here are the `--help` text.

pub(crate) mod docs;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::error::Error;
use crate::fanout::Reach;
use crate::printer::Printer;
use crate::settings::{
    CompletionsArgs, DragonsApiArgs, DragonsArgs, DragonsLabArgs, ExportCommand, GlobalArgs,
    IdeArgs, InstanceProfileArgs, ManArgs, NamesArgs, SessionArgs, TeardownArgs, WhoamiArgs,
};

/// Set up — and at course end tear down — the AWS resources of the cloud course, idempotently.
#[derive(Debug, Parser)]
#[command(name = "provision", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Registers the commands, one entry each: the clap variant (with its help text), the name as
/// typed, and whether it runs across accounts (`--accounts`, `--org`) or why not. Generates the
/// `Command` enum, `Command::name`, `Command::reach` and [`COMMANDS`], from which fan-out and the
/// JSON schema's command lists come.
macro_rules! commands {
    ($(
        $(#[$meta:meta])*
        $variant:ident($args:ty) => $name:literal, $runner:ty, $reach:ident $({ $($why:tt)* })?;
    )+) => {
        // Parsed once per run: boxing the large variant would buy nothing.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Subcommand)]
        pub(crate) enum Command {
            $($(#[$meta])* $variant($args),)+
        }

        /// Every command, by name, with its reach: what clap parses and what the JSON schema
        /// lists are checked against it (tests).
        #[cfg(test)]
        pub(crate) const COMMANDS: &[(&str, Reach)] = &[$(($name, reach!($reach $({ $($why)* })?)),)+];

        impl Command {
            /// The subcommand's name, as typed.
            pub(crate) fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)+
                }
            }

            /// Whether it runs in many accounts.
            pub(crate) fn reach(&self) -> Reach {
                match self {
                    $(Self::$variant(_) => reach!($reach $({ $($why)* })?),)+
                }
            }

            /// Runs it in the caller's account (or, the documentation commands, here).
            pub(crate) async fn run(&self, global: &GlobalArgs, printer: &Printer)
                -> Result<(), Error>
            {
                match self {
                    $(Self::$variant(args) =>
                        <$runner as crate::commands::Run>::run(global, args, printer).await,)+
                }
            }

            /// Runs it in every account of `--accounts` / `--org`, as its reach says.
            pub(crate) async fn fan_out(&self, global: &GlobalArgs, printer: &Printer)
                -> Result<(), Error>
            {
                match self {
                    $(Self::$variant(args) =>
                        fan_out!(($reach $({ $($why)* })?), $runner, $name, global, args, printer),)+
                }
            }
        }
    };
}

/// A registry entry's reach: `each`, or `one { why, hint }`.
macro_rules! reach {
    (each) => {
        Reach::EachAccount
    };
    (one { $($why:tt)* }) => {
        Reach::OneAccount { $($why)* }
    };
}

/// A registry entry's fan-out: its runner's in every account, or its refusal.
macro_rules! fan_out {
    ((each), $runner:ty, $name:literal, $global:expr, $args:expr, $printer:expr) => {
        crate::fanout::run_each::<$runner>($name, $global, $args, $printer).await
    };
    ((one { $($why:tt)* }), $runner:ty, $name:literal, $global:expr, $args:expr, $printer:expr) => {{
        let _ = ($global, $args, $printer);
        crate::fanout::refused(reach!(one { $($why)* }))
    }};
}

commands! {
    /// Ensure the course IDE for accounts that can no longer create Cloud9: an EC2 instance
    /// reached through Session Manager (no inbound port), holding the lab's instance profile.
    Ide(IdeArgs) => "ide", commands::ide::Runner, each;
    /// Ensure the EC2 role, its permissions, an instance profile holding it, and its association
    /// with the course IDE's instance.
    InstanceProfile(InstanceProfileArgs) => "instance-profile",
        commands::instance_profile::Runner, each;
    /// Ensure the Dragons lab: the S3 bucket, configured, the dragons data uploaded, and the two
    /// SSM parameters the lab application reads to find it.
    DragonsLab(DragonsLabArgs) => "dragons-lab", commands::dragons_lab::Runner, each;
    /// Ensure the Dragons lab's API: GET /dragons through API Gateway and a Lambda function (its
    /// role, the function, the REST API, its permission and its stage).
    DragonsApi(DragonsApiArgs) => "dragons-api", commands::dragons_api::Runner, each;
    /// Read the dragons back the way the lab application does, as a check that the lab works.
    Dragons(DragonsArgs) => "dragons", commands::dragons::Runner, one {
        why: "dragons reads one account's lab: it does not fan out",
        hint: Some("run it with that account's credentials (--profile NAME)"),
    };
    /// Show every resource provision manages: present or missing, in sync or drifted, owned or not.
    Status(NamesArgs) => "status", commands::status::Runner, each;
    /// Remove everything provision created — and nothing else — in dependency order.
    Teardown(TeardownArgs) => "teardown", commands::teardown::Runner, each;
    /// Show who AWS thinks you are, and where the credentials came from.
    Whoami(WhoamiArgs) => "whoami", commands::whoami::Runner, each;
    /// Turn your access keys and an MFA code into a temporary profile (what `aws sts
    /// get-session-token` and a hand-edited credentials file do), reused until it expires.
    Session(SessionArgs) => "session", commands::session::Runner, one {
        why: "session makes an MFA session for your own credentials: it does not fan out",
        hint: Some(
            "run `provision session --profile BASE` once; the fan-out then assumes each account's \
             role with that session (--profile BASE-mfa)",
        ),
    };
    /// Print what the commands create in another tool's form.
    #[command(subcommand)]
    Export(ExportCommand) => "export", commands::export::Runner, one {
        why: "export prints one template for every account: it does not fan out",
        hint: Some("deploy the template to many accounts with CloudFormation StackSets"),
    };
    /// Print a shell completion script (e.g. `provision completions bash >
    /// ~/.local/share/bash-completion/completions/provision`).
    Completions(CompletionsArgs) => "completions", docs::Completions, one {
        why: "completions prints documentation: it does not fan out",
        hint: None,
    };
    /// Print the manual page (roff), from the same definition as --help: `provision man | man -l -`.
    Man(ManArgs) => "man", docs::Man, one {
        why: "man prints documentation: it does not fan out",
        hint: None,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::input::BucketName;
    use clap::CommandFactory;

    /// The registry of commands is every subcommand clap parses, and the JSON schema's list of
    /// the commands a fan-out document may be of is the registry's `EachAccount` ones.
    #[test]
    fn the_commands_registry_is_what_clap_parses_and_the_schema_lists() {
        let parsed: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        let registered: Vec<String> = COMMANDS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(parsed, registered);
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/provision.schema.json"))
                .expect("the schema is JSON");
        let fan_out = schema["$defs"]
            .as_object()
            .expect("$defs")
            .values()
            .find(|d| d["properties"].get("accounts").is_some())
            .expect("the fan-out document");
        let listed: Vec<&str> = fan_out["properties"]["command"]["enum"]
            .as_array()
            .expect("its command enum")
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect();
        let each: Vec<&str> = COMMANDS
            .iter()
            .filter(|(_, reach)| *reach == Reach::EachAccount)
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(
            listed, each,
            "the fan-out document's commands in the schema"
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_are_accepted_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "provision",
            "instance-profile",
            "--region",
            "ca-central-1",
            "--dry-run",
        ])
        .expect("parses");
        assert_eq!(cli.global.region.as_deref(), Some("ca-central-1"));
        assert!(cli.global.dry_run);
    }

    #[test]
    fn values_arrive_typed_and_shared_flags_have_one_definition() {
        let cli = Cli::try_parse_from([
            "provision",
            "instance-profile",
            "--instance-tag",
            "Name=ide",
            "--policy-arn",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "--bucket",
            "my-lab",
            "--adopt",
        ])
        .expect("parses");
        let Command::InstanceProfile(args) = cli.command else {
            panic!("instance-profile")
        };
        assert_eq!(args.instance_tag[0].key, "Name");
        assert_eq!(args.names.profile_name(), "dragons-lab-ec2-role");
        assert_eq!(
            args.bucket.bucket.as_ref().map(BucketName::as_str),
            Some("my-lab")
        );
        assert!(args.adopt.adopt);
        assert_eq!(args.propagation_timeout, Duration::from_secs(120));
    }

    #[test]
    fn our_parse_errors_reach_the_caller_intact() {
        let error = Cli::try_parse_from(["provision", "dragons-lab", "--bucket", "Dragons"])
            .expect_err("refused");
        let ours = std::error::Error::source(&error)
            .and_then(|s| s.downcast_ref::<crate::error::Error>())
            .expect("our error inside clap's");
        assert!(
            ours.message()
                .contains("upper-case letters are not allowed")
        );
        let error = Cli::try_parse_from(["provision", "instance-profile", "--all-matching"])
            .expect_err("needs a tag");
        assert!(error.to_string().contains("--instance-tag"), "{error}");
    }
}
