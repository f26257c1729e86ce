//! MFA sessions, the way the course teaches them by hand — `aws sts get-session-token
//! --serial-number ARN --token-code CODE`, the answer pasted into a profile of the credentials
//! file — in one step (`provision session`), and for any command run with a profile that names an
//! `mfa_serial` (the AWS SDK for Rust ignores that setting, so the profile's keys would be used
//! without MFA and refused, or its role assumed without the code and refused).
//!
//! A session is kept in the credentials file as a profile of its own (`BASE-mfa`, or `mfa` for the
//! default profile), under a comment that says which profile it came from and when it expires.
//! That comment is how it is found again: a command run with BASE reuses it until it expires.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_types::date_time::{DateTime, Format};
use aws_types::SdkConfig;

use crate::connection::credentials;
use crate::connection::profiles::{Kind, ProfileFile, SharedFiles};
use crate::error::{Error, aws_error};

/// What a session profile's comment starts with.
const MARKER: &str = "written by provision session from profile ";

/// A session closer than this to its expiry is not reused: a command started with it could see it
/// expire part-way.
pub(crate) const REUSE_MARGIN: Duration = Duration::from_secs(300);

use crate::input::check_code;
pub(crate) use crate::input::{LONGEST_ROLE_SESSION, LONGEST_SESSION_TOKEN, SHORTEST};

/// The settings of one profile that decide how its MFA session is made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MfaProfile {
    /// The profile's name (`default` when none was chosen).
    pub(crate) base: String,
    /// Whether the shared files define it.
    pub(crate) defined: bool,
    pub(crate) mfa_serial: Option<String>,
    pub(crate) role_arn: Option<String>,
    pub(crate) source_profile: Option<String>,
    pub(crate) external_id: Option<String>,
    pub(crate) role_session_name: Option<String>,
    pub(crate) duration_seconds: Option<u64>,
    pub(crate) region: Option<String>,
}

impl MfaProfile {
    /// `base`'s settings in both shared files, as the CLI merges them (the credentials file's
    /// values win).
    pub(crate) fn of(base: &str, config: &ProfileFile, credentials: &ProfileFile) -> Self {
        let from_config = config.settings(base);
        let from_credentials = credentials.settings(base);
        let defined = from_config.is_some() || from_credentials.is_some();
        let mut settings = from_config.unwrap_or_default();
        settings.extend(from_credentials.unwrap_or_default());
        let get = |key: &str| settings.get(key).filter(|v| !v.is_empty()).cloned();
        Self {
            base: base.to_string(),
            defined,
            mfa_serial: get("mfa_serial"),
            role_arn: get("role_arn"),
            source_profile: get("source_profile"),
            external_id: get("external_id"),
            role_session_name: get("role_session_name"),
            duration_seconds: get("duration_seconds").and_then(|v| v.parse().ok()),
            region: get("region"),
        }
    }

    /// Whether the session is a role's (AssumeRole with the code) rather than the user's own
    /// (GetSessionToken).
    pub(crate) fn is_role(&self) -> bool {
        self.role_arn.is_some()
    }

    /// The session profile's default name: `BASE-mfa`, or `mfa` for the default profile.
    pub(crate) fn session_profile(&self) -> String {
        session_profile_of(&self.base)
    }
}

/// The profile whose MFA session a role profile without an `mfa_serial` of its own assumes its
/// role with: the profile at the base of its `source_profile` chain — an IAM user's keys — when
/// that one names an `mfa_serial` (a user whose policy requires MFA, so that AssumeRole with the
/// bare keys is refused). botocore would send the bare keys; provision makes (or reuses) that
/// profile's session first, as `provision session --profile BASE` keeps it, and assumes the roles
/// from it.
pub(crate) fn chained_holder(
    chain: &credentials::Chain,
    files: &SharedFiles,
) -> Option<MfaProfile> {
    let credentials::Base::Sdk(base) = &chain.base else {
        return None;
    };
    if chain.roles.is_empty() {
        return None;
    }
    let holder = MfaProfile::of(base, &files.config, &files.credentials);
    (holder.mfa_serial.is_some() && !holder.is_role()).then_some(holder)
}

pub(crate) fn session_profile_of(base: &str) -> String {
    if base == "default" {
        "mfa".to_string()
    } else {
        format!("{base}-mfa")
    }
}

