//! The credential provider chain, laid out as the SDKs search it — what each link holds here, which
//! one supplied the credentials, and which links below it were shadowed (an old `export` in
//! `.bashrc` hiding the instance profile, a credentials file left on a course IDE). `whoami` shows
//! it.
//!
//! Only local facts are read (environment variables, the shared files), plus, on an EC2 instance,
//! its instance metadata (IMDSv2: a session token first, then the role), with short bounded waits.

use std::time::Duration;

use serde::Serialize;

use crate::connection::aws::Aws;
use crate::connection::credentials::CredentialSource as CredentialSourceSetting;
use crate::connection::profiles::{Kind, ProfileFile};
use crate::connection::sources::CredentialSource;

/// One link of the chain.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Link {
    /// `profile-argument`, `environment`, `credentials-file`, `config-file`, `web-identity`,
    /// `container`, `instance-profile`.
    pub(crate) link: &'static str,
    pub(crate) label: &'static str,
    pub(crate) state: State,
    /// What the link holds, or why it holds nothing.
    pub(crate) detail: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum State {
    /// This link's credentials are the ones in use.
    Supplied,
    /// The link holds credentials, but one above it won.
    Shadowed,
    /// Nothing here.
    Absent,
    /// The link holds credentials; which link supplied them is not known.
    Present,
    /// The link's credentials are those the supplying profile's role was assumed with (its
    /// `credential_source`).
    Source,
}

/// What the instance metadata service said about this machine's instance profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InstanceProfile {
    /// AWS_EC2_METADATA_DISABLED=true.
    Disabled,
    /// Not an EC2 instance (from its firmware's vendor strings), so not asked.
    NotEc2,
    /// Asked, and no answer (not EC2 after all, or metadata turned off on the instance).
    Unreachable(String),
    /// An instance with no instance profile.
    None,
    Role {
        role: String,
        instance_profile_arn: Option<String>,
    },
}

/// The chain as it stands for this run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Chain {
    pub(crate) links: Vec<Link>,
    /// What to do about a shadowed instance profile, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hint: Option<String>,
}

/// The facts the chain is laid out from (gathered by [`observe`], given directly in tests).
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// `--profile`, else `AWS_PROFILE`, and which of the two.
    pub(crate) explicit_profile: Option<(String, &'static str)>,
    /// The access key id in AWS_ACCESS_KEY_ID when a secret key is set beside it.
    pub(crate) environment_key: Option<String>,
    pub(crate) credentials_file: Option<ProfileFile>,
    pub(crate) credentials_path: Option<String>,
    pub(crate) config_file: Option<ProfileFile>,
    pub(crate) config_path: Option<String>,
    pub(crate) web_identity: Option<String>,
    pub(crate) container: Option<String>,
    pub(crate) instance_profile: Option<InstanceProfile>,
    /// The supplying profile's `credential_source`, when its role is assumed with one.
    pub(crate) role_source: Option<CredentialSourceSetting>,
}

