//! Restricted lab accounts (AWS Academy Learner Lab and similar sandboxes): students work as an
//! assumed-role session of a role like `voclabs`, may not create IAM roles ("you cannot create
//! roles, except service-linked roles"), and find `LabRole` in `LabInstanceProfile` ready. `whoami`
//! reports these signs and what they mean for each command.
//!
//! The signs are read only for assumed-role sessions (where such accounts put students), so an IAM
//! user's `whoami` sends no request beyond STS.

use serde::Serialize;

use crate::connection::clients::Clients;
use crate::connection::sources::Identity;
use crate::error::Error;
use crate::resources::Resource;
use crate::resources::instance_profile::InstanceProfile;

/// The instance profile such accounts provide.
pub(crate) const LAB_INSTANCE_PROFILE: &str = "LabInstanceProfile";

/// Role names restricted lab accounts give their students' sessions.
const LAB_SESSION_ROLES: &[&str] = &["voclabs", "vocareum", "LabRole"];

/// Whether the caller may create IAM roles, as IAM's policy simulator says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RoleCreation {
    Allowed,
    Denied,
    /// Could not be asked (the reason).
    Unknown(String),
}

/// The signs of a restricted lab account, and what they mean.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Restricted {
    /// Enough signs that this is a restricted lab account.
    pub(crate) likely: bool,
    pub(crate) signs: Vec<String>,
    pub(crate) role_creation: RoleCreation,
    /// What each command can do here.
    pub(crate) commands: Vec<String>,
}

/// The role of an assumed-role session ARN (`arn:…:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
fn session_role(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let mut parts = resource.split('/');
    (parts.next() == Some("assumed-role")).then(|| parts.next())?
}

/// Whether `arn` is a student's session of AWS Academy's Learner Lab (its `voclabs` or
/// `vocareum` role).
pub(crate) fn is_learner_lab(arn: &str) -> bool {
    session_role(arn).is_some_and(|role| {
        ["voclabs", "vocareum"]
            .iter()
            .any(|r| role.eq_ignore_ascii_case(r) || role.starts_with(r))
    })
}

/// The regions AWS Academy's Learner Lab lets students use.
pub(crate) const LEARNER_LAB_REGIONS: &[&str] = &["us-east-1", "us-west-2"];
/// The instance sizes it allows ("nano to large").
pub(crate) const LEARNER_LAB_SIZES: &[&str] = &["nano", "micro", "small", "medium", "large"];
/// How many instances it lets run at once.
pub(crate) const LEARNER_LAB_RUNNING: usize = 9;

/// Checks an instance to launch against Learner Lab's limits (its region, its size, and the
/// instances running already): the error names the limit. Pure.
pub(crate) fn within_learner_lab_limits(
    region: &str,
    instance_type: &crate::input::InstanceType,
    running: usize,
) -> Result<(), Error> {
    if !LEARNER_LAB_REGIONS.contains(&region) {
        return Err(Error::usage(format!(
            "AWS Academy's Learner Lab allows only {} — not {region}",
            LEARNER_LAB_REGIONS.join(" and ")
        ))
        .with_hint("run with --region us-east-1"));
    }
    if !LEARNER_LAB_SIZES.contains(&instance_type.size()) {
        return Err(Error::usage(format!(
            "AWS Academy's Learner Lab allows instance sizes nano to large — not {}",
            instance_type.as_str()
        ))
        .with_hint(
            "leave --instance-type at its default (t3.small), or choose a size up to large",
        ));
    }
    if running >= LEARNER_LAB_RUNNING {
        return Err(Error::failed(format!(
            "AWS Academy's Learner Lab lets at most {LEARNER_LAB_RUNNING} instances run at once, \
             and {running} are running"
        ))
        .with_hint(
            "stop one you do not need (aws ec2 stop-instances --instance-ids ID), then re-run",
        ));
    }
    Ok(())
}

