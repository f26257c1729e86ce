//! Explaining an access denial: which identity was refused, the reason EC2 encodes in its
//! answer decoded with sts:DecodeAuthorizationMessage (or the command that decodes it), and the
//! regions a restricted account allows.

use std::time::Duration;

use crate::error::Error;
use crate::input::{self};

use crate::connection::clients::single_attempt;
use crate::connection::sources::Identity;

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

#[cfg(test)]
mod tests {
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
        use crate::error::aws_error;

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
