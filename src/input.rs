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

/// The ARN of an IAM managed policy: `arn:PARTITION:iam::ACCOUNT-or-aws:policy/PATH/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyArn(String);

impl PolicyArn {
    pub(crate) fn parse(arn: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let valid = parts.len() == 6
            && parts[0] == "arn"
            && parts[2] == "iam"
            && parts[3].is_empty()
            && parts[5].starts_with("policy/")
            && parts[5].len() > "policy/".len();
        if valid {
            return Ok(Self(arn.to_string()));
        }
        Err(
            Error::usage(format!("--policy-arn `{arn}` is not an IAM policy ARN"))
                .with_hint("managed policy ARNs look like arn:aws:iam::aws:policy/ReadOnlyAccess"),
        )
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

/// Parses `90`, `90s`, `2m`, `1m30s`, `500ms`, `1h`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, Error> {
    let invalid = || {
        Error::usage(format!("`{text}` is not a duration"))
            .with_hint("write it as e.g. 90s, 2m or 1m30s")
    };
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
        assert!(PolicyArn::parse("AdministratorAccess").is_err());
        assert!(PolicyArn::parse("arn:aws:s3:::bucket").is_err());
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