/// Reads the signs, for an assumed-role session only (`None` otherwise).
pub(crate) async fn look(clients: &Clients, identity: &Identity) -> Option<Restricted> {
    let role = session_role(&identity.arn)?;
    let lab_role = LAB_SESSION_ROLES
        .iter()
        .any(|r| role.eq_ignore_ascii_case(r) || role.starts_with(r));
    let (profile, creation) = tokio::join!(
        InstanceProfile::observe(clients, LAB_INSTANCE_PROFILE),
        role_creation(clients, role),
    );
    let lab_profile = matches!(profile, Ok(Some(_)));
    let mut signs = Vec::new();
    if lab_role {
        signs.push(format!(
            "an assumed-role session of {role}, the role restricted lab accounts (AWS Academy \
             Learner Lab) give students"
        ));
    }
    if creation == RoleCreation::Denied {
        signs.push("IAM's policy simulator says this identity may not create roles".to_string());
    }
    if lab_profile {
        signs.push(format!(
            "instance profile {LAB_INSTANCE_PROFILE} exists, as such accounts provide"
        ));
    }
    let likely = lab_role || creation == RoleCreation::Denied;
    let mut commands = Vec::new();
    if likely || lab_profile {
        commands.push(match (&creation, lab_profile) {
            (RoleCreation::Allowed, _) => {
                "instance-profile: role creation is allowed; it works as usual".to_string()
            }
            (_, true) => format!(
                "instance-profile: creating a role is refused here — associate the account's \
                 profile with `provision instance-profile --instance-tag KEY=VALUE \
                 --existing-profile {LAB_INSTANCE_PROFILE}` (no IAM writes; teardown leaves it)"
            ),
            (_, false) => "instance-profile: creating a role may be refused here — use \
                           `--existing-profile NAME` with a profile the account provides"
                .to_string(),
        });
        commands.push(
            "dragons-lab, dragons, status, teardown: S3 and SSM only, as such accounts allow — \
             they work in the regions the account allows (often us-east-1 and us-west-2)"
                .to_string(),
        );
    }
    Some(Restricted {
        likely,
        signs,
        role_creation: creation,
        commands,
    })
}

/// Asks IAM's policy simulator whether the session's role may create roles (one attempt each:
/// GetRole for the role's ARN, then SimulatePrincipalPolicy).
async fn role_creation(clients: &Clients, role: &str) -> RoleCreation {
    let once = || {
        aws_sdk_iam::config::Builder::default()
            .retry_config(crate::connection::clients::single_attempt())
    };
    let arn = match clients
        .iam
        .get_role()
        .role_name(role)
        .customize()
        .config_override(once())
        .send()
        .await
    {
        Ok(output) => match output.role() {
            Some(role) => role.arn().to_string(),
            None => return RoleCreation::Unknown("iam:GetRole returned no role".into()),
        },
        Err(e) => return RoleCreation::Unknown(reason("iam:GetRole", e)),
    };
    let answer = clients
        .iam
        .simulate_principal_policy()
        .policy_source_arn(arn)
        .action_names("iam:CreateRole")
        .customize()
        .config_override(once())
        .send()
        .await;
    match answer {
        Ok(output) => {
            let allowed = output.evaluation_results().iter().any(|r| {
                *r.eval_decision() == aws_sdk_iam::types::PolicyEvaluationDecisionType::Allowed
            });
            if allowed {
                RoleCreation::Allowed
            } else {
                RoleCreation::Denied
            }
        }
        Err(e) => RoleCreation::Unknown(reason("iam:SimulatePrincipalPolicy", e)),
    }
}

/// Why an optional read could not be made, in one line: the failure and its first cause.
pub(crate) fn reason<E>(
    action: &str,
    error: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    let error = crate::error::aws_error(action, error);
    match error.causes().first() {
        Some(cause) => format!("{}: {cause}", error.message()),
        None => error.message().to_string(),
    }
}

/// A refused IAM write in an account that provides LabInstanceProfile gets the command that uses
/// it instead.
pub(crate) async fn explained<T>(
    result: Result<T, Error>,
    inputs: &crate::plans::instance_profile::Inputs,
    clients: &Clients,
) -> Result<T, Error> {
    match result {
        Err(error) if inputs.existing.is_none() && is_denied_iam_write(&error) => {
            Err(with_existing_profile_hint(clients, error).await)
        }
        other => other,
    }
}

