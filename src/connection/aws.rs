//! One AWS configuration per run: the SDK's whole provider chain (environment, shared config and
//! credentials files, profiles with SSO, assume-role and credential_process, web identity, container
//! and instance-metadata credentials), resolved once, up front, so that a missing profile, missing or
//! expired credentials are reported before anything else happens — and reported as such.
//!
//! Every client is built from the same `SdkConfig`; the credentials resolved at start-up are reused
//! (no second walk of the chain, no instance-metadata probing once they are known) until they near
//! expiry, when the chain is asked again.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_types::SdkConfig;
use tokio::sync::OnceCell;

use crate::connection::credentials;
use crate::error::{Error, aws_error, expired_credentials};
use crate::requests;
use crate::settings::{Connection, Lab};

use crate::connection::clients::Clients;
use crate::connection::clients::bounded_client;
use crate::connection::denials::explain_access_denied;
use crate::connection::sources::*;
use crate::connection::sources::{CredentialSource, load_config};

/// The run's AWS configuration and the facts about it that commands and errors need.
pub(crate) struct Aws {
    config: SdkConfig,
    pub(crate) region: String,
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
    pub(crate) async fn connect(settings: &Connection) -> Result<Self, Error> {
        let chosen = Chosen::of(settings)?;
        let profile = chosen.profile.clone();
        let (config, region, warnings) = load_config(settings, &profile, None).await?;
        let bounds = credentials::Bounds {
            config: config.clone(),
            timeout: settings.timeout,
            verbose: settings.verbose,
        };
        let skipped = chosen.skipped_environment(settings);
        let provided = chosen.provider(&bounds).await?;
        let credentials = provided
            .provider
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
        let walked = chosen.walked.as_ref();
        let source = match &provided.session {
            Some(session) => CredentialSource::MfaSession {
                profile: session.profile.clone(),
                base: session.base.clone(),
            },
            None => walked
                .and_then(|chain| CredentialSource::of_chain(chain, &profile))
                .unwrap_or_else(|| CredentialSource::of(&credentials, &profile)),
        };
        let role_source = walked.and_then(credentials::Chain::credential_source);
        let expiry = credentials
            .expiry()
            .or(provided.session.as_ref().map(|session| session.expires));
        let cloud9_managed = matches!(&source, CredentialSource::Profile { name } if name == "default")
            && chosen.files.credentials.is_cloud9_managed();
        let reuse = ReuseResolved::new(credentials, provided.provider);
        let config = config
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(reuse))
            .build();
        let endpoint = config.endpoint_url().map(str::to_string);
        Ok(Self {
            config,
            region,
            endpoint,
            profile,
            source,
            expiry,
            cloud9_managed,
            identity: OnceCell::new(),
            warnings,
            skipped,
            session_base: provided.session_base,
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

    /// The clients of this run, built once from the one configuration; the lab application's
    /// SSM in `lab`'s app region.
    pub(crate) fn clients(&self, lab: &Lab) -> Clients {
        // S3 is addressed path-style when a custom endpoint (a local emulator) is in use,
        // virtual-hosted as the SDK defaults against AWS.
        let path_style =
            self.endpoint.is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        Clients::new(&self.config, path_style, &lab.app_region)
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
