//! Which credentials a run uses and where they came from: the profile asked for by name (or the
//! environment's keys), checked before any request; the link of the chain that supplied them; and
//! the credentials resolved once, reused until they near expiry.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{
    ProvideCredentials, SharedCredentialsProvider, future::ProvideCredentials as CredentialsFuture,
};
use aws_types::SdkConfig;
use aws_types::region::Region;
use serde::Serialize;

use crate::connection::credentials;
use crate::connection::mfa;
use crate::connection::profiles::SharedFiles;
use crate::error::{Error, error_chain, expired_credentials};
use crate::input::{self, EndpointUrl};
use crate::requests;
use crate::settings::Connection;

use crate::connection::clients::retry_config;

/// Which link of the provider chain supplied the credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub(crate) enum CredentialSource {
    Environment,
    Profile {
        name: String,
    },
    Sso {
        profile: String,
    },
    AssumeRole {
        profile: String,
    },
    CredentialProcess {
        profile: String,
    },
    WebIdentity,
    Container,
    InstanceMetadata,
    /// An MFA session `provision session` keeps in `profile`, made from profile `base`.
    MfaSession {
        profile: String,
        base: String,
    },
    /// A role provision assumed in one account of a fan-out (`--accounts`, `--org`).
    FanOut {
        role_arn: String,
    },
    Unknown,
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Environment => write!(f, "environment variables (AWS_ACCESS_KEY_ID)"),
            Self::Profile { name } => write!(f, "profile {name} (shared credentials/config file)"),
            Self::Sso { profile } => write!(f, "SSO (profile {profile})"),
            Self::AssumeRole { profile } => write!(f, "assume-role (profile {profile})"),
            Self::CredentialProcess { profile } => {
                write!(f, "credential_process (profile {profile})")
            }
            Self::WebIdentity => write!(f, "web identity token"),
            Self::Container => write!(f, "container credentials endpoint"),
            Self::InstanceMetadata => write!(f, "instance metadata (instance profile)"),
            Self::MfaSession { profile, base } => write!(
                f,
                "MFA session of profile {base} (kept as profile {profile} by provision session)"
            ),
            Self::FanOut { role_arn } => write!(f, "role {role_arn}, assumed for the fan-out"),
            Self::Unknown => write!(f, "an unrecognised credentials provider"),
        }
    }
}

impl CredentialSource {
    /// The kind of credentials a walked chain gives, when the files say it (`None`: the SDK's
    /// provider knows, from the features it records).
    pub(crate) fn of_chain(chain: &credentials::Chain, profile: &str) -> Option<Self> {
        let profile = profile.to_string();
        if !chain.roles.is_empty() {
            return Some(Self::AssumeRole { profile });
        }
        match &chain.base {
            credentials::Base::Process { .. } => Some(Self::CredentialProcess { profile }),
            _ => None,
        }
    }

    /// Reads the features the SDK's providers record on the credentials they return.
    pub(crate) fn of(credentials: &Credentials, profile: &str) -> Self {
        use AwsCredentialFeature as F;
        let features = credentials
            .get_property::<Vec<AwsCredentialFeature>>()
            .cloned()
            .unwrap_or_default();
        let has = |feature: F| features.contains(&feature);
        let profile = profile.to_string();
        if has(F::CredentialsProfileSso) || has(F::CredentialsSso) {
            Self::Sso { profile }
        } else if has(F::CredentialsEnvVarsStsWebIdToken)
            || has(F::CredentialsProfileStsWebIdToken)
            || has(F::CredentialsStsAssumeRoleWebId)
        {
            Self::WebIdentity
        } else if has(F::CredentialsProfileProcess) || has(F::CredentialsProcess) {
            Self::CredentialProcess { profile }
        } else if has(F::CredentialsProfileSourceProfile)
            || has(F::CredentialsProfileNamedProvider)
            || has(F::CredentialsStsAssumeRole)
        {
            Self::AssumeRole { profile }
        } else if has(F::CredentialsProfile) {
            Self::Profile { name: profile }
        } else if has(F::CredentialsEnvVars) {
            Self::Environment
        } else if has(F::CredentialsHttp) {
            Self::Container
        } else if has(F::CredentialsImds) {
            Self::InstanceMetadata
        } else {
            Self::Unknown
        }
    }
}

/// The caller, as STS reports it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Identity {
    pub(crate) account: String,
    pub(crate) arn: String,
    pub(crate) user_id: String,
    pub(crate) partition: String,
}

