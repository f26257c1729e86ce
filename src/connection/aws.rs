//! One AWS configuration per run: the SDK's whole provider chain (environment, shared config and
//! credentials files, profiles with SSO, assume-role and credential_process, web identity, container
//! and instance-metadata credentials), resolved once, up front, so that a missing profile, missing or
//! expired credentials are reported before anything else happens — and reported as such.
//!
//! Every client is built from the same `SdkConfig`; the credentials resolved at start-up are reused
//! (no second walk of the chain, no instance-metadata probing once they are known) until they near
//! expiry, when the chain is asked again.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{
    ProvideCredentials, SharedCredentialsProvider, future::ProvideCredentials as CredentialsFuture,
};
use aws_types::SdkConfig;
use aws_types::region::Region;
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::connection::credentials;
use crate::connection::mfa;
use crate::connection::profiles::SharedFiles;
use crate::error::{Error, aws_error, error_chain, expired_credentials};
use crate::input::{self, EndpointUrl, ParameterPrefix};
use crate::requests;
use crate::settings::GlobalArgs;

/// Attempts per request, including the first. Course accounts are shared by a whole class, so
/// throttling is a real case; the SDK retries it (and transient errors) with jittered backoff.
pub(crate) const MAX_ATTEMPTS: u32 = 6;

/// The retry policy every client uses: [`MAX_ATTEMPTS`], or `AWS_MAX_ATTEMPTS` (1 to 20) as the
/// AWS CLI reads it.
pub(crate) fn retry_config() -> RetryConfig {
    let attempts = std::env::var("AWS_MAX_ATTEMPTS")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| (1..=20).contains(n))
        .unwrap_or(MAX_ATTEMPTS);
    RetryConfig::standard().with_max_attempts(attempts)
}

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
    /// Reads the features the SDK's providers record on the credentials they return.
    fn of(credentials: &Credentials, profile: &str) -> Self {
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

/// One attempt only: for optional reads (a probe whose failure means "not known"), where the
/// SDK's retries would only delay the run.
pub(crate) fn single_attempt() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(1)
}

/// A service client with the run's request bounds: no retry of a refused connection, and the
/// attempts of failed operations recorded (`requests`).
macro_rules! bounded_client {
    ($sdk:ident, $config:expr) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                .retry_classifier(requests::NoRetryWhenRefused)
                .interceptor(requests::AttemptRecorder)
                .build(),
        )
    };
}

/// The caller, as STS reports it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Identity {
    pub(crate) account: String,
    pub(crate) arn: String,
    pub(crate) user_id: String,
    pub(crate) partition: String,
}

/// The service clients a run's requests go through.
#[derive(Clone)]
pub(crate) struct Clients {
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) ec2: aws_sdk_ec2::Client,
    /// S3 in the run's region; a bucket elsewhere is reached with [`Clients::s3_for`].
    pub(crate) s3: aws_sdk_s3::Client,
    /// SSM in the lab application's region (`--app-region`), where its parameters live.
    pub(crate) ssm: aws_sdk_ssm::Client,
    /// SSM in the run's region, where the instances' agents register.
    pub(crate) instance_ssm: aws_sdk_ssm::Client,
    /// CloudTrail in the run's region: its event history says who created what (see
    /// `plans::creators`); another region's with [`Clients::cloudtrail_in`].
    pub(crate) cloudtrail: aws_sdk_cloudtrail::Client,
    /// What this run learnt of buckets: their regions, and which it created when.
    buckets: Arc<Mutex<BTreeMap<String, BucketFacts>>>,
}

/// What a run knows of one bucket.
#[derive(Debug, Clone, Default)]
struct BucketFacts {
    region: Option<String>,
    created: Option<Instant>,
}

/// How long after creating a bucket its requests may still meet `NoSuchBucket` or
/// `OperationAborted`: S3 bucket creation is eventually consistent ("Amazon S3 data consistency
/// model"), and configuration requests sent at once can find the bucket not there yet.
pub(crate) const BUCKET_SETTLING: Duration = Duration::from_secs(20);

