//! The settings a run is given: the global flags (accepted before or after the subcommand) and
//! each command's arguments, as clap parses them from the command line. Doc comments here are the
//! `--help` text. Values are typed where they are parsed (`input`), so a command receives only
//! checked input. The command line itself — which subcommands there are — is `cli`'s.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::error::Error;
use crate::input::{
    ApiName, BucketName, DragonName, EndpointUrl, IdeName, IdleStop, InstanceId, InstanceType,
    ObjectKey, ParameterPrefix, PolicyArn, ProfileName, Region, RoleName, StageName, SubnetId,
    TagFilter, UserName, parse_duration, parse_timeout,
};
/// The role (and instance profile) name `instance-profile` makes by default.
pub(crate) const DEFAULT_ROLE_NAME: &str = "dragons-lab-ec2-role";
/// The course IDE's name (its instance's `Name` tag and its security group's) by default.
pub(crate) const DEFAULT_IDE_NAME: &str = "dragons-lab-ide";
/// The course IDE's instance type by default: burstable, 2 vCPUs and 2 GiB — VS Code's server
/// asks for at least 2 GB of memory ("Remote Development FAQ", VS Code docs: 1 GB required,
/// 2 GB and 2 cores recommended); Learner Lab allows it.
pub(crate) const DEFAULT_IDE_TYPE: &str = "t3.small";

fn parse_region(text: &str) -> Result<String, Error> {
    Region::parse(text).map(|region| region.as_str().to_string())
}

fn parse_endpoint_url(text: &str) -> Result<String, Error> {
    EndpointUrl::parse(text).map(|url| url.as_str().to_string())
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

/// What connecting to AWS is given, resolved from the global flags: the connection takes these,
/// not the command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Connection {
    /// `--profile` (else `AWS_PROFILE`, else `default`).
    pub(crate) profile: Option<String>,
    /// `--region` (else the profile's, else `AWS_REGION`).
    pub(crate) region: Option<String>,
    /// `--endpoint-url` (else `AWS_ENDPOINT_URL`).
    pub(crate) endpoint_url: Option<String>,
    /// `--timeout`: every request's bound, and a credential process's.
    pub(crate) timeout: Duration,
    /// `--verbose`: a failed credential process's stderr is quoted.
    pub(crate) verbose: bool,
}

/// The lab's settings: where its application reads its parameters, and their names. Not the
/// connection's: they decide what is made, not how AWS is reached.
#[derive(Debug, Clone)]
pub(crate) struct Lab {
    /// `--app-region`: the lab application's region, where its parameters live.
    pub(crate) app_region: String,
    /// `--parameter-prefix`: before the lab's parameter names.
    pub(crate) parameter_prefix: ParameterPrefix,
}

impl GlobalArgs {
    /// The settings of the connection to AWS.
    pub(crate) fn connection(&self) -> Connection {
        Connection {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            timeout: self.timeout,
            verbose: self.verbose,
        }
    }

    /// The lab's settings.
    pub(crate) fn lab(&self) -> Lab {
        Lab {
            app_region: self.app_region.clone(),
            parameter_prefix: self.parameter_prefix.clone(),
        }
    }
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

/// `provision whoami` takes no arguments of its own.
#[derive(Debug, Clone, Args)]
pub(crate) struct WhoamiArgs {}

/// `provision session`: the base profile is the global --profile (AWS_PROFILE, else default).
#[derive(Debug, Clone, Args)]
pub(crate) struct SessionArgs {
    /// The MFA device's ARN or serial number [default: the profile's mfa_serial, else your one
    /// device, from iam:ListMFADevices].
    #[arg(long, value_name = "ARN", value_parser = crate::input::check_serial)]
    pub(crate) mfa_serial: Option<String>,

    /// The six digits the device shows now [default: asked for on the terminal, not echoed].
    #[arg(long, value_name = "CODE", value_parser = crate::input::check_code)]
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
    /// Only what `ide` creates that a template can (its security group).
    #[arg(long)]
    pub(crate) ide: bool,

    /// Only what `instance-profile` creates.
    #[arg(long)]
    pub(crate) instance_profile: bool,

    /// Only what `dragons-lab` creates.
    #[arg(long)]
    pub(crate) dragons_lab: bool,

