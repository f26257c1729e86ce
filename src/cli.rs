//! The command line: global flags (accepted before or after the subcommand) and one subcommand per
//! capability. Doc comments here are the `--help` text. Values are typed where they are parsed
//! (`input`), so a command receives only checked input.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::error::Error;
use crate::input::{
    BucketName, EndpointUrl, InstanceId, ObjectKey, ParameterPrefix, PolicyArn, ProfileName,
    Region, RoleName, TagFilter, parse_duration, parse_timeout,
};
use crate::printer::Printer;

/// This run's command line, quoted for a POSIX shell (to resume it, or to suggest a variant).
pub(crate) fn command_line() -> String {
    quoted_command(&std::env::args().skip(1).collect::<Vec<_>>())
}

/// `provision` with these arguments, quoted for a POSIX shell.
pub(crate) fn quoted_command(args: &[String]) -> String {
    let quote = |arg: &String| {
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c));
        if plain {
            arg.clone()
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        }
    };
    std::iter::once("provision".to_string())
        .chain(args.iter().map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_region(text: &str) -> Result<String, Error> {
    Region::parse(text).map(|region| region.as_str().to_string())
}

fn parse_endpoint_url(text: &str) -> Result<String, Error> {
    EndpointUrl::parse(text).map(|url| url.as_str().to_string())
}

/// Set up — and at course end tear down — the AWS resources of the cloud course, idempotently.
#[derive(Debug, Parser)]
#[command(name = "provision", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum OutputFormat {
    /// Plan and summary for people; progress on stderr.
    #[default]
    Human,
    /// Exactly one JSON document on stdout.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum ColorWhen {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalArgs {
    /// Named profile from the shared config/credentials files [default: AWS_PROFILE, else "default"].
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,

    /// AWS region [default: AWS_REGION, else the profile's region].
    #[arg(long, global = true, value_name = "REGION", value_parser = parse_region)]
    pub(crate) region: Option<String>,

    /// Region where the lab application reads its SSM parameters: the course's app.py is fixed to
    /// us-east-1, whatever region the bucket is in.
    #[arg(long, global = true, value_name = "REGION", env = "PROVISION_APP_REGION", default_value = "us-east-1", value_parser = parse_region)]
    pub(crate) app_region: String,

    /// Put before the lab's SSM parameter names — a path like /course/alice/ or a prefix like
    /// alice_ — for students sharing one account, with the lab application changed to read them.
    #[arg(long, global = true, value_name = "PREFIX", env = "PROVISION_PARAMETER_PREFIX", default_value = "", hide_default_value = true, value_parser = ParameterPrefix::parse)]
    pub(crate) parameter_prefix: ParameterPrefix,

    /// Send every request to this endpoint, e.g. a local emulator [default: AWS_ENDPOINT_URL].
    #[arg(long, global = true, value_name = "URL", value_parser = parse_endpoint_url)]
    pub(crate) endpoint_url: Option<String>,

    /// The longest one AWS request may take, retries included (e.g. 30s, 2m).
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    pub(crate) timeout: Duration,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) output: OutputFormat,

    /// Colour: on a terminal unless NO_COLOR is set (auto), always (as CLICOLOR_FORCE), or never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub(crate) color: ColorWhen,

    /// Observe and print the plan; send no mutating request.
    #[arg(long, global = true)]
    pub(crate) dry_run: bool,

    /// Answer yes to confirmation prompts.
    #[arg(short = 'y', long, global = true)]
    pub(crate) yes: bool,

    /// Print each request step as it happens.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub(crate) verbose: bool,

    /// Print only the result and errors.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,

    #[command(flatten)]
    pub(crate) fan_out: FanOutArgs,
}

/// Running a command in many accounts (instructors with an account per student).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Many accounts")]
pub(crate) struct FanOutArgs {
    /// Run in every account FILE lists: one a line, a 12-digit account id, a role ARN or a
    /// profile name (# comments).
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "org")]
    pub(crate) accounts: Option<PathBuf>,

    /// Run in every active account of the organisation (Organizations ListAccounts).
    #[arg(long, global = true)]
    pub(crate) org: bool,

    /// The role assumed in each account given by id (the one AWS Organizations creates in new
    /// accounts by default).
    #[arg(long, global = true, value_name = "NAME", default_value = "OrganizationAccountAccessRole", value_parser = parse_account_role)]
    pub(crate) account_role: String,

    /// The external id the accounts' roles ask for in their trust policy.
    #[arg(long, global = true, value_name = "ID", value_parser = parse_external_id)]
    pub(crate) external_id: Option<String>,

    /// How many accounts run at once.
    #[arg(long, global = true, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) concurrency: u16,

    /// The longest one account's run may take (e.g. 10m).
    #[arg(long, global = true, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub(crate) account_timeout: Duration,

    /// Write the entries of the accounts that failed to FILE, for `--accounts FILE`.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) failures_to: Option<PathBuf>,
}

fn parse_account_role(text: &str) -> Result<String, Error> {
    RoleName::parse(text).map(|name| name.as_str().to_string())
}