/// What a run's credentials will be, decided from the command line, the environment and the
/// shared files alone — every setting checked before any request.
pub(crate) struct Chosen {
    /// The shared files, read once and checked (regular files, size, syntax).
    pub(crate) files: SharedFiles,
    /// The profile asked for by name (`--profile`, else `AWS_PROFILE`).
    pub(crate) explicit_profile: Option<String>,
    /// The profile the run's settings come from (the one asked for, else `default`).
    pub(crate) profile: String,
    /// Whether the environment holds an access key pair.
    pub(crate) environment: bool,
    /// The chosen profile's MFA settings, when it names an `mfa_serial` (the SDK ignores it).
    pub(crate) mfa_profile: Option<mfa::MfaProfile>,
    /// The MFA session `provision session` kept in the chosen profile, known by its comment.
    pub(crate) kept_session: Option<mfa::Session>,
    /// The chain provision walks itself (see `credentials`): the profile asked for by name, or
    /// the default profile when it assumes a role or runs a process.
    pub(crate) walked: Option<credentials::Chain>,
}

/// Where the credentials come from, once chosen.
pub(crate) struct Provided {
    pub(crate) provider: SharedCredentialsProvider,
    /// The MFA session the credentials are (the chosen profile's own, or kept in it).
    pub(crate) session: Option<mfa::Session>,
    /// The profile the MFA session in use was made from — the chosen profile's own, or its
    /// source's (chained MFA): what renews it.
    pub(crate) session_base: Option<String>,
}

impl Chosen {
    pub(crate) fn of(settings: &Connection) -> Result<Self, Error> {
        let files = SharedFiles::load()?;
        let explicit_profile = explicit_profile(settings)?;
        let profile = explicit_profile
            .clone()
            .unwrap_or_else(|| "default".to_string());
        if let Some(name) = &explicit_profile {
            check_profile_exists(name, &files)?;
        }
        // The environment's keys count only when no profile is asked for by name (as in the
        // CLI); then one without the other is an error, not a silent fall-through to a profile.
        let environment = match &explicit_profile {
            Some(_) => environment_has_keys(),
            None => environment_keys()?,
        };
        let chosen = match &explicit_profile {
            Some(name) => Some(name.clone()),
            None if !environment => Some("default".to_string()),
            None => None,
        };
        let mfa_profile = chosen
            .as_deref()
            .map(|name| mfa::MfaProfile::of(name, &files.config, &files.credentials))
            .filter(|p| p.mfa_serial.is_some());
        let kept_session = match (&chosen, &mfa_profile) {
            (Some(name), None) => mfa::kept(&files.credentials, name),
            _ => None,
        };
        if let Some(session) = &kept_session
            && session.remaining() == Duration::ZERO
        {
            return Err(expired_credentials(format!(
                "profile {} holds an MFA session of profile {} that expired at {}",
                session.profile,
                session.base,
                mfa::timestamp(session.expires)
            ))
            .replacing_hints(vec![session_hint(&session.base)]));
        }
        let walked = match (&mfa_profile, &explicit_profile) {
            (Some(_), _) => None,
            (None, Some(name)) => Some(credentials::walk(name, &files)?),
            (None, None) if !environment && files.settings("default").is_some() => {
                let chain = credentials::walk("default", &files)?;
                CredentialSource::of_chain(&chain, "default")
                    .is_some()
                    .then_some(chain)
            }
            (None, None) => None,
        };
        Ok(Self {
            files,
            explicit_profile,
            profile,
            environment,
            mfa_profile,
            kept_session,
            walked,
        })
    }

    /// A profile asked for by name supplies the credentials, as `aws --profile` does: the default
    /// chain would try environment keys first (a `.bashrc` export shadowing it). Says so.
    pub(crate) fn skipped_environment(&self, settings: &Connection) -> Vec<String> {
        let environment_is_role_source = self
            .walked
            .as_ref()
            .and_then(credentials::Chain::credential_source)
            == Some(credentials::CredentialSource::Environment);
        match &self.explicit_profile {
            Some(name) if self.environment && !environment_is_role_source => vec![format!(
                "environment variables (AWS_ACCESS_KEY_ID): skipped, profile {name} was asked \
                 for by name ({})",
                if settings.profile.is_some() {
                    "--profile"
                } else {
                    "AWS_PROFILE"
                }
            )],
            _ => Vec::new(),
        }
    }

