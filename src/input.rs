//! Typed command-line values, each checked where it is parsed (clap `value_parser`s), so that bad
//! input is refused with exit code 2 before anything else happens: instance tags and ids, policy
//! ARNs, bucket names, object keys, IAM names and durations.

use std::fmt;
use std::time::Duration;

use crate::error::Error;

/// `--instance-tag KEY=VALUE`; `*` and `?` in the value are wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TagFilter {
    pub(crate) key: String,
    pub(crate) value: String,
}

impl TagFilter {
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let malformed = |why: &str| {
            Error::usage(format!("--instance-tag `{text}` is malformed: {why}")).with_hint(
                "write it as KEY=VALUE, e.g. --instance-tag Name=dragons-ide (wildcards * and ? allowed)",
            )
        };
        let Some((key, value)) = text.split_once('=') else {
            return Err(malformed("there is no `=`"));
        };
        if key.trim().is_empty() {
            return Err(malformed("the key is empty"));
        }
        if key.chars().count() > 128 {
            return Err(malformed("the key is longer than 128 characters"));
        }
        if value.chars().count() > 256 {
            return Err(malformed("the value is longer than 256 characters"));
        }
        Ok(Self {
            key: key.to_string(),
            value: value.to_string(),
        })
    }
}

/// An EC2 instance id: `i-` and 8 or 17 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstanceId(String);

impl InstanceId {
    pub(crate) fn parse(id: &str) -> Result<Self, Error> {
        let digits = id.strip_prefix("i-").unwrap_or("");
        if matches!(digits.len(), 8 | 17) && digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(Self(id.to_string()));
        }
        Err(Error::usage(format!("`{id}` is not an EC2 instance id")).with_hint(
            "instance ids look like i-0123456789abcdef0; `aws ec2 describe-instances` lists them",
        ))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A VPC subnet id: `subnet-` and 8 or 17 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubnetId(String);

impl SubnetId {
    pub(crate) fn parse(id: &str) -> Result<Self, Error> {
        let digits = id.strip_prefix("subnet-").unwrap_or("");
        if matches!(digits.len(), 8 | 17) && digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(Self(id.to_string()));
        }
        Err(Error::usage(format!("`{id}` is not a subnet id")).with_hint(
            "subnet ids look like subnet-0123456789abcdef0; `aws ec2 describe-subnets --filters \
             Name=default-for-az,Values=true` lists the default VPC's",
        ))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which instances a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InstanceSelector {
    Id(InstanceId),
    Tags(Vec<TagFilter>),
}

impl fmt::Display for InstanceSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "instance id {}", id.as_str()),
            Self::Tags(tags) => {
                let tags: Vec<String> = tags
                    .iter()
                    .map(|t| format!("{}={}", t.key, t.value))
                    .collect();
                write!(f, "tags {}", tags.join(", "))
            }
        }
    }
}

/// The ARN of an IAM managed policy: `arn:PARTITION:iam::ACCOUNT-or-aws:policy/PATH/NAME`, checked
/// fully — partition, account, path and name characters — so a mistyped ARN fails before any write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyArn(String);

