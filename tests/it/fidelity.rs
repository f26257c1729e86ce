//! What a real account does and moto does not, through the stricter test bed (`proxy::Emulation`):
//! each test here failed on the code before the behaviour was handled. Tests that use the lab's
//! default app region (us-east-1) work in an account of their own, so that their parameters are
//! theirs alone.

use std::time::Duration;

use crate::harness::{Session, moto};
use crate::proxy::{Denial, Emulation, Fault, Proxy};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Item 1 and the proof that the lab works: `dragons-lab --region ca-central-1` (the slides'
/// region) puts the parameters in us-east-1, where the course's app.py reads them, and the app's
/// own read — boto3 in us-east-1, S3 Select, following S3's redirect to ca-central-1 — lists the
/// 25 dragons. `instance-profile --region ca-central-1` allows the parameters in us-east-1.
#[tokio::test]
async fn the_lab_application_reads_a_lab_made_in_ca_central_1() {
    let session = Session::in_account("fidelity-app-region", "ca-central-1", "310000000001").await;
    let bucket = "dragons-lab-310000000001-ca-central-1";
    let lab = session
        .provision()
        .env_remove("PROVISION_APP_REGION")
        .run(&["dragons-lab", "--data", &data_without_apostrophes(&session)]);
    lab.success();
    assert!(
        lab.stdout
            .contains("Plan for account 310000000001 in ca-central-1 (the lab application's region: us-east-1)"),
        "{}",
        lab.stdout
    );
    assert!(
        lab.stdout
            .contains("in us-east-1, where the lab application reads it"),
        "{}",
        lab.stdout
    );
    assert_eq!(
        session
            .parameter_in("us-east-1", "dragon_data_bucket_name")
            .await,
        Some(bucket.to_string())
    );
    assert_eq!(
        session
            .parameter_in("us-east-1", "dragon_data_file_name")
            .await,
        Some("dragons.json".to_string())
    );
    assert_eq!(
        session
            .parameter_in("ca-central-1", "dragon_data_bucket_name")
            .await,
        None,
        "nothing in the bucket's region, where the app never looks"
    );

    // The course's app.py, as written: S3 Select over the document, and GetObject.
    for args in [&[][..], &["--get-object"][..]] {
        let read = session.lab_app(args);
        assert_eq!(read.code, 0, "{}", read.stderr);
        let report: serde_json::Value = serde_json::from_str(&read.stdout).expect("JSON");
        assert_eq!(report["bucket"], bucket);
        assert_eq!(
            report["names"].as_array().map(Vec::len),
            Some(25),
            "{report}"
        );
    }

    // `provision dragons` and `status` look where the app does.
    session
        .provision()
        .env_remove("PROVISION_APP_REGION")
        .run(&["dragons", "--s3-select"])
        .success();

    // The instance's policy allows the parameters where they are.
    session.launch_instance(&[("Name", "ide-app-region")]).await;
    session
        .provision()
        .env_remove("PROVISION_APP_REGION")
        .run(&["instance-profile", "--instance-tag", "Name=ide-app-region"])
        .success();
    let inline = session
        .iam()
        .get_role_policy()
        .role_name("dragons-lab-ec2-role")
        .policy_name("provision-policy")
        .send()
        .await
        .expect("inline policy");
    let text = crate::harness::policy_document(inline.policy_document()).to_string();
    assert!(
        text.contains("arn:aws:ssm:us-east-1:310000000001:parameter/dragon_data_bucket_name"),
        "{text}"
    );
    assert!(!text.contains("ssm:ca-central-1"), "{text}");

    // Teardown finds the parameters in us-east-1 too.
    session
        .provision()
        .env_remove("PROVISION_APP_REGION")
        .run(&["teardown", "--yes"])
        .success();
    assert_eq!(
        session
            .parameter_in("us-east-1", "dragon_data_bucket_name")
            .await,
        None
    );
}

/// moto's S3 Select parser mangles a record holding an apostrophe, which real S3 Select reads.
fn data_without_apostrophes(session: &Session) -> String {
    let path = session.write_file(
        "dragons.json",
        &include_str!("../../data/dragons.json").replace('\'', ""),
    );
    path.display().to_string()
}

/// Item 2: a new bucket has ACLs disabled, and the data upload ran concurrently with the ownership
/// change, carrying `x-amz-acl: private`. Here the ownership change is slow; the data still lands
/// (no ACL header, and after the setting).
#[test]
fn the_data_upload_is_accepted_by_a_bucket_with_acls_disabled() {
    let rt = runtime();
    let proxy = Proxy::start(&moto().endpoint);
    let session = Session::in_region("fidelity-acls", "eu-north-1").through(&proxy);
    // The test bed refuses what AWS refuses: an ACL on a bucket whose ACLs are disabled.
    let probe = "fidelity-acl-probe";
    rt.block_on(async {
        let s3 = session.s3();
        s3.create_bucket()
            .bucket(probe)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint("eu-north-1".into())
                    .build(),
            )
            .send()
            .await
            .expect("bucket");
        let refused = s3
            .put_object()
            .bucket(probe)
            .key("k")
            .acl(aws_sdk_s3::types::ObjectCannedAcl::Private)
            .body(b"x".to_vec().into())
            .send()
            .await
            .expect_err("ACLs are disabled");
        assert_eq!(
            refused.as_service_error().and_then(|e| e.meta().code()),
            Some("AccessControlListNotSupported")
        );
    });

    proxy.inject("PutBucketOwnershipControls", Fault::Delay(1500), 1);
    let run = session.provision().run(&["dragons-lab"]);
    run.success();
    let refused: Vec<_> = proxy
        .emulated()
        .into_iter()
        .filter(|(operation, _)| operation == "PutObject")
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "only the probe's upload was refused: {refused:?}"
    );
    let operations = proxy.operations();
    let ownership = operations
        .iter()
        .position(|o| o == "PutBucketOwnershipControls")
        .expect("ownership set");
    let upload = operations
        .iter()
        .rposition(|o| o == "PutObject")
        .expect("data uploaded");
    assert!(
        ownership < upload,
        "the data waits for the ownership setting: {operations:?}"
    );
}