/// An STS external id: 2 to 1224 characters of `[\w+=,.@:/-]`.
fn parse_external_id(text: &str) -> Result<String, Error> {
    let allowed = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
    if (2..=1224).contains(&text.len()) && allowed {
        return Ok(text.to_string());
    }
    Err(Error::usage(format!("`{text}` is not an external id"))
        .with_hint("an external id is 2 to 1224 letters, digits and _+=,.@:/-"))
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

/// Whether a command runs in every account of `--accounts` / `--org`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Once per account, with a report of every account's outcome.
    EachAccount,
    /// In one account only: why, and what to do instead.
    OneAccount {
        why: &'static str,
        hint: Option<&'static str>,
    },
}

commands! {
    /// Ensure the EC2 role, its permissions, an instance profile holding it, and its association
    /// with the course IDE's instance.
    InstanceProfile(InstanceProfileArgs) => "instance-profile",
        commands::instance_profile::Runner, each;
    /// Ensure the Dragons lab: the S3 bucket, configured, the dragons data uploaded, and the two
    /// SSM parameters the lab application reads to find it.
    DragonsLab(DragonsLabArgs) => "dragons-lab", commands::dragons_lab::Runner, each;
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
    Completions(CompletionsArgs) => "completions", commands::docs::Completions, one {
        why: "completions prints documentation: it does not fan out",
        hint: None,
    };
    /// Print the manual page (roff), from the same definition as --help: `provision man | man -l -`.
    Man(ManArgs) => "man", commands::docs::Man, one {
        why: "man prints documentation: it does not fan out",
        hint: None,
    };
}

/// `provision whoami` takes no arguments of its own.
#[derive(Debug, Clone, Args)]
pub(crate) struct WhoamiArgs {}

/// `provision session`: the base profile is the global --profile (AWS_PROFILE, else default).
#[derive(Debug, Clone, Args)]
pub(crate) struct SessionArgs {
    /// The MFA device's ARN or serial number [default: the profile's mfa_serial, else your one
    /// device, from iam:ListMFADevices].
    #[arg(long, value_name = "ARN", value_parser = crate::mfa::check_serial)]
    pub(crate) mfa_serial: Option<String>,

    /// The six digits the device shows now [default: asked for on the terminal, not echoed].
    #[arg(long, value_name = "CODE", value_parser = crate::mfa::check_code)]
    pub(crate) token_code: Option<String>,

    /// How long the session lasts: 15m to 36h (a role's: to its maximum, at most 12h)
    /// [default: the profile's duration_seconds, else 1h].
    #[arg(long, value_name = "DURATION", value_parser = crate::input::parse_session_duration)]
    pub(crate) duration: Option<Duration>,

    /// The profile to keep the session in [default: BASE-mfa, or mfa for the default profile].
    #[arg(long, value_name = "NAME", value_parser = crate::input::parse_profile_name)]
    pub(crate) into: Option<String>,

    /// Make a new session even if the kept one is still good.
    #[arg(long)]
    pub(crate) force: bool,

