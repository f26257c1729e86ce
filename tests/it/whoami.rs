//! `provision whoami`: identity and the credential source (the Cloud9 case is in `fidelity`).

use crate::harness::Session;

#[test]
fn whoami_names_the_account_region_endpoint_and_environment_source() {
    let session = Session::in_region("whoami_env", "ca-central-1");
    let output = session.provision().run(&["whoami"]);
    output.success();
    assert!(
        output.stdout.contains("account      123456789012"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("region       ca-central-1"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains(&format!("endpoint     {}", session.endpoint)),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("credentials  environment variables"),
        "{}",
        output.stdout
    );

    let json = session.provision().run(&["--output", "json", "whoami"]);
    json.success();
    let document = json.json();
    assert_eq!(document["account"], "123456789012");
    assert_eq!(document["credentials"]["kind"], "environment");
    // An IAM user (moto's default identity is one) owns by its ARN.
    assert_eq!(document["owner"], document["arn"]);
}

/// An assumed-role session owns by its own ARN when its name is a person's, and by the role's
/// when an SDK generated the name (it changes with every session).
#[tokio::test]
async fn the_owner_of_a_session_keeps_a_persons_name_and_drops_a_generated_one() {
    for (session_name, owner) in [
        (
            "alice@example.edu",
            "arn:aws:sts::123456789012:assumed-role/course-student/alice@example.edu",
        ),
        (
            "botocore-session-1700000000",
            "arn:aws:iam::123456789012:role/course-student",
        ),
    ] {
        let session = Session::in_region("whoami_owner", "us-east-1")
            .assuming(
                "arn:aws:iam::123456789012:role/course-student",
                session_name,
            )
            .await;
        let document = session
            .provision()
            .run(&["--output", "json", "whoami"])
            .success()
            .json();
        assert_eq!(document["owner"], owner, "{session_name}: {document}");
    }
}

#[test]
fn whoami_recognises_a_profile_from_the_credentials_file() {
    let session = Session::new("whoami_profile");
    let credentials = format!(
        "[course]\naws_access_key_id = {}\naws_secret_access_key = dummy-secret\n",
        session.access_key
    );
    let path = session.write_file("credentials-course", &credentials);
    let output = session
        .provision()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_SHARED_CREDENTIALS_FILE", &path)
        .run(&["whoami", "--profile", "course"]);
    output.success();
    assert!(
        output.stdout.contains("credentials  profile course"),
        "{}",
        output.stdout
    );
}

#[test]
fn an_expired_session_is_named_with_how_to_refresh_it() {
    let session = Session::new("expired_session");
    // credential_process hands out temporary credentials that expired long ago.
    let config = "[profile course]\ncredential_process = printf '{\"Version\":1,\"AccessKeyId\":\"ASIAEXPIRED\",\"SecretAccessKey\":\"s\",\"SessionToken\":\"t\",\"Expiration\":\"2020-01-01T00:00:00Z\"}'\n";
    let path = session.write_file("config-expired", config);
    let (output, requests) = session.requests_during(|| {
        session
            .provision()
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", &path)
            .run(&["whoami", "--profile", "course"])
    });
    output.assert_code(1);
    assert!(
        output.stderr.contains("error: the AWS session has expired"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("aws sso login"), "{}", output.stderr);
    assert!(requests.is_empty(), "{requests:?}");
}
