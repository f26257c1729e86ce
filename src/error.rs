//! Errors a person can act on: a message, the chain of causes, a hint naming the command or flag
//! that fixes it, and the exit code (2 for usage or invalid input, 1 for a failed operation).
//!
//! AWS service errors are classified here with the SDK's own metadata (`ProvideErrorMetadata::code`)
//! — never by matching Display text — into the kinds the course's users meet: missing or expired
//! credentials, access denied, an endpoint that cannot be reached.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::requests;

/// The process exit codes `provision` promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    Success = 0,
    Failure = 1,
    Usage = 2,
    /// Ended by SIGINT (128 + 2).
    Interrupted = 130,
    /// Ended by SIGTERM (128 + 15).
    Terminated = 143,
}

/// Details of an access-denied answer, completed with the caller's identity when rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccessDenied {
    /// The action that was refused, as IAM names it (`iam:CreateRole`).
    pub(crate) action: String,
    /// EC2's "Encoded authorization failure message", decodable with sts:DecodeAuthorizationMessage.
    pub(crate) encoded_message: Option<String>,
    /// Which kind of policy refused, where AWS's message says.
    pub(crate) policy: DenyingPolicy,
}

/// The kind of policy an access-denied message names ("Access denied error messages", IAM User
/// Guide: "… with an explicit deny in a service control policy", "… in a permissions boundary",
/// "… because no identity-based policy allows the … action").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DenyingPolicy {
    /// The caller's own policies (or unsaid): another identity may do it.
    Identity,
    /// An Organizations SCP: nobody in the account may.
    ServiceControlPolicy,
    /// A permissions boundary on the caller.
    PermissionsBoundary,
}

impl DenyingPolicy {
    pub(crate) fn of(message: &str) -> Self {
        let lower = message.to_ascii_lowercase();
        if lower.contains("service control polic") {
            Self::ServiceControlPolicy
        } else if lower.contains("permissions boundary") {
            Self::PermissionsBoundary
        } else {
            Self::Identity
        }
    }
}

/// Boxed so that `Result<T, Error>` stays small on the happy path.
#[derive(Debug, Clone)]
pub(crate) struct Error(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    status: ExitStatus,
    message: String,
    causes: Vec<String>,
    hints: Vec<String>,
    access_denied: Option<AccessDenied>,
    /// A refusal to change one of provision's resources that another owner holds: the holder.
    held_by: Option<String>,
    /// The command already put this error in its JSON document.
    in_report: bool,
    /// An operation stopped part-way because the run is stopping ([`Error::halted`]).
    halted: bool,
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Invalid input or usage: exit code 2. Raised before any AWS call wherever possible.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitStatus::Usage, message)
    }

    /// An operation that failed: exit code 1.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::new(ExitStatus::Failure, message)
    }

    fn new(status: ExitStatus, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            status,
            message: message.into(),
            causes: Vec::new(),
            hints: Vec::new(),
            access_denied: None,
            held_by: None,
            in_report: false,
            halted: false,
        }))
    }

    /// A run a signal stopped: exit 130 for SIGINT, 143 for SIGTERM.
    pub(crate) fn interrupted(status: ExitStatus, message: impl Into<String>) -> Self {
        Self::new(status, message)
    }

    /// An operation of many requests that stopped part-way because the run is stopping (see
    /// `apply::Report::halted`): the executor reports its change as interrupted.
    pub(crate) fn halted(message: impl Into<String>) -> Self {
        let mut error = Self::new(ExitStatus::Failure, message);
        error.0.halted = true;
        error
    }

    pub(crate) fn is_halted(&self) -> bool {
        self.0.halted
    }

    /// Marks the error as already part of the command's JSON document, so that it is not printed
    /// as a second one.
    pub(crate) fn in_report(mut self) -> Self {
        self.0.in_report = true;
        self
    }

    pub(crate) fn is_in_report(&self) -> bool {
        self.0.in_report
    }

    /// Marks the error as a refusal to change a resource `holder` holds (see `ownership`).
    pub(crate) fn held_by(mut self, holder: impl Into<String>) -> Self {
        self.0.held_by = Some(holder.into());
        self
    }

    /// The holder, when the error refuses another owner's resource.
    pub(crate) fn holder(&self) -> Option<&str> {
        self.0.held_by.as_deref()
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hints.push(hint.into());
        self
    }

    pub(crate) fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.0.causes.push(cause.into());
        self
    }

    pub(crate) fn status(&self) -> ExitStatus {
        self.0.status
    }

    pub(crate) fn message(&self) -> &str {
        &self.0.message
    }

    /// The same error with other hints than the generic ones (a caller that knows more).
    pub(crate) fn replacing_hints(mut self, hints: Vec<String>) -> Self {
        self.0.hints = hints;
        self
    }

    pub(crate) fn hints(&self) -> &[String] {
        &self.0.hints
    }

    pub(crate) fn causes(&self) -> &[String] {
        &self.0.causes
    }

    /// The error says the session's temporary credentials expired ([`expired_credentials`]).
    pub(crate) fn is_expired_session(&self) -> bool {
        self.0.message == EXPIRED_SESSION
    }

    pub(crate) fn access_denied(&self) -> Option<&AccessDenied> {
        self.0.access_denied.as_ref()
    }
}

