//! Bounds on every request a run sends: time limits, which failures are retried, and a record of
//! the attempts each failed operation made (for the failure report).
//!
//! - Time: a connect timeout, a per-attempt timeout and a whole-operation timeout (retries
//!   included) from `--timeout`, so a silent endpoint fails within the bound instead of hanging.
//! - Retries: the SDK's standard strategy (jittered backoff, throttling and 5xx retried), except that
//!   a refused connection is not retried — nothing listens there, and waiting 20 s of backoff to
//!   say so helps nobody.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    FinalizerInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::timeout::TimeoutConfig;

/// The default of `--timeout`: the longest one AWS operation may take, retries included.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long establishing a connection may take (the SDK's own default).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// The time limits of every client: the whole operation within `timeout`, each attempt within half
/// of it (so a lost attempt leaves time for one retry), connections within [`CONNECT_TIMEOUT`].
pub(crate) fn timeout_config(timeout: Duration) -> TimeoutConfig {
    let attempt = (timeout / 2).max(Duration::from_secs(1)).min(timeout);
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .operation_attempt_timeout(attempt)
        .operation_timeout(timeout)
        .build()
}

/// Where this run's requests go and how long each may take, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Bounds {
    /// `--endpoint-url`, or `None` for AWS's own endpoints.
    pub(crate) endpoint: Option<String>,
    pub(crate) timeout: Duration,
}

static BOUNDS: OnceLock<Bounds> = OnceLock::new();

/// Records the run's endpoint and timeout (once, when the configuration is loaded).
pub(crate) fn set_bounds(bounds: Bounds) {
    let _ = BOUNDS.set(bounds);
}

/// The endpoint a request of `action` (`ssm:PutParameter`) went to, as a person would name it.
pub(crate) fn endpoint_of(action: &str) -> String {
    match BOUNDS.get().and_then(|b| b.endpoint.clone()) {
        Some(url) => url,
        None => {
            let service = action.split(':').next().unwrap_or("aws");
            format!("the AWS {service} endpoint")
        }
    }
}

/// The run's `--timeout`.
pub(crate) fn timeout() -> Duration {
    BOUNDS.get().map_or(DEFAULT_TIMEOUT, |b| b.timeout)
}

/// Forbids retrying a request whose connection was refused.
#[derive(Debug, Default)]
pub(crate) struct NoRetryWhenRefused;

impl ClassifyRetry for NoRetryWhenRefused {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let refused = ctx
            .output_or_error()
            .and_then(Result::err)
            .and_then(|error| error.as_connector_error())
            .is_some_and(|connector| is_refused(connector));
        if refused {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "provision: no retry when the connection is refused"
    }
}

/// Whether an error, or any error it wraps, is an I/O "connection refused".
pub(crate) fn is_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = next {
        if error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        next = error.source();
    }
    false
}

/// Attempts made by the last failed execution of each operation, by operation name.
static FAILED_ATTEMPTS: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();

fn failed_attempts() -> &'static Mutex<HashMap<String, u32>> {
    FAILED_ATTEMPTS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// How many attempts the last failed `action` (`ssm:PutParameter`) made, if one failed.
pub(crate) fn attempts_of(action: &str) -> Option<u32> {
    let operation = action.rsplit(':').next().unwrap_or(action);
    failed_attempts()
        .lock()
        .ok()
        .and_then(|map| map.get(operation).copied())
}

/// Records that `operation` (`CreateRestApi`) failed after `attempts` sends made by provision
/// itself, one SDK attempt each (a create that must not be retried blindly).
pub(crate) fn record_attempts(operation: &str, attempts: u32) {
    if let Ok(mut map) = failed_attempts().lock() {
        map.insert(operation.to_string(), attempts);
    }
}

/// Records the attempts of every operation that fails, after the SDK has given up retrying.
#[derive(Debug, Default)]
pub(crate) struct AttemptRecorder;

impl Intercept for AttemptRecorder {
    fn name(&self) -> &'static str {
        "provision: attempts of failed operations"
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let failed = context.output_or_error().is_some_and(|o| o.is_err());
        if let (true, Some(metadata)) = (failed, cfg.load::<Metadata>()) {
            let attempts = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
            if let Ok(mut map) = failed_attempts().lock() {
                map.insert(metadata.name().to_string(), attempts);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_fit_within_the_operation_timeout() {
        let config = timeout_config(Duration::from_secs(30));
        assert_eq!(config.operation_timeout(), Some(Duration::from_secs(30)));
        assert_eq!(
            config.operation_attempt_timeout(),
            Some(Duration::from_secs(15))
        );
        assert_eq!(config.connect_timeout(), Some(CONNECT_TIMEOUT));
        let short = timeout_config(Duration::from_secs(1));
        assert_eq!(
            short.operation_attempt_timeout(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(short.connect_timeout(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn refused_connections_are_recognised_through_wrappers() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "connect failed")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = Wrapper(std::io::ErrorKind::ConnectionRefused.into());
        assert!(is_refused(&refused));
        let reset = Wrapper(std::io::ErrorKind::ConnectionReset.into());
        assert!(!is_refused(&reset));
    }
}
