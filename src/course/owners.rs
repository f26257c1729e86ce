//! Whose a resource is: the `provision:owner` value of a principal.
//!
//! The owner is the caller's principal as `sts get-caller-identity` names it:
//! - an IAM user (or the root user, or a federated user): its ARN as is;
//! - an assumed-role session: the role's ARN, `arn:aws:iam::ACCOUNT:role/NAME`, when the session's
//!   name is one an SDK or an AWS service generated; otherwise the session's own ARN,
//!   `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`.
//!
//! Why the session name stays unless it is generated: people who share one role are told apart
//! only by it — IAM Identity Center names each session after its user, AWS Academy's `voclabs`
//! sessions are `user<id>=<Name>`, SAML sign-ins use the e-mail address — so dropping it would make
//! every student of a shared role one owner, who could tear down each other's labs. A generated
//! name (an instance profile's session is the instance id, the AWS CLI's role profiles
//! `botocore-session-<time>`, the SDKs `aws-sdk-<lang>-<time>`, ECS a task id) changes from
//! session to session or names a machine, so keeping it would make one person a new owner every
//! hour; those are dropped. The role's path is not in a session's ARN, so it is not in the owner.

/// The longest tag value IAM, S3, SSM and EC2 take.
const MAX_TAG_VALUE: usize = 256;

/// The `provision:owner` value of the principal `arn` names (GetCallerIdentity's `Arn`, or
/// CloudTrail's `userIdentity.arn`).
pub(crate) fn owner_of(arn: &str) -> String {
    let owner = match assumed_role(arn) {
        Some((prefix, role, session)) if generated(session) => {
            let partition_account = prefix.replacen(":sts:", ":iam:", 1);
            format!("{partition_account}role/{role}")
        }
        _ => arn.to_string(),
    };
    tag_value(&owner)
}

/// `(arn:PARTITION:sts::ACCOUNT:, ROLE, SESSION)` of an assumed-role session ARN.
fn assumed_role(arn: &str) -> Option<(&str, &str, &str)> {
    let split = arn.find(":assumed-role/")?;
    let (prefix, rest) = (&arn[..=split], &arn[split + ":assumed-role/".len()..]);
    if !prefix.starts_with("arn:") || !prefix.contains(":sts:") {
        return None;
    }
    let (role, session) = rest.split_once('/')?;
    Some((prefix, role, session))
}

/// Whether a session name is one an SDK or AWS service made up, rather than a person's.
fn generated(session: &str) -> bool {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let timestamped = |prefix: &str| {
        session
            .strip_prefix(prefix)
            .and_then(|rest| rest.rsplit('-').next())
            .is_some_and(digits)
    };
    // An EC2 instance id: an instance profile's session.
    let instance = session
        .strip_prefix("i-")
        .is_some_and(|id| hex(id) && matches!(id.len(), 8 | 17));
    // A UUID or a 32-digit task id (ECS, CodeBuild).
    let uuid = session.len() == 36 && hex(&session.replace('-', ""))
        || session.len() == 32 && hex(session);
    instance
        || uuid
        || digits(session)
        || timestamped("botocore-session-")
        || timestamped("aws-sdk-")
        || timestamped("aws-go-sdk-")
}

/// `value` as a tag value every service takes: characters outside IAM's tag alphabet (the
/// narrowest: letters, digits, spaces and `_.:/=+-@`) become `_`, and at most 256 characters.
pub(crate) fn tag_value(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            c if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) => c,
            _ => '_',
        })
        .take(MAX_TAG_VALUE)
        .collect()
}

/// A short name for an owner in messages: the user, role or session part of the ARN.
pub(crate) fn short(owner: &str) -> &str {
    owner
        .split_once(":user/")
        .or_else(|| owner.split_once(":role/"))
        .or_else(|| owner.split_once(":assumed-role/"))
        .map_or(owner, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_own_by_their_arn() {
        assert_eq!(
            owner_of("arn:aws:iam::123456789012:user/students/alice"),
            "arn:aws:iam::123456789012:user/students/alice"
        );
        assert_eq!(
            owner_of("arn:aws:iam::123456789012:root"),
            "arn:aws:iam::123456789012:root"
        );
    }

    #[test]
    fn a_persons_session_keeps_its_name_and_a_generated_one_is_dropped() {
        for person in [
            "user2345678=Ada_Lovelace",
            "alice@example.edu",
            "alice",
            "provision-alice",
        ] {
            let arn = format!("arn:aws:sts::123456789012:assumed-role/voclabs/{person}");
            assert_eq!(owner_of(&arn), arn, "{person}");
        }
        for generated in [
            "i-0123456789abcdef0",
            "i-0123abcd",
            "botocore-session-1700000000",
            "aws-sdk-rust-1700000000",
            "aws-sdk-java-1700000000123",
            "aws-go-sdk-1700000000",
            "1700000000",
            "0123456789abcdef0123456789abcdef",
            "2f1c6a0e-9d3b-4c5e-8f7a-1b2c3d4e5f60",
        ] {
            let arn = format!("arn:aws-cn:sts::123456789012:assumed-role/LabRole/{generated}");
            assert_eq!(
                owner_of(&arn),
                "arn:aws-cn:iam::123456789012:role/LabRole",
                "{generated}"
            );
        }
    }

    #[test]
    fn owners_fit_every_services_tag_values() {
        let arn = "arn:aws:sts::1:assumed-role/R/a,b";
        assert_eq!(owner_of(arn), "arn:aws:sts::1:assumed-role/R/a_b");
        assert_eq!(tag_value(&"x".repeat(300)).len(), 256);
        assert_eq!(
            short("arn:aws:iam::1:user/students/alice"),
            "students/alice"
        );
        assert_eq!(short("arn:aws:sts::1:assumed-role/R/alice"), "R/alice");
    }
}