/// An error in a JSON document.
#[derive(Debug, serde::Serialize)]
pub(crate) struct ErrorBody<'a> {
    pub(crate) message: &'a str,
    pub(crate) causes: &'a [String],
    pub(crate) hints: &'a [String],
    pub(crate) exit_code: i32,
}

impl<'a> From<&'a Error> for ErrorBody<'a> {
    fn from(error: &'a Error) -> Self {
        Self {
            message: error.message(),
            causes: error.causes(),
            hints: error.hints(),
            exit_code: error.status() as i32,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.0.message)?;
        for cause in &self.0.causes {
            write!(f, "\n  Caused by: {cause}")?;
        }
        if !self.0.hints.is_empty() {
            writeln!(f)?;
            for hint in &self.0.hints {
                write!(f, "\nhint: {hint}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Error codes that mean "the credentials were refused for this action".
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
];

/// Error codes that mean "the session has expired".
const EXPIRED_CODES: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "TokenRefreshRequired",
];

/// Error codes that mean "these keys are not valid at all".
const INVALID_CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "InvalidToken",
];

/// The service error code of an SDK error, if the service answered with one.
pub(crate) fn service_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

/// Error codes with which AWS says "slow down" (retried by the SDK, then reported as failing).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "RequestThrottled",
    "PriorRequestNotComplete",
];

/// The hint for a failure on AWS's side: nothing the user did, and nothing lost.
const AWS_FAILING_HINT: &str = "AWS is failing or throttling; re-run the same command later — \
                                nothing is lost: it picks up where this run stopped";

