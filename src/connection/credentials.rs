//! A profile's credentials, resolved as botocore and the AWS CLI resolve them where the AWS SDK for
//! Rust does not:
//! - a `role_arn` profile's `duration_seconds` sets the session's length (the SDK ignores it);
//! - its STS client is the run's, so `--endpoint-url`, `--timeout` and the retries reach the
//!   AssumeRole call too (the SDK's profile provider builds a client of its own);
//! - `source_profile` that is missing, names the profile itself without keys, or loops, and
//!   `credential_source` values, are refused before any request with the cause named (the SDK says
//!   only "no credentials");
//! - `credential_process` is bounded by `--timeout` and stopped, with everything it started, when it
//!   runs over; its stderr, which may hold a secret, is quoted only with `--verbose`.
//!
//! The profile chain is walked first ([`walk`], pure: every setting checked), then built from its
//! base outward: keys, a process, or what the SDK's own profile provider reads (keys, SSO, web
//! identity), then each role assumed with the credentials of the step before.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{
    ProvideCredentials, SharedCredentialsProvider, future::ProvideCredentials as CredentialsFuture,
};
use aws_smithy_types::date_time::{DateTime, Format};
use aws_types::SdkConfig;
use serde::Serialize;

use crate::connection::profiles::SharedFiles;
use crate::error::Error;

/// Where a role profile's first credentials come from, besides another profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum CredentialSource {
    /// `credential_source = Environment`: the environment's keys.
    Environment,
    /// `credential_source = Ec2InstanceMetadata`: the instance profile.
    Ec2InstanceMetadata,
    /// `credential_source = EcsContainer`: the container credentials endpoint.
    EcsContainer,
}

impl CredentialSource {
    fn parse(value: &str) -> Option<Self> {
        // botocore compares these exactly ("Supported values: Environment, Ec2InstanceMetadata,
        // EcsContainer", AWS CLI User Guide, "Using an IAM role").
        match value {
            "Environment" => Some(Self::Environment),
            "Ec2InstanceMetadata" => Some(Self::Ec2InstanceMetadata),
            "EcsContainer" => Some(Self::EcsContainer),
            _ => None,
        }
    }
}

/// The first credentials of a profile chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Base {
    /// A profile the SDK's provider reads as it is (keys, SSO, web identity token).
    Sdk(String),
    /// The access keys of a role profile whose `source_profile` is itself.
    OwnKeys {
        profile: String,
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    },
    /// A profile's `credential_process`.
    Process { profile: String, command: String },
    /// A role profile's `credential_source`.
    Source(CredentialSource),
}

/// One role a chain assumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleStep {
    pub(crate) profile: String,
    pub(crate) role_arn: String,
    pub(crate) external_id: Option<String>,
    pub(crate) session_name: Option<String>,
    pub(crate) duration: Option<Duration>,
}

/// A profile's chain: its base, then the roles assumed from it, innermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chain {
    pub(crate) base: Base,
    pub(crate) roles: Vec<RoleStep>,
}

impl Chain {
    /// The `credential_source` the chain starts from, if it does.
    pub(crate) fn credential_source(&self) -> Option<CredentialSource> {
        match self.base {
            Base::Source(source) => Some(source),
            _ => None,
        }
    }
}

/// The longest role session AssumeRole grants, and the shortest ("AssumeRole", AWS STS API
/// Reference: DurationSeconds, 900 to 43200).
const ROLE_SESSION: std::ops::RangeInclusive<u64> = 900..=43_200;

