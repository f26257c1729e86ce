//! The command line: global flags (accepted before or after the subcommand) and one subcommand per
//! capability. Doc comments here are the `--help` text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Set up — and at course end tear down — the AWS resources of the cloud course, idempotently.
#[derive(Debug, Parser)]
#[command(name = "provision", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Plan and summary for people; progress on stderr.
    #[default]
    Human,
    /// Exactly one JSON document on stdout.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Named profile from the shared config/credentials files [default: AWS_PROFILE, else "default"].
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// AWS region [default: AWS_REGION, else the profile's region].
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// Send every request to this endpoint, e.g. a local emulator [default: AWS_ENDPOINT_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// Observe and print the plan; send no mutating request.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Answer yes to confirmation prompts.
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// Print each request step as it happens.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Print only the result and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

// Parsed once per run: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ensure the EC2 role, its permissions, an instance profile holding it, and its association
    /// with the course IDE's instance.
    InstanceProfile(InstanceProfileArgs),
    /// Ensure the Dragons lab: the S3 bucket, configured, the dragons data uploaded, and the two
    /// SSM parameters the lab application reads to find it.
    DragonsLab(DragonsLabArgs),
    /// Read the dragons back the way the lab application does, as a check that the lab works.
    Dragons(DragonsArgs),
    /// Show every resource provision manages: present or missing, in sync or drifted, owned or not.
    Status(NamesArgs),
    /// Remove everything provision created — and nothing else — in dependency order.
    Teardown(TeardownArgs),
    /// Show who AWS thinks you are, and where the credentials came from.
    Whoami,
}

/// The names the other commands use, for commands that look for them.
#[derive(Debug, Clone, Args)]
pub struct NamesArgs {
    /// Role name to look for, besides every role under /provision/.
    #[arg(long, value_name = "NAME", default_value = "dragons-lab-ec2-role")]
    pub role_name: String,

    /// Instance profile name to look for [default: the role's name].
    #[arg(long, value_name = "NAME")]
    pub instance_profile_name: Option<String>,

    /// Bucket name to look for [default: dragons-lab-<account-id>-<region>].
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    pub bucket: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// The role, its policies, the instance profile and its associations.
    InstanceProfile,
    /// The bucket with its contents, and the SSM parameters.
    DragonsLab,
}

#[derive(Debug, Clone, Args)]
pub struct TeardownArgs {
    #[command(flatten)]
    pub names: NamesArgs,

    /// Remove only one command's resources.
    #[arg(long, value_enum, value_name = "PART")]
    pub only: Option<Part>,

    /// Keep the bucket and its contents.
    #[arg(long)]
    pub keep_data: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DragonsLabArgs {
    /// Bucket name [default: dragons-lab-<account-id>-<region>, unique to your account].
    // A name starting with `-` is a value (refused with the S3 naming rule), not a flag.
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    pub bucket: Option<String>,

    /// Dragons data file, a JSON array of dragon objects [default: the embedded data/dragons.json].
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,

    /// Object key of the data.
    #[arg(long, value_name = "KEY", default_value = "dragons.json")]
    pub key: String,

    /// Upload the lab web app from DIR as public-read files (allows object ACLs on the bucket).
    #[arg(long, value_name = "DIR")]
    pub site: Option<PathBuf>,

    /// Take over a same-named bucket or parameters not created by provision (tags them).
    #[arg(long)]
    pub adopt: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DragonsArgs {
    /// Only dragons of this family (e.g. red, blue, green, black).
    #[arg(long, value_name = "COLOR")]
    pub family: Option<String>,

    /// Only the dragon of this name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Query with S3 Select (SelectObjectContent), as the lab application does, instead of GetObject.
    #[arg(long)]
    pub s3_select: bool,
}

#[derive(Debug, Clone, Args)]
pub struct InstanceProfileArgs {
    /// Name of the IAM role (created under path /provision/).
    #[arg(long, value_name = "NAME", default_value = "dragons-lab-ec2-role")]
    pub role_name: String,

    /// Name of the instance profile [default: the role's name, as the IAM console does].
    #[arg(long, value_name = "NAME")]
    pub instance_profile_name: Option<String>,

    /// Trust policy template [default: the embedded templates/ec2-trust-policy.json].
    #[arg(long, value_name = "FILE")]
    pub trust_policy: Option<PathBuf>,

    /// Inline policy template replacing the default least-privilege Dragons lab policy.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Attach a managed policy (repeatable).
    #[arg(long = "policy-arn", value_name = "ARN")]
    pub policy_arns: Vec<String>,

    /// Find the instance by tag, KEY=VALUE; `*` and `?` are wildcards (repeatable, all must match).
    #[arg(long, value_name = "KEY=VALUE", conflicts_with = "instance_id")]
    pub instance_tag: Vec<String>,

    /// The instance to associate the profile with.
    #[arg(long, value_name = "ID")]
    pub instance_id: Option<String>,

    /// Associate every instance the tags match, not just one.
    #[arg(long)]
    pub all_matching: bool,

    /// Lab bucket named in the inline policy [default: dragons-lab-<account-id>-<region>].
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,

    /// Take over a same-named role or profile not created by provision (tags it).
    #[arg(long)]
    pub adopt: bool,

    /// How long to retry while EC2 does not yet see a new instance profile (e.g. 90s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub propagation_timeout: Duration,
}

/// Parses `90`, `90s`, `2m`, `1m30s`, `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("`{text}` is not a duration: use e.g. 90s, 2m or 1m30s");
    if text.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut digits = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let value: u64 = digits.parse().map_err(|_| invalid())?;
        digits.clear();
        let unit = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                Duration::from_millis(1)
            }
            'h' => Duration::from_secs(3600),
            'm' => Duration::from_secs(60),
            's' => Duration::from_secs(1),
            _ => return Err(invalid()),
        };
        total += unit * u32::try_from(value).map_err(|_| invalid())?;
    }
    if !digits.is_empty() {
        return Err(invalid());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("2x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5m3").is_err());
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
}