/// Temporary credentials and where they are kept.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The profile they are (or will be) kept in.
    pub(crate) profile: String,
    /// The profile they were made from.
    pub(crate) base: String,
    pub(crate) expires: SystemTime,
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: String,
    pub(crate) region: Option<String>,
}

impl Session {
    pub(crate) fn credentials(&self) -> Credentials {
        Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            Some(self.session_token.clone()),
            Some(self.expires),
            "provision-mfa-session",
        )
    }

    pub(crate) fn remaining(&self) -> Duration {
        self.expires
            .duration_since(SystemTime::now())
            .unwrap_or_default()
    }

    /// Good for a command yet: further than [`REUSE_MARGIN`] from its expiry.
    pub(crate) fn is_fresh(&self) -> bool {
        self.remaining() > REUSE_MARGIN
    }

    /// The lines of its profile section in the credentials file.
    fn section(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "# {MARKER}{}, expires {}",
                self.base,
                timestamp(self.expires)
            ),
            format!("aws_access_key_id = {}", self.access_key_id),
            format!("aws_secret_access_key = {}", self.secret_access_key),
            format!("aws_session_token = {}", self.session_token),
        ];
        if let Some(region) = &self.region {
            lines.push(format!("region = {region}"));
        }
        lines
    }

    /// POSIX shell lines that put the session in the environment (`--print-env`).
    pub(crate) fn env_lines(&self) -> Vec<String> {
        let quote = |value: &str| format!("'{}'", value.replace('\'', r"'\''"));
        let mut lines = vec![
            format!("export AWS_ACCESS_KEY_ID={}", quote(&self.access_key_id)),
            format!(
                "export AWS_SECRET_ACCESS_KEY={}",
                quote(&self.secret_access_key)
            ),
            format!("export AWS_SESSION_TOKEN={}", quote(&self.session_token)),
        ];
        if let Some(region) = &self.region {
            lines.push(format!("export AWS_REGION={}", quote(region)));
        }
        // A profile would otherwise be chosen over the keys (by provision and the AWS CLI both).
        lines.push("unset AWS_PROFILE".to_string());
        lines.push(format!(
            "# expires {} (provision session from profile {})",
            timestamp(self.expires),
            self.base
        ));
        lines
    }
}

/// RFC 3339 in UTC, to the second.
pub(crate) fn timestamp(time: SystemTime) -> String {
    DateTime::from_secs(DateTime::from(time).secs())
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| "an unknown time".to_string())
}

/// `base` and expiry of a session comment (`written by provision session from profile B, expires T`).
fn parse_marker(comment: &str) -> Option<(String, SystemTime)> {
    let rest = comment.strip_prefix(MARKER)?;
    let (base, expires) = rest.rsplit_once(", expires ")?;
    let expires = DateTime::from_str(expires.trim(), Format::DateTime).ok()?;
    Some((base.to_string(), SystemTime::try_from(expires).ok()?))
}

/// The session kept in `profile` of the credentials file, if provision session wrote it (whether
/// or not it has expired).
pub(crate) fn kept(credentials: &ProfileFile, profile: &str) -> Option<Session> {
    let (base, expires) = credentials
        .comments(profile)
        .iter()
        .find_map(|comment| parse_marker(comment))?;
    let settings = credentials.settings(profile)?;
    let get = |key: &str| settings.get(key).filter(|v| !v.is_empty()).cloned();
    Some(Session {
        profile: profile.to_string(),
        base,
        expires,
        access_key_id: get("aws_access_key_id")?,
        secret_access_key: get("aws_secret_access_key")?,
        session_token: get("aws_session_token")?,
        region: get("region"),
    })
}

/// Whether a code can be asked for: stdin and stderr are a terminal.
pub(crate) fn can_prompt() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks for the code on the terminal, without echoing it.
pub(crate) fn prompt_code(serial: &str) -> Result<String, Error> {
    let term = console::Term::stderr();
    let _ = term.write_str(&format!("MFA code for {serial}: "));
    let answer = term.read_secure_line().map_err(|e| {
        Error::usage("the MFA code could not be read from the terminal")
            .with_cause(e.to_string())
            .with_hint("pass it with --token-code CODE")
    })?;
    check_code(&answer)
}