/// Walks `name`'s chain through the shared files, checking every setting that will enter a
/// request. Pure.
pub(crate) fn walk(name: &str, files: &SharedFiles) -> Result<Chain, Error> {
    let mut roles = Vec::new();
    let mut visited: Vec<String> = Vec::new();
    let mut current = name.to_string();
    loop {
        let settings = files.settings(&current).ok_or_else(|| {
            let referrer = visited.last().map_or(name, String::as_str);
            undefined_source(referrer, &current, files)
        })?;
        visited.push(current.clone());
        let get = |key: &str| settings.get(key).filter(|v| !v.is_empty()).cloned();
        let Some(role_arn) = get("role_arn") else {
            let keys_in_credentials = files
                .credentials
                .settings(&current)
                .is_some_and(|s| s.contains_key("aws_access_key_id"));
            let base = match get("credential_process") {
                // The credentials file's keys come before a process, as in botocore's chain.
                Some(command) if !keys_in_credentials => Base::Process {
                    profile: current,
                    command,
                },
                _ => Base::Sdk(current),
            };
            roles.reverse();
            return Ok(Chain { base, roles });
        };
        let invalid = |why: String| {
            Error::usage(format!("profile {current}: {why}")).with_hint(format!(
                "fix profile {current} in the AWS config file (`aws configure list --profile \
                 {current}` shows it)"
            ))
        };
        if crate::input::role_account(&role_arn).is_none() {
            return Err(invalid(format!(
                "role_arn `{role_arn}` is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
            )));
        }
        let duration = match get("duration_seconds") {
            None => None,
            Some(text) => match text.parse::<u64>() {
                Ok(seconds) if ROLE_SESSION.contains(&seconds) => {
                    Some(Duration::from_secs(seconds))
                }
                _ => {
                    return Err(invalid(format!(
                        "duration_seconds `{text}` is not a role session length (900 to 43200 \
                         seconds)"
                    )));
                }
            },
        };
        let session_name = get("role_session_name");
        if let Some(session) = &session_name
            && !valid_session_name(session)
        {
            return Err(invalid(format!(
                "role_session_name `{session}` is not a session name (2 to 64 letters, digits \
                 and _+=,.@-)"
            )));
        }
        let external_id = get("external_id");
        if let Some(id) = &external_id
            && !valid_external_id(id)
        {
            return Err(invalid(
                "external_id is not an external id (2 to 1224 letters, digits and _+=,.@:/-)"
                    .to_string(),
            ));
        }
        roles.push(RoleStep {
            profile: current.clone(),
            role_arn,
            external_id,
            session_name,
            duration,
        });
        match (get("source_profile"), get("credential_source")) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "it has both source_profile and credential_source; a role's first \
                     credentials come from one of them"
                        .to_string(),
                ));
            }
            (None, Some(source)) => {
                let source = CredentialSource::parse(&source).ok_or_else(|| {
                    invalid(format!(
                        "credential_source `{source}` is none of Environment, \
                         Ec2InstanceMetadata, EcsContainer"
                    ))
                })?;
                roles.reverse();
                return Ok(Chain {
                    base: Base::Source(source),
                    roles,
                });
            }
            (None, None) => {
                return Err(invalid(format!(
                    "it assumes role {} but names neither source_profile nor credential_source",
                    roles.last().map_or("", |r| r.role_arn.as_str())
                ))
                .with_hint(format!(
                    "add `source_profile = NAME` (the profile with your keys) to profile {current}"
                )));
            }
            (Some(source), None) if source == current => {
                // botocore takes a role profile's own keys as its source when it names itself.
                let Some(access_key_id) = get("aws_access_key_id") else {
                    return Err(invalid(format!(
                        "its source_profile is {current} itself, which holds no access keys: \
                         the role could only be assumed with the role's own credentials, an \
                         endless loop"
                    ))
                    .with_hint(format!(
                        "set source_profile to the profile that holds your access keys, or put \
                         the keys in profile {current}"
                    )));
                };
                let secret_access_key = get("aws_secret_access_key").ok_or_else(|| {
                    invalid("it has aws_access_key_id but no aws_secret_access_key".to_string())
                })?;
                roles.reverse();
                return Ok(Chain {
                    base: Base::OwnKeys {
                        profile: current.clone(),
                        access_key_id,
                        secret_access_key,
                        session_token: get("aws_session_token"),
                    },
                    roles,
                });
            }
            (Some(source), None) if visited.contains(&source) => {
                let mut path = visited.clone();
                path.push(source);
                return Err(Error::usage(format!(
                    "the source_profile settings loop: {}",
                    path.join(" → ")
                ))
                .with_hint(
                    "end the chain at a profile with access keys (or SSO, or credential_source)",
                ));
            }
            (Some(source), None) => current = source,
        }
    }
}

