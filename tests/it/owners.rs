//! Several students in one account: each one's resources carry `provision:owner`, set-up refuses
//! another's, and status and teardown consider only the caller's unless `--all-owners`. Tested
//! with two IAM users of one account on a moto that authorises every request against its caller's
//! policies (moto's INITIAL_NO_AUTH_ACTION_COUNT), through the test bed, which also keeps
//! CloudTrail's event history and SSM's last modifiers (moto keeps neither).

use serde_json::Value;

use crate::harness::{EnforcingMoto, Session};
use crate::proxy::Proxy;

/// A student of the course account: an IAM user with the course's student policy (everything but
/// IAM users and keys) and an access key.
struct Student {
    arn: String,
    key: String,
    secret: String,
}

async fn student(admin: &Session, name: &str) -> Student {
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["iam:CreateUser", "iam:CreateAccessKey"], "Resource": "*"}]});
    let (arn, key, secret) = EnforcingMoto::user(admin, name, &policy).await;
    Student { arn, key, secret }
}

/// The course account: an enforcing moto with students alice and bob, behind the test bed.
struct Course {
    server: EnforcingMoto,
    proxy: Proxy,
    alice: Student,
    bob: Student,
}

impl Course {
    async fn start(test: &str) -> Self {
        let server = EnforcingMoto::start(test);
        let admin = Session {
            endpoint: server.endpoint.clone(),
            ..Session::in_region(&format!("{test}-admin"), "us-east-1")
        };
        let alice = student(&admin, "alice").await;
        let bob = student(&admin, "bob").await;
        server.enforce();
        let proxy = Proxy::start(&server.endpoint);
        Self {
            server,
            proxy,
            alice,
            bob,
        }
    }

    fn session(&self, student: &Student, test: &str) -> Session {
        self.server
            .session(test, "us-east-1", &student.key, &student.secret)
            .through(&self.proxy)
    }
}

fn resource<'a>(status: &'a Value, kind: &str, name: &str) -> Option<&'a Value> {
    status["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["resource"] == kind && r["name"] == name)
}

