//! What moto cannot produce, with aws-smithy-mocks: IAM propagation delays seen by EC2, throttling,
//! access denied with an encoded authorization message. Time is paused, so waits cost nothing.

use std::time::Duration;

use aws_sdk_ec2::operation::associate_iam_instance_profile::{
    AssociateIamInstanceProfileError, AssociateIamInstanceProfileOutput,
};
use aws_sdk_ec2::types::IamInstanceProfileAssociation;
use aws_sdk_iam::operation::create_role::CreateRoleError;
use aws_sdk_sts::operation::decode_authorization_message::{
    DecodeAuthorizationMessageError, DecodeAuthorizationMessageOutput,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use provision::aws::{Identity, MAX_ATTEMPTS, explain_access_denied, retry_config};
use provision::error::ExitStatus;
use provision::plan::Operation;
use provision::resources::association::{self, PropagationPolicy};

fn associate() -> Operation {
    Operation::AssociateInstanceProfile {
        instance_id: "i-0123456789abcdef0".into(),
        profile_name: "dragons-lab-ec2-role".into(),
    }
}

fn invalid_profile_name() -> AssociateIamInstanceProfileError {
    AssociateIamInstanceProfileError::generic(
        ErrorMetadata::builder()
            .code("InvalidParameterValue")
            .message("Value (dragons-lab-ec2-role) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")
            .build(),
    )
}

fn no_such_entity() -> AssociateIamInstanceProfileError {
    AssociateIamInstanceProfileError::generic(
        ErrorMetadata::builder()
            .code("NoSuchEntity")
            .message("Instance profile dragons-lab-ec2-role not found")
            .build(),
    )
}

fn associated() -> AssociateIamInstanceProfileOutput {
    AssociateIamInstanceProfileOutput::builder()
        .iam_instance_profile_association(
            IamInstanceProfileAssociation::builder()
                .association_id("iip-assoc-0123")
                .build(),
        )
        .build()
}

#[tokio::test(start_paused = true)]
async fn the_association_is_retried_through_propagation_errors_and_then_succeeds() {
    let rule = mock!(aws_sdk_ec2::Client::associate_iam_instance_profile)
        .sequence()
        .error(invalid_profile_name)
        .times(2)
        .error(no_such_entity)
        .error(invalid_profile_name)
        .output(associated)
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule]);
    let mut waits = Vec::new();
    let id = association::execute(
        &ec2,
        &associate(),
        PropagationPolicy::with_timeout(Duration::from_secs(120)),
        |attempt, wait| waits.push((attempt, wait)),
    )
    .await
    .expect("succeeds once EC2 sees the profile");
    assert_eq!(id, "iip-assoc-0123");
    assert_eq!(rule.num_calls(), 5);
    let seconds: Vec<u64> = waits.iter().map(|(_, w)| w.as_secs()).collect();
    assert_eq!(seconds, vec![1, 2, 4, 8], "exponential backoff, capped");
}

#[tokio::test(start_paused = true)]
async fn the_association_gives_up_after_the_bound_with_a_clear_message() {
    let rule = mock!(aws_sdk_ec2::Client::associate_iam_instance_profile)
        .sequence()
        .error(invalid_profile_name)
        .repeatedly()
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule]);
    let started = tokio::time::Instant::now();
    let error = association::execute(
        &ec2,
        &associate(),
        PropagationPolicy::with_timeout(Duration::from_secs(20)),
        |_, _| {},
    )
    .await
    .expect_err("gives up");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(20) && waited < Duration::from_secs(21),
        "{waited:?}"
    );
    assert_eq!(error.status(), ExitStatus::Failure);
    assert!(
        error
            .message()
            .contains("still does not see instance profile dragons-lab-ec2-role after 20s"),
        "{error}"
    );
    assert!(
        error.causes()[0].contains("Invalid IAM Instance Profile name"),
        "{error}"
    );
    assert!(
        error.hints()[0].contains("--propagation-timeout"),
        "{error}"
    );
    // 1 + 2 + 4 + 8 + the 5 s left = 20 s: six attempts, the last at the bound.
    assert_eq!(rule.num_calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn other_errors_are_not_retried_as_propagation() {
    let rule = mock!(aws_sdk_ec2::Client::associate_iam_instance_profile).then_error(|| {
        AssociateIamInstanceProfileError::generic(
            ErrorMetadata::builder()
                .code("IncorrectState")
                .message("There is an existing association for instance i-0123456789abcdef0")
                .build(),
        )
    });
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule]);
    let error = association::execute(
        &ec2,
        &associate(),
        PropagationPolicy::with_timeout(Duration::from_secs(120)),
        |_, _| panic!("must not wait"),
    )
    .await
    .expect_err("fails at once");
    assert_eq!(rule.num_calls(), 1);
    assert!(error.causes()[0].starts_with("IncorrectState"), "{error}");
}

const THROTTLING: &str = "<Response><Errors><Error><Code>RequestLimitExceeded</Code>\
    <Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>";

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_by_the_sdk() {
    let rule = mock!(aws_sdk_ec2::Client::associate_iam_instance_profile)
        .sequence()
        .http_status(503, Some(THROTTLING.to_string()))
        .times(3)
        .output(associated)
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule], |config| config
        .retry_config(retry_config()));
    let id = association::execute(
        &ec2,
        &associate(),
        PropagationPolicy::with_timeout(Duration::from_secs(120)),
        |_, _| panic!("throttling is the SDK's to retry, not a propagation wait"),
    )
    .await
    .expect("succeeds after throttling");
    assert_eq!(id, "iip-assoc-0123");
    assert_eq!(rule.num_calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn throttling_that_persists_fails_after_the_configured_attempts() {
    let rule = mock!(aws_sdk_ec2::Client::associate_iam_instance_profile)
        .sequence()
        .http_status(503, Some(THROTTLING.to_string()))
        .repeatedly()
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule], |config| config
        .retry_config(retry_config()));
    let error = association::execute(
        &ec2,
        &associate(),
        PropagationPolicy::with_timeout(Duration::from_secs(120)),
        |_, _| {},
    )
    .await
    .expect_err("gives up");
    assert_eq!(rule.num_calls(), MAX_ATTEMPTS as usize);
    assert!(
        error.causes()[0].starts_with("RequestLimitExceeded"),
        "{error}"
    );
}

async fn denied_with_encoded_message() -> provision::error::Error {
    let rule = mock!(aws_sdk_iam::Client::create_role).then_error(|| {
        CreateRoleError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("User is not authorized to perform: iam:CreateRole. Encoded authorization failure message: ENCODED123")
                .build(),
        )
    });
    let iam = mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule]);
    provision::resources::iam_role::execute(
        &iam,
        &Operation::CreateRole {
            name: "r".into(),
            path: "/provision/".into(),
            trust_policy: "{}".into(),
            tags: vec![],
        },
    )
    .await
    .expect_err("denied")
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
async fn access_denied_names_the_action_the_identity_and_the_decoded_reason() {
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

#[tokio::test]
async fn an_undecodable_message_comes_with_the_command_that_decodes_it() {
    let error = denied_with_encoded_message().await;
    let decode = mock!(aws_sdk_sts::Client::decode_authorization_message).then_error(|| {
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
    let error = provision::error::aws_error(
        "sts:GetCallerIdentity",
        sts.get_caller_identity().send().await.expect_err("expired"),
    );
    assert_eq!(error.message(), "the AWS session has expired");
    assert!(error.causes()[0].contains("ExpiredToken"), "{error}");
    assert!(error.hints()[0].contains("aws sso login"), "{error}");
}