fn undefined_source(referrer: &str, missing: &str, files: &SharedFiles) -> Error {
    let defined: Vec<String> = files.profiles().into_iter().collect();
    Error::usage(format!(
        "profile {referrer}'s source_profile `{missing}` is not defined in the AWS config or \
         credentials file ({})",
        if defined.is_empty() {
            "none are defined".to_string()
        } else {
            format!("defined: {}", defined.join(", "))
        }
    ))
    .with_hint(format!(
        "create profile {missing} (`aws configure --profile {missing}`), or set profile \
         {referrer}'s source_profile to one that exists"
    ))
}

/// STS's RoleSessionName: 2 to 64 of `[\w+=,.@-]`.
fn valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

/// STS's ExternalId: 2 to 1224 of `[\w+=,.@:/-]`.
fn valid_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c))
}

/// What the run's requests are bounded by, for the providers that make requests or run programs.
#[derive(Debug, Clone)]
pub(crate) struct Bounds {
    /// The run's configuration (endpoint, region, timeouts, retries): the roles' STS client.
    pub(crate) config: SdkConfig,
    /// `--timeout`: how long a credential process may run.
    pub(crate) timeout: Duration,
    /// `--verbose`: a failed credential process's stderr is quoted.
    pub(crate) verbose: bool,
}

/// The provider of a walked chain.
pub(crate) async fn provider(chain: &Chain, bounds: &Bounds) -> SharedCredentialsProvider {
    let mut provider = match &chain.base {
        Base::Sdk(profile) => SharedCredentialsProvider::new(
            ProfileFileCredentialsProvider::builder()
                .configure(&ProviderConfig::default().with_region(bounds.config.region().cloned()))
                .profile_name(profile)
                .build(),
        ),
        Base::OwnKeys {
            access_key_id,
            secret_access_key,
            session_token,
            ..
        } => SharedCredentialsProvider::new(Credentials::new(
            access_key_id,
            secret_access_key,
            session_token.clone(),
            None,
            "profile",
        )),
        Base::Process { profile, command } => SharedCredentialsProvider::new(Process {
            profile: profile.clone(),
            command: command.clone(),
            timeout: bounds.timeout,
            verbose: bounds.verbose,
        }),
        Base::Source(CredentialSource::Environment) => SharedCredentialsProvider::new(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        ),
        Base::Source(CredentialSource::Ec2InstanceMetadata) => SharedCredentialsProvider::new(
            aws_config::imds::credentials::ImdsCredentialsProvider::builder().build(),
        ),
        Base::Source(CredentialSource::EcsContainer) => SharedCredentialsProvider::new(
            aws_config::ecs::EcsCredentialsProvider::builder().build(),
        ),
    };
    for role in &chain.roles {
        let session = role.session_name.clone().unwrap_or_else(|| {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            format!("provision-{}", now.as_secs())
        });
        let mut builder = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
            .session_name(session)
            .configure(&bounds.config);
        if let Some(id) = &role.external_id {
            builder = builder.external_id(id);
        }
        if let Some(duration) = role.duration {
            builder = builder.session_length(duration);
        }
        provider = SharedCredentialsProvider::new(builder.build_from_provider(provider).await);
    }
    provider
}

/// The most of a credential process's stdout and stderr that is read.
const PROCESS_OUTPUT_LIMIT: usize = 64 << 10;

/// `credential_process`, bounded ("Sourcing credentials with an external process", AWS CLI User
/// Guide: the program prints `{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken",
/// "Expiration"}`).
#[derive(Debug)]
struct Process {
    profile: String,
    command: String,
    timeout: Duration,
    verbose: bool,
}

impl Process {
    /// The program's name: the command's first word (its arguments may hold secrets).
    fn program(&self) -> &str {
        self.command.split_whitespace().next().unwrap_or("")
    }

    fn error(&self, message: String) -> Error {
        Error::failed(format!(
            "credential_process `{}` of profile {}: {message}",
            self.program(),
            self.profile
        ))
    }