/// Converts an SDK error from `action` (IAM-style name, e.g. `iam:CreateRole`) into an [`Error`]
/// with the right kind and hint.
pub(crate) fn aws_error<E>(action: &str, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let endpoint = requests::endpoint_of(action);
    let attempts = || {
        requests::attempts_of(action)
            .filter(|&n| n > 1)
            .map(|n| format!("the request was sent {n} times (the SDK retried it)"))
    };
    let with_attempts = |error: Error| match attempts() {
        Some(cause) => error.with_cause(cause),
        None => error,
    };
    match &err {
        SdkError::DispatchFailure(failure) => {
            let detail = failure
                .as_connector_error()
                .map(|c| error_chain(c))
                .unwrap_or_else(|| error_chain(&err));
            let refused = failure
                .as_connector_error()
                .is_some_and(|c| requests::is_refused(c));
            if refused {
                return Error::failed(format!("{action}: {endpoint} refused the connection"))
                    .with_cause(detail)
                    .with_hint(
                        "nothing listens there: check --endpoint-url / AWS_ENDPOINT_URL (is the \
                         local emulator running?), or the network",
                    );
            }
            if failure.is_timeout() {
                return with_attempts(Error::failed(format!(
                    "{action}: could not connect to {endpoint} within {}",
                    seconds(requests::CONNECT_TIMEOUT)
                )))
                .with_cause(detail)
                .with_hint("check the network, or --endpoint-url / AWS_ENDPOINT_URL");
            }
            if failure.is_io() {
                return with_attempts(Error::failed(format!(
                    "{action}: could not reach {endpoint}"
                )))
                .with_cause(detail)
                .with_hint(
                    "check the network, or --endpoint-url / AWS_ENDPOINT_URL if you point \
                     provision at a local emulator (is it running?)",
                );
            }
            Error::failed(format!("{action}: the request could not be sent")).with_cause(detail)
        }
        SdkError::TimeoutError(_) => with_attempts(Error::failed(format!(
            "{action}: no answer from {endpoint} within {}",
            seconds(requests::timeout())
        )))
        .with_hint(
            "the endpoint accepted the request but did not answer in time: check it (and \
             --endpoint-url), or allow longer with --timeout",
        ),
        SdkError::ResponseError(response) => {
            Error::failed(format!("{action}: the answer could not be read"))
                .with_cause(not_aws(&endpoint, response.raw()))
                .with_cause(error_chain(&err))
                .with_hint(
                    "check --endpoint-url / AWS_ENDPOINT_URL: it should be an AWS endpoint or an \
                     emulator of one",
                )
        }
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let raw = service.raw();
            let status = raw.status().as_u16();
            let Some(code) = inner.code() else {
                return Error::failed(format!("{action} failed"))
                    .with_cause(not_aws(&endpoint, raw))
                    .with_hint(
                        "check --endpoint-url / AWS_ENDPOINT_URL: it should be an AWS endpoint or \
                         an emulator of one",
                    );
            };
            let message = inner.message().unwrap_or("").to_string();
            if ACCESS_DENIED_CODES.contains(&code) {
                let encoded_message = encoded_authorization_message(&message);
                let mut error = Error::failed(format!("access denied: {action}"))
                    .with_cause(format!("{code}: {}", strip_encoded(&message)));
                error.0.access_denied = Some(AccessDenied {
                    action: action.to_string(),
                    encoded_message,
                    policy: DenyingPolicy::of(&message),
                });
                let hint = match DenyingPolicy::of(&message) {
                    DenyingPolicy::ServiceControlPolicy => format!(
                        "an AWS Organizations service control policy (SCP) denies {action} in this \
                         account, whatever your own permissions: no profile of this account can do \
                         it; ask the organization's administrator, or use an account the SCP does \
                         not cover"
                    ),
                    DenyingPolicy::PermissionsBoundary => format!(
                        "a permissions boundary on your identity denies {action}: ask an \
                         administrator to allow it in the boundary, or use another identity"
                    ),
                    DenyingPolicy::Identity => format!(
                        "the credentials in use may not call {action}: run with --profile NAME \
                         for an identity that may (`provision whoami` shows the current one)"
                    ),
                };
                error.with_hint(hint)
            } else if EXPIRED_CODES.contains(&code) {
                expired_credentials(format!("{code}: {message}"))
            } else if INVALID_CREDENTIAL_CODES.contains(&code) {
                Error::failed(format!("{action}: the AWS credentials were rejected"))
                    .with_cause(format!("{code}: {message}"))
                    .with_hint(
                        "the access key is unknown, deleted or mistyped: run `aws configure` \
                         (or `aws configure --profile NAME`), or check AWS_ACCESS_KEY_ID / \
                         AWS_SECRET_ACCESS_KEY; `provision whoami` shows where they come from",
                    )
            } else if status >= 500 || THROTTLING_CODES.contains(&code) {
                with_attempts(
                    Error::failed(format!("{action} failed: AWS answered HTTP {status}"))
                        .with_cause(format!("{code}: {message}")),
                )
                .with_hint(AWS_FAILING_HINT)
            } else {
                Error::failed(format!("{action} failed")).with_cause(format!("{code}: {message}"))
            }
        }
        _ => Error::failed(format!("{action} failed")).with_cause(error_chain(&err)),
    }
}