#[tokio::test]
async fn two_students_in_one_account_never_touch_each_others_labs() {
    let course = Course::start("two-students").await;
    let alice = course.session(&course.alice, "two-students-alice");
    let bob = course.session(&course.bob, "two-students-bob");

    // Alice sets the lab up; its parameters are hers.
    alice
        .provision()
        .run(&["dragons-lab", "--bucket", "alice-dragons"])
        .success();
    let tags = alice
        .s3()
        .get_bucket_tagging()
        .bucket("alice-dragons")
        .send()
        .await
        .expect("tags");
    assert!(
        tags.tag_set()
            .iter()
            .any(|t| t.key() == "provision:owner" && t.value() == course.alice.arn),
        "{tags:?}"
    );

    // Bob's set-up refuses to repoint them, says why and what the course can do, and makes
    // nothing: not even his bucket.
    let refused = bob
        .provision()
        .run(&["dragons-lab", "--bucket", "bob-dragons"]);
    refused.assert_code(1);
    assert!(
        refused.stderr.contains(&format!(
            "ssm-parameter dragon_data_bucket_name belongs to alice (provision:owner={})",
            course.alice.arn
        )),
        "{}",
        refused.stderr
    );
    for expected in [
        "fixed parameter names",
        "one account per student",
        "--parameter-prefix /<you>/",
        "--take-over",
    ] {
        assert!(
            refused.stderr.contains(expected),
            "{expected}: {}",
            refused.stderr
        );
    }
    assert!(!alice.has_bucket("bob-dragons").await);
    assert_eq!(
        alice
            .parameter_in("us-east-1", "dragon_data_bucket_name")
            .await
            .as_deref(),
        Some("alice-dragons")
    );

    // Her bucket is refused to him too, by name.
    let theirs = bob.provision().run(&[
        "dragons-lab",
        "--bucket",
        "alice-dragons",
        "--parameter-prefix",
        "/bob/",
    ]);
    theirs.assert_code(1);
    assert!(
        theirs
            .stderr
            .contains("s3-bucket alice-dragons belongs to alice")
            && theirs.stderr.contains("--bucket"),
        "{}",
        theirs.stderr
    );

    // With a prefix of his own (and an app changed to read it), his lab works beside hers.
    bob.provision()
        .run(&[
            "dragons-lab",
            "--bucket",
            "bob-dragons",
            "--parameter-prefix",
            "/bob/",
        ])
        .success();
    // GetObject: moto's S3 Select mangles the record holding an apostrophe (see dragons_lab).
    let read = bob
        .lab_app(&["--prefix", "/bob/", "--get-object"])
        .success()
        .json();
    assert_eq!(read["bucket"], "bob-dragons");
    assert_eq!(read["names"].as_array().map(Vec::len), Some(25));
    let read = alice.lab_app(&["--get-object"]).success().json();
    assert_eq!(read["bucket"], "alice-dragons");

    // Bob's status is his; --all-owners lists hers too, with her as owner.
    let status = bob
        .provision()
        .run(&["status", "--parameter-prefix", "/bob/", "--output", "json"])
        .success()
        .json();
    let his = resource(&status, "s3-bucket", "bob-dragons").expect("his bucket");
    assert_eq!(his["yours"], true);
    assert_eq!(his["owner"], course.bob.arn.as_str());
    assert!(resource(&status, "s3-bucket", "alice-dragons").is_none());
    assert_eq!(status["left_out"][course.alice.arn.as_str()], 3, "{status}");
    let everyone = bob
        .provision()
        .run(&[
            "status",
            "--parameter-prefix",
            "/bob/",
            "--all-owners",
            "--output",
            "json",
        ])
        .success()
        .json();
    let hers = resource(&everyone, "s3-bucket", "alice-dragons").expect("listed");
    assert_eq!(hers["owner"], course.alice.arn.as_str());
    assert_eq!(hers["yours"], false);

    // IAM names collide the same way: her role is refused to him, with the way out.
    let ide = alice.launch_instance(&[("Name", "alice-ide")]).await;
    alice
        .provision()
        .run(&["instance-profile", "--instance-tag", "Name=alice-ide"])
        .success();
    let refused = bob.provision().run(&["instance-profile"]);
    refused.assert_code(1);
    assert!(
        refused
            .stderr
            .contains("iam-role dragons-lab-ec2-role belongs to alice")
            && refused
                .stderr
                .contains("--role-name NAME --instance-profile-name NAME"),
        "{}",
        refused.stderr
    );
    // Nor does his set-up take her IDE's association, even with names of his own.
    let bobs_names = [
        "instance-profile",
        "--role-name",
        "bob-lab-role",
        "--instance-profile-name",
        "bob-lab-profile",
    ];
    let refused = bob
        .provision()
        .run(&[&bobs_names[..], &["--instance-tag", "Name=alice-ide"]].concat());
    refused.assert_code(1);
    assert!(
        refused.stderr.contains(&format!(
            "ec2-instance-profile-association {ide} belongs to alice"
        )),
        "{}",
        refused.stderr
    );
    assert!(
        alice
            .associated_profile(&ide)
            .await
            .is_some_and(|arn| arn.ends_with("/dragons-lab-ec2-role"))
    );
    bob.provision()
        .run(&[
            "instance-profile",
            "--role-name",
            "bob-lab-role",
            "--instance-profile-name",
            "bob-lab-profile",
            "--bucket",
            "bob-dragons",
            "--parameter-prefix",
            "/bob/",
        ])
        .success();

    // His teardown removes his lab and leaves hers whole, saying it left hers out.
    let teardown = bob
        .provision()
        .run(&["teardown", "--yes", "--parameter-prefix", "/bob/"]);
    teardown.success();
    assert!(
        teardown
            .stderr
            .contains("other owners hold: alice (5); --all-owners includes them"),
        "{}",
        teardown.stderr
    );
    assert!(!alice.has_bucket("bob-dragons").await);
    assert_eq!(
        alice
            .parameter_in("us-east-1", "/bob/dragon_data_bucket_name")
            .await,
        None
    );
    assert!(
        alice
            .iam()
            .get_role()
            .role_name("bob-lab-role")
            .send()
            .await
            .is_err()
    );
    assert!(alice.has_bucket("alice-dragons").await);
    assert_eq!(
        alice
            .parameter_in("us-east-1", "dragon_data_bucket_name")
            .await
            .as_deref(),
        Some("alice-dragons")
    );
    alice
        .iam()
        .get_role()
        .role_name("dragons-lab-ec2-role")
        .send()
        .await
        .expect("her role stays");
    let read = alice.lab_app(&["--get-object"]).success().json();
    assert_eq!(read["names"].as_array().map(Vec::len), Some(25));

    // --take-over points the lab's parameters at his bucket and makes them his: her set-up then
    // refuses them, naming him, and her teardown leaves them.
    bob.provision()
        .run(&["dragons-lab", "--bucket", "bob-dragons", "--take-over"])
        .success();
    assert_eq!(
        alice
            .parameter_in("us-east-1", "dragon_data_bucket_name")
            .await
            .as_deref(),
        Some("bob-dragons")
    );
    let refused = alice
        .provision()
        .run(&["dragons-lab", "--bucket", "alice-dragons"]);
    refused.assert_code(1);
    assert!(
        refused
            .stderr
            .contains("ssm-parameter dragon_data_bucket_name belongs to bob"),
        "{}",
        refused.stderr
    );
    alice.provision().run(&["teardown", "--yes"]).success();
    assert!(!alice.has_bucket("alice-dragons").await);
    assert_eq!(alice.associated_profile(&ide).await, None);
    assert_eq!(
        alice
            .parameter_in("us-east-1", "dragon_data_bucket_name")
            .await
            .as_deref(),
        Some("bob-dragons")
    );
    let read = bob.lab_app(&["--get-object"]).success().json();
    assert_eq!(read["bucket"], "bob-dragons");

    // His removes the rest; nothing is left.
    bob.provision().run(&["teardown", "--yes"]).success();
    assert!(!alice.has_bucket("bob-dragons").await);
    assert_eq!(
        alice
            .parameter_in("us-east-1", "dragon_data_bucket_name")
            .await,
        None
    );
    assert_eq!(
        alice
            .parameter_in("us-east-1", "dragon_data_file_name")
            .await,
        None
    );
}