    /// Only what `dragons-api` creates.
    #[arg(long)]
    pub(crate) dragons_api: bool,

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
    #[arg(long, value_name = "NAME", default_value = DEFAULT_ROLE_NAME, value_parser = RoleName::parse)]
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

/// The commands that make resources, as `teardown --only` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Part {
    /// The course IDE: its instance and security group (the role and profile it holds are
    /// instance-profile's).
    Ide,
    /// The role, its policies, the instance profile and its associations.
    InstanceProfile,
    /// The bucket with its contents, and the SSM parameters.
    DragonsLab,
    /// The API, its function and the function's role.
    DragonsApi,
}

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
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct IdeArgs {
    /// Without a subcommand, `ide` makes the IDE (or sets it back as it should be).
    #[command(subcommand)]
    pub(crate) action: Option<IdeAction>,

    /// The IDE's name: its instance's Name tag and its security group's name.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_IDE_NAME, value_parser = IdeName::parse)]
    pub(crate) name: IdeName,

    /// The subnet to launch the IDE in, one of the default VPC's [default: the default VPC's
    /// choice].
    #[arg(long, value_name = "SUBNET_ID", value_parser = SubnetId::parse)]
    pub(crate) subnet: Option<SubnetId>,

    /// The instance type: 2 vCPUs and 2 GiB by default, what VS Code's server asks for; a
    /// Graviton type (t4g.small) gets the arm64 image.
    #[arg(long, value_name = "TYPE", default_value = DEFAULT_IDE_TYPE, value_parser = InstanceType::parse)]
    pub(crate) instance_type: InstanceType,

    /// The root volume's size in GiB (gp3, encrypted).
    #[arg(long, value_name = "GIB", default_value_t = 16, value_parser = clap::value_parser!(i32).range(8..=1024))]
    pub(crate) volume_size: i32,

    /// Stop the IDE after this long with no Session Manager session, SSH login or busy CPU
    /// (5m to 24h), as Cloud9 did; `off` never stops it.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = IdleStop::parse)]
    pub(crate) idle_stop: IdleStop,

    /// Launch the IDE with this instance profile, which already exists (a lab account's
    /// LabInstanceProfile), as it is: no IAM role or policy is created or changed.
    #[arg(long, value_name = "NAME", value_parser = ProfileName::parse,
          conflicts_with_all = ["role_name", "instance_profile_name"])]
    pub(crate) existing_profile: Option<ProfileName>,

    // The lab's role and instance profile, which the IDE holds.
    #[command(flatten)]
    pub(crate) names: IamNames,

    // The lab bucket, which the role's inline policy names.
    #[command(flatten)]
    pub(crate) bucket: BucketArg,

    #[command(flatten)]
    pub(crate) adopt: AdoptArg,
}

/// The API `dragons-api` makes by default.
pub(crate) const DEFAULT_API_NAME: &str = "dragons-api";

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct DragonsApiArgs {
    /// Without a subcommand, `dragons-api` makes the API (or sets it back as it should be).
    #[command(subcommand)]
    pub(crate) action: Option<DragonsApiAction>,

    /// The API's name; its Lambda function has the same name and its role NAME-function.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_API_NAME, value_parser = ApiName::parse)]
    pub(crate) name: ApiName,

    /// The stage the API is deployed to: the first segment of its URL.
    #[arg(long, value_name = "STAGE", default_value = "prod", value_parser = StageName::parse)]
    pub(crate) stage: StageName,

    /// Sign GET /dragons in with a Cognito user pool (made with an app client and an
    /// authorizer): callers send a user's ID token.
    #[arg(long)]
    pub(crate) auth: bool,

    /// Run the function as this role, which already exists (a lab account's LabRole), as it is:
    /// no IAM role or policy is created or changed.
    #[arg(long, value_name = "ROLE", value_parser = RoleName::parse)]
    pub(crate) existing_role: Option<RoleName>,

    #[command(flatten)]
    pub(crate) adopt: AdoptArg,
}

/// What `dragons-api` tells of an API that exists.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum DragonsApiAction {
    /// Print the API's invoke URL for GET /dragons, alone.
    Url(ApiNameArgs),
    /// Write the function's deployment package (the zip provision uploads), as for a template.
    Package(PackageArgs),
    /// The API's users (with --auth): `user add NAME` makes one, confirmed.
    #[command(subcommand)]
    User(UserAction),
    /// Print a user's ID token (the password from a prompt that does not echo, or stdin).
    Token(TokenArgs),
    /// Call GET /dragons at the API's URL (signed in as a user with --as) and list the dragons.
    Call(CallArgs),
}