/// The region S3 names in a redirect (301 `PermanentRedirect`, or a 400 whose
/// `x-amz-bucket-region` says where the bucket is): the Rust SDK does not follow it.
pub(crate) fn redirect_region<E>(
    error: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> Option<String> {
    let response = error.raw_response()?;
    matches!(response.status().as_u16(), 301 | 307 | 400)
        .then(|| response.headers().get("x-amz-bucket-region"))
        .flatten()
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

impl Clients {
    /// The S3 client for `bucket`: of the bucket's region where this run learnt it.
    pub(crate) fn s3_for(&self, bucket: &str) -> aws_sdk_s3::Client {
        match self.region_of(bucket) {
            Some(region) => self.s3_in(&region),
            None => self.s3.clone(),
        }
    }

    /// Records where `bucket` is.
    pub(crate) fn locate(&self, bucket: &str, region: &str) {
        if let Ok(mut buckets) = self.buckets.lock() {
            buckets.entry(bucket.to_string()).or_default().region = Some(region.to_string());
        }
    }

    /// Records that this run created `bucket` in `region` just now.
    pub(crate) fn created(&self, bucket: &str, region: &str) {
        if let Ok(mut buckets) = self.buckets.lock() {
            let facts = buckets.entry(bucket.to_string()).or_default();
            facts.region = Some(region.to_string());
            facts.created = Some(Instant::now());
        }
    }

    /// The region this run learnt `bucket` is in.
    pub(crate) fn region_of(&self, bucket: &str) -> Option<String> {
        self.buckets
            .lock()
            .ok()
            .and_then(|b| b.get(bucket).and_then(|f| f.region.clone()))
    }

    fn settling(&self, bucket: &str) -> bool {
        self.buckets.lock().ok().is_some_and(|b| {
            b.get(bucket)
                .and_then(|f| f.created)
                .is_some_and(|created| created.elapsed() < BUCKET_SETTLING)
        })
    }

    /// Sends one S3 request for `bucket` the way boto3 does and AWS expects: to the bucket's
    /// region, following S3's redirect once when the bucket turns out to be elsewhere; and, for a
    /// bucket this run just created, again (with backoff, within [`BUCKET_SETTLING`]) while S3
    /// still answers `NoSuchBucket` or `OperationAborted`.
    pub(crate) async fn on_bucket<T, E, F, Fut>(
        &self,
        bucket: &str,
        send: F,
    ) -> Result<
        T,
        aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
    >
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
        F: Fn(aws_sdk_s3::Client) -> Fut,
        Fut: Future<
            Output = Result<
                T,
                aws_smithy_runtime_api::client::result::SdkError<
                    E,
                    aws_smithy_runtime_api::http::Response,
                >,
            >,
        >,
    {
        let mut wait = Duration::from_millis(250);
        let mut redirected = false;
        loop {
            let answer = send(self.s3_for(bucket)).await;
            let Err(error) = &answer else {
                return answer;
            };
            if !redirected && let Some(region) = redirect_region(error) {
                redirected = true;
                self.locate(bucket, &region);
                continue;
            }
            let code = error.as_service_error().and_then(|e| e.code());
            if matches!(code, Some("NoSuchBucket" | "OperationAborted")) && self.settling(bucket) {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
                continue;
            }
            return answer;
        }
    }

    /// The CloudTrail client of `region`, whose event history holds that region's events.
    pub(crate) fn cloudtrail_in(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        if region.is_empty()
            || self.cloudtrail.config().region().map(|r| r.as_ref()) == Some(region)
        {
            return self.cloudtrail.clone();
        }
        aws_sdk_cloudtrail::Client::from_conf(
            self.cloudtrail
                .config()
                .to_builder()
                .region(Region::new(region.to_string()))
                .build(),
        )
    }

    /// The S3 client for a bucket in `region` (buckets are regional; teardown finds them anywhere).
    pub(crate) fn s3_in(&self, region: &str) -> aws_sdk_s3::Client {
        if region.is_empty() || self.s3.config().region().map(|r| r.as_ref()) == Some(region) {
            return self.s3.clone();
        }
        aws_sdk_s3::Client::from_conf(
            self.s3
                .config()
                .to_builder()
                .region(Region::new(region.to_string()))
                .build(),
        )
    }
}

/// The run's AWS configuration and the facts about it that commands and errors need.
pub(crate) struct Aws {
    config: SdkConfig,
    pub(crate) region: String,
    /// Where the lab application reads its parameters (`--app-region`).
    pub(crate) app_region: String,
    /// Before the lab's parameter names (`--parameter-prefix`).
    pub(crate) parameter_prefix: ParameterPrefix,
    /// The endpoint override, from `--endpoint-url` or `AWS_ENDPOINT_URL`.
    pub(crate) endpoint: Option<String>,
    /// The profile selected (`--profile`, `AWS_PROFILE`, else `default`).
    pub(crate) profile: String,
    pub(crate) source: CredentialSource,
    pub(crate) expiry: Option<SystemTime>,
    /// The credentials are Cloud9's managed temporary credentials (see
    /// [`Aws::cloud9_managed_credentials`]).
    cloud9_managed: bool,
    identity: OnceCell<Identity>,
    /// Said before the command's own output (an unknown region).
    pub(crate) warnings: Vec<String>,
    /// Links of the provider chain passed over, and why (`whoami` shows them).
    pub(crate) skipped: Vec<String>,
    /// The profile an MFA session in use was made from (`provision session --profile BASE`
    /// renews it): named in the expired-session error.
    pub(crate) session_base: Option<String>,
    /// A role profile's `credential_source`: the link of the chain its role was assumed with.
    pub(crate) role_source: Option<credentials::CredentialSource>,
}

impl Aws {
    /// Loads the configuration and resolves credentials once.
    pub(crate) async fn connect(global: &GlobalArgs) -> Result<Self, Error> {
        // The shared files are read once here for every question below, and checked — regular
        // files, their size, their syntax — before the SDK reads them.
        let files = SharedFiles::load()?;
        let explicit_profile = explicit_profile(global)?;
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
        // A profile that names an mfa_serial gets an MFA session (the SDK ignores the setting);
        // a session profile `provision session` wrote is known by its comment.
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
        // The chain provision walks itself (see `credentials`): the profile asked for by name, or
        // the default profile when it assumes a role or runs a process; every setting is checked
        // here, before any request.
        let walked = match (&mfa_profile, &explicit_profile) {
            (Some(_), _) => None,
            (None, Some(name)) => Some(credentials::walk(name, &files)?),
            (None, None) if !environment && files.settings("default").is_some() => {
                let chain = credentials::walk("default", &files)?;
                (chain.kind("default").is_some()).then_some(chain)
            }
            (None, None) => None,
        };
        let (config, region, warnings) = load_config(global, &profile, None).await?;
        let bounds = credentials::Bounds {
            config: config.clone(),
            timeout: global.timeout,
            verbose: global.verbose,
        };

        // A profile asked for by name supplies the credentials, as `aws --profile` does: the
        // default chain would try environment keys first (a `.bashrc` export shadowing it).
        let mut skipped = Vec::new();
        let environment_is_role_source = walked
            .as_ref()
            .and_then(credentials::Chain::credential_source)
            == Some(credentials::CredentialSource::Environment);
        if let Some(name) = &explicit_profile
            && environment
            && !environment_is_role_source
        {
            skipped.push(format!(
                "environment variables (AWS_ACCESS_KEY_ID): skipped, profile {name} was \
                 asked for by name ({})",
                if global.profile.is_some() {
                    "--profile"
                } else {
                    "AWS_PROFILE"
                }
            ));
        }
        // A role profile whose source_profile requires MFA: that profile's session first.
        let mut chained_session = None;
        let chained = walked
            .as_ref()
            .filter(|_| mfa_profile.is_none())
            .and_then(|chain| Some((chain, mfa::chained_holder(chain, &files)?)));
        let (provider, session) = match (&mfa_profile, &walked, chained) {
            (Some(wanted), _, _) => {
                let session = mfa::for_command(&bounds, &files, wanted).await?;
                (
                    SharedCredentialsProvider::new(session.credentials()),
                    Some(session),
                )
            }
            (None, _, Some((chain, holder))) => {
                let session = mfa::for_command(&bounds, &files, &holder)
                    .await
                    .map_err(|e| {
                        e.with_cause(format!(
                            "profile {profile} assumes its role with profile {}'s credentials",
                            holder.base
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
                chained_session = Some(session);
                (credentials::provider(&from_session, &bounds).await, None)
            }
            (None, Some(chain), None) => {
                (credentials::provider(chain, &bounds).await, kept_session)
            }
            (None, None, _) => (
                config.credentials_provider().ok_or_else(no_credentials)?,
                kept_session,
            ),
        };
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| credentials_error(e, &profile))?;
        if credentials
            .expiry()
            .is_some_and(|expiry| expiry <= SystemTime::now())
        {
            return Err(expired_credentials(
                "the credentials' expiry time has passed",
            ));
        }
        let source = match &session {
            Some(session) => CredentialSource::MfaSession {
                profile: session.profile.clone(),
                base: session.base.clone(),
            },
            None => walked
                .as_ref()
                .and_then(|chain| chain.kind(&profile))
                .unwrap_or_else(|| CredentialSource::of(&credentials, &profile)),
        };
        let role_source = walked
            .as_ref()
            .and_then(credentials::Chain::credential_source);
        let expiry = credentials
            .expiry()
            .or(session.as_ref().map(|session| session.expires));
        // The MFA session in use, the profile's own or its source's: what renews it.
        let session_base = session.or(chained_session).map(|session| session.base);
        let cloud9_managed = matches!(&source, CredentialSource::Profile { name } if name == "default")
            && files.credentials.is_cloud9_managed();
        let reuse = ReuseResolved {
            resolved: Arc::new(Mutex::new(Some(credentials))),
            chain: provider,
        };
        let config = config
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(reuse))
            .build();
        let endpoint = config.endpoint_url().map(str::to_string);
        Ok(Self {
            config,
            region,
            app_region: global.app_region.clone(),
            parameter_prefix: global.parameter_prefix.clone(),
            endpoint,
            profile,
            source,
            expiry,
            cloud9_managed,
            identity: OnceCell::new(),
            warnings,
            skipped,
            session_base,
            role_source,
        })
    }

    /// The same run in another account: `role_arn` assumed with the caller's credentials
    /// (sts:AssumeRole, session `session_name`, `external_id` when the role's trust asks for one).
    /// Region, endpoint and settings stay the caller's.
    pub(crate) async fn assume(
        &self,
        role_arn: &str,
        session_name: &str,
        external_id: Option<&str>,
    ) -> Result<Self, Error> {
        let answer = self
            .sts()
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .set_external_id(external_id.map(str::to_string))
            .send()
            .await
            .map_err(|e| aws_error("sts:AssumeRole", e))?;
        let Some(given) = answer.credentials() else {
            return Err(Error::failed(format!(
                "sts:AssumeRole of {role_arn} answered without credentials"
            )));
        };
        let expiry = SystemTime::try_from(*given.expiration()).ok();
        let credentials = Credentials::new(
            given.access_key_id(),
            given.secret_access_key(),
            Some(given.session_token().to_string()),
            expiry,
            "provision-fan-out",
        );
        let config = self
            .config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        // AssumeRole's answer names the session, as GetCallerIdentity would: no second request.
        let identity = OnceCell::new();
        if let Some(user) = answer.assumed_role_user() {
            let arn = user.arn().to_string();
            let account = arn.split(':').nth(4).unwrap_or_default().to_string();
            let partition = arn.split(':').nth(1).unwrap_or("aws").to_string();
            if crate::input::is_account_id(&account) {
                let _ = identity.set(Identity {
                    account,
                    user_id: user.assumed_role_id().to_string(),
                    arn,
                    partition,
                });
            }
        }
        Ok(Self {
            config,
            region: self.region.clone(),
            app_region: self.app_region.clone(),
            parameter_prefix: self.parameter_prefix.clone(),
            endpoint: self.endpoint.clone(),
            profile: self.profile.clone(),
            source: CredentialSource::FanOut {
                role_arn: role_arn.to_string(),
            },
            expiry,
            cloud9_managed: false,
            identity,
            warnings: Vec::new(),
            skipped: Vec::new(),
            session_base: None,
            role_source: None,
        })
    }

    /// The clients of this run, built once from the one configuration.
    pub(crate) fn clients(&self) -> Clients {
        // S3 is addressed path-style when a custom endpoint (a local emulator) is in use,
        // virtual-hosted as the SDK defaults against AWS.
        let path_style =
            self.endpoint.is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        Clients {
            iam: bounded_client!(aws_sdk_iam, &self.config),
            ec2: bounded_client!(aws_sdk_ec2, &self.config),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&self.config)
                    .force_path_style(path_style)
                    .retry_classifier(requests::NoRetryWhenRefused)
                    .interceptor(requests::AttemptRecorder)
                    .build(),
            ),
            ssm: bounded_client!(
                aws_sdk_ssm,
                &self
                    .config
                    .to_builder()
                    .region(Region::new(self.app_region.clone()))
                    .build()
            ),
            instance_ssm: bounded_client!(aws_sdk_ssm, &self.config),
            cloudtrail: bounded_client!(aws_sdk_cloudtrail, &self.config),
            buckets: Arc::default(),
        }
    }

    /// Organizations (global: its endpoint is in us-east-1 for the aws partition).
    pub(crate) fn organizations(&self) -> aws_sdk_organizations::Client {
        bounded_client!(aws_sdk_organizations, &self.config)
    }

    pub(crate) fn sts(&self) -> aws_sdk_sts::Client {
        bounded_client!(aws_sdk_sts, &self.config)
    }

    /// The caller identity, fetched once per run.
    pub(crate) async fn identity(&self) -> Result<&Identity, Error> {
        self.identity
            .get_or_try_init(|| async {
                let output = self
                    .sts()
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| aws_error("sts:GetCallerIdentity", e))?;
                let arn = output.arn().unwrap_or_default().to_string();
                let partition = arn.split(':').nth(1).unwrap_or("aws").to_string();
                Ok(Identity {
                    account: output.account().unwrap_or_default().to_string(),
                    user_id: output.user_id().unwrap_or_default().to_string(),
                    arn,
                    partition,
                })
            })
            .await
    }

    /// The identity if it was already fetched (for error messages; never calls AWS).
    pub(crate) fn known_identity(&self) -> Option<&Identity> {
        self.identity.get()
    }

    /// Cloud9's "AWS managed temporary credentials": Cloud9 writes short-lived keys of the IDE's
    /// owner into the default profile of the credentials file, under its own header. Decided from
    /// facts a profile choice cannot fake: that header is in the credentials file, and the
    /// credentials in use came from that file's default profile (an MFA session profile in a
    /// Cloud9 shell, or environment keys, are not managed credentials).
    pub(crate) fn cloud9_managed_credentials(&self) -> bool {
        self.cloud9_managed
    }

    /// Completes an access-denied error with the identity that was refused and the decoded reason;
    /// under Cloud9 managed credentials, an IAM refusal says that they are why.
    pub(crate) async fn explain(&self, error: Error) -> Error {
        if error.is_expired_session()
            && let Some(base) = &self.session_base
        {
            return error.replacing_hints(vec![session_hint(base)]);
        }
        let error = explain_access_denied(&self.sts(), self.known_identity(), error).await;
        let iam_refused = error
            .access_denied()
            .is_some_and(|denied| denied.action.starts_with("iam:"));
        if self.cloud9_managed && iam_refused {
            return error
                .with_cause(
                    "the credentials are Cloud9 \"AWS managed temporary credentials\", which AWS \
                     allows only some IAM actions",
                )
                .with_hint(
                    "run provision with an identity that may use IAM (--profile NAME for a \
                     profile with IAM rights), or turn off \"AWS managed temporary credentials\" \
                     in the IDE (Preferences → AWS Settings → Credentials) once its instance has \
                     a profile that allows it",
                );
        }
        error
    }
}

/// The longest an access-denied error waits for its encoded message to be decoded.
const DECODE_BOUND: Duration = Duration::from_secs(5);

/// Completes an access-denied error with the identity that was refused and, where EC2 sent an
/// encoded authorization message, its text decoded with sts:DecodeAuthorizationMessage — or, when
/// the caller may not decode it, the command that does.
pub(crate) async fn explain_access_denied(
    sts: &aws_sdk_sts::Client,
    identity: Option<&Identity>,
    error: Error,
) -> Error {
    let Some(denied) = error.access_denied().cloned() else {
        return error;
    };
    let mut error = match identity {
        Some(identity) => error.with_cause(format!("identity: {}", identity.arn)),
        None => error,
    };
    if let Some(encoded) = &denied.encoded_message {
        // Best effort: one attempt, bounded — the error is ready already, and a caller who may
        // not decode (most students) would otherwise wait out the SDK's retries of a refusal.
        let decode = sts
            .decode_authorization_message()
            .encoded_message(encoded)
            .customize()
            .config_override(aws_sdk_sts::config::Builder::default().retry_config(single_attempt()))
            .send();
        let decoded = tokio::time::timeout(DECODE_BOUND, decode)
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|output| output.decoded_message().map(str::to_string));
        error = match decoded {
            Some(decoded) => {
                let error = error.with_cause(format!("decoded authorization message: {decoded}"));
                match allowed_regions(&decoded) {
                    Some(regions) => error
                        .with_cause(format!(
                            "the refusal is a region restriction: this account allows only {}",
                            regions.join(", ")
                        ))
                        .with_hint(format!(
                            "run in an allowed region, e.g. --region {}",
                            regions[0]
                        )),
                    None => error,
                }
            }
            None => error.with_hint(format!(
                "decode the reason with: aws sts decode-authorization-message --encoded-message \
                 {encoded} --query DecodedMessage --output text"
            )),
        };
    }
    error
}