    async fn run(&self) -> Result<Credentials, Error> {
        use tokio::io::AsyncReadExt;
        #[cfg(unix)]
        let mut command = {
            let mut command = tokio::process::Command::new("sh");
            command.args(["-c", &self.command]);
            command
        };
        #[cfg(not(unix))]
        let mut command = {
            let mut command = tokio::process::Command::new("cmd.exe");
            command.args(["/C", &self.command]);
            command
        };
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| self.error(format!("could not be started: {e}")))?;
        let pid = child.id();
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(self.error("its output could not be read".to_string()));
        };
        let limit = PROCESS_OUTPUT_LIMIT as u64 + 1;
        // Each pipe is closed as soon as its limit is read, so a program that writes on and on
        // meets a closed pipe instead of a full one.
        let read = |pipe: Box<dyn tokio::io::AsyncRead + Unpin + Send>| async move {
            let mut bytes = Vec::new();
            pipe.take(limit)
                .read_to_end(&mut bytes)
                .await
                .map(|_| bytes)
        };
        let work = async {
            let (out, err, status) =
                tokio::join!(read(Box::new(stdout)), read(Box::new(stderr)), child.wait(),);
            Ok::<_, std::io::Error>((status?, out?, err?))
        };
        let (status, stdout, stderr) = match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(self.error(format!("failed: {e}"))),
            Err(_) => {
                if let Some(pid) = pid {
                    stop_process_tree(pid);
                }
                return Err(self
                    .error(format!(
                        "did not finish within --timeout {}, and was stopped",
                        crate::error::seconds(self.timeout)
                    ))
                    .with_hint(
                        "run the command on its own to see why it waits (a prompt, a network \
                         call), or allow longer with --timeout",
                    ));
            }
        };
        if !status.success() {
            let code = status
                .code()
                .map_or_else(|| "a signal".to_string(), |c| format!("code {c}"));
            let error = self.error(format!("exited with {code}"));
            let stderr = String::from_utf8_lossy(&stderr);
            let stderr = stderr.trim();
            return Err(if stderr.is_empty() {
                error
            } else if self.verbose {
                error.with_cause(format!(
                    "its stderr: {}",
                    crate::error::excerpt(stderr, 2000)
                ))
            } else {
                error.with_hint(
                    "run with -v to see what it wrote to stderr (not shown by default: it may \
                     hold a secret)",
                )
            });
        }
        if stdout.len() > PROCESS_OUTPUT_LIMIT {
            return Err(self.error(format!(
                "printed more than {} on stdout",
                crate::local_file::size(PROCESS_OUTPUT_LIMIT as u64)
            )));
        }
        parse_process_output(&stdout).map_err(|why| {
            self.error(format!("printed no credentials AWS tools read: {why}"))
                .with_hint(
                    "it must print {\"Version\": 1, \"AccessKeyId\": …, \"SecretAccessKey\": …, \
                     \"SessionToken\": …, \"Expiration\": \"2026-01-01T00:00:00Z\"}",
                )
        })
    }
}