/// Item 3: a `--bucket` in another region gets provision's own message, not S3's raw redirect;
/// `dragons`, `status` and `teardown` follow the bucket to its region, as boto3 does.
#[tokio::test]
async fn a_bucket_in_another_region_is_followed_there() {
    let session = Session::in_region("fidelity-redirect", "us-west-1");
    let made = session
        .provision()
        .run(&["dragons-lab", "--bucket", "fidelity-redirect-lab"]);
    made.success();

    // The same bucket asked for from another region: the tool's message.
    let elsewhere = session
        .provision()
        .env("PROVISION_APP_REGION", "us-west-1")
        .run(&[
            "dragons-lab",
            "--region",
            "ap-south-1",
            "--bucket",
            "fidelity-redirect-lab",
        ]);
    elsewhere.assert_code(1);
    assert!(
        elsewhere
            .stderr
            .contains("bucket fidelity-redirect-lab is in region us-west-1, not ap-south-1"),
        "{}",
        elsewhere.stderr
    );
    assert!(
        !elsewhere.stderr.contains("PermanentRedirect"),
        "{}",
        elsewhere.stderr
    );

    // The lab read from a client of another region follows the bucket.
    let read = session
        .provision()
        .env("PROVISION_APP_REGION", "us-west-1")
        .run(&["dragons", "--region", "ap-south-1", "--output", "json"]);
    read.success();
    assert_eq!(read.json()["count"], 25);

    let status = session
        .provision()
        .env("PROVISION_APP_REGION", "us-west-1")
        .run(&[
            "status",
            "--region",
            "ap-south-1",
            "--bucket",
            "fidelity-redirect-lab",
            "--output",
            "json",
        ]);
    status.success();
    let resources = status.json()["resources"].clone();
    let bucket = resources
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|l| l["resource"] == "s3-bucket" && l["name"] == "fidelity-redirect-lab")
        })
        .cloned()
        .expect("the bucket's line");
    assert_eq!(bucket["present"], true, "{bucket}");
    let object = resources
        .as_array()
        .and_then(|r| r.iter().find(|l| l["resource"] == "s3-object"))
        .cloned()
        .expect("the object's line");
    assert_eq!(object["present"], true, "{object}");

    session
        .provision()
        .env("PROVISION_APP_REGION", "us-west-1")
        .run(&[
            "teardown",
            "--yes",
            "--only",
            "dragons-lab",
            "--region",
            "ap-south-1",
            "--bucket",
            "fidelity-redirect-lab",
        ])
        .success();
    let gone = session
        .s3_in("us-west-1")
        .head_bucket()
        .bucket("fidelity-redirect-lab")
        .send()
        .await;
    assert!(gone.is_err(), "the bucket was removed in its own region");
}