/// IAM writes a restricted lab account refuses.
pub(crate) fn is_denied_iam_write(error: &Error) -> bool {
    error.access_denied().is_some_and(|denied| {
        [
            "iam:CreateRole",
            "iam:CreateInstanceProfile",
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:AddRoleToInstanceProfile",
            "iam:TagRole",
        ]
        .contains(&denied.action.as_str())
    })
}

/// When IAM writes are refused and the account has a LabInstanceProfile, the way out is to use it:
/// the hint names the exact command.
async fn with_existing_profile_hint(clients: &Clients, error: Error) -> Error {
    use crate::resources::Resource;
    let exists =
        crate::resources::instance_profile::InstanceProfile::observe(clients, LAB_INSTANCE_PROFILE)
            .await
            .ok()
            .flatten()
            .is_some();
    if !exists {
        return error;
    }
    error.with_hint(format!(
        "this account provides instance profile {LAB_INSTANCE_PROFILE} (a restricted lab account): \
         use it as it is, with no IAM writes: {}",
        existing_profile_command(LAB_INSTANCE_PROFILE)
    ))
}

/// This run's command line with the IAM-creating flags replaced by `--existing-profile NAME`.
fn existing_profile_command(name: &str) -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    without_iam_flags(&args, name)
}

/// `args` without the flags that create or change IAM, plus `--existing-profile NAME`, quoted.
fn without_iam_flags(args: &[String], name: &str) -> String {
    const DROPPED_WITH_VALUE: &[&str] = &[
        "--role-name",
        "--instance-profile-name",
        "--policy",
        "--trust-policy",
        "--policy-arn",
    ];
    const DROPPED: &[&str] = &["--adopt", "--prune"];
    let mut kept = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let (flag, inline_value) = match word.split_once('=') {
            Some((flag, _)) => (flag, true),
            None => (word.as_str(), false),
        };
        if DROPPED.contains(&flag) {
            continue;
        }
        if DROPPED_WITH_VALUE.contains(&flag) {
            if !inline_value {
                words.next();
            }
            continue;
        }
        kept.push(word.clone());
    }
    kept.extend(["--existing-profile".to_string(), name.to_string()]);
    crate::shell::quoted_command(&kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suggested_command_keeps_the_instance_and_drops_what_writes_iam() {
        let args: Vec<String> = [
            "instance-profile",
            "--role-name",
            "my-role",
            "--instance-tag",
            "Name=my ide",
            "--policy-arn=arn:aws:iam::aws:policy/ReadOnlyAccess",
            "--adopt",
            "--region",
            "us-east-1",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            without_iam_flags(&args, "LabInstanceProfile"),
            "provision instance-profile --instance-tag 'Name=my ide' --region us-east-1 \
             --existing-profile LabInstanceProfile"
        );
    }

    #[test]
    fn learner_lab_s_limits_are_named_when_passed() {
        assert!(is_learner_lab(
            "arn:aws:sts::123456789012:assumed-role/voclabs/user1234=Student"
        ));
        assert!(!is_learner_lab(
            "arn:aws:sts::123456789012:assumed-role/Admin/ada"
        ));
        let small = crate::input::InstanceType::parse("t3.small").expect("type");
        let xlarge = crate::input::InstanceType::parse("m5.xlarge").expect("type");
        assert!(within_learner_lab_limits("us-east-1", &small, 8).is_ok());
        let region = within_learner_lab_limits("eu-west-1", &small, 0).expect_err("region");
        assert!(
            region.message().contains("us-east-1 and us-west-2"),
            "{region}"
        );
        let size = within_learner_lab_limits("us-west-2", &xlarge, 0).expect_err("size");
        assert!(size.message().contains("nano to large"), "{size}");
        let running = within_learner_lab_limits("us-east-1", &small, 9).expect_err("running");
        assert!(running.message().contains("at most 9"), "{running}");
    }

    #[test]
    fn the_role_of_an_assumed_role_session_is_read_from_its_arn() {
        assert_eq!(
            session_role("arn:aws:sts::123456789012:assumed-role/voclabs/user1234=student@x.edu"),
            Some("voclabs")
        );
        assert_eq!(session_role("arn:aws:iam::123456789012:user/student"), None);
        assert_eq!(
            session_role("arn:aws:sts::123456789012:federated-user/x"),
            None
        );
    }
}