    /// The provider of the chosen credentials: an MFA session (the profile's own, or its
    /// source's before its roles are assumed), the walked chain, or the SDK's default chain.
    pub(crate) async fn provider(&self, bounds: &credentials::Bounds) -> Result<Provided, Error> {
        let chained = self
            .walked
            .as_ref()
            .filter(|_| self.mfa_profile.is_none())
            .and_then(|chain| Some((chain, mfa::chained_holder(chain, &self.files)?)));
        Ok(match (&self.mfa_profile, &self.walked, chained) {
            (Some(wanted), _, _) => {
                let session = mfa::for_command(bounds, &self.files, wanted).await?;
                Provided {
                    provider: SharedCredentialsProvider::new(session.credentials()),
                    session_base: Some(session.base.clone()),
                    session: Some(session),
                }
            }
            // A role profile whose source_profile requires MFA: that profile's session first.
            (None, _, Some((chain, holder))) => {
                let session = mfa::for_command(bounds, &self.files, &holder)
                    .await
                    .map_err(|e| {
                        e.with_cause(format!(
                            "profile {} assumes its role with profile {}'s credentials",
                            self.profile, holder.base
                        ))
                    })?;
                let from_session = credentials::Chain {
                    base: credentials::Base::OwnKeys {
                        profile: session.profile.clone(),
                        access_key_id: session.access_key_id.clone(),
                        secret_access_key: session.secret_access_key.clone(),
                        session_token: Some(session.session_token.clone()),
                    },
                    roles: chain.roles.clone(),
                };
                Provided {
                    provider: credentials::provider(&from_session, bounds).await,
                    session: None,
                    session_base: Some(session.base),
                }
            }
            (None, Some(chain), None) => Provided {
                provider: credentials::provider(chain, bounds).await,
                session_base: self.kept_session.as_ref().map(|s| s.base.clone()),
                session: self.kept_session.clone(),
            },
            (None, None, _) => Provided {
                provider: bounds
                    .config
                    .credentials_provider()
                    .ok_or_else(no_credentials)?,
                session_base: self.kept_session.as_ref().map(|s| s.base.clone()),
                session: self.kept_session.clone(),
            },
        })
    }
}

/// The profile asked for by name: `--profile`, else `AWS_PROFILE`. `AWS_PROFILE` set to nothing
/// names no profile the files can hold (botocore: "The config profile () could not be found"),
/// and the SDK would look for credentials under that empty name: it is refused.
pub(crate) fn explicit_profile(settings: &Connection) -> Result<Option<String>, Error> {
    if let Some(name) = &settings.profile {
        return Ok(Some(name.clone()));
    }
    match std::env::var_os("AWS_PROFILE") {
        None => Ok(None),
        Some(name) if name.is_empty() => Err(Error::usage(
            "AWS_PROFILE is set, but to nothing: no profile has an empty name",
        )
        .with_hint(
            "`unset AWS_PROFILE` for the default profile (and remove its line from ~/.bashrc), \
             or set it to a profile's name",
        )),
        Some(name) => name.into_string().map(Some).map_err(|_| {
            Error::usage("AWS_PROFILE is not UTF-8 text").with_hint("set it to a profile's name")
        }),
    }
}

/// Whether the environment holds an access key pair.
pub(crate) fn environment_has_keys() -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

/// Whether the environment supplies the credentials: both keys, or neither (then the files and
/// the rest of the chain are searched). One without the other is refused, as the SDKs refuse
/// it (botocore: "Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY").
pub(crate) fn environment_keys() -> Result<bool, Error> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    match (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY")) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        (true, false) | (false, true) => {
            let (present, missing) = if set("AWS_ACCESS_KEY_ID") {
                ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            } else {
                ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
            };
            Err(Error::usage(format!(
                "partial credentials in the environment: {present} is set, {missing} is not"
            ))
            .with_hint(format!(
                "export {missing} too, or `unset {present}` to use a profile or the instance \
                 profile instead"
            )))
        }
    }
}

/// The shared configuration — region, endpoint, retries, timeouts — with the default credentials
/// chain (not yet asked), its region and endpoint checked before any request. `fallback_region`
/// stands in when none is configured (STS, which `provision session` calls, answers in any).
pub(crate) async fn load_config(
    settings: &Connection,
    profile: &str,
    fallback_region: Option<&str>,
) -> Result<(SdkConfig, String, Vec<String>), Error> {
    // Flags were checked by their parsers; the environment's and profile's values are
    // checked below, before any request.
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(requests::timeout_config(settings.timeout));
    if let Some(name) = &settings.profile {
        loader = loader.profile_name(name);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let mut config = loader.load().await;
    if config.region().is_none()
        && let Some(fallback) = fallback_region
    {
        config = config
            .into_builder()
            .region(Region::new(fallback.to_string()))
            .build();
    }

    let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
        Error::usage("no AWS region is configured").with_hint(format!(
            "pass --region (e.g. --region us-east-1), set AWS_REGION, or run \
                 `aws configure set region us-east-1 --profile {profile}`"
        ))
    })?;
    let checked_region = input::Region::parse(&region).map_err(|error| {
        if settings.region.is_some() {
            error
        } else {
            error.with_cause(format!(
                "the region comes from AWS_REGION / AWS_DEFAULT_REGION or profile {profile}'s \
                 `region` setting"
            ))
        }
    })?;
    let warnings: Vec<String> = checked_region.unknown_warning().into_iter().collect();
    if let Some(url) = config.endpoint_url() {
        EndpointUrl::parse(url).map_err(|error| {
            error.with_cause(
                "the endpoint comes from AWS_ENDPOINT_URL or the profile's endpoint_url",
            )
        })?;
    }
    requests::set_bounds(requests::Bounds {
        endpoint: config.endpoint_url().map(str::to_string),
        timeout: settings.timeout,
    });
    Ok((config, region, warnings))
}