/// Item 4: for a while after CreateBucket, S3 may answer NoSuchBucket or OperationAborted; the
/// configuration and the data are retried through it.
#[test]
fn requests_right_after_create_bucket_are_retried_while_it_settles() {
    let proxy = Proxy::with(
        &moto().endpoint,
        Emulation {
            bucket_settling: Duration::from_secs(3),
            ..Emulation::aws()
        },
    );
    let session = Session::in_region("fidelity-settling", "eu-west-3").through(&proxy);
    session.provision().run(&["dragons-lab"]).success();
    let emulated = proxy.emulated();
    for code in ["NoSuchBucket", "OperationAborted"] {
        assert!(
            emulated.iter().any(|(_, c)| c == code),
            "the test bed answered {code}: {emulated:?}"
        );
    }
    let again = session.provision().run(&["dragons-lab"]);
    again.success();
    assert!(
        again.stdout.contains("0 created, 0 updated"),
        "{}",
        again.stdout
    );
}

/// Item 8: on an account without S3 Select, `dragons --s3-select` says so and names GetObject.
#[test]
fn s3_select_unavailable_is_named_with_the_getobject_fallback() {
    let proxy = Proxy::with(
        &moto().endpoint,
        Emulation {
            s3_select_unavailable: true,
            ..Emulation::aws()
        },
    );
    let session = Session::in_region("fidelity-select", "eu-south-1").through(&proxy);
    session.provision().run(&["dragons-lab"]).success();
    let select = session.provision().run(&["dragons", "--s3-select"]);
    select.assert_code(1);
    assert!(
        select
            .stderr
            .contains("S3 Select is not available to this AWS account"),
        "{}",
        select.stderr
    );
    assert!(
        select.stderr.contains("without --s3-select"),
        "{}",
        select.stderr
    );
    assert!(
        !select.stderr.contains("--profile"),
        "not a credentials problem: {}",
        select.stderr
    );
    session.provision().run(&["dragons"]).success();
}