/// The credentials the session is made with: what the role profile's own role is assumed with
/// (its `source_profile` chain, or `credential_source`), else the profile itself (its long-term
/// keys), else — for the default profile when the files define none — the default chain
/// (environment keys). The chain is walked and checked as every command's is (`credentials`).
pub(crate) async fn base_credentials(
    bounds: &credentials::Bounds,
    files: &SharedFiles,
    profile: &MfaProfile,
) -> Result<SharedCredentialsProvider, Error> {
    if !profile.defined {
        return bounds.config.credentials_provider().ok_or_else(|| {
            Error::failed("no AWS credentials were found to start the MFA session with")
                .with_hint("run `aws configure` to store your access keys first")
        });
    }
    let mut chain = credentials::walk(&profile.base, files)?;
    if profile.is_role() {
        // The profile's own role is assumed with the code (`start`), not by the chain.
        chain.roles.pop();
    }
    Ok(credentials::provider(&chain, bounds).await)
}

/// The caller's MFA device, when neither `--mfa-serial` nor the profile's `mfa_serial` names one:
/// the user from sts:GetCallerIdentity, then iam:ListMFADevices of that user (which AWS's own
/// example policy for MFA-protected accounts allows without MFA).
pub(crate) async fn discover_serial(config: &SdkConfig) -> Result<String, Error> {
    let identity = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_error("sts:GetCallerIdentity", e))?;
    let arn = identity.arn().unwrap_or_default();
    // arn:PARTITION:iam::ACCOUNT:user/PATH/NAME: the name is the last segment.
    let user = arn
        .split(':')
        .nth(5)
        .and_then(|resource| resource.strip_prefix("user/"))
        .and_then(|path| path.rsplit('/').next())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            Error::usage(format!(
                "these credentials are {arn}'s, not an IAM user's: MFA devices and \
                 GetSessionToken are a user's"
            ))
            .with_hint(
                "use the profile that holds your IAM user's access keys (--profile NAME), or \
                 name a role's device in a role profile's mfa_serial",
            )
        })?;
    let iam = aws_sdk_iam::Client::new(config);
    let answer = iam
        .list_mfa_devices()
        .user_name(user)
        .send()
        .await
        .map_err(|e| aws_error("iam:ListMFADevices", e))
        .map_err(|e| {
            e.with_hint(
                "name the device with --mfa-serial ARN, or add `mfa_serial = ARN` to the profile",
            )
        })?;
    let serials: Vec<String> = answer
        .mfa_devices()
        .iter()
        .map(|device| device.serial_number().to_string())
        .collect();
    match serials.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(
            Error::failed("these credentials' user has no MFA device").with_hint(
                "assign one (IAM console → your user → Security credentials → Assign MFA device), \
                 or pass --mfa-serial ARN for another's",
            ),
        ),
        many => Err(Error::usage(format!(
            "IAM user {user} has {} MFA devices: {}",
            many.len(),
            many.join(", ")
        ))
        .with_hint("choose one with --mfa-serial ARN (or `mfa_serial = ARN` in the profile)")),
    }
}

/// Makes the session: sts:AssumeRole with the code for a role profile, sts:GetSessionToken
/// otherwise. `config` carries the base credentials.
pub(crate) async fn start(
    config: &SdkConfig,
    profile: &MfaProfile,
    serial: &str,
    code: &str,
    duration: Duration,
    into: &str,
) -> Result<Session, Error> {
    let sts = aws_sdk_sts::Client::new(config);
    let seconds = i32::try_from(duration.as_secs()).unwrap_or(i32::MAX);
    let given = if let Some(role_arn) = &profile.role_arn {
        let session_name = profile
            .role_session_name
            .clone()
            .unwrap_or_else(|| format!("provision-session-{}", std::process::id()));
        let answer = sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .serial_number(serial)
            .token_code(code)
            .duration_seconds(seconds)
            .set_external_id(profile.external_id.clone())
            .send()
            .await
            .map_err(|e| refused_code(aws_error("sts:AssumeRole", e)))?;
        answer.credentials().cloned()
    } else {
        let answer = sts
            .get_session_token()
            .serial_number(serial)
            .token_code(code)
            .duration_seconds(seconds)
            .send()
            .await
            .map_err(|e| refused_code(aws_error("sts:GetSessionToken", e)))?;
        answer.credentials().cloned()
    };
    let Some(given) = given else {
        return Err(Error::failed("STS answered without credentials"));
    };
    Ok(Session {
        profile: into.to_string(),
        base: profile.base.clone(),
        expires: SystemTime::try_from(*given.expiration())
            .unwrap_or_else(|_| SystemTime::now() + duration),
        access_key_id: given.access_key_id().to_string(),
        secret_access_key: given.secret_access_key().to_string(),
        session_token: given.session_token().to_string(),
        region: profile.region.clone(),
    })
}