/// Provision's resources from before it recorded owners (tagged managed-by only) are the caller's
/// when AWS says the caller made them — CloudTrail's event history for a bucket, the last modifier
/// for a parameter — and otherwise left alone, owner unknown, unless --all-owners.
#[tokio::test]
async fn resources_made_before_owners_are_the_callers_only_when_aws_says_so() {
    let course = Course::start("before-owners").await;
    let alice = course.session(&course.alice, "before-owners-alice");
    let bob = course.session(&course.bob, "before-owners-bob");
    course.proxy.principal(&course.alice.key, &course.alice.arn);
    course.proxy.principal(&course.bob.key, &course.bob.arn);
    // What an earlier version of provision made: only managed-by.
    let legacy_bucket = async |session: &Session, bucket: &str| {
        let s3 = session.s3();
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("bucket");
        let tag = aws_sdk_s3::types::Tag::builder()
            .key("managed-by")
            .value("provision")
            .build()
            .expect("tag");
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .tag_set(tag)
            .build()
            .expect("tagging");
        s3.put_bucket_tagging()
            .bucket(bucket)
            .tagging(tagging)
            .send()
            .await
            .expect("tagged");
    };
    legacy_bucket(&alice, "old-alice").await;
    legacy_bucket(&bob, "old-bob").await;
    // Made where CloudTrail did not see it (before its 90 days): nobody can tell whose.
    let direct = course.server.session(
        "before-owners-direct",
        "us-east-1",
        &course.alice.key,
        &course.alice.secret,
    );
    legacy_bucket(&direct, "old-unknown").await;
    let tag = aws_sdk_ssm::types::Tag::builder()
        .key("managed-by")
        .value("provision")
        .build()
        .expect("tag");
    alice
        .ssm()
        .put_parameter()
        .name("old_alice_parameter")
        .value("x")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .tags(tag)
        .send()
        .await
        .expect("parameter");

    let plan = alice
        .provision()
        .run(&["teardown", "--dry-run", "--output", "json"])
        .success()
        .json();
    let change = |name: &str| {
        plan["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {plan}"))
    };
    assert_eq!(change("old-alice")["action"], "delete");
    assert_eq!(change("old_alice_parameter")["action"], "delete");
    let bobs = change("old-bob");
    assert_eq!(bobs["action"], "unchanged");
    assert!(
        bobs.to_string().contains(&format!(
            "owner unknown: made before provision recorded owners, by {}",
            course.bob.arn
        )),
        "{bobs}"
    );
    let unknown = change("old-unknown");
    assert_eq!(unknown["action"], "unchanged");
    assert!(
        unknown.to_string().contains("has no CreateBucket of it"),
        "{unknown}"
    );

    alice.provision().run(&["teardown", "--yes"]).success();
    assert!(!bob.has_bucket("old-alice").await);
    assert_eq!(
        bob.parameter_in("us-east-1", "old_alice_parameter").await,
        None
    );
    assert!(bob.has_bucket("old-bob").await);
    assert!(bob.has_bucket("old-unknown").await);

    // An instructor's --all-owners takes what is left.
    bob.provision()
        .run(&["teardown", "--yes", "--all-owners"])
        .success();
    assert!(!bob.has_bucket("old-bob").await);
    assert!(!bob.has_bucket("old-unknown").await);
}