/// Item 10: the account's S3 Block Public Access refuses `--site` uploads; an SCP refuses
/// anything. Each gets its own hint, not "use other credentials".
#[test]
fn account_public_access_block_and_scp_denials_get_their_own_hints() {
    let proxy = Proxy::with(
        &moto().endpoint,
        Emulation {
            account_public_access_block: true,
            ..Emulation::aws()
        },
    );
    let session = Session::in_region("fidelity-pab", "eu-south-2").through(&proxy);
    let site = session.home.join("site");
    std::fs::create_dir_all(&site).expect("site dir");
    std::fs::write(site.join("index.html"), "<h1>dragons</h1>").expect("index");
    let run = session
        .provision()
        .run(&["dragons-lab", "--site", &site.display().to_string()]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("s3control get-public-access-block"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("account's S3 Block Public Access"),
        "{}",
        run.stderr
    );

    let scp = Proxy::start(&moto().endpoint);
    scp.deny("CreateRole", Denial::ServiceControlPolicy);
    let session = Session::in_region("fidelity-scp", "eu-south-2").through(&scp);
    let run = session
        .provision()
        .run(&["instance-profile", "--role-name", "fidelity-scp-role"]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("service control policy (SCP) denies iam:CreateRole"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("run with --profile"), "{}", run.stderr);
}

/// Item 5: with keys exported in the environment (the slides' `.bashrc`), `--profile NAME` (and
/// `AWS_PROFILE`) signs with the profile's credentials, as `aws --profile` does, and `whoami`
/// says what it skipped.
#[tokio::test]
async fn a_named_profile_beats_environment_keys() {
    let session = Session::new("fidelity-profile");
    let admin = Session::in_account("fidelity-profile-admin", "us-east-1", "320000000005").await;
    let credentials = session.write_file(
        "credentials-profile",
        &format!(
            "[admin]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            admin.access_key,
            admin.secret_key,
            admin.session_token.clone().expect("a session token")
        ),
    );
    let whoami = |profile_env: bool| {
        let command = session
            .provision()
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials);
        if profile_env {
            command
                .env("AWS_PROFILE", "admin")
                .run(&["whoami", "--output", "json"])
        } else {
            command.run(&["whoami", "--profile", "admin", "--output", "json"])
        }
    };
    for by_environment in [false, true] {
        let output = whoami(by_environment);
        output.success();
        let report = output.json();
        assert_eq!(report["account"], "320000000005", "{report}");
        assert_eq!(report["credentials"]["kind"], "profile", "{report}");
        assert!(
            report["skipped"][0]
                .as_str()
                .is_some_and(|s| s.contains("AWS_ACCESS_KEY_ID")),
            "{report}"
        );
    }
    // Without a profile named, the environment keys are used (and nothing is skipped).
    let plain = session
        .provision()
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .run(&["whoami", "--output", "json"]);
    plain.success();
    assert_eq!(plain.json()["account"], "123456789012");
    assert_eq!(plain.json()["skipped"], serde_json::json!([]));
}

/// Item 6: Cloud9's managed credentials are told by the file Cloud9 writes and the source in use;
/// nothing is refused in advance (status runs), an IAM refusal names them, and an MFA session
/// profile in a Cloud9 shell is not mistaken for them.
#[test]
fn cloud9_managed_credentials_are_told_by_facts_not_guesses() {
    let proxy = Proxy::start(&moto().endpoint);
    let session = Session::in_region("fidelity-cloud9", "us-east-1").through(&proxy);
    let managed = session.write_file(
        "credentials-cloud9",
        &format!(
            "# Do not modify this file, if this file is modified it will not be updated. If the \
             file is deleted, it will be recreated on Mon Nov 23 2026.\n# 0123abcd #\n\n[default]\n\
             aws_access_key_id = {}\naws_secret_access_key = dummy-secret\n\
             aws_session_token = dummy-token\n",
            session.access_key
        ),
    );
    let config = session.write_file(
        "config-cloud9",
        &format!(
            "[profile mfa]\naws_access_key_id = {}\naws_secret_access_key = dummy-secret\n\
             aws_session_token = mfa-session-token\n",
            session.access_key
        ),
    );
    let in_cloud9 = || {
        session
            .provision()
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_SHARED_CREDENTIALS_FILE", &managed)
            .env("AWS_CONFIG_FILE", &config)
            .env("C9_USER", "student")
    };
    let whoami = in_cloud9().run(&["whoami", "--output", "json"]);
    whoami.success();
    assert_eq!(whoami.json()["cloud9_managed_credentials"], true);

    // Read-only status is not refused.
    in_cloud9().run(&["status"]).success();

    // AWS refuses role creation to these credentials: the error says why.
    proxy.deny("CreateRole", Denial::Identity);
    let refused = in_cloud9().run(&["instance-profile", "--role-name", "fidelity-cloud9-role"]);
    refused.assert_code(1);
    assert!(
        refused
            .stderr
            .contains("Cloud9 \"AWS managed temporary credentials\""),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("Preferences → AWS Settings → Credentials"),
        "{}",
        refused.stderr
    );

    // An MFA session profile in the same Cloud9 shell is not managed credentials.
    let mfa = in_cloud9().run(&["whoami", "--profile", "mfa", "--output", "json"]);
    mfa.success();
    assert_eq!(mfa.json()["cloud9_managed_credentials"], false);
    // Nor is a session token in a plain credentials file, Cloud9 or not.
    let plain = session.write_file(
        "credentials-plain",
        &format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = dummy-secret\n\
             aws_session_token = dummy-token\n",
            session.access_key
        ),
    );
    let not_managed = in_cloud9()
        .env("AWS_SHARED_CREDENTIALS_FILE", &plain)
        .run(&["whoami", "--output", "json"]);
    not_managed.success();
    assert_eq!(not_managed.json()["cloud9_managed_credentials"], false);
}