/// Describes an answer that is not an AWS error document.
fn not_aws(endpoint: &str, response: &HttpResponse) -> String {
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap_or("no content type");
    format!(
        "HTTP {} {content_type} from {endpoint} — is this an AWS endpoint?",
        response.status().as_u16()
    )
}

/// `30 s`, `1.5 s`.
pub(crate) fn seconds(duration: std::time::Duration) -> String {
    let value = duration.as_secs_f64();
    if value.fract() == 0.0 {
        format!("{value:.0} s")
    } else {
        format!("{value:.1} s")
    }
}

/// The outcome of a mutating request: `Ok` when it succeeded, or when AWS answered with an error that
/// `already_done` recognises as the desired state holding already — created meanwhile by a
/// concurrent run, or already deleted. Any other error is converted with [`aws_error`].
pub(crate) fn settled<T, E>(
    action: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
    already_done: impl Fn(&E) -> bool,
) -> Result<(), Error>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(already_done) => Ok(()),
        Err(e) => Err(aws_error(action, e)),
    }
}

/// The outcome of a mutating request for which no error means "done".
pub(crate) fn sent<T, E>(
    action: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> Result<(), Error>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    settled(action, result, |_| false)
}

const EXPIRED_SESSION: &str = "the AWS session has expired";

/// The error for a session whose temporary credentials have expired.
pub(crate) fn expired_credentials(cause: impl Into<String>) -> Error {
    Error::failed(EXPIRED_SESSION).with_cause(cause).with_hint(
        "refresh it: `provision session --profile BASE --force` for an MFA session made from \
             profile BASE, `aws sso login --profile NAME` for SSO, or new keys in \
             AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN",
    )
}

/// Renders an error and its `source()` chain on one line.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(next) = source {
        let part = next.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = next.source();
    }
    text
}

/// At most `max` characters of `text` (a screenful or so), marked where it was cut: a value
/// echoed in an error may be as long as the file it came from.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!(
            "{}… ({} more characters)",
            &text[..at],
            text[at..].chars().count()
        ),
    }
}

const ENCODED_MARKER: &str = "Encoded authorization failure message:";

fn encoded_authorization_message(message: &str) -> Option<String> {
    let start = message.find(ENCODED_MARKER)? + ENCODED_MARKER.len();
    let encoded = message[start..].trim();
    (!encoded.is_empty()).then(|| encoded.to_string())
}

fn strip_encoded(message: &str) -> &str {
    match message.find(ENCODED_MARKER) {
        Some(index) => message[..index].trim_end().trim_end_matches('.'),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_encoded_authorization_message() {
        let message = "You are not authorized to perform this operation. \
                       Encoded authorization failure message: AbC123-xyz";
        assert_eq!(
            encoded_authorization_message(message).as_deref(),
            Some("AbC123-xyz")
        );
        assert_eq!(
            strip_encoded(message),
            "You are not authorized to perform this operation"
        );
        assert_eq!(encoded_authorization_message("Access denied"), None);
    }

    #[test]
    fn long_text_is_cut_to_a_screenful() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("abcdef", 3), "abc… (3 more characters)");
    }

    #[test]
    fn renders_message_causes_and_hints() {
        let error = Error::usage("bad tag")
            .with_cause("no '='")
            .with_hint("use KEY=VALUE");
        assert_eq!(
            error.to_string(),
            "error: bad tag\n  Caused by: no '='\n\nhint: use KEY=VALUE"
        );
        assert_eq!(error.status(), ExitStatus::Usage);
    }
}
