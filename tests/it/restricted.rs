//! The accounts courses really use (issue 11): a restricted lab account — students may not create
//! roles; `LabRole` and `LabInstanceProfile` exist — through the test bed, which refuses IAM writes
//! as such an account's policies do.

use crate::harness::{EnforcingMoto, Session, moto};
use crate::proxy::{Denial, Proxy};

/// IAM writes a restricted lab account's student may not make.
const DENIED: &[&str] = &[
    "CreateRole",
    "CreateInstanceProfile",
    "PutRolePolicy",
    "AttachRolePolicy",
    "AddRoleToInstanceProfile",
    "TagRole",
    "TagInstanceProfile",
];

/// What a restricted lab account provides: LabRole (trusted by EC2) in LabInstanceProfile.
async fn lab_role_in_lab_profile(iam: &aws_sdk_iam::Client) {
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    iam.create_role()
        .role_name("LabRole")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("LabRole");
    iam.create_instance_profile()
        .instance_profile_name("LabInstanceProfile")
        .send()
        .await
        .expect("LabInstanceProfile");
    iam.add_role_to_instance_profile()
        .instance_profile_name("LabInstanceProfile")
        .role_name("LabRole")
        .send()
        .await
        .expect("LabRole in LabInstanceProfile");
}

/// A lab account: LabRole in LabInstanceProfile (and an empty profile), the IDE's instance, and a
/// test bed that refuses the student's IAM writes.
async fn lab_account(test: &str, account: &str) -> (Session, Proxy, String) {
    let proxy = Proxy::start(&moto().endpoint);
    let session = Session::in_account(test, "us-east-1", account)
        .await
        .through(&proxy);
    let iam = session.iam();
    lab_role_in_lab_profile(&iam).await;
    // And a profile someone left empty.
    iam.create_instance_profile()
        .instance_profile_name("EmptyProfile")
        .send()
        .await
        .expect("an empty profile");
    let instance = session.launch_instance(&[("Name", "ide-restricted")]).await;
    for operation in DENIED {
        proxy.deny(operation, Denial::Identity);
    }
    (session, proxy, instance)
}