/// Stops `pid` and every process it started (`sh -c` forks the program it runs): the children
/// first, found by their parent in /proc, so that none is left running.
fn stop_process_tree(pid: u32) {
    #[cfg(target_os = "linux")]
    {
        let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(child) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                // /proc/PID/stat: `PID (COMMAND) STATE PPID …`; the command may hold spaces.
                let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                    continue;
                };
                let parent = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok());
                if let Some(parent) = parent {
                    children.entry(parent).or_default().push(child);
                }
            }
        }
        let mut pending = vec![pid];
        let mut tree = Vec::new();
        while let Some(next) = pending.pop() {
            tree.push(next);
            pending.extend(children.get(&next).into_iter().flatten());
        }
        for process in tree.into_iter().rev() {
            if let Ok(process) = i32::try_from(process) {
                // SAFETY: kill only sends a signal; a process already gone answers ESRCH.
                unsafe {
                    libc::kill(process, libc::SIGKILL);
                }
            }
        }
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    if let Ok(process) = i32::try_from(pid) {
        // SAFETY: kill only sends a signal.
        unsafe {
            libc::kill(process, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// A credential process's JSON.
fn parse_process_output(stdout: &[u8]) -> Result<Credentials, String> {
    let value: serde_json::Value =
        serde_json::from_slice(stdout).map_err(|e| format!("its output is not JSON ({e})"))?;
    if value["Version"].as_u64() != Some(1) {
        return Err("\"Version\" is not 1".to_string());
    }
    let field = |name: &str| {
        value[name]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let access_key_id = field("AccessKeyId").ok_or("\"AccessKeyId\" is missing")?;
    let secret_access_key = field("SecretAccessKey").ok_or("\"SecretAccessKey\" is missing")?;
    let expiry = match field("Expiration") {
        None => None,
        Some(text) => Some(
            DateTime::from_str(&text, Format::DateTime)
                .ok()
                .and_then(|time| SystemTime::try_from(time).ok())
                .ok_or_else(|| format!("\"Expiration\" `{text}` is not an RFC 3339 time"))?,
        ),
    };
    Ok(Credentials::new(
        access_key_id,
        secret_access_key,
        field("SessionToken"),
        expiry,
        "CredentialProcess",
    ))
}

impl ProvideCredentials for Process {
    fn provide_credentials<'a>(&'a self) -> CredentialsFuture<'a>
    where
        Self: 'a,
    {
        CredentialsFuture::new(
            async move { self.run().await.map_err(CredentialsError::provider_error) },
        )
    }
}

/// Our own error inside a credentials error, when one of this module's providers raised it.
pub(crate) fn ours(error: &CredentialsError) -> Option<Error> {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<Error>())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::profiles::{Kind, ProfileFile};

    fn files(config: &str, credentials: &str) -> SharedFiles {
        SharedFiles {
            config: ProfileFile::parse(Kind::Config, config),
            credentials: ProfileFile::parse(Kind::Credentials, credentials),
        }
    }

    const ROLE: &str = "arn:aws:iam::111122223333:role/Lab";

    #[test]
    fn a_role_profile_walks_to_the_keys_it_is_assumed_with() {
        let files = files(
            &format!(
                "[profile lab]\nrole_arn = {ROLE}\nsource_profile = keys\nduration_seconds = \
                 1800\nexternal_id = course-2026\n[profile admin]\nrole_arn = {ROLE}\n\
                 source_profile = lab\n"
            ),
            "[keys]\naws_access_key_id = AKIA\naws_secret_access_key = s\n",
        );
        let chain = walk("admin", &files).expect("walks");
        assert_eq!(chain.base, Base::Sdk("keys".to_string()));
        let profiles: Vec<&str> = chain.roles.iter().map(|r| r.profile.as_str()).collect();
        assert_eq!(profiles, ["lab", "admin"], "innermost first");
        assert_eq!(chain.roles[0].duration, Some(Duration::from_secs(1800)));
        assert_eq!(chain.roles[0].external_id.as_deref(), Some("course-2026"));
        assert!(matches!(
            crate::connection::sources::CredentialSource::of_chain(&chain, "admin"),
            Some(crate::connection::sources::CredentialSource::AssumeRole { .. })
        ));
        let plain = walk("keys", &files).expect("walks");
        assert!(plain.roles.is_empty());
        assert_eq!(
            crate::connection::sources::CredentialSource::of_chain(&plain, "keys"),
            None,
            "the SDK's provider says"
        );
    }

    #[test]
    fn a_missing_or_looping_source_profile_is_named() {
        let error = walk(
            "lab",
            &files(
                &format!("[profile lab]\nrole_arn = {ROLE}\nsource_profile = gone\n"),
                "",
            ),
        )
        .expect_err("missing");
        assert!(
            error
                .message()
                .contains("profile lab's source_profile `gone` is not defined"),
            "{error}"
        );
        assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        let error = walk(
            "lab",
            &files(
                &format!("[profile lab]\nrole_arn = {ROLE}\nsource_profile = lab\n"),
                "",
            ),
        )
        .expect_err("itself");
        assert!(error.message().contains("is lab itself"), "{error}");
        let own = walk(
            "lab",
            &files(
                &format!("[profile lab]\nrole_arn = {ROLE}\nsource_profile = lab\n"),
                "[lab]\naws_access_key_id = AKIA\naws_secret_access_key = s\n",
            ),
        )
        .expect("its own keys");
        assert!(matches!(own.base, Base::OwnKeys { .. }));
        let error = walk(
            "a",
            &files(
                &format!(
                    "[profile a]\nrole_arn = {ROLE}\nsource_profile = b\n[profile b]\nrole_arn = \
                     {ROLE}\nsource_profile = a\n"
                ),
                "",
            ),
        )
        .expect_err("a loop");
        assert!(error.message().contains("a → b → a"), "{error}");
    }

    #[test]
    fn role_settings_are_checked_before_any_request() {
        for (setting, why) in [
            ("duration_seconds = 60", "not a role session length"),
            ("duration_seconds = 1h", "not a role session length"),
            ("credential_source = environment", "none of Environment"),
            ("role_session_name = a b", "not a session name"),
        ] {
            let error = walk(
                "lab",
                &files(
                    &format!(
                        "[profile lab]\nrole_arn = {ROLE}\ncredential_source = Environment\n\
                         {setting}\n"
                    ),
                    "",
                ),
            )
            .expect_err(setting);
            assert!(error.message().contains(why), "{setting}: {error}");
        }
        let error =
            walk("lab", &files("[profile lab]\nrole_arn = not-an-arn\n", "")).expect_err("bad arn");
        assert!(error.message().contains("not an IAM role ARN"), "{error}");
        let error = walk(
            "lab",
            &files(&format!("[profile lab]\nrole_arn = {ROLE}\n"), ""),
        )
        .expect_err("");
        assert!(error.message().contains("names neither"), "{error}");
        let chain = walk(
            "lab",
            &files(
                &format!("[profile lab]\nrole_arn = {ROLE}\ncredential_source = Environment\n"),
                "",
            ),
        )
        .expect("walks");
        assert_eq!(
            chain.credential_source(),
            Some(CredentialSource::Environment)
        );
    }

    #[test]
    fn keys_in_the_credentials_file_come_before_a_process() {
        let process = files("[profile p]\ncredential_process = /bin/creds --json\n", "");
        assert!(matches!(
            walk("p", &process).expect("walks").base,
            Base::Process { .. }
        ));
        let both = files(
            "[profile p]\ncredential_process = /bin/creds\n",
            "[p]\naws_access_key_id = A\naws_secret_access_key = s\n",
        );
        assert_eq!(
            walk("p", &both).expect("walks").base,
            Base::Sdk("p".to_string())
        );
    }

    #[test]
    fn a_process_output_is_read_as_the_cli_reads_it() {
        let credentials = parse_process_output(
            br#"{"Version": 1, "AccessKeyId": "ASIA", "SecretAccessKey": "s",
                "SessionToken": "t", "Expiration": "2030-01-01T00:00:00Z"}"#,
        )
        .expect("valid");
        assert_eq!(credentials.access_key_id(), "ASIA");
        assert!(credentials.expiry().is_some());
        assert!(parse_process_output(b"{}").is_err());
        assert!(
            parse_process_output(br#"{"Version": 1, "AccessKeyId": "A"}"#)
                .expect_err("no secret")
                .contains("SecretAccessKey")
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_hanging_process_is_stopped_at_the_timeout_with_what_it_started() {
        let marker = std::env::temp_dir().join(format!("provision-cp-{}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        let process = Process {
            profile: "slow".into(),
            command: format!("sleep 30; touch {}", marker.display()),
            timeout: Duration::from_millis(300),
            verbose: false,
        };
        let started = std::time::Instant::now();
        let error = process.run().await.expect_err("times out");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            error
                .message()
                .contains("credential_process `sleep` of profile slow"),
            "{error}"
        );
        assert!(error.message().contains("was stopped"), "{error}");
        // The shell's `sleep` was stopped too: nothing is left to run `touch` later.
        let listing = std::process::Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .expect("ps");
        assert!(
            !String::from_utf8_lossy(&listing.stdout)
                .lines()
                .any(|l| l.trim() == "sleep 30"),
            "the process's child still runs"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_failing_process_s_stderr_is_quoted_only_when_verbose() {
        let run = |verbose| Process {
            profile: "p".into(),
            command: "echo SECRET-TOKEN >&2; exit 3".into(),
            timeout: Duration::from_secs(10),
            verbose,
        };
        let quiet = run(false).run().await.expect_err("fails");
        assert!(quiet.message().contains("exited with code 3"), "{quiet}");
        assert!(!quiet.to_string().contains("SECRET-TOKEN"), "{quiet}");
        assert!(quiet.to_string().contains("-v"), "{quiet}");
        let verbose = run(true).run().await.expect_err("fails");
        assert!(verbose.to_string().contains("SECRET-TOKEN"), "{verbose}");
    }
}