#[derive(Debug, Clone, Args)]
pub(crate) struct CallArgs {
    /// The API to call.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_API_NAME, value_parser = ApiName::parse)]
    pub(crate) name: ApiName,

    /// The stage to call.
    #[arg(long, value_name = "STAGE", default_value = "prod", value_parser = StageName::parse)]
    pub(crate) stage: StageName,

    /// Sign in as this user of the API's pool (an API made with --auth); the password is read
    /// from a prompt that does not echo, or from stdin.
    #[arg(long = "as", value_name = "USER", value_parser = UserName::parse)]
    pub(crate) user: Option<UserName>,

    /// Only the dragon of this name (GET /dragons?dragonName=NAME).
    #[arg(long, value_name = "NAME", value_parser = DragonName::parse)]
    pub(crate) dragon: Option<DragonName>,
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum UserAction {
    /// Make a confirmed user of the API's user pool, or set an existing one's password; the
    /// password is read from a prompt that does not echo, or from stdin — never from the command
    /// line or the environment.
    Add(TokenArgs),
}

#[derive(Debug, Clone, Args)]
pub(crate) struct TokenArgs {
    /// The user's name.
    #[arg(value_name = "USER", value_parser = UserName::parse)]
    pub(crate) user: UserName,

    /// The API whose user pool it is.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_API_NAME, value_parser = ApiName::parse)]
    pub(crate) name: ApiName,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct PackageArgs {
    /// Where to write the zip.
    #[arg(long, value_name = "FILE", default_value = "list_dragons.zip")]
    pub(crate) out: std::path::PathBuf,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ApiNameArgs {
    /// The API's name.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_API_NAME, value_parser = ApiName::parse)]
    pub(crate) name: ApiName,

    /// The stage whose URL is printed.
    #[arg(long, value_name = "STAGE", default_value = "prod", value_parser = StageName::parse)]
    pub(crate) stage: StageName,
}

/// What `ide` does to an IDE that exists (the caller's, by `--name`).
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum IdeAction {
    /// Stop the IDE (its volume is kept, and billed; the instance is not).
    Stop(IdeWaitArgs),
    /// Start the stopped IDE.
    Start(IdeWaitArgs),
    /// Open a shell on the IDE through Session Manager (needs the AWS CLI and its Session
    /// Manager plugin).
    Connect(IdeNameArg),
    /// Write a Host block for VS Code Remote-SSH (and `ssh`) that reaches the IDE through
    /// Session Manager's AWS-StartSSHSession, with the key it needs.
    SshConfig(SshConfigArgs),
    /// Forward a port of the IDE to this machine through Session Manager
    /// (AWS-StartPortForwardingSession), for a browser IDE or the lab app.
    Forward(ForwardArgs),
}

impl IdeAction {
    /// The IDE it acts on.
    pub(crate) fn name(&self) -> &IdeName {
        match self {
            Self::Stop(a) | Self::Start(a) => &a.ide.name,
            Self::Connect(a) => &a.name,
            Self::SshConfig(a) => &a.ide.name,
            Self::Forward(a) => &a.ide.name,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub(crate) struct IdeNameArg {
    /// The IDE's name (its instance's Name tag).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_IDE_NAME, value_parser = IdeName::parse)]
    pub(crate) name: IdeName,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct IdeWaitArgs {
    #[command(flatten)]
    pub(crate) ide: IdeNameArg,

    /// How long to wait for the IDE to reach its state.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub(crate) wait: Duration,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct SshConfigArgs {
    #[command(flatten)]
    pub(crate) ide: IdeNameArg,

    /// The SSH configuration file to write the Host block in.
    #[arg(long, value_name = "FILE", default_value = "~/.ssh/config")]
    pub(crate) config: String,

    /// The Host alias [default: the IDE's name].
    #[arg(long, value_name = "ALIAS", value_parser = IdeName::parse)]
    pub(crate) host: Option<IdeName>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ForwardArgs {
    #[command(flatten)]
    pub(crate) ide: IdeNameArg,

    /// The IDE's port (e.g. 8080 for a browser IDE, 5000 for a Flask app).
    #[arg(value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: u16,

    /// The port on this machine [default: the same].
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) local_port: Option<u16>,
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