#[tokio::test]
async fn a_restricted_account_uses_its_existing_profile_and_teardown_leaves_it() {
    let (session, proxy, instance) = lab_account("restricted", "310000000101").await;

    // The usual command is refused by the account; the error names the way out.
    let refused =
        session
            .provision()
            .run(&["instance-profile", "--instance-tag", "Name=ide-restricted"]);
    refused.assert_code(1);
    assert!(
        refused.stderr.contains("access denied: iam:Create"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(
            "provision instance-profile --instance-tag Name=ide-restricted --existing-profile \
             LabInstanceProfile"
        ),
        "{}",
        refused.stderr
    );

    // The suggested command associates the existing profile and writes nothing of IAM.
    let before = proxy.operations().len();
    let used = session.provision().run(&[
        "instance-profile",
        "--instance-tag",
        "Name=ide-restricted",
        "--existing-profile",
        "LabInstanceProfile",
    ]);
    used.success();
    let sent: Vec<String> = proxy.operations()[before..].to_vec();
    let writes: Vec<&String> = sent
        .iter()
        .filter(|op| crate::harness::is_mutating(op) && !op.starts_with("Simulate"))
        .collect();
    // The association, and its record on the instance (for teardown).
    assert_eq!(
        writes,
        ["AssociateIamInstanceProfile", "CreateTags"],
        "{sent:?}"
    );
    assert!(
        used.stdout
            .contains("+ create    ec2-instance-profile-association"),
        "{}",
        used.stdout
    );
    assert!(
        session
            .associated_profile(&instance)
            .await
            .is_some_and(|arn| arn.ends_with("instance-profile/LabInstanceProfile"))
    );
    // moto has no policy simulator: the run says it could not check the role.
    assert!(
        used.stderr
            .contains("could not check whether role LabRole allows"),
        "{}",
        used.stderr
    );

    // Again: nothing to do.
    let again = session.provision().run(&[
        "instance-profile",
        "--instance-tag",
        "Name=ide-restricted",
        "--existing-profile",
        "LabInstanceProfile",
    ]);
    again.success();
    assert!(
        again.stdout.contains("0 created, 0 updated"),
        "{}",
        again.stdout
    );

    // Another instance someone associated with the same profile by hand.
    let theirs = session.launch_instance(&[("Name", "colleague")]).await;
    session.associate(&theirs, "LabInstanceProfile").await;

    // Teardown removes the association provision made, and only that; the lab account's role and
    // profile stay as they were.
    let teardown = session.provision().run(&["teardown", "--yes"]);
    teardown.success();
    assert!(
        teardown.stdout.contains(&format!(
            "- delete    ec2-instance-profile-association {instance}"
        )),
        "{}",
        teardown.stdout
    );
    assert_eq!(session.associated_profile(&instance).await, None);
    assert!(
        session.associated_profile(&theirs).await.is_some(),
        "not provision's association: left"
    );
    let profile = session
        .iam()
        .get_instance_profile()
        .instance_profile_name("LabInstanceProfile")
        .send()
        .await
        .expect("LabInstanceProfile is still there");
    let roles: Vec<&str> = profile
        .instance_profile()
        .map(|p| p.roles().iter().map(|r| r.role_name()).collect())
        .unwrap_or_default();
    assert_eq!(roles, ["LabRole"]);
}

#[tokio::test]
async fn an_existing_profile_that_is_missing_or_empty_is_a_clear_error() {
    let (session, _proxy, _instance) = lab_account("restricted-missing", "310000000102").await;
    let missing = session.provision().run(&[
        "instance-profile",
        "--instance-tag",
        "Name=ide-restricted",
        "--existing-profile",
        "NoSuchProfile",
    ]);
    missing.assert_code(1);
    assert!(
        missing
            .stderr
            .contains("instance profile NoSuchProfile does not exist"),
        "{}",
        missing.stderr
    );
    let empty = session.provision().run(&[
        "instance-profile",
        "--instance-tag",
        "Name=ide-restricted",
        "--existing-profile",
        "EmptyProfile",
    ]);
    empty.assert_code(1);
    assert!(empty.stderr.contains("holds no role"), "{}", empty.stderr);
    let conflicting = session.provision().run(&[
        "instance-profile",
        "--existing-profile",
        "LabInstanceProfile",
        "--role-name",
        "mine",
    ]);
    conflicting.assert_code(2);
}

/// whoami names the signs of a restricted lab account and what each command can do there.
#[tokio::test]
async fn whoami_recognises_a_restricted_lab_account() {
    // The session's role is named like AWS Academy's: voclabs.
    let (session, _proxy, _instance) = lab_account("voclabs", "310000000103").await;
    let whoami = session.provision().run(&["whoami", "--output", "json"]);
    whoami.success();
    let restricted = whoami.json()["restricted"].clone();
    assert_eq!(restricted["likely"], true, "{restricted}");
    let signs = restricted["signs"].to_string();
    assert!(signs.contains("assumed-role session of voclabs"), "{signs}");
    assert!(signs.contains("LabInstanceProfile exists"), "{signs}");
    let commands = restricted["commands"].to_string();
    assert!(
        commands.contains("--existing-profile LabInstanceProfile"),
        "{commands}"
    );
    let human = session.provision().run(&["whoami"]);
    human.success();
    assert!(
        human
            .stdout
            .contains("restricted   likely a restricted lab account"),
        "{}",
        human.stdout
    );

    // An IAM user's whoami asks nothing more than STS.
    let plain = Session::new("restricted-plain");
    let (output, requests) =
        plain.requests_during(|| plain.provision().run(&["whoami", "--output", "json"]));
    output.success();
    assert!(output.json().get("restricted").is_none());
    assert_eq!(requests.len(), 1, "{requests:?}");
}

/// The same restricted account with its refusals made by IAM itself: moto authorises every request
/// against the student's policy (moto's INITIAL_NO_AUTH_ACTION_COUNT), which allows everything but
/// the IAM writes a lab account denies.
#[tokio::test]
async fn a_restricted_account_enforced_by_iam_policies() {
    let server = EnforcingMoto::start("restricted-iam");
    let admin = Session {
        endpoint: server.endpoint.clone(),
        ..Session::in_region("restricted-iam-admin", "us-east-1")
    };
    let iam = admin.iam();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": [
            "iam:CreateRole", "iam:CreateInstanceProfile", "iam:PutRolePolicy",
            "iam:AttachRolePolicy", "iam:AddRoleToInstanceProfile", "iam:TagRole",
            "iam:TagInstanceProfile", "iam:DeleteRole", "iam:DeleteInstanceProfile",
            "iam:RemoveRoleFromInstanceProfile", "iam:DeleteRolePolicy", "iam:DetachRolePolicy"],
         "Resource": "*"}]});
    let (_, key_id, secret) = EnforcingMoto::user(&admin, "student", &policy).await;
    lab_role_in_lab_profile(&iam).await;
    let instance = admin.launch_instance(&[("Name", "ide-iam")]).await;
    server.enforce();

    // Through the test bed, which gives moto's refusals each service's own shape.
    let proxy = Proxy::start(&server.endpoint);
    let student = server
        .session("restricted-iam", "us-east-1", &key_id, &secret)
        .through(&proxy);
    let refused = student
        .provision()
        .run(&["instance-profile", "--instance-tag", "Name=ide-iam"]);
    refused.assert_code(1);
    assert!(
        refused.stderr.contains("access denied: iam:Create"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("--instance-tag Name=ide-iam --existing-profile LabInstanceProfile"),
        "{}",
        refused.stderr
    );
    student
        .provision()
        .run(&[
            "instance-profile",
            "--instance-tag",
            "Name=ide-iam",
            "--existing-profile",
            "LabInstanceProfile",
        ])
        .success();
    assert!(
        student
            .associated_profile(&instance)
            .await
            .is_some_and(|arn| arn.ends_with("/LabInstanceProfile"))
    );
    student.provision().run(&["dragons-lab"]).success();
    student.provision().run(&["teardown", "--yes"]).success();
    assert_eq!(student.associated_profile(&instance).await, None);
    let profile = student
        .iam()
        .get_instance_profile()
        .instance_profile_name("LabInstanceProfile")
        .send()
        .await
        .expect("still there");
    assert_eq!(
        profile
            .instance_profile()
            .map(|p| p.roles().len())
            .unwrap_or_default(),
        1
    );
}