/// Item 7 (and the Cloud9 reminder): a no-ingress Cloud9 IDE holds AWSCloud9SSMInstanceProfile and
/// is registered with Systems Manager. Its association is not replaced unasked; with --replace the
/// lab role also gets AmazonSSMManagedInstanceCore, which later runs keep.
#[tokio::test]
async fn an_ssm_connected_ide_is_not_cut_off() {
    let proxy = Proxy::start(&moto().endpoint);
    let session = Session::in_account("fidelity-ssm", "us-east-1", "310000000007")
        .await
        .through(&proxy);
    let instance = session
        .launch_instance(&[("Name", "aws-cloud9-fidelity-ssm-0123")])
        .await;
    proxy.register_with_ssm(&instance);
    let iam = session.iam();
    iam.create_instance_profile()
        .instance_profile_name("AWSCloud9SSMInstanceProfile")
        .path("/cloud9/")
        .send()
        .await
        .expect("Cloud9's profile");
    session
        .associate(&instance, "AWSCloud9SSMInstanceProfile")
        .await;
    let args = [
        "instance-profile",
        "--instance-tag",
        "Name=aws-cloud9-fidelity-ssm-*",
    ];

    let refused = session.provision().run(&args);
    refused.assert_code(1);
    assert!(
        refused.stderr.contains(
            "holds instance profile AWSCloud9SSMInstanceProfile, which provision did not create"
        ),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--replace"), "{}", refused.stderr);
    assert!(
        session
            .associated_profile(&instance)
            .await
            .is_some_and(|arn| arn.ends_with("/cloud9/AWSCloud9SSMInstanceProfile")),
        "left as it was"
    );

    let mut replacing = args.to_vec();
    replacing.push("--replace");
    let replaced = session.provision().run(&replacing);
    replaced.success();
    assert!(
        replaced.stderr.contains("stays reachable"),
        "{}",
        replaced.stderr
    );
    assert!(
        replaced.stdout.contains("Next: i-"),
        "said after the summary: {}",
        replaced.stdout
    );
    assert!(
        replaced
            .stdout
            .contains("turn off \"AWS managed temporary credentials\""),
        "{}",
        replaced.stdout
    );
    let attached = session.attached_policies("dragons-lab-ec2-role").await;
    assert!(
        attached.contains(&"AmazonSSMManagedInstanceCore".to_string()),
        "{attached:?}"
    );
    assert!(
        session
            .associated_profile(&instance)
            .await
            .is_some_and(|arn| arn.ends_with("/provision/dragons-lab-ec2-role"))
    );
    let again = session.provision().run(&args);
    again.success();
    assert!(
        again.stdout.contains("0 created, 0 updated"),
        "the SSM policy is kept: {}",
        again.stdout
    );
}

/// Item 9: `--adopt` on a lab account's shared role only adds what the lab needs; teardown takes
/// off only what provision added.
#[tokio::test]
async fn adopting_a_shared_role_keeps_what_it_had() {
    let session = Session::in_account("fidelity-adopt", "us-east-1", "310000000009").await;
    let iam = session.iam();
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}}]});
    iam.create_role()
        .role_name("LabRole")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("the lab account's role");
    iam.attach_role_policy()
        .role_name("LabRole")
        .policy_arn("arn:aws:iam::aws:policy/PowerUserAccess")
        .send()
        .await
        .expect("its policy");
    iam.put_role_policy()
        .role_name("LabRole")
        .policy_name("lab-permissions")
        .policy_document(
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "logs:*", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("its inline policy");

    session
        .provision()
        .run(&["instance-profile", "--role-name", "LabRole", "--adopt"])
        .success();
    let role = iam
        .get_role()
        .role_name("LabRole")
        .send()
        .await
        .expect("role");
    let document = crate::harness::policy_document(
        role.role()
            .and_then(|r| r.assume_role_policy_document())
            .expect("trust policy"),
    )
    .to_string();
    assert!(
        document.contains("lambda.amazonaws.com"),
        "kept: {document}"
    );
    assert_eq!(
        session.attached_policies("LabRole").await,
        ["PowerUserAccess"],
        "kept"
    );
    let inline = iam
        .list_role_policies()
        .role_name("LabRole")
        .send()
        .await
        .expect("inline policies");
    let mut names = inline.policy_names().to_vec();
    names.sort();
    assert_eq!(names, ["lab-permissions", "provision-policy"]);

    // A second run (the role is now tagged) still only adds: nothing to do.
    let again = session
        .provision()
        .run(&["instance-profile", "--role-name", "LabRole"]);
    again.success();
    assert!(
        again.stdout.contains("0 created, 0 updated"),
        "{}",
        again.stdout
    );

    session.provision().run(&["teardown", "--yes"]).success();
    let inline = iam
        .list_role_policies()
        .role_name("LabRole")
        .send()
        .await
        .expect("the role is still there");
    assert_eq!(inline.policy_names(), ["lab-permissions"]);
    assert_eq!(
        session.attached_policies("LabRole").await,
        ["PowerUserAccess"]
    );
}