/// A refused code gets what to do about it; long-term keys that are not, too.
fn refused_code(error: Error) -> Error {
    let text = format!("{} {}", error.message(), error.causes().join(" ")).to_ascii_lowercase();
    if text.contains("multifactorauthentication") || text.contains("mfa") {
        error.replacing_hints(vec![
            "the code was wrong or already used: wait for the next code and run again (a device \
             whose clock drifted needs resyncing: IAM console → Security credentials)"
                .to_string(),
        ])
    } else if text.contains("session credentials") {
        error.replacing_hints(vec![
            "GetSessionToken needs long-term keys: run it with the profile that holds your access \
             key (--profile NAME), not a session's"
                .to_string(),
        ])
    } else {
        error
    }
}

/// Why a session may not be written to `profile` of the credentials file, if it may not.
pub(crate) fn check_writable(
    credentials: &ProfileFile,
    path: &std::path::Path,
    profile: &str,
    base: &str,
) -> Result<(), Error> {
    if credentials.is_cloud9_managed() {
        return Err(Error::usage(format!(
            "{} is the credentials file the course IDE (Cloud9) manages: it rewrites it every few \
             minutes, and what is written there is lost",
            path.display()
        ))
        .with_hint(
            "use --print-env to put the session in this shell's environment instead, or point \
             AWS_SHARED_CREDENTIALS_FILE at a file of your own",
        ));
    }
    if profile == base {
        return Err(Error::usage(format!(
            "the session would overwrite profile {base}, whose long-term keys it is made from"
        ))
        .with_hint("choose another name with --into NAME"));
    }
    if let Some(settings) = credentials.settings(profile) {
        let ours = kept(credentials, profile).is_some();
        let temporary = settings.contains_key("aws_session_token");
        if !ours && !temporary && settings.contains_key("aws_access_key_id") {
            return Err(Error::usage(format!(
                "profile {profile} in {} holds long-term keys, not a session: provision will not \
                 overwrite them",
                path.display()
            ))
            .with_hint("choose another name with --into NAME"));
        }
    }
    Ok(())
}

/// Where sessions are kept: the shared credentials file.
pub(crate) fn credentials_path() -> Result<PathBuf, Error> {
    Kind::Credentials.path().ok_or_else(|| {
        Error::usage("there is no home directory to keep the credentials file in")
            .with_hint("set AWS_SHARED_CREDENTIALS_FILE, or use --print-env")
    })
}

/// The file a session is written to: the credentials file, or — a symbolic link being followed,
/// as for dotfiles kept elsewhere — its target. Only a regular file is rewritten (or one created
/// where nothing is): a device such as `/dev/null`, a FIFO, a directory, a link to nothing or a
/// read-only file is refused with exit 2, naming it, before any request.
pub(crate) fn credentials_target() -> Result<PathBuf, Error> {
    let path = credentials_path()?;
    let refuse = |what: String| {
        Error::usage(format!(
            "the credentials file {} {what}: provision writes sessions only to a regular file",
            path.display()
        ))
        .with_hint(
            "use --print-env to put the session in this shell's environment instead, or point \
             AWS_SHARED_CREDENTIALS_FILE at a regular file of your own",
        )
    };
    let metadata = match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path),
        Err(e) => return Err(refuse(format!("cannot be examined ({e})"))),
        Ok(metadata) => metadata,
    };
    let (target, metadata) = if metadata.file_type().is_symlink() {
        let target = std::fs::canonicalize(&path).map_err(|_| {
            let to = std::fs::read_link(&path)
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".to_string());
            refuse(format!("is a symbolic link to {to}, which does not exist"))
        })?;
        let metadata = std::fs::metadata(&target).map_err(|e| {
            refuse(format!(
                "leads to {}, which cannot be examined ({e})",
                target.display()
            ))
        })?;
        (target, metadata)
    } else {
        (path.clone(), metadata)
    };
    if !metadata.is_file() {
        let kind = crate::local_file::kind_of(&metadata);
        return Err(if target == path {
            refuse(format!("is {kind}"))
        } else {
            refuse(format!(
                "is a symbolic link to {}, {kind}",
                target.display()
            ))
        });
    }
    if metadata.permissions().readonly() || !writable(&target) {
        #[cfg(unix)]
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            format!(" (mode {:04o})", metadata.permissions().mode() & 0o7777)
        };
        #[cfg(not(unix))]
        let mode = String::new();
        return Err(Error::usage(format!(
            "the credentials file {} is read-only{mode}: provision will not replace it",
            target.display()
        ))
        .with_hint(format!(
            "make it writable (chmod u+w {}) if the session belongs there, or use --print-env",
            target.display()
        )));
    }
    Ok(target)
}