/// `args` run as `student` is refused, naming alice as the owner of what it would change, and
/// sends no mutating request.
fn refused_as_alice_s(student: &Session, args: &[&str]) {
    let (refused, requests) = student.requests_during(|| student.provision().run(args));
    refused.assert_code(1);
    assert!(
        refused.stderr.contains("belongs to alice"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        crate::harness::mutating(&requests),
        Vec::<String>::new(),
        "{}",
        refused.stderr
    );
}

/// Two students in one account, each with an IDE: the second one's `ide` with the default names
/// is refused (the role, group and instance are the first one's) and makes nothing; with names
/// of his own, his IDE stands beside hers; he cannot stop hers, and his teardown leaves it.
#[tokio::test]
async fn two_students_in_one_account_each_have_their_own_ide() {
    let course = Course::start("two-ides").await;
    let alice = course.session(&course.alice, "two-ides-alice");
    let bob = course.session(&course.bob, "two-ides-bob");
    alice.provision().run(&["ide"]).success();

    refused_as_alice_s(&bob, &["ide"]);

    bob.provision()
        .run(&[
            "ide",
            "--name",
            "bob-ide",
            "--role-name",
            "bob-ide-role",
            "--instance-profile-name",
            "bob-ide-profile",
        ])
        .success();
    let theirs = bob.provision().run(&["ide", "stop"]);
    theirs.assert_code(1);
    assert!(
        theirs.stderr.contains("is not yours: it belongs to"),
        "{}",
        theirs.stderr
    );
    bob.provision()
        .run(&["ide", "stop", "--name", "bob-ide"])
        .success();

    bob.provision().run(&["teardown", "--yes"]).success();
    let states = async |name: &str| {
        alice
            .instances_named(name)
            .await
            .iter()
            .filter_map(|i| i.state().and_then(|s| s.name()))
            .map(|s| s.as_str().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(states("dragons-lab-ide").await, ["running"], "hers is kept");
    assert_eq!(states("bob-ide").await, ["terminated"], "his is gone");
}

/// Two students in one account, each with the course's API: the second one's `dragons-api` with
/// the default names is refused naming the first (the role, function and API are hers) and sends
/// no mutating request; with a name of his own his API stands beside hers, and his teardown
/// leaves hers.
#[tokio::test]
async fn two_students_in_one_account_each_have_their_own_api() {
    let course = Course::start("two-apis").await;
    let alice = course.session(&course.alice, "two-apis-alice");
    let bob = course.session(&course.bob, "two-apis-bob");
    alice.provision().run(&["dragons-lab"]).success();
    alice.provision().run(&["dragons-api"]).success();

    refused_as_alice_s(&bob, &["dragons-api"]);

    bob.provision()
        .run(&["dragons-api", "--name", "bob-dragons"])
        .success();
    let apis = async || {
        let mut names: Vec<String> = alice
            .apigateway()
            .get_rest_apis()
            .send()
            .await
            .expect("apis")
            .items()
            .iter()
            .filter_map(|a| a.name().map(str::to_string))
            .collect();
        names.sort();
        names
    };
    assert_eq!(apis().await, ["bob-dragons", "dragons-api"]);
    bob.provision().run(&["teardown", "--yes"]).success();
    assert_eq!(apis().await, ["dragons-api"], "hers is kept");
    assert!(
        alice
            .lambda()
            .get_function()
            .function_name("dragons-api")
            .send()
            .await
            .is_ok()
    );
}