/// The regions a decoded authorization message's denying statement allows: a restricted account's
/// policy denies requests whose `aws:RequestedRegion` is not one of them (the statement's
/// condition lists them). `None` when the refusal is not about the region.
fn allowed_regions(decoded: &str) -> Option<Vec<String>> {
    let message: serde_json::Value = serde_json::from_str(decoded).ok()?;
    let mut regions = Vec::new();
    let statements = message["matchedStatements"]["items"].as_array()?;
    for statement in statements {
        let Some(conditions) = statement["conditions"]["items"].as_array() else {
            continue;
        };
        for condition in conditions {
            let key = condition["key"].as_str().unwrap_or_default();
            if !key.eq_ignore_ascii_case("aws:RequestedRegion") {
                continue;
            }
            let values = condition["values"]["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v["value"].as_str())
                .filter(|r| input::Region::parse(r).is_ok());
            for region in values {
                if !regions.iter().any(|r: &String| r == region) {
                    regions.push(region.to_string());
                }
            }
        }
    }
    (!regions.is_empty()).then_some(regions)
}

/// The profile asked for by name: `--profile`, else `AWS_PROFILE`. `AWS_PROFILE` set to nothing
/// names no profile the files can hold (botocore: "The config profile () could not be found"),
/// and the SDK would look for credentials under that empty name: it is refused.
pub(crate) fn explicit_profile(global: &GlobalArgs) -> Result<Option<String>, Error> {
    if let Some(name) = &global.profile {
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
fn environment_has_keys() -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

/// Whether the environment supplies the credentials: both keys, or neither (then the files and
/// the rest of the chain are searched). One without the other is refused, as the SDKs refuse
/// it (botocore: "Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY").
fn environment_keys() -> Result<bool, Error> {
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
    global: &GlobalArgs,
    profile: &str,
    fallback_region: Option<&str>,
) -> Result<(SdkConfig, String, Vec<String>), Error> {
    // Flags were checked by their parsers; the environment's and profile's values are
    // checked below, before any request.
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(requests::timeout_config(global.timeout));
    if let Some(name) = &global.profile {
        loader = loader.profile_name(name);
    }
    if let Some(region) = &global.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &global.endpoint_url {
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
        if global.region.is_some() {
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
        timeout: global.timeout,
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
fn session_hint(base: &str) -> String {
    format!(
        "renew the MFA session: `provision session --profile {base} --force` (then run this again)"
    )
}

fn no_credentials() -> Error {
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

fn credentials_error(error: CredentialsError, profile: &str) -> Error {
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
struct ReuseResolved {
    resolved: Arc<Mutex<Option<Credentials>>>,
    chain: SharedCredentialsProvider,
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

    /// What moto cannot produce: an access-denied answer with an encoded authorization message,
    /// as EC2 sends (AWS: "Encoded authorization failure message", decoded with
    /// sts:DecodeAuthorizationMessage).
    mod access_denied {
        use aws_sdk_iam::operation::create_role::CreateRoleError;
        use aws_sdk_sts::operation::decode_authorization_message::{
            DecodeAuthorizationMessageError, DecodeAuthorizationMessageOutput,
        };
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        use aws_smithy_types::error::metadata::ErrorMetadata;

        use super::super::*;

        async fn denied_with_encoded_message() -> Error {
            let rule = mock!(aws_sdk_iam::Client::create_role).then_error(|| {
                CreateRoleError::generic(
                    ErrorMetadata::builder()
                        .code("AccessDenied")
                        .message(
                            "User is not authorized to perform: iam:CreateRole. Encoded \
                             authorization failure message: ENCODED123",
                        )
                        .build(),
                )
            });
            let iam = mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule]);
            let answer = iam
                .create_role()
                .role_name("r")
                .assume_role_policy_document("{}")
                .send()
                .await;
            aws_error("iam:CreateRole", answer.expect_err("denied"))
        }

        fn identity() -> Identity {
            Identity {
                account: "123456789012".into(),
                arn: "arn:aws:sts::123456789012:assumed-role/student/alice".into(),
                user_id: "AROA:alice".into(),
                partition: "aws".into(),
            }
        }

        #[tokio::test]
        async fn it_names_the_action_the_identity_and_the_decoded_reason() {
            let error = denied_with_encoded_message().await;
            assert_eq!(error.message(), "access denied: iam:CreateRole");
            let decode = mock!(aws_sdk_sts::Client::decode_authorization_message)
                .match_requests(|input| input.encoded_message() == Some("ENCODED123"))
                .then_output(|| {
                    DecodeAuthorizationMessageOutput::builder()
                        .decoded_message(r#"{"allowed":false,"explicitDeny":false}"#)
                        .build()
                });
            let sts = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&decode]);
            let error = explain_access_denied(&sts, Some(&identity()), error).await;
            let text = error.to_string();
            assert!(
                text.contains("identity: arn:aws:sts::123456789012:assumed-role/student/alice"),
                "{text}"
            );
            assert!(
                text.contains(r#"decoded authorization message: {"allowed":false"#),
                "{text}"
            );
            assert_eq!(decode.num_calls(), 1);
        }

        /// EC2's decoded message for a request outside a restricted account's regions: the denying
        /// statement's condition on aws:RequestedRegion lists the allowed ones.
        #[tokio::test]
        async fn a_region_restriction_names_the_allowed_regions() {
            let error = denied_with_encoded_message().await;
            let decoded = r#"{"allowed":false,"explicitDeny":true,"matchedStatements":{"items":[
                {"statementId":"RegionLock","effect":"DENY","conditions":{"items":[
                {"key":"aws:RequestedRegion","values":{"items":[{"value":"us-east-1"},
                {"value":"us-west-2"}]}}]}}]},"context":{"action":"ec2:RunInstances"}}"#;
            let decode =
                mock!(aws_sdk_sts::Client::decode_authorization_message).then_output(move || {
                    DecodeAuthorizationMessageOutput::builder()
                        .decoded_message(decoded)
                        .build()
                });
            let sts = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&decode]);
            let error = explain_access_denied(&sts, Some(&identity()), error).await;
            assert!(
                error
                    .to_string()
                    .contains("this account allows only us-east-1, us-west-2"),
                "{error}"
            );
            assert!(
                error
                    .hints()
                    .iter()
                    .any(|h| h.contains("--region us-east-1")),
                "{error}"
            );
        }

        #[tokio::test]
        async fn an_undecodable_message_comes_with_the_command_that_decodes_it() {
            let error = denied_with_encoded_message().await;
            let decode =
                mock!(aws_sdk_sts::Client::decode_authorization_message).then_error(|| {
                    DecodeAuthorizationMessageError::generic(
                        ErrorMetadata::builder().code("AccessDenied").build(),
                    )
                });
            let sts = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&decode]);
            let error = explain_access_denied(&sts, Some(&identity()), error).await;
            assert!(
                error.hints().iter().any(|h| h
                    .contains("aws sts decode-authorization-message --encoded-message")
                    && h.contains("ENCODED123")),
                "{error}"
            );
        }

        #[tokio::test]
        async fn an_expired_token_answer_says_the_session_expired_and_how_to_refresh() {
            let rule = mock!(aws_sdk_sts::Client::get_caller_identity).then_error(|| {
                aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError::generic(
                    ErrorMetadata::builder()
                        .code("ExpiredToken")
                        .message("The security token included in the request is expired")
                        .build(),
                )
            });
            let sts = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&rule]);
            let error = aws_error(
                "sts:GetCallerIdentity",
                sts.get_caller_identity().send().await.expect_err("expired"),
            );
            assert_eq!(error.message(), "the AWS session has expired");
            assert!(error.causes()[0].contains("ExpiredToken"), "{error}");
            assert!(error.hints()[0].contains("aws sso login"), "{error}");
        }
    }
}