    /// Print `export` lines for this shell instead of writing the credentials file:
    /// eval "$(provision session --print-env)".
    #[arg(long)]
    pub(crate) print_env: bool,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ManArgs {
    /// A subcommand's page instead of the main one (e.g. teardown; export cloudformation, or the
    /// page's own name, export-cloudformation, for one inside another).
    #[arg(value_name = "SUBCOMMAND")]
    pub(crate) subcommand: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// A CloudFormation template of the role, instance profile, bucket and parameters, for
    /// StackSets (account and region are pseudo-parameters).
    Cloudformation(ExportArgs),
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ExportArgs {
    /// Only what `instance-profile` creates.
    #[arg(long)]
    pub(crate) instance_profile: bool,

    /// Only what `dragons-lab` creates.
    #[arg(long)]
    pub(crate) dragons_lab: bool,

    /// The template's format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Yaml)]
    pub(crate) format: ExportFormat,

    /// The session name of your provision runs in each account (provision-<you>), which owns
    /// the resources [default: from your credentials].
    #[arg(long, value_name = "NAME")]
    pub(crate) owner_session: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    Yaml,
    Json,
}

/// The role and instance profile names.
#[derive(Debug, Clone, Args)]
pub(crate) struct IamNames {
    /// Name of the IAM role (created under path /provision/).
    #[arg(long, value_name = "NAME", default_value = "dragons-lab-ec2-role", value_parser = RoleName::parse)]
    pub(crate) role_name: RoleName,

    /// Name of the instance profile [default: the role's name, as the IAM console does].
    #[arg(long, value_name = "NAME", value_parser = ProfileName::parse)]
    pub(crate) instance_profile_name: Option<ProfileName>,
}

impl IamNames {
    pub(crate) fn profile_name(&self) -> &str {
        self.instance_profile_name
            .as_ref()
            .map_or(self.role_name.as_str(), ProfileName::as_str)
    }
}

/// The lab bucket's name.
#[derive(Debug, Clone, Args)]
pub(crate) struct BucketArg {
    /// The lab bucket [default: dragons-lab-<account-id>-<region>, unique to your account].
    // A name starting with `-` is a value (refused with the S3 naming rule), not a flag.
    #[arg(long, value_name = "NAME", allow_hyphen_values = true, value_parser = BucketName::parse)]
    pub(crate) bucket: Option<BucketName>,
}

/// Whether a command may take over what it did not create.
#[derive(Debug, Clone, Args)]
pub(crate) struct AdoptArg {
    /// Take over same-named resources that provision did not create (it tags them).
    #[arg(long)]
    pub(crate) adopt: bool,

    /// Change provision's resources that another owner (provision:owner) holds, or whose owner
    /// is unknown, making them yours.
    #[arg(long)]
    pub(crate) take_over: bool,
}

/// The names the other commands use, for commands that look for them.
#[derive(Debug, Clone, Args)]
pub(crate) struct NamesArgs {
    #[command(flatten)]
    pub(crate) iam: IamNames,

    #[command(flatten)]
    pub(crate) bucket: BucketArg,

    /// Include every owner's resources (provision:owner), not only yours: for instructors.
    #[arg(long)]
    pub(crate) all_owners: bool,
}

pub(crate) use crate::resources::Part;

#[derive(Debug, Clone, Args)]
pub(crate) struct TeardownArgs {
    #[command(flatten)]
    pub(crate) names: NamesArgs,

    /// Remove only one command's resources.
    #[arg(long, value_enum, value_name = "PART")]
    pub(crate) only: Option<Part>,

    /// Keep the bucket and its contents.
    #[arg(long)]
    pub(crate) keep_data: bool,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct DragonsLabArgs {
    #[command(flatten)]
    pub(crate) bucket: BucketArg,

    /// Dragons data file, a JSON array of dragon objects [default: the embedded data/dragons.json].
    #[arg(long, value_name = "FILE")]
    pub(crate) data: Option<PathBuf>,

    /// Object key of the data.
    #[arg(long, value_name = "KEY", default_value = "dragons.json", value_parser = ObjectKey::parse)]
    pub(crate) key: ObjectKey,

    /// Upload the lab web app from DIR as public-read files (allows object ACLs on the bucket).
    #[arg(long, value_name = "DIR")]
    pub(crate) site: Option<PathBuf>,

    /// Also upload hidden files and folders of --site DIR (`.well-known`); by default `.git`,
    /// `.env` and every other dot-file stay private.
    #[arg(long, requires = "site")]
    pub(crate) include_hidden: bool,

    #[command(flatten)]
    pub(crate) adopt: AdoptArg,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct DragonsArgs {
    /// Only dragons of this family (e.g. red, blue, green, black).
    #[arg(long, value_name = "COLOR")]
    pub(crate) family: Option<String>,

    /// Only the dragon of this name.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,

    /// Query with S3 Select (SelectObjectContent), as the lab application does, instead of GetObject.
    #[arg(long)]
    pub(crate) s3_select: bool,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct InstanceProfileArgs {
    #[command(flatten)]
    pub(crate) names: IamNames,

    /// Trust policy template [default: the embedded templates/ec2-trust-policy.json].
    #[arg(long, value_name = "FILE")]
    pub(crate) trust_policy: Option<PathBuf>,

    /// Inline policy template replacing the default least-privilege Dragons lab policy.
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,

    /// Attach a managed policy (repeatable).
    #[arg(long = "policy-arn", value_name = "ARN", value_parser = PolicyArn::parse)]
    pub(crate) policy_arns: Vec<PolicyArn>,

    /// Find the instance by tag, KEY=VALUE; `*` and `?` are wildcards (repeatable, all must match).
    #[arg(long, value_name = "KEY=VALUE", conflicts_with = "instance_id", value_parser = TagFilter::parse)]
    pub(crate) instance_tag: Vec<TagFilter>,

    /// The instance to associate the profile with.
    #[arg(long, value_name = "ID", value_parser = InstanceId::parse)]
    pub(crate) instance_id: Option<InstanceId>,

    /// Associate every instance the tags match, not just one.
    #[arg(long, requires = "instance_tag")]
    pub(crate) all_matching: bool,

    // The lab bucket, which the inline policy names.
    #[command(flatten)]
    pub(crate) bucket: BucketArg,

    #[command(flatten)]
    pub(crate) adopt: AdoptArg,

    /// On a role taken over with --adopt, also remove trust statements, inline policies and
    /// attachments the command does not ask for (by default an adopted role only gains).
    #[arg(long)]
    pub(crate) prune: bool,

    /// Associate this instance profile, which already exists (a lab account's
    /// LabInstanceProfile), as it is: no IAM role or policy is created or changed.
    #[arg(long, value_name = "NAME", value_parser = ProfileName::parse,
          conflicts_with_all = ["role_name", "instance_profile_name", "trust_policy", "policy",
                                "policy_arns", "adopt", "prune"])]
    pub(crate) existing_profile: Option<ProfileName>,

    /// Replace an instance's association with a profile provision did not create (by default
    /// refused: the instance would lose that profile's permissions).
    #[arg(long)]
    pub(crate) replace: bool,

    /// How long to retry while EC2 does not yet see a new instance profile (e.g. 90s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub(crate) propagation_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
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
            serde_json::from_str(include_str!("../schema/provision.schema.json"))
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