/// Item 11: a pending (or stopping) instance is told to wait, not sent an association AWS
/// refuses; the same run converges once it is running.
#[test]
fn a_pending_instance_is_told_to_wait() {
    let rt = runtime();
    let proxy = Proxy::start(&moto().endpoint);
    let session = rt
        .block_on(Session::in_account(
            "fidelity-pending",
            "us-east-1",
            "310000000011",
        ))
        .through(&proxy);
    let instance = rt.block_on(session.launch_instance(&[("Name", "ide-pending")]));
    proxy.instance_state(&instance, "pending");
    let args = ["instance-profile", "--instance-tag", "Name=ide-pending"];
    let waiting = session.provision().run(&args);
    waiting.assert_code(1);
    assert!(waiting.stderr.contains("is pending"), "{}", waiting.stderr);
    assert!(
        waiting.stderr.contains("aws ec2 wait instance-running"),
        "{}",
        waiting.stderr
    );
    assert!(
        !proxy
            .operations()
            .contains(&"AssociateIamInstanceProfile".to_string())
    );
    proxy.instance_state(&instance, "running");
    session.provision().run(&args).success();
}

/// IAM propagation: EC2 does not see a new instance profile for a while; the association is
/// retried through it (the overshoot is measured by `bench/run`).
#[test]
fn a_new_profile_invisible_to_ec2_for_a_while_is_waited_for() {
    let rt = runtime();
    let proxy = Proxy::with(
        &moto().endpoint,
        Emulation {
            profile_invisible: Duration::from_secs(2),
            ..Emulation::aws()
        },
    );
    let session = rt
        .block_on(Session::in_account(
            "fidelity-propagation",
            "us-east-1",
            "310000000012",
        ))
        .through(&proxy);
    rt.block_on(session.launch_instance(&[("Name", "ide-propagation")]));
    session
        .provision()
        .run(&["instance-profile", "--instance-tag", "Name=ide-propagation"])
        .success();
    assert!(
        proxy.emulated().iter().any(
            |(op, code)| op == "AssociateIamInstanceProfile" && code == "InvalidParameterValue"
        ),
        "{:?}",
        proxy.emulated()
    );
}

/// Issue 24: the IDE launched with a profile made moments before, which EC2 does not see yet,
/// is launched once EC2 sees it (RunInstances retried on that answer only, visibly).
#[test]
fn an_ide_launched_with_a_new_profile_waits_until_ec2_sees_it() {
    let rt = runtime();
    let proxy = Proxy::with(
        &moto().endpoint,
        Emulation {
            profile_invisible: Duration::from_secs(2),
            ..Emulation::aws()
        },
    );
    let session = rt
        .block_on(Session::in_account(
            "fidelity-ide-propagation",
            "us-east-1",
            "310000000024",
        ))
        .through(&proxy);
    session.provision().run(&["ide"]).success();
    assert!(
        proxy
            .emulated()
            .iter()
            .any(|(op, code)| op == "RunInstances" && code == "InvalidParameterValue"),
        "{:?}",
        proxy.emulated()
    );
}

/// Item 11: in the China partition, AdministratorAccess has its own ARN, and is still warned about.
#[test]
fn administrator_access_is_recognised_in_another_partition() {
    let session = Session::in_region("fidelity-partition", "cn-north-1");
    let whoami = session.provision().run(&["whoami", "--output", "json"]);
    whoami.success();
    let arn = whoami.json()["arn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        arn.starts_with("arn:aws-cn:"),
        "moto answers in the region's partition: {arn}"
    );
    let plan = session.provision().run(&[
        "instance-profile",
        "--role-name",
        "fidelity-partition-role",
        "--policy-arn",
        "arn:aws-cn:iam::aws:policy/AdministratorAccess",
        "--dry-run",
    ]);
    plan.success();
    assert!(
        plan.stderr
            .contains("attaching AdministratorAccess gives every process"),
        "{}",
        plan.stderr
    );
}