/// Issue 24: in a restricted lab account `ide` is refused at its first IAM write with the command
/// that uses LabInstanceProfile; that command launches the IDE holding it and writes nothing of
/// IAM.
#[tokio::test]
async fn a_restricted_account_s_ide_holds_its_existing_profile() {
    let (session, proxy, _) = lab_account("restricted-ide", "310000000124").await;
    let refused = session.provision().run(&["ide"]);
    refused.assert_code(1);
    assert!(
        refused
            .stderr
            .contains("provision ide --existing-profile LabInstanceProfile"),
        "{}",
        refused.stderr
    );
    let before = proxy.operations().len();
    let used = session
        .provision()
        .run(&["ide", "--existing-profile", "LabInstanceProfile"]);
    used.success();
    let sent: Vec<String> = proxy.operations()[before..].to_vec();
    let writes: Vec<&String> = sent
        .iter()
        .filter(|op| crate::harness::is_mutating(op) && !op.starts_with("Simulate"))
        .collect();
    // No IAM write: the launch (and the group, unless the refused run made it already).
    assert!(
        writes
            .iter()
            .all(|op| ["CreateSecurityGroup", "RunInstances"].contains(&op.as_str())),
        "{sent:?}"
    );
    assert!(writes.iter().any(|op| *op == "RunInstances"), "{sent:?}");
    assert!(used.stderr.contains("role LabRole"), "{}", used.stderr);
    let launched = session.instances_named("dragons-lab-ide").await;
    let profile = launched
        .iter()
        .find_map(|i| i.iam_instance_profile().and_then(|p| p.arn()))
        .map(str::to_string);
    assert!(
        profile.is_some_and(|arn| arn.ends_with("instance-profile/LabInstanceProfile")),
        "{launched:?}"
    );
    let again = session
        .provision()
        .run(&["ide", "--existing-profile", "LabInstanceProfile"]);
    again.success();
    assert!(
        again.stdout.contains("0 created, 0 updated"),
        "{}",
        again.stdout
    );
}