/// A profile asked for by name must exist in the shared files; the SDK's own message for this is
/// buried in a provider chain error.
pub(crate) fn check_profile_exists(name: &str, files: &SharedFiles) -> Result<(), Error> {
    let profiles = files.profiles();
    if profiles.contains(name) {
        return Ok(());
    }
    let known = if profiles.is_empty() {
        "none are defined".to_string()
    } else {
        let names: Vec<&str> = profiles.iter().map(String::as_str).collect();
        format!("defined: {}", names.join(", "))
    };
    Err(Error::usage(format!(
        "profile `{name}` is not defined in the AWS config or credentials file ({known})"
    ))
    .with_hint(format!(
        "create it with `aws configure --profile {name}` (or `aws configure sso --profile {name}`), \
         or choose another with --profile / AWS_PROFILE"
    )))
}

/// What renews an MFA session made from `base`.
pub(crate) fn session_hint(base: &str) -> String {
    format!(
        "renew the MFA session: `provision session --profile {base} --force` (then run this again)"
    )
}

pub(crate) fn no_credentials() -> Error {
    Error::failed("no AWS credentials were found")
        .with_cause(
            "searched: environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), the \
             selected profile in the shared config and credentials files, web identity token, \
             container credentials, instance metadata",
        )
        .with_hint(
            "run `aws configure` to store keys, `aws sso login --profile NAME` for SSO, or select \
             a configured profile with --profile NAME / AWS_PROFILE",
        )
}

pub(crate) fn credentials_error(error: CredentialsError, profile: &str) -> Error {
    if let Some(ours) = credentials::ours(&error) {
        return ours;
    }
    match &error {
        CredentialsError::CredentialsNotLoaded(_) => no_credentials(),
        CredentialsError::ProviderTimedOut(_) => no_credentials()
            .with_cause("a credentials provider timed out (instance metadata unreachable?)"),
        _ => {
            let chain = error_chain(&error);
            let lower = chain.to_ascii_lowercase();
            if lower.contains("expired") {
                expired_credentials(chain)
            } else {
                Error::failed(format!(
                    "the credentials of profile `{profile}` could not be loaded"
                ))
                .with_cause(chain)
                .with_hint(format!(
                    "check the profile with `aws configure list --profile {profile}`; for SSO \
                         run `aws sso login --profile {profile}`"
                ))
            }
        }
    }
}

/// Hands out the credentials resolved at start-up while they are good for a while yet, so that the
/// chain is walked once per run; asks the chain again when they near expiry.
#[derive(Debug)]
pub(crate) struct ReuseResolved {
    resolved: Arc<Mutex<Option<Credentials>>>,
    chain: SharedCredentialsProvider,
}

impl ReuseResolved {
    /// `resolved`, reused while good; `chain` asked again after.
    pub(crate) fn new(resolved: Credentials, chain: SharedCredentialsProvider) -> Self {
        Self {
            resolved: Arc::new(Mutex::new(Some(resolved))),
            chain,
        }
    }
}

/// Credentials closer than this to expiry are refreshed from the chain.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

impl ProvideCredentials for ReuseResolved {
    fn provide_credentials<'a>(&'a self) -> CredentialsFuture<'a>
    where
        Self: 'a,
    {
        let fresh = self.resolved.lock().ok().and_then(|guard| {
            guard.as_ref().and_then(|credentials| {
                let good = credentials
                    .expiry()
                    .is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_MARGIN);
                good.then(|| credentials.clone())
            })
        });
        match fresh {
            Some(credentials) => CredentialsFuture::ready(Ok(credentials)),
            None => CredentialsFuture::new(async move {
                let credentials = self.chain.provide_credentials().await?;
                if let Ok(mut guard) = self.resolved.lock() {
                    *guard = Some(credentials.clone());
                }
                Ok(credentials)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_source_follows_the_recorded_features() {
        let mut credentials = Credentials::new("AKID", "secret", None, None, "test");
        credentials
            .get_property_mut_or_default::<Vec<AwsCredentialFeature>>()
            .push(AwsCredentialFeature::CredentialsEnvVars);
        assert_eq!(
            CredentialSource::of(&credentials, "default"),
            CredentialSource::Environment
        );
        credentials
            .get_property_mut_or_default::<Vec<AwsCredentialFeature>>()
            .push(AwsCredentialFeature::CredentialsProfileSso);
        assert_eq!(
            CredentialSource::of(&credentials, "course"),
            CredentialSource::Sso {
                profile: "course".into()
            }
        );
    }
}