/// Whether this process may write `path` (root may write any file: its read-only bits are
/// checked by the caller).
fn writable(path: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(name) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
            return false;
        };
        // SAFETY: a valid NUL-terminated path; access only asks.
        unsafe { libc::access(name.as_ptr(), libc::W_OK) == 0 }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        true
    }
}

/// Keeps the session in its profile of the credentials file: that section replaced in place,
/// every other line as it was (and its line endings), the file written atomically with mode
/// 0600.
pub(crate) fn store(session: &Session) -> Result<PathBuf, Error> {
    let path = credentials_target()?;
    let mut credentials = ProfileFile::read(Kind::Credentials, &path)?;
    check_writable(&credentials, &path, &session.profile, &session.base)?;
    credentials.set_profile(&session.profile, &session.section());
    crate::connection::profiles::write_atomically(&path, credentials.text()).map_err(|e| {
        Error::failed(format!("could not write {}", path.display())).with_cause(e.to_string())
    })?;
    Ok(path)
}

/// The session length: `--duration`, else the profile's `duration_seconds`, else one hour —
/// checked against STS's limits before any request.
pub(crate) fn duration_for(
    profile: &MfaProfile,
    asked: Option<Duration>,
) -> Result<Duration, Error> {
    let duration = asked
        .or(profile.duration_seconds.map(Duration::from_secs))
        .unwrap_or(Duration::from_secs(3600));
    let longest = if profile.is_role() {
        LONGEST_ROLE_SESSION
    } else {
        LONGEST_SESSION_TOKEN
    };
    if duration < SHORTEST || duration > longest {
        return Err(Error::usage(format!(
            "a {} session lasts 15m to {}h, not {}",
            if profile.is_role() {
                "role"
            } else {
                "GetSessionToken"
            },
            longest.as_secs() / 3600,
            crate::error::seconds(duration)
        ))
        .with_hint("pass e.g. --duration 1h"));
    }
    Ok(duration)
}