/// Gathers the facts for `aws`'s run: the environment and files now, and the instance metadata.
pub(crate) async fn observe(aws: &Aws, explicit_profile: Option<(String, &'static str)>) -> Chain {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let environment_key =
        env("AWS_ACCESS_KEY_ID").filter(|_| env("AWS_SECRET_ACCESS_KEY").is_some());
    let facts = Facts {
        explicit_profile,
        environment_key,
        credentials_file: ProfileFile::load(Kind::Credentials).ok(),
        credentials_path: Kind::Credentials.path().map(|p| p.display().to_string()),
        config_file: ProfileFile::load(Kind::Config).ok(),
        config_path: Kind::Config.path().map(|p| p.display().to_string()),
        web_identity: env("AWS_WEB_IDENTITY_TOKEN_FILE")
            .filter(|_| env("AWS_ROLE_ARN").is_some())
            .map(|file| {
                format!(
                    "AWS_ROLE_ARN {} with the token in {file}",
                    env("AWS_ROLE_ARN").unwrap_or_default()
                )
            }),
        container: env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            .or_else(|| env("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
            .map(|uri| format!("the container credentials endpoint ({uri})")),
        instance_profile: Some(instance_profile().await),
        role_source: aws.role_source,
    };
    lay_out(&facts, &aws.source)
}

/// The instance profile, from IMDSv2, with waits of a second or so at most.
pub(crate) async fn instance_profile() -> InstanceProfile {
    let disabled = std::env::var("AWS_EC2_METADATA_DISABLED")
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if disabled {
        return InstanceProfile::Disabled;
    }
    let endpoint_set = std::env::var_os("AWS_EC2_METADATA_SERVICE_ENDPOINT").is_some();
    if !endpoint_set && firmware_says_not_ec2() {
        return InstanceProfile::NotEc2;
    }
    let client = aws_config::imds::Client::builder()
        .max_attempts(1)
        .connect_timeout(Duration::from_secs(1))
        .read_timeout(Duration::from_secs(1))
        .build();
    let ask = async {
        let roles = match client
            .get("/latest/meta-data/iam/security-credentials/")
            .await
        {
            Ok(roles) => roles,
            Err(aws_config::imds::client::error::ImdsError::ErrorResponse(answer))
                if answer.response().status().as_u16() == 404 =>
            {
                return InstanceProfile::None;
            }
            Err(error) => {
                return InstanceProfile::Unreachable(crate::error::error_chain(&error));
            }
        };
        let Some(role) = roles
            .as_ref()
            .lines()
            .next()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        else {
            return InstanceProfile::None;
        };
        let instance_profile_arn = client
            .get("/latest/meta-data/iam/info")
            .await
            .ok()
            .and_then(|info| serde_json::from_str::<serde_json::Value>(info.as_ref()).ok())
            .and_then(|info| info["InstanceProfileArn"].as_str().map(str::to_string));
        InstanceProfile::Role {
            role: role.to_string(),
            instance_profile_arn,
        }
    };
    // The token request, the role and its details: bounded as a whole too.
    tokio::time::timeout(Duration::from_secs(4), ask)
        .await
        .unwrap_or_else(|_| InstanceProfile::Unreachable("no answer within 4s".to_string()))
}

/// Linux tells EC2 instances by their firmware's vendor strings ("Amazon EC2" on Nitro, an
/// "amazon" BIOS version or an `ec2` hypervisor UUID on Xen); where none can be read (other
/// systems), it is not known, and the metadata service is asked.
fn firmware_says_not_ec2() -> bool {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.to_ascii_lowercase())
    };
    let strings: Vec<String> = [
        "/sys/class/dmi/id/sys_vendor",
        "/sys/class/dmi/id/bios_vendor",
        "/sys/class/dmi/id/bios_version",
        "/sys/hypervisor/uuid",
    ]
    .iter()
    .filter_map(|path| read(path))
    .collect();
    !strings.is_empty()
        && !strings
            .iter()
            .any(|s| s.contains("amazon") || s.starts_with("ec2"))
}

/// The links in the SDKs' order, each with its state.
pub(crate) fn lay_out(facts: &Facts, source: &CredentialSource) -> Chain {
    let profile = facts
        .explicit_profile
        .as_ref()
        .map_or("default", |(name, _)| name.as_str());
    let in_credentials = facts
        .credentials_file
        .as_ref()
        .and_then(|file| file.settings(profile))
        .filter(|settings| settings.contains_key("aws_access_key_id"));
    let config_kind = facts
        .config_file
        .as_ref()
        .and_then(|file| file.settings(profile))
        .and_then(|settings| config_credentials(&settings));
    let cloud9 = facts
        .credentials_file
        .as_ref()
        .is_some_and(ProfileFile::is_cloud9_managed);
    let path = |path: &Option<String>| path.clone().unwrap_or_else(|| "(no home)".to_string());

    let mut links = vec![
        (
            "profile-argument",
            "--profile / AWS_PROFILE",
            facts
                .explicit_profile
                .as_ref()
                .map(|(name, from)| format!("profile {name} (from {from})")),
        ),
        (
            "environment",
            "environment variables",
            facts
                .environment_key
                .as_ref()
                .map(|key| format!("AWS_ACCESS_KEY_ID {}", masked(key))),
        ),
        (
            "credentials-file",
            "shared credentials file",
            in_credentials.map(|_| {
                format!(
                    "profile {profile} in {}{}",
                    path(&facts.credentials_path),
                    if cloud9 {
                        " (Cloud9's managed credentials)"
                    } else {
                        ""
                    }
                )
            }),
        ),
        (
            "config-file",
            "shared config file",
            config_kind
                .map(|kind| format!("profile {profile} in {}: {kind}", path(&facts.config_path))),
        ),
        (
            "web-identity",
            "web identity token",
            facts.web_identity.clone(),
        ),
        (
            "container",
            "container credentials",
            facts.container.clone(),
        ),
        (
            "instance-profile",
            "instance profile (IMDSv2)",
            match &facts.instance_profile {
                Some(InstanceProfile::Role {
                    role,
                    instance_profile_arn,
                }) => Some(match instance_profile_arn {
                    Some(arn) => format!("role {role} (instance profile {arn})"),
                    None => format!("role {role}"),
                }),
                _ => None,
            },
        ),
    ];
    // A profile asked for by name is searched alone: its own files supply it.
    let supplier = match source {
        CredentialSource::Environment => Some("environment"),
        CredentialSource::WebIdentity => Some("web-identity"),
        CredentialSource::Container => Some("container"),
        CredentialSource::InstanceMetadata => Some("instance-profile"),
        CredentialSource::FanOut { .. } | CredentialSource::Unknown => None,
        _ if facts.explicit_profile.is_some() => Some("profile-argument"),
        _ if links[2].2.is_some() => Some("credentials-file"),
        _ => Some("config-file"),
    };
    // A profile's own details are shown on the profile-argument link when it supplied.
    if supplier == Some("profile-argument") {
        let detail = match (&links[2].2, &links[3].2) {
            (Some(file), _) => file.clone(),
            (None, Some(config)) => config.clone(),
            (None, None) => format!("profile {profile}"),
        };
        links[0].2 = Some(format!(
            "{} → {}",
            links[0].2.clone().unwrap_or_default(),
            detail.trim_start_matches(&format!("profile {profile} "))
        ));
        links[2].2 = None;
        links[3].2 = None;
    }
    let supplier_at = supplier.and_then(|id| links.iter().position(|(link, _, _)| *link == id));
    // The link a role profile's `credential_source` names gave the credentials its role was
    // assumed with: used, not shadowed.
    let source_at = facts
        .role_source
        .map(|source| match source {
            CredentialSourceSetting::Environment => "environment",
            CredentialSourceSetting::Ec2InstanceMetadata => "instance-profile",
            CredentialSourceSetting::EcsContainer => "container",
        })
        .and_then(|id| links.iter().position(|(link, _, _)| *link == id));
    let laid: Vec<Link> = links
        .into_iter()
        .enumerate()
        .map(|(at, (link, label, held))| {
            let state = match (&held, supplier_at) {
                (_, Some(s)) if s == at => State::Supplied,
                (Some(_), _) if source_at == Some(at) => State::Source,
                (Some(_), Some(_)) => State::Shadowed,
                (Some(_), None) => State::Present,
                (None, _) => State::Absent,
            };
            let detail = match held {
                Some(detail) if state == State::Source => {
                    format!("{detail}: the role of the supplying profile is assumed with these (credential_source)")
                }
                Some(detail) => detail,
                None if state == State::Supplied => source.to_string(),
                None => absent_reason(link, facts),
            };
            Link {
                link,
                label,
                state,
                detail,
            }
        })
        .collect();
    let hint = shadowed_instance_profile_hint(&laid, facts);
    Chain { links: laid, hint }
}

/// How a config-file profile supplies credentials, if it does.
fn config_credentials(settings: &std::collections::BTreeMap<String, String>) -> Option<String> {
    if settings.contains_key("sso_session") || settings.contains_key("sso_start_url") {
        Some("SSO".to_string())
    } else if let Some(role) = settings.get("role_arn") {
        Some(format!("assume role {role}"))
    } else if settings.contains_key("credential_process") {
        Some("credential_process".to_string())
    } else if settings.contains_key("aws_access_key_id") {
        Some("access keys".to_string())
    } else {
        None
    }
}

fn absent_reason(link: &str, facts: &Facts) -> String {
    match (link, &facts.instance_profile) {
        ("instance-profile", Some(InstanceProfile::Disabled)) => {
            "not asked (AWS_EC2_METADATA_DISABLED=true)".to_string()
        }
        ("instance-profile", Some(InstanceProfile::NotEc2)) => "not an EC2 instance".to_string(),
        ("instance-profile", Some(InstanceProfile::None)) => {
            "this EC2 instance has no instance profile".to_string()
        }
        ("instance-profile", Some(InstanceProfile::Unreachable(why))) => {
            format!("no instance metadata ({why})")
        }
        _ => "not set".to_string(),
    }
}

/// The source that hides an instance profile, and how to remove it.
fn shadowed_instance_profile_hint(links: &[Link], facts: &Facts) -> Option<String> {
    let instance = links
        .iter()
        .find(|link| link.link == "instance-profile" && link.state == State::Shadowed)?;
    let role = match &facts.instance_profile {
        Some(InstanceProfile::Role { role, .. }) => role.clone(),
        _ => instance.detail.clone(),
    };
    let supplier = links.iter().find(|link| link.state == State::Supplied)?;
    let fix = match supplier.link {
        "environment" => "`unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN`, and \
                          remove their `export` lines from ~/.bashrc (or ~/.profile)"
            .to_string(),
        "profile-argument" => match &facts.explicit_profile {
            Some((_, "AWS_PROFILE")) => {
                "`unset AWS_PROFILE` (and remove it from ~/.bashrc)".to_string()
            }
            _ => "run without --profile".to_string(),
        },
        "credentials-file" if supplier.detail.contains("Cloud9") => {
            "turn off the IDE's AWS managed temporary credentials (Preferences → AWS Settings → \
             Credentials)"
                .to_string()
        }
        "credentials-file" => format!(
            "remove the [default] keys from {} (keep a copy elsewhere if you still need them)",
            facts
                .credentials_path
                .clone()
                .unwrap_or_else(|| "~/.aws/credentials".to_string())
        ),
        "config-file" => {
            "remove the default profile's credentials settings from the config file".to_string()
        }
        _ => format!("remove the {}", supplier.label),
    };
    Some(format!(
        "this instance's role {role} is shadowed by the {}: to use it, {fix}",
        supplier.label
    ))
}

/// `AKIA…MPLE`: enough to recognise a key, not to use it.
fn masked(key: &str) -> String {
    if key.len() <= 8 {
        return "…".to_string();
    }
    format!("{}…{}", &key[..4], &key[key.len() - 4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_ec2() -> Option<InstanceProfile> {
        Some(InstanceProfile::Role {
            role: "LabRole".to_string(),
            instance_profile_arn: Some(
                "arn:aws:iam::111122223333:instance-profile/LabInstanceProfile".to_string(),
            ),
        })
    }

    fn states(chain: &Chain) -> Vec<(&str, State)> {
        chain.links.iter().map(|l| (l.link, l.state)).collect()
    }

    #[test]
    fn environment_keys_shadow_the_instance_profile_with_the_fix() {
        let facts = Facts {
            environment_key: Some("AKIAIOSFODNN7EXAMPLE".to_string()),
            instance_profile: on_ec2(),
            ..Facts::default()
        };
        let chain = lay_out(&facts, &CredentialSource::Environment);
        assert_eq!(
            states(&chain),
            [
                ("profile-argument", State::Absent),
                ("environment", State::Supplied),
                ("credentials-file", State::Absent),
                ("config-file", State::Absent),
                ("web-identity", State::Absent),
                ("container", State::Absent),
                ("instance-profile", State::Shadowed),
            ]
        );
        assert_eq!(chain.links[1].detail, "AWS_ACCESS_KEY_ID AKIA…MPLE");
        assert!(chain.links[6].detail.contains("LabInstanceProfile"));
        let hint = chain.hint.expect("hint");
        assert!(hint.contains("role LabRole"), "{hint}");
        assert!(hint.contains("unset AWS_ACCESS_KEY_ID"), "{hint}");
    }

    #[test]
    fn a_profile_by_name_supplies_and_environment_keys_are_shadowed() {
        let facts = Facts {
            explicit_profile: Some(("course".to_string(), "AWS_PROFILE")),
            environment_key: Some("AKIAIOSFODNN7EXAMPLE".to_string()),
            credentials_file: Some(ProfileFile::parse(
                Kind::Credentials,
                "[course]\naws_access_key_id = AKIA\n",
            )),
            credentials_path: Some("/home/u/.aws/credentials".to_string()),
            instance_profile: on_ec2(),
            ..Facts::default()
        };
        let source = CredentialSource::Profile {
            name: "course".to_string(),
        };
        let chain = lay_out(&facts, &source);
        assert_eq!(chain.links[0].state, State::Supplied);
        assert!(
            chain.links[0]
                .detail
                .contains("profile course (from AWS_PROFILE)")
        );
        assert!(chain.links[0].detail.contains("/home/u/.aws/credentials"));
        assert_eq!(chain.links[1].state, State::Shadowed);
        assert_eq!(
            chain.links[2].state,
            State::Absent,
            "shown on the profile's link"
        );
        assert!(chain.hint.expect("hint").contains("unset AWS_PROFILE"));
    }

    /// botocore assumes a `credential_source = Environment` profile's role with the environment's
    /// keys: they are what was used, not shadowed.
    #[test]
    fn a_role_s_credential_source_is_marked_as_its_source() {
        let facts = Facts {
            explicit_profile: Some(("lab".to_string(), "--profile")),
            environment_key: Some("AKIAIOSFODNN7EXAMPLE".to_string()),
            config_file: Some(ProfileFile::parse(
                Kind::Config,
                "[profile lab]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Environment\n",
            )),
            instance_profile: Some(InstanceProfile::NotEc2),
            role_source: Some(CredentialSourceSetting::Environment),
            ..Facts::default()
        };
        let source = CredentialSource::AssumeRole {
            profile: "lab".to_string(),
        };
        let chain = lay_out(&facts, &source);
        assert_eq!(chain.links[0].state, State::Supplied);
        assert_eq!(chain.links[1].state, State::Source);
        assert!(
            chain.links[1].detail.contains("credential_source"),
            "{:?}",
            chain.links[1]
        );
        assert!(chain.hint.is_none());
    }

    #[test]
    fn the_instance_profile_supplies_when_nothing_is_above_it() {
        let facts = Facts {
            instance_profile: on_ec2(),
            ..Facts::default()
        };
        let chain = lay_out(&facts, &CredentialSource::InstanceMetadata);
        assert_eq!(chain.links[6].state, State::Supplied);
        assert!(chain.links[..6].iter().all(|l| l.state == State::Absent));
        assert!(chain.hint.is_none());
    }

    #[test]
    fn the_default_profile_is_found_in_the_file_that_holds_it() {
        let facts = Facts {
            config_file: Some(ProfileFile::parse(
                Kind::Config,
                "[default]\nsso_session = school\n",
            )),
            config_path: Some("/home/u/.aws/config".to_string()),
            instance_profile: Some(InstanceProfile::NotEc2),
            ..Facts::default()
        };
        let source = CredentialSource::Sso {
            profile: "default".to_string(),
        };
        let chain = lay_out(&facts, &source);
        assert_eq!(chain.links[3].state, State::Supplied);
        assert_eq!(
            chain.links[3].detail,
            "profile default in /home/u/.aws/config: SSO"
        );
        assert_eq!(chain.links[6].detail, "not an EC2 instance");

        let cloud9 = Facts {
            credentials_file: Some(ProfileFile::parse(
                Kind::Credentials,
                &format!(
                    "{}\n[default]\naws_access_key_id = ASIA\n",
                    crate::connection::profiles::CLOUD9_MANAGED_HEADER
                ),
            )),
            instance_profile: on_ec2(),
            ..Facts::default()
        };
        let source = CredentialSource::Profile {
            name: "default".to_string(),
        };
        let chain = lay_out(&cloud9, &source);
        assert_eq!(chain.links[2].state, State::Supplied);
        assert!(
            chain
                .hint
                .expect("hint")
                .contains("managed temporary credentials")
        );
    }
}
