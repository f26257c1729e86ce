//! The service clients a run's requests go through: every one built from the run's configuration
//! with its request bounds (retries, no retry of a refused connection, attempts recorded), and S3
//! sent to the region each request names (the bucket's, as observed), following S3's redirect
//! where the bucket turns out to be elsewhere.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;

use crate::requests;

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

/// One attempt only: for optional reads (a probe whose failure means "not known"), where the
/// SDK's retries would only delay the run, and for the creates AWS does not make idempotent,
/// which `lifecycle::create_once` sends once per attempt and looks for after a failure.
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
pub(crate) use bounded_client;

/// The service clients a run's requests go through.
#[derive(Clone)]
pub(crate) struct Clients {
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) ec2: aws_sdk_ec2::Client,
    /// S3 in the run's region; a bucket elsewhere is reached with [`Clients::s3_in`].
    pub(crate) s3: aws_sdk_s3::Client,
    /// SSM in the lab application's region (`--app-region`), where its parameters live.
    pub(crate) ssm: aws_sdk_ssm::Client,
    /// SSM in the run's region, where the instances' agents register.
    pub(crate) instance_ssm: aws_sdk_ssm::Client,
    /// CloudTrail in the run's region: its event history says who created what (see
    /// `plans::creators`); another region's with [`Clients::cloudtrail_in`].
    pub(crate) cloudtrail: aws_sdk_cloudtrail::Client,
    /// Lambda in the run's region (`dragons-api`'s function).
    pub(crate) lambda: aws_sdk_lambda::Client,
    /// API Gateway in the run's region (`dragons-api`'s REST API).
    pub(crate) apigateway: aws_sdk_apigateway::Client,
    /// Cognito user pools in the run's region (`dragons-api --auth`).
    pub(crate) cognito: aws_sdk_cognitoidentityprovider::Client,
    /// The buckets this run created, and when: S3 may not know them everywhere yet. (Where a
    /// bucket is belongs to what was observed, and each request names it.)
    created: Arc<Mutex<BTreeMap<String, Instant>>>,
}

/// How long after creating a bucket its requests may still meet `NoSuchBucket` or
/// `OperationAborted`: S3 bucket creation is eventually consistent ("Amazon S3 data consistency
/// model"), and configuration requests sent at once can find the bucket not there yet.
pub(crate) const BUCKET_SETTLING: Duration = Duration::from_secs(20);

/// The region a request for a bucket names when the bucket's region is not known: the run's
/// (S3's redirect is followed where the bucket is elsewhere, see [`Clients::on_bucket`]).
pub(crate) const RUN_REGION: &str = "";

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
    /// The clients of a run, from its one configuration: S3 path-style (`path_style`, for a
    /// custom endpoint such as a local emulator; virtual-hosted against AWS), SSM of the lab
    /// application in `app_region`.
    pub(crate) fn new(config: &SdkConfig, path_style: bool, app_region: &str) -> Self {
        Self {
            iam: bounded_client!(aws_sdk_iam, config),
            ec2: bounded_client!(aws_sdk_ec2, config),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(path_style)
                    .retry_classifier(requests::NoRetryWhenRefused)
                    .interceptor(requests::AttemptRecorder)
                    .build(),
            ),
            ssm: bounded_client!(
                aws_sdk_ssm,
                &config
                    .to_builder()
                    .region(Region::new(app_region.to_string()))
                    .build()
            ),
            instance_ssm: bounded_client!(aws_sdk_ssm, config),
            cloudtrail: bounded_client!(aws_sdk_cloudtrail, config),
            lambda: bounded_client!(aws_sdk_lambda, config),
            apigateway: bounded_client!(aws_sdk_apigateway, config),
            cognito: bounded_client!(aws_sdk_cognitoidentityprovider, config),
            created: Arc::default(),
        }
    }

    /// Records that this run created `bucket` just now.
    pub(crate) fn created(&self, bucket: &str) {
        if let Ok(mut created) = self.created.lock() {
            created.insert(bucket.to_string(), Instant::now());
        }
    }

    fn settling(&self, bucket: &str) -> bool {
        self.created.lock().ok().is_some_and(|c| {
            c.get(bucket)
                .is_some_and(|created| created.elapsed() < BUCKET_SETTLING)
        })
    }

    /// Sends one S3 request for `bucket` the way boto3 does and AWS expects: to `region` (the
    /// bucket's, as observed; [`RUN_REGION`] where it is not known), following S3's redirect once when the bucket
    /// turns out to be elsewhere (nothing is remembered: what a request learns of where a bucket
    /// is, it reports in its answer, `x-amz-bucket-region`); and, for a
    /// bucket this run just created, again (with backoff, within [`BUCKET_SETTLING`]) while S3
    /// still answers `NoSuchBucket` or `OperationAborted`.
    pub(crate) async fn on_bucket<T, E, F, Fut>(
        &self,
        bucket: &str,
        region: &str,
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
        let mut region = region.to_string();
        let mut redirected = false;
        loop {
            let answer = send(self.s3_in(&region)).await;
            let Err(error) = &answer else {
                return answer;
            };
            if !redirected && let Some(elsewhere) = redirect_region(error) {
                redirected = true;
                region = elsewhere;
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