/// The credentials of a command run with a profile that names an `mfa_serial`: the session kept
/// for it while fresh; else, on a terminal, a new one made with a code typed now (and kept, as
/// `provision session` keeps it); else a usage error naming `provision session`.
pub(crate) async fn for_command(
    bounds: &credentials::Bounds,
    files: &SharedFiles,
    profile: &MfaProfile,
) -> Result<Session, Error> {
    let serial = profile.mfa_serial.clone().unwrap_or_default();
    let credentials = &files.credentials;
    if let Some(session) = kept(credentials, &profile.session_profile())
        .filter(|session| session.base == profile.base && session.is_fresh())
    {
        return Ok(session);
    }
    if !can_prompt() {
        return Err(Error::usage(format!(
            "profile {} requires MFA (mfa_serial {serial}), and there is no terminal to ask for \
             the code on",
            profile.base
        ))
        .with_hint(format!(
            "run `provision session --profile {}` first (it keeps a session as profile {} that \
             this command then uses), or run this on a terminal",
            profile.base,
            profile.session_profile()
        )));
    }
    let duration = duration_for(profile, None)?;
    let code = prompt_code(&serial)?;
    let base = base_credentials(bounds, files, profile).await?;
    let base_config = bounds
        .config
        .to_builder()
        .credentials_provider(base)
        .build();
    let session = start(
        &base_config,
        profile,
        &serial,
        &code,
        duration,
        &profile.session_profile(),
    )
    .await?;
    let kept_in = if credentials.is_cloud9_managed() {
        None
    } else {
        match store(&session) {
            Ok(path) => Some(path),
            Err(error) => {
                let _ = console::Term::stderr()
                    .write_line(&format!("warning: the MFA session is not kept: {error}"));
                None
            }
        }
    };
    let _ = console::Term::stderr().write_line(&match kept_in {
        Some(_) => format!(
            "MFA session kept as profile {} until {} (provision session --profile {} --force \
             renews it)",
            session.profile,
            timestamp(session.expires),
            profile.base
        ),
        None => format!(
            "MFA session for this run only, until {}",
            timestamp(session.expires)
        ),
    });
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::check_serial;

    /// Issue 23: a role profile whose source_profile names an mfa_serial assumes its role from that
    /// profile's MFA session; a profile with a device of its own, one with no role, or a chain whose
    /// base needs no MFA has no such holder.
    #[test]
    fn a_role_s_source_profile_with_mfa_serial_holds_its_session() {
        let role = "arn:aws:iam::111122223333:role/lab";
        let files = |config: &str| SharedFiles {
            config: ProfileFile::parse(Kind::Config, config),
            credentials: ProfileFile::parse(
                Kind::Credentials,
                "[base]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s\n",
            ),
        };
        let holder = |config: &str, name: &str| {
            let files = files(config);
            let chain = credentials::walk(name, &files).expect("walks");
            chained_holder(&chain, &files).map(|p| p.base)
        };
        let chained = format!(
            "[profile base]\nmfa_serial = arn:aws:iam::111122223333:mfa/alice\n\
             [profile lab]\nrole_arn = {role}\nsource_profile = base\n\
             [profile deeper]\nrole_arn = {role}\nsource_profile = lab\n"
        );
        assert_eq!(holder(&chained, "lab").as_deref(), Some("base"));
        assert_eq!(holder(&chained, "deeper").as_deref(), Some("base"));
        assert_eq!(
            holder(&chained, "base"),
            None,
            "its own session, not a chain's"
        );
        let plain = format!("[profile lab]\nrole_arn = {role}\nsource_profile = base\n");
        assert_eq!(holder(&plain, "lab"), None);
    }

    fn files(config: &str, credentials: &str) -> (ProfileFile, ProfileFile) {
        (
            ProfileFile::parse(Kind::Config, config),
            ProfileFile::parse(Kind::Credentials, credentials),
        )
    }

    #[test]
    fn a_profile_is_read_from_both_files_the_credentials_file_winning() {
        let (config, credentials) = files(
            "[profile lab]\nmfa_serial = arn:aws:iam::111122223333:mfa/alice\nregion = eu-west-1\n\
             [profile admin]\nrole_arn = arn:aws:iam::1:role/Admin\nsource_profile = lab\n\
             mfa_serial = arn:aws:iam::1:mfa/a\nduration_seconds = 7200\n",
            "[lab]\naws_access_key_id = AKIA\naws_secret_access_key = s\nregion = us-east-1\n",
        );
        let lab = MfaProfile::of("lab", &config, &credentials);
        assert!(lab.defined);
        assert!(!lab.is_role());
        assert_eq!(
            lab.mfa_serial.as_deref(),
            Some("arn:aws:iam::111122223333:mfa/alice")
        );
        assert_eq!(lab.region.as_deref(), Some("us-east-1"));
        assert_eq!(lab.session_profile(), "lab-mfa");
        let admin = MfaProfile::of("admin", &config, &credentials);
        assert!(admin.is_role());
        assert_eq!(admin.source_profile.as_deref(), Some("lab"));
        assert_eq!(admin.duration_seconds, Some(7200));
        assert!(!MfaProfile::of("none", &config, &credentials).defined);
        assert_eq!(session_profile_of("default"), "mfa");
    }

    fn session(base: &str, expires: SystemTime) -> Session {
        Session {
            profile: session_profile_of(base),
            base: base.to_string(),
            expires,
            access_key_id: "ASIAEXAMPLE".to_string(),
            secret_access_key: "secret".to_string(),
            session_token: "token".to_string(),
            region: Some("us-east-1".to_string()),
        }
    }

    #[test]
    fn a_kept_session_is_found_again_by_its_comment() {
        let expires = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let mut credentials =
            ProfileFile::parse(Kind::Credentials, "[lab]\naws_access_key_id = A\n");
        credentials.set_profile("lab-mfa", &session("lab", expires).section());
        let found = kept(&credentials, "lab-mfa").expect("kept");
        assert_eq!(found.base, "lab");
        assert_eq!(found.expires, expires);
        assert_eq!(found.session_token, "token");
        assert_eq!(found.region.as_deref(), Some("us-east-1"));
        assert!(credentials.text().contains(
            "[lab-mfa]\n# written by provision session from profile lab, expires 2030-03-17T17:46:40Z\n"
        ));
        assert!(
            kept(&credentials, "lab").is_none(),
            "not provision's session"
        );
    }

    #[test]
    fn freshness_leaves_a_margin_before_expiry() {
        assert!(session("lab", SystemTime::now() + Duration::from_secs(3600)).is_fresh());
        assert!(!session("lab", SystemTime::now() + Duration::from_secs(60)).is_fresh());
        assert!(!session("lab", SystemTime::now() - Duration::from_secs(60)).is_fresh());
    }

    #[test]
    fn codes_and_serials_are_checked_before_any_request() {
        assert_eq!(check_code(" 123456\n").unwrap(), "123456");
        for bad in ["12345", "1234567", "12345a", ""] {
            assert!(check_code(bad).is_err(), "{bad}");
        }
        assert!(check_serial("arn:aws:iam::111122223333:mfa/alice").is_ok());
        assert!(check_serial("GAHT12345678").is_ok());
        assert!(check_serial("short").is_err());
        assert!(check_serial("arn:aws:iam::1:mfa/a b").is_err());
    }

    #[test]
    fn durations_are_held_to_sts_limits() {
        let user = MfaProfile::default();
        assert_eq!(
            duration_for(&user, None).unwrap(),
            Duration::from_secs(3600)
        );
        assert!(duration_for(&user, Some(Duration::from_secs(36 * 3600))).is_ok());
        assert!(duration_for(&user, Some(Duration::from_secs(37 * 3600))).is_err());
        assert!(duration_for(&user, Some(Duration::from_secs(600))).is_err());
        let role = MfaProfile {
            role_arn: Some("arn:aws:iam::1:role/R".to_string()),
            duration_seconds: Some(7200),
            ..MfaProfile::default()
        };
        assert_eq!(
            duration_for(&role, None).unwrap(),
            Duration::from_secs(7200)
        );
        assert!(duration_for(&role, Some(Duration::from_secs(13 * 3600))).is_err());
    }

    #[test]
    fn only_sessions_are_overwritten_never_long_term_keys() {
        let path = std::path::Path::new("credentials");
        let (_, credentials) = files(
            "",
            "[lab]\naws_access_key_id = AKIA\naws_secret_access_key = s\n\
             [handmade]\naws_access_key_id = ASIA\naws_secret_access_key = s\naws_session_token = t\n\
             [keys]\naws_access_key_id = AKIA2\naws_secret_access_key = s\n",
        );
        assert!(check_writable(&credentials, path, "lab-mfa", "lab").is_ok());
        assert!(check_writable(&credentials, path, "handmade", "lab").is_ok());
        let keys = check_writable(&credentials, path, "keys", "lab").unwrap_err();
        assert!(keys.to_string().contains("long-term keys"), "{keys}");
        let same = check_writable(&credentials, path, "lab", "lab").unwrap_err();
        assert!(same.to_string().contains("--into"), "{same}");
        let managed = ProfileFile::parse(
            Kind::Credentials,
            &format!(
                "{}\n[default]\n",
                crate::connection::profiles::CLOUD9_MANAGED_HEADER
            ),
        );
        let refused = check_writable(&managed, path, "mfa", "default").unwrap_err();
        assert!(refused.to_string().contains("Cloud9"), "{refused}");
        assert!(refused.to_string().contains("--print-env"), "{refused}");
    }

    #[test]
    fn the_environment_lines_unset_the_profile_that_would_win() {
        let lines = session("lab", SystemTime::now()).env_lines();
        assert_eq!(lines[0], "export AWS_ACCESS_KEY_ID='ASIAEXAMPLE'");
        assert!(lines.contains(&"export AWS_SESSION_TOKEN='token'".to_string()));
        assert!(lines.contains(&"unset AWS_PROFILE".to_string()));
    }
}