impl PolicyArn {
    pub(crate) fn parse(arn: &str) -> Result<Self, Error> {
        let refuse = |why: String| {
            Error::usage(format!(
                "--policy-arn `{arn}` is not an IAM policy ARN: {why}"
            ))
            .with_hint("managed policy ARNs look like arn:aws:iam::aws:policy/ReadOnlyAccess")
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "iam" || !parts[3].is_empty() {
            return Err(refuse(
                "it must have the form arn:PARTITION:iam::ACCOUNT:policy/NAME".into(),
            ));
        }
        if !PARTITIONS.contains(&parts[1]) {
            return Err(refuse(format!(
                "`{}` is not an AWS partition ({})",
                parts[1],
                PARTITIONS.join(", ")
            )));
        }
        if parts[4] != "aws" && !is_account_id(parts[4]) {
            return Err(refuse(format!(
                "`{}` is neither `aws` nor a 12-digit account id",
                parts[4]
            )));
        }
        let Some(path_and_name) = parts[5].strip_prefix("policy/") else {
            return Err(refuse("the resource must start with `policy/`".into()));
        };
        // IAM: a path is `/` or `/segments/` of printable ASCII without spaces; a policy name is 1
        // to 128 of letters, digits and `+=,.@_-`.
        let (path, name) = path_and_name
            .rsplit_once('/')
            .map_or(("", path_and_name), |(path, name)| (path, name));
        if name.is_empty() || name.len() > 128 {
            return Err(refuse("the policy name must be 1 to 128 characters".into()));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
        {
            return Err(refuse(format!(
                "the policy name contains `{bad}`; IAM allows letters, digits and + = , . @ _ -"
            )));
        }
        if let Some(bad) = path.chars().find(|c| !('!'..='~').contains(c)) {
            return Err(refuse(format!(
                "the policy path contains {bad:?}; IAM allows printable ASCII without spaces"
            )));
        }
        if path.contains("//") || path.len() > 512 {
            return Err(refuse("the policy path is not a valid IAM path".into()));
        }
        Ok(Self(arn.to_string()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// The AWS partitions, as the SDK's endpoint metadata lists them.
pub(crate) const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-eusc",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-us-gov",
];

/// Whether `text` is an AWS account id: exactly 12 digits.
pub(crate) fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The SDK's partition metadata (regions and the pattern of each partition's region names), copied
/// from the endpoint rules of the AWS SDK for Rust (`aws-sdk-ssm` 1.133, `endpoint_lib.rs`); the
/// SDK does not export it.
const PARTITION_METADATA: &str = include_str!("partitions.json");

/// An AWS region name, checked for syntax locally: lower-case letters and digits in at least three
/// `-`-separated parts, the last a number (`us-east-1`, `us-gov-west-1`, `eusc-de-east-1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Region(String);

impl Region {
    pub(crate) fn parse(name: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = name.split('-').collect();
        let valid = name.len() <= 32
            && parts.len() >= 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
            && parts[0].bytes().all(|b| b.is_ascii_lowercase())
            && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit());
        if valid {
            return Ok(Self(name.to_string()));
        }
        Err(Error::usage(format!("`{name}` is not an AWS region name"))
            .with_hint("region names look like us-east-1 or ca-central-1 (--region, AWS_REGION or the profile's region)"))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The partition whose region pattern the name matches (`aws` when none does, as the SDK
    /// resolves it), and whether the SDK's metadata lists the region itself.
    pub(crate) fn partition(&self) -> (String, bool) {
        let metadata: serde_json::Value =
            serde_json::from_str(PARTITION_METADATA).unwrap_or_default();
        let partitions = metadata["partitions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for partition in &partitions {
            let id = partition["id"].as_str().unwrap_or("aws");
            let listed = partition["regions"]
                .as_array()
                .is_some_and(|regions| regions.iter().any(|r| r == self.0.as_str()));
            let pattern = partition["regionRegex"].as_str().unwrap_or("");
            if listed || region_pattern_matches(pattern, &self.0) {
                return (id.to_string(), listed);
            }
        }
        ("aws".to_string(), false)
    }

    /// A warning when the SDK's partition metadata does not list the region.
    pub(crate) fn unknown_warning(&self) -> Option<String> {
        let (partition, listed) = self.partition();
        (!listed).then(|| {
            format!(
                "region {} is not a region this version of provision knows in partition {partition}; \
                 if it is not a new region, check --region / AWS_REGION",
                self.0
            )
        })
    }
}

/// Matches a region name against one of the SDK's `regionRegex` patterns, which all have the form
/// `^(a|b)\-literal\-\w+\-\d+$`: `-`-separated pieces, each literal, alternatives, `\w+` or `\d+`.
fn region_pattern_matches(pattern: &str, region: &str) -> bool {
    let Some(body) = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$')) else {
        return false;
    };
    let pieces: Vec<&str> = body.split("\\-").collect();
    let parts: Vec<&str> = region.split('-').collect();
    pieces.len() == parts.len()
        && pieces.iter().zip(&parts).all(|(piece, part)| match *piece {
            "\\w+" => {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }
            "\\d+" => !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()),
            _ => piece
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split('|')
                .any(|literal| literal == *part),
        })
}

/// An endpoint URL (`--endpoint-url`, `AWS_ENDPOINT_URL`), parsed locally: `http` or `https`, a
/// host name, IPv4 or bracketed IPv6 address, an optional port, and no user information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointUrl(String);

impl EndpointUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let refuse = |why: &str| {
            Error::usage(format!("`{url}` is not an endpoint URL: {why}"))
                .with_hint("use a full URL, e.g. --endpoint-url http://127.0.0.1:5000")
        };
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| refuse("it must start with http:// or https://"))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(refuse("it must not contain a user name or password"));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (address, after) = bracketed
                .split_once(']')
                .ok_or_else(|| refuse("an IPv6 address must be closed with `]`"))?;
            if address.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(refuse("the IPv6 address is not valid"));
            }
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| refuse("unexpected text after `]`"))?,
                ),
            };
            (None, port)
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (Some(host), Some(port)),
                None => (Some(authority), None),
            }
        };
        if let Some(host) = host {
            let label_ok = |label: &str| {
                (1..=63).contains(&label.len())
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            };
            if host.is_empty() {
                return Err(refuse("it has no host"));
            }
            if host.len() > 253 || !host.trim_end_matches('.').split('.').all(label_ok) {
                return Err(refuse(&format!(
                    "`{host}` is not a host name or IP address"
                )));
            }
        }
        if let Some(port) = port
            && !port.parse::<u16>().is_ok_and(|p| p > 0)
        {
            return Err(refuse(&format!("`{port}` is not a port (1 to 65535)")));
        }
        Ok(Self(url.to_string()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A general purpose S3 bucket name, checked against the S3 naming rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketName(String);

impl BucketName {
    pub(crate) fn parse(name: &str) -> Result<Self, Error> {
        let invalid = |why: &str| {
            Error::usage(format!("`{name}` is not a valid S3 bucket name: {why}")).with_hint(
                "bucket names are 3-63 lower-case letters, digits, dots and hyphens, starting and \
                 ending with a letter or digit; omit --bucket for the default \
                 dragons-lab-<account-id>-<region>",
            )
        };
        let length = name.len();
        if !(3..=63).contains(&length) {
            return Err(invalid(&format!(
                "it is {length} characters long, not 3 to 63"
            )));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
        {
            let why = if bad.is_ascii_uppercase() {
                "upper-case letters are not allowed".to_string()
            } else {
                format!("`{bad}` is not allowed")
            };
            return Err(invalid(&why));
        }
        let first_last_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if !first_last_ok(name.chars().next()) || !first_last_ok(name.chars().last()) {
            return Err(invalid("it must begin and end with a letter or digit"));
        }
        if name.contains("..") {
            return Err(invalid("it has two adjacent dots"));
        }
        if name.contains(".-") || name.contains("-.") {
            return Err(invalid("a dot may not be next to a hyphen"));
        }
        if name.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err(invalid("it has the form of an IP address"));
        }
        for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
            if name.starts_with(prefix) {
                return Err(invalid(&format!("the prefix `{prefix}` is reserved")));
            }
        }
        for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
            if name.ends_with(suffix) {
                return Err(invalid(&format!("the suffix `{suffix}` is reserved")));
            }
        }
        Ok(Self(name.to_string()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// An object key: 1 to 1024 bytes, no leading slash (S3 would make an empty first segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectKey(String);

impl ObjectKey {
    pub(crate) fn parse(key: &str) -> Result<Self, Error> {
        if key.is_empty() || key.len() > 1024 {
            return Err(
                Error::usage(format!("--key `{key}` must be 1 to 1024 bytes long"))
                    .with_hint("omit --key for the default dragons.json"),
            );
        }
        if key.starts_with('/') {
            return Err(
                Error::usage(format!("--key `{key}` must not start with `/`"))
                    .with_hint("write keys without a leading slash, e.g. data/dragons.json"),
            );
        }
        Ok(Self(key.to_string()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// IAM names: 1 to `max` characters of letters, digits and `+=,.@_-`.
fn check_iam_name(what: &str, flag: &str, name: &str, max: usize) -> Result<String, Error> {
    let length = name.chars().count();
    if length == 0 || length > max {
        return Err(Error::usage(format!(
            "{what} name `{name}` is {length} characters long; IAM allows 1 to {max}"
        ))
        .with_hint(format!("choose a shorter name with {flag}")));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
    {
        return Err(Error::usage(format!(
            "{what} name `{name}` contains `{bad}`; IAM allows letters, digits and + = , . @ _ -"
        ))
        .with_hint(format!("choose another name with {flag}")));
    }
    Ok(name.to_string())
}

/// `--role-name`: an IAM role name (at most 64 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleName(String);

impl RoleName {
    pub(crate) fn parse(name: &str) -> Result<Self, Error> {
        check_iam_name("role", "--role-name", name, 64).map(Self)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// `--instance-profile-name`: an IAM instance profile name (at most 128 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProfileName(String);

impl ProfileName {
    pub(crate) fn parse(name: &str) -> Result<Self, Error> {
        check_iam_name("instance profile", "--instance-profile-name", name, 128).map(Self)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// `ide --name`: the course IDE's name — its instance's `Name` tag and its security group's name.
/// Letters, digits and `-_.`, 1 to 64 characters, starting with a letter or digit; not `sg-…`,
/// which EC2 refuses as a security group name ("Security group rules", Amazon VPC User Guide:
/// names cannot start with `sg-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdeName(String);

impl IdeName {
    pub(crate) fn parse(name: &str) -> Result<Self, Error> {
        let allowed = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        let starts_well = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if (1..=64).contains(&name.len())
            && allowed
            && starts_well
            && !name.to_ascii_lowercase().starts_with("sg-")
        {
            return Ok(Self(name.to_string()));
        }
        Err(
            Error::usage(format!("`{name}` is not a name for the IDE")).with_hint(
                "--name is 1 to 64 letters, digits and -_., starting with a letter or digit \
                 (e.g. alice-ide); it names the instance and its security group, which may not \
                 start with sg-",
            ),
        )
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// `dragons-api --name`: the API's name, which its function and the function's role take too
/// (`NAME-function`): letters, digits, `-` and `_`, 1 to 48 characters (Lambda allows 64 in a
/// function's name, IAM 64 in a role's), starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiName(String);

impl ApiName {
    pub(crate) fn parse(name: &str) -> Result<Self, Error> {
        let allowed = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
        let starts_well = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        if (1..=48).contains(&name.len()) && allowed && starts_well {
            return Ok(Self(name.to_string()));
        }
        Err(
            Error::usage(format!("`{name}` is not a name for the API")).with_hint(
                "--name is 1 to 48 letters, digits, - and _, starting with a letter (e.g. \
                 alice-dragons); it names the API, its Lambda function and the function's role",
            ),
        )
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// `dragons-api user add NAME`, `token NAME`, `call --as NAME`: a Cognito user name — 1 to 128
/// characters, none of them a space or a control character ("AdminCreateUser", Cognito API
/// Reference: Username, `[\p{L}\p{M}\p{S}\p{N}\p{P}]+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserName(String);

impl UserName {
    pub(crate) fn parse(name: &str) -> Result<Self, Error> {
        let length = name.chars().count();
        if (1..=128).contains(&length) && !name.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Ok(Self(name.to_string()));
        }
        Err(Error::usage(format!("`{name}` is not a user name"))
            .with_hint("a user name is 1 to 128 characters with no space (e.g. student, alice)"))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// `dragons-api call --dragon NAME`: a dragon's name as GET /dragons looks it up — 1 to 128
/// characters (the function's limit; it answers 400 beyond), no control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DragonName(String);

impl DragonName {
    /// The longest name the function looks for (`LONGEST_NAME` in functions/list_dragons).
    pub(crate) const LONGEST: usize = 128;

    pub(crate) fn parse(name: &str) -> Result<Self, Error> {
        let length = name.chars().count();
        if (1..=Self::LONGEST).contains(&length) && !name.chars().any(char::is_control) {
            return Ok(Self(name.to_string()));
        }
        Err(Error::usage(format!("`{}` is not a dragon's name", name.escape_debug()))
            .with_hint("a dragon's name is 1 to 128 characters (e.g. Bahamethut); `provision dragons` lists them"))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// `dragons-api --stage`: an API Gateway stage name — letters, digits, `-` and `_`, 1 to 128
/// characters ("CreateStage", API Gateway API Reference: stageName).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageName(String);

impl StageName {
    pub(crate) fn parse(name: &str) -> Result<Self, Error> {
        if (1..=128).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            return Ok(Self(name.to_string()));
        }
        Err(
            Error::usage(format!("`{name}` is not a stage name")).with_hint(
                "--stage is 1 to 128 letters, digits, - and _ (e.g. prod, dev); it is the first \
                 segment of the API's URL",
            ),
        )
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// `ide --instance-type`: an EC2 instance type's name, `family.size` (`t3.small`, `m7g.large`),
/// checked for its form; EC2 says whether it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstanceType(String);

impl InstanceType {
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let well_formed = text.split_once('.').is_some_and(|(family, size)| {
            family.starts_with(|c: char| c.is_ascii_lowercase())
                && family
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !size.is_empty()
                && size
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
        if !(well_formed && text.len() <= 32) {
            return Err(
                Error::usage(format!("`{text}` is not an EC2 instance type"))
                    .with_hint("an instance type is FAMILY.SIZE, e.g. t3.small or t4g.medium"),
            );
        }
        let family = text.split('.').next().unwrap_or_default();
        if !is_known_family(family) {
            return Err(Error::usage(format!(
                "`{text}` is not an EC2 instance type: no instance family is named {family}"
            ))
            .with_hint(
                "an IDE fits a burstable type: t3.small (the default), t3.medium, t3a.small, or \
                 t4g.small (Graviton); `aws ec2 describe-instance-type-offerings` lists a \
                 region's",
            ));
        }
        Ok(Self(text.to_string()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is a Graviton (arm64) type: a `g` right after the family's generation
    /// (`t4g`, `m7gd`, `c7gn`, `is4gen`), or the first Graviton family, `a1`.
    pub(crate) fn is_arm64(&self) -> bool {
        let family = self.0.split('.').next().unwrap_or_default();
        let after_generation = family
            .trim_start_matches(|c: char| c.is_ascii_lowercase())
            .trim_start_matches(|c: char| c.is_ascii_digit());
        family == "a1" || after_generation.starts_with('g')
    }

    /// Its size (`small` of `t3.small`).
    pub(crate) fn size(&self) -> &str {
        self.0.split('.').nth(1).unwrap_or_default()
    }
}

/// The series EC2's instance families are named from ("Amazon EC2 instance type naming
/// conventions", Amazon EC2 Instance Types guide): a family is its series, its generation (a
/// number) and its options (letters, `-flex`), as `t3`, `m7gd`, `c7i-flex`; `u-` families are
/// the high-memory ones (`u-6tb1`). New generations and options of a series are accepted; an
/// unknown series is a typing mistake.
const INSTANCE_SERIES: &[&str] = &[
    "a", "c", "d", "dl", "f", "g", "gr", "h", "hpc", "i", "im", "inf", "is", "m", "mac", "p", "r",
    "t", "trn", "vt", "x", "z",
];

fn is_known_family(family: &str) -> bool {
    if let Some(rest) = family.strip_prefix("u-") {
        return !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric());
    }
    let series_len = family.chars().take_while(char::is_ascii_lowercase).count();
    let (series, rest) = family.split_at(series_len);
    let generation = rest.chars().take_while(char::is_ascii_digit).count();
    let options = &rest[generation..];
    let options = options.strip_suffix("-flex").unwrap_or(options);
    INSTANCE_SERIES.contains(&series)
        && generation > 0
        && options.chars().all(|c| c.is_ascii_lowercase())
}

/// `ide --idle-stop`: how long the IDE may sit unused before it stops itself (5m to 24h), or
/// `off` (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdleStop(pub(crate) Option<Duration>);

impl IdleStop {
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        parse_idle_stop(text).map(Self)
    }

    /// As the instance's `provision:idle-stop` tag and status say it: `30m`, `1h30m`, `off`.
    pub(crate) fn label(&self) -> String {
        let Some(duration) = self.0 else {
            return "off".into();
        };
        let minutes = duration.as_secs().div_ceil(60);
        match (minutes / 60, minutes % 60) {
            (0, m) => format!("{m}m"),
            (h, 0) => format!("{h}h"),
            (h, m) => format!("{h}h{m}m"),
        }
    }
}

fn parse_idle_stop(text: &str) -> Result<Option<Duration>, Error> {
    if text == "off" {
        return Ok(None);
    }
    let duration = parse_duration(text).map_err(|e| e.with_hint("e.g. 30m, 2h, or off"))?;
    if !(Duration::from_secs(5 * 60)..=Duration::from_secs(24 * 3600)).contains(&duration) {
        return Err(
            Error::usage(format!("--idle-stop {text} is outside 5m to 24h")).with_hint(
                "a Cloud9-like idle stop is 30m; `off` keeps the IDE running until stopped",
            ),
        );
    }
    Ok(Some(duration))
}

/// `--parameter-prefix`: put before the lab's parameter names, for a course whose students share
/// one account and whose lab application was changed to read its own names. Either a path,
/// `/course/alice/` (the names become `/course/alice/dragon_data_bucket_name`), or a plain prefix,
/// `alice_`. SSM's rules ("Creating Systems Manager parameters", AWS Systems Manager User Guide):
/// letters, digits and `_.-` (and `/` in a path, which starts with `/`); no name may begin with
/// `aws` or `ssm`; at most 15 levels; a name is at most 1011 characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ParameterPrefix(String);

impl ParameterPrefix {
    /// The longest lab parameter name, which the prefix goes before.
    const LONGEST_NAME: usize = "dragon_data_bucket_name".len();

    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |why: &str| {
            Error::usage(format!("`{text}` is not a parameter prefix: {why}")).with_hint(
                "give a path like /course/alice/ or a plain prefix like alice_ (letters, digits, \
                 _ . - and /)",
            )
        };
        if text.is_empty() {
            return Ok(Self::default());
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "_.-/".contains(*c)))
        {
            return Err(invalid(&format!("`{bad}` is not allowed")));
        }
        if text.contains('/') {
            if !text.starts_with('/') || !text.ends_with('/') {
                return Err(invalid("a path starts and ends with /"));
            }
            if text.contains("//") {
                return Err(invalid("a path has no empty level"));
            }
            if text.matches('/').count() > 15 {
                return Err(invalid("a parameter name has at most 15 levels"));
            }
        }
        let first = text.trim_start_matches('/').to_ascii_lowercase();
        if first.starts_with("aws") || first.starts_with("ssm") {
            return Err(invalid("names beginning with aws or ssm are reserved"));
        }
        if text.len() + Self::LONGEST_NAME > 1011 {
            return Err(invalid("a parameter name is at most 1011 characters"));
        }
        Ok(Self(text.to_string()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefix as it appears in a parameter's ARN (`parameter/course/alice/…`).
    pub(crate) fn arn_path(&self) -> &str {
        self.0.trim_start_matches('/')
    }
}

/// The longest duration any flag accepts: waits are bounded, and a day is beyond every one of them.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Parses `90`, `90s`, `2m`, `1m30s`, `500ms`, `1h`, up to [`MAX_DURATION`]; anything longer, or
/// too large to represent, is refused rather than overflowing later.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, Error> {
    parse_duration_up_to(text, MAX_DURATION)
}

/// `provision session --duration`: STS's limits (15m to 36h) are checked once the kind of session
/// is known; here, only that it is a duration no session can exceed.
pub(crate) fn parse_session_duration(text: &str) -> Result<Duration, Error> {
    parse_duration_up_to(text, LONGEST_SESSION_TOKEN)
}

/// A profile `provision session` writes (`--into`): a name the CLI can select, with no
/// characters that would break the file's section header.
pub(crate) fn parse_profile_name(text: &str) -> Result<String, Error> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.@+=,".contains(c);
    if !text.is_empty() && text.len() <= 64 && text.chars().all(allowed) {
        Ok(text.to_string())
    } else {
        Err(
            Error::usage(format!("`{text}` is not a profile name provision writes"))
                .with_hint("use 1 to 64 letters, digits and -_.@+=, e.g. --into course-mfa"),
        )
    }
}

fn parse_duration_up_to(text: &str, longest: Duration) -> Result<Duration, Error> {
    let invalid = || {
        Error::usage(format!("`{text}` is not a duration"))
            .with_hint("write it as e.g. 90s, 2m or 1m30s")
    };
    let too_long = || {
        Error::usage(format!(
            "`{text}` is longer than the {}h allowed here",
            longest.as_secs() / 3600
        ))
        .with_hint("write a shorter duration, e.g. 90s, 2m or 1h")
    };
    if text.is_empty() {
        return Err(invalid());
    }
    let total = if text.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(text.parse::<u64>().map_err(|_| too_long())?)
    } else {
        let mut total = Duration::ZERO;
        let mut digits = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            if digits.is_empty() {
                return Err(invalid());
            }
            let value: u32 = digits.parse().map_err(|_| too_long())?;
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
            let part = unit.checked_mul(value).ok_or_else(too_long)?;
            total = total.checked_add(part).ok_or_else(too_long)?;
        }
        if !digits.is_empty() {
            return Err(invalid());
        }
        total
    };
    if total > longest {
        return Err(too_long());
    }
    Ok(total)
}

/// `--timeout`: a duration from 1 s to [`MAX_DURATION`].
pub(crate) fn parse_timeout(text: &str) -> Result<Duration, Error> {
    let duration = parse_duration(text)?;
    if duration < Duration::from_secs(1) {
        return Err(
            Error::usage(format!("--timeout `{text}` is shorter than 1s")).with_hint(
                "AWS answers within a second or two; give it at least 1s, e.g. --timeout 30s",
            ),
        );
    }
    Ok(duration)
}

/// GetSessionToken's limits for an IAM user: 15 minutes to 36 hours ("GetSessionToken", AWS STS
/// API Reference). AssumeRole's are 15 minutes to the role's maximum, at most 12 hours.
pub(crate) const SHORTEST: Duration = Duration::from_secs(900);
pub(crate) const LONGEST_SESSION_TOKEN: Duration = Duration::from_secs(129_600);
pub(crate) const LONGEST_ROLE_SESSION: Duration = Duration::from_secs(43_200);

/// An MFA code: six digits (what virtual and hardware devices show).
pub(crate) fn check_code(code: &str) -> Result<String, Error> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code.to_string())
    } else {
        Err(
            Error::usage("an MFA code is the six digits the device shows now").with_hint(
                "open the authenticator app (or press the key) and type the current code",
            ),
        )
    }
}

/// `--mfa-serial`: a virtual or hardware device's ARN (`arn:aws:iam::ACCOUNT:mfa/NAME`) or a
/// hardware device's serial number, as GetSessionToken's SerialNumber takes it (9 to 256 of
/// `[\w+=/:,.@-]`).
pub(crate) fn check_serial(serial: &str) -> Result<String, Error> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c);
    if (9..=256).contains(&serial.len()) && serial.chars().all(allowed) {
        Ok(serial.to_string())
    } else {
        Err(Error::usage(format!(
            "`{serial}` is not an MFA device's ARN or serial number"
        ))
        .with_hint(
            "copy it from `aws iam list-mfa-devices` (SerialNumber), e.g. \
                     arn:aws:iam::123456789012:mfa/alice",
        ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_types_are_of_a_known_series_and_subnets_are_ids() {
        for good in [
            "t3.small",
            "t3a.medium",
            "t4g.small",
            "m7gd.large",
            "c7i-flex.large",
            "is4gen.xlarge",
            "u-6tb1.metal",
            "mac2.metal",
            "m8g.large",
            "x2iedn.xlarge",
            "trn1n.32xlarge",
        ] {
            assert!(InstanceType::parse(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("q5.large", "no instance family is named q5"),
            ("tee3.small", "no instance family is named tee3"),
            ("t.small", "no instance family is named t"),
            ("t3-x.small", "no instance family"),
            ("t3small", "is not an EC2 instance type"),
        ] {
            let error = InstanceType::parse(bad).expect_err(bad);
            assert_eq!(error.status(), crate::error::ExitStatus::Usage, "{bad}");
            assert!(error.message().contains(why), "{bad}: {error:?}");
        }
        assert!(SubnetId::parse("subnet-0123456789abcdef0").is_ok());
        assert!(SubnetId::parse("subnet-01234567").is_ok());
        for bad in ["subnet-xyz", "sn-01234567", "subnet-0123456789abcdef"] {
            let error = SubnetId::parse(bad).expect_err(bad);
            assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        }
    }

    #[test]
    fn parameter_prefixes_follow_ssms_naming_rules() {
        for good in ["", "/course/alice/", "/alice/", "alice_", "cs101.alice-"] {
            assert_eq!(ParameterPrefix::parse(good).expect(good).as_str(), good);
        }
        assert_eq!(
            ParameterPrefix::parse("/course/alice/")
                .expect("path")
                .arn_path(),
            "course/alice/"
        );
        let deep = format!("{}/", "/a".repeat(16));
        for (bad, why) in [
            ("/course/alice", "starts and ends with /"),
            ("course/alice/", "starts and ends with /"),
            ("/course//alice/", "no empty level"),
            ("alice bob", "` ` is not allowed"),
            ("/aws/alice/", "reserved"),
            ("SSM_", "reserved"),
            (deep.as_str(), "15 levels"),
        ] {
            let error = ParameterPrefix::parse(bad).expect_err(bad);
            assert!(error.message().contains(why), "{bad}: {error}");
            assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        }
    }

    #[test]
    fn tag_filters_are_checked() {
        assert_eq!(
            TagFilter::parse("Name=ide=1").expect("valid"),
            TagFilter {
                key: "Name".into(),
                value: "ide=1".into()
            }
        );
        assert!(TagFilter::parse("Name").is_err());
        assert!(TagFilter::parse("=ide").is_err());
        assert!(TagFilter::parse(&format!("{}=v", "k".repeat(129))).is_err());
        assert!(
            TagFilter::parse("Name=").is_ok(),
            "an empty value is a valid tag value"
        );
    }

    #[test]
    fn instance_ids_are_checked() {
        assert!(InstanceId::parse("i-0123456789abcdef0").is_ok());
        assert!(InstanceId::parse("i-01234567").is_ok());
        assert!(InstanceId::parse("i-xyz").is_err());
        assert!(InstanceId::parse("0123456789abcdef0").is_err());
    }

    #[test]
    fn policy_arns_are_checked() {
        assert!(PolicyArn::parse("arn:aws:iam::aws:policy/AdministratorAccess").is_ok());
        assert!(PolicyArn::parse("arn:aws:iam::123456789012:policy/path/mine").is_ok());
        assert!(PolicyArn::parse("arn:aws-us-gov:iam::aws:policy/service-role/X_y+=,.@-").is_ok());
        for (arn, why) in [
            ("AdministratorAccess", "the form"),
            ("arn:aws:s3:::bucket", "the form"),
            ("arn:aws:iam::notanaccount:policy/x y", "12-digit"),
            ("arn:aws:iam::123456789012:policy/x y", "contains ` `"),
            ("arn:mars:iam::aws:policy/x", "partition"),
            ("arn:aws:iam::aws:role/x", "policy/"),
            ("arn:aws:iam::aws:policy/", "1 to 128"),
            ("arn:aws:iam::aws:policy/a b/x", "printable ASCII"),
        ] {
            let error = PolicyArn::parse(arn).expect_err(arn);
            assert!(error.message().contains(why), "{arn}: {}", error.message());
        }
    }

    #[test]
    fn regions_are_checked_locally_and_against_the_partition_metadata() {
        for name in [
            "us-east-1",
            "ca-central-1",
            "us-gov-west-1",
            "eusc-de-east-1",
            "mars-north-9",
        ] {
            assert!(Region::parse(name).is_ok(), "{name}");
        }
        for name in [
            "us east 1",
            "",
            "US-EAST-1",
            "useast1",
            "us-east-",
            "1-east-1",
        ] {
            let error = Region::parse(name).expect_err(name);
            assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        }
        let known = |name: &str| Region::parse(name).expect("syntax").partition();
        assert_eq!(known("us-east-1"), ("aws".to_string(), true));
        assert_eq!(known("cn-north-1"), ("aws-cn".to_string(), true));
        assert_eq!(known("us-gov-east-1"), ("aws-us-gov".to_string(), true));
        assert_eq!(known("us-isob-east-1"), ("aws-iso-b".to_string(), true));
        assert_eq!(
            known("eu-south-9"),
            ("aws".to_string(), false),
            "a future aws region"
        );
        assert_eq!(known("mars-north-9"), ("aws".to_string(), false));
        assert!(
            Region::parse("mars-north-9")
                .expect("syntax")
                .unknown_warning()
                .is_some()
        );
        assert!(
            Region::parse("eu-west-1")
                .expect("syntax")
                .unknown_warning()
                .is_none()
        );
    }

    #[test]
    fn endpoint_urls_are_parsed_locally() {
        for url in [
            "http://127.0.0.1:5000",
            "https://s3.us-east-1.amazonaws.com",
            "http://localhost:4566/",
            "http://[::1]:5000",
            "http://moto",
        ] {
            assert!(EndpointUrl::parse(url).is_ok(), "{url}");
        }
        for (url, why) in [
            ("http://::::", "no host"),
            ("127.0.0.1:5000", "http://"),
            ("http://", "no host"),
            ("http://host:99999", "not a port"),
            ("http://host:", "not a port"),
            ("http://user:pw@host", "user name"),
            ("http://[::1", "closed"),
            ("http://[zz]:1", "IPv6"),
            ("http://a b", "not a host name"),
        ] {
            let error = EndpointUrl::parse(url).expect_err(url);
            assert!(error.message().contains(why), "{url}: {}", error.message());
            assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        }
    }

    #[test]
    fn durations_at_their_extremes_are_refused_not_overflowed() {
        for text in [
            "9300000000000000000",
            "18446744073709551616",
            "99999999999h",
            "4294967295h",
            "25h",
            "86401",
            "1000000h1000000h",
        ] {
            let error = parse_duration(text).expect_err(text);
            assert!(
                error.message().contains("24h"),
                "{text}: {}",
                error.message()
            );
        }
        assert_eq!(parse_duration("24h").ok(), Some(MAX_DURATION));
        assert_eq!(parse_duration("0").ok(), Some(Duration::ZERO));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("500ms").is_err());
        assert_eq!(parse_timeout("1s").ok(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn iam_names_are_checked() {
        assert!(RoleName::parse("dragons-lab-ec2-role").is_ok());
        assert!(RoleName::parse(&"r".repeat(65)).is_err());
        assert!(ProfileName::parse(&"r".repeat(65)).is_ok());
        assert!(RoleName::parse("has space").is_err());
        assert!(RoleName::parse("").is_err());
    }

    #[test]
    fn valid_bucket_names_pass() {
        for name in [
            "dragons-lab-123456789012-us-east-1",
            "abc",
            "a.b-c1",
            &"a".repeat(63),
        ] {
            assert!(BucketName::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn each_s3_naming_rule_is_enforced() {
        let cases = [
            ("Dragons", "upper-case"),
            ("my_bucket", "`_` is not allowed"),
            ("ab", "not 3 to 63"),
            (&"a".repeat(64), "not 3 to 63"),
            ("192.168.5.4", "IP address"),
            ("-dragons", "begin and end"),
            ("dragons-", "begin and end"),
            ("xn--dragons", "`xn--` is reserved"),
            ("dragons-s3alias", "`-s3alias` is reserved"),
            ("dragons..lab", "two adjacent dots"),
            ("dragons.-lab", "next to a hyphen"),
            ("sthree-dragons", "`sthree-` is reserved"),
            ("dragons--ol-s3", "`--ol-s3` is reserved"),
            (r#"*", "Action": "*"#, "is not allowed"),
        ];
        for (name, why) in cases {
            let error = BucketName::parse(name).expect_err(name);
            assert!(error.message().contains(why), "{name}: {}", error.message());
            assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        }
    }

    #[test]
    fn keys_are_checked() {
        assert!(ObjectKey::parse("dragons.json").is_ok());
        assert!(ObjectKey::parse("").is_err());
        assert!(ObjectKey::parse("/dragons.json").is_err());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("90").ok(), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m").ok(), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s").ok(), Some(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("250ms").ok(),
            Some(Duration::from_millis(250))
        );
        assert!(parse_duration("2x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5m3").is_err());
        assert!(
            parse_duration("soon")
                .expect_err("not a duration")
                .message()
                .contains("is not a duration")
        );
    }
}
