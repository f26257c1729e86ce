//! `provision instance-profile` against moto.

use crate::harness::{Session, mutating};

const TRUST_EC2_REORDERED: &str = r#"{"Statement": [{"Action": ["sts:AssumeRole"],
    "Principal": {"Service": ["ec2.amazonaws.com"]}, "Effect": "Allow", "Sid": "Ec2AssumesThisRole"}],
    "Version": "2012-10-17"}"#;
const TRUST_LAMBDA: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;

async fn role_trust_policy(session: &Session, role: &str) -> serde_json::Value {
    let output = session
        .iam()
        .get_role()
        .role_name(role)
        .send()
        .await
        .expect("role exists");
    let text = output
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .expect("trust policy");
    crate::harness::policy_document(text)
}

#[tokio::test]
async fn first_run_creates_everything_and_a_second_run_sends_no_mutating_request() {
    let session = Session::new("first_run");
    let instance = session.launch_instance(&[("Name", "ide-first-run")]).await;
    let args = [
        "instance-profile",
        "--role-name",
        "first-run-role",
        "--instance-tag",
        "Name=ide-first-run",
    ];

    let (first, requests) = session.requests_during(|| session.provision().run(&args));
    first.success();
    assert!(
        first.stdout.contains("+ create    iam-role first-run-role"),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("5 created, 0 updated, 0 unchanged"),
        "{}",
        first.stdout
    );
    let writes = mutating(&requests);
    for operation in [
        "CreateRole",
        "PutRolePolicy",
        "CreateInstanceProfile",
        "AddRoleToInstanceProfile",
        "AssociateIamInstanceProfile",
    ] {
        assert!(
            writes.contains(&operation.to_string()),
            "{operation} missing from {writes:?}"
        );
    }

    // AWS state, checked through the SDK.
    let iam = session.iam();
    let role = iam
        .get_role()
        .role_name("first-run-role")
        .send()
        .await
        .expect("role");
    let role = role.role().expect("role body");
    assert_eq!(role.path(), "/provision/");
    assert!(
        role.tags()
            .iter()
            .any(|t| t.key() == "managed-by" && t.value() == "provision")
    );
    let trust = role_trust_policy(&session, "first-run-role").await;
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "ec2.amazonaws.com"
    );
    let inline = iam
        .get_role_policy()
        .role_name("first-run-role")
        .policy_name("provision-policy")
        .send()
        .await
        .expect("inline policy");
    let inline = crate::harness::policy_document(inline.policy_document());
    let text = inline.to_string();
    assert!(
        text.contains("arn:aws:s3:::dragons-lab-123456789012-us-east-1/*"),
        "{text}"
    );
    assert!(text.contains("parameter/dragon_data_bucket_name"), "{text}");
    let profile = iam
        .get_instance_profile()
        .instance_profile_name("first-run-role")
        .send()
        .await
        .expect("profile");
    let profile = profile.instance_profile().expect("profile body");
    assert_eq!(profile.roles().len(), 1);
    assert_eq!(profile.roles()[0].role_name(), "first-run-role");
    assert_eq!(
        session.associated_profile(&instance).await.as_deref(),
        Some(profile.arn())
    );

    let (second, requests) = session.requests_during(|| session.provision().run(&args));
    second.success();
    assert!(
        second.stdout.contains("0 created, 0 updated, 5 unchanged"),
        "{}",
        second.stdout
    );
    assert_eq!(mutating(&requests), Vec::<String>::new());
    assert!(!requests.is_empty(), "the second run observes");
}

#[tokio::test]
async fn an_instance_holding_another_profile_gets_ours_by_replacement() {
    let session = Session::new("replace");
    let instance = session.launch_instance(&[("Name", "ide-replace")]).await;
    let iam = session.iam();
    let foreign = iam
        .create_instance_profile()
        .instance_profile_name("someone-elses-profile")
        .send()
        .await
        .expect("foreign profile");
    let foreign_arn = foreign
        .instance_profile()
        .expect("profile")
        .arn()
        .to_string();
    session.associate(&instance, "someone-elses-profile").await;
    assert_eq!(
        session.associated_profile(&instance).await,
        Some(foreign_arn.clone())
    );

    let args = [
        "instance-profile",
        "--role-name",
        "replace-role",
        "--instance-tag",
        "Name=ide-replace",
    ];
    // Someone else's profile is not replaced unasked.
    let (refused, requests) = session.requests_during(|| session.provision().run(&args));
    refused.assert_code(1);
    assert!(
        refused.stderr.contains(
            "holds instance profile someone-elses-profile, which provision did not create"
        ),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--replace"), "{}", refused.stderr);
    assert_eq!(mutating(&requests), Vec::<String>::new());

    let mut replacing = args.to_vec();
    replacing.push("--replace");
    let (output, requests) = session.requests_during(|| session.provision().run(&replacing));
    output.success();
    assert!(
        output.stdout.contains(&format!("replaces {foreign_arn}")),
        "{}",
        output.stdout
    );
    assert!(mutating(&requests).contains(&"ReplaceIamInstanceProfileAssociation".to_string()));
    let now = session
        .associated_profile(&instance)
        .await
        .expect("associated");
    assert!(
        now.ends_with("instance-profile/provision/replace-role"),
        "{now}"
    );
}

#[tokio::test]
async fn a_stopped_instance_found_by_wildcard_tag_is_associated() {
    let session = Session::new("stopped");
    let instance = session.launch_instance(&[("Name", "ide-stopped-42")]).await;
    session.stop_instance(&instance).await;
    let output = session.provision().run(&[
        "instance-profile",
        "--role-name",
        "stopped-role",
        "--instance-tag",
        "Name=ide-stopped-*",
    ]);
    output.success();
    let arn = session
        .associated_profile(&instance)
        .await
        .expect("associated");
    assert!(arn.ends_with("/stopped-role"), "{arn}");
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_changes_nothing() {
    let session = Session::new("dry_run");
    session.launch_instance(&[("Name", "ide-dry-run")]).await;
    let (output, requests) = session.requests_during(|| {
        session.provision().run(&[
            "instance-profile",
            "--dry-run",
            "--role-name",
            "dry-run-role",
            "--instance-tag",
            "Name=ide-dry-run",
        ])
    });
    output.success();
    assert!(
        output.stdout.contains("+ create    iam-role dry-run-role"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("+ create    ec2-instance-profile-association"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("nothing was changed"),
        "{}",
        output.stdout
    );
    assert_eq!(mutating(&requests), Vec::<String>::new());
    let role = session
        .iam()
        .get_role()
        .role_name("dry-run-role")
        .send()
        .await;
    assert!(role.is_err(), "the role was not created");
}

#[tokio::test]
async fn a_changed_trust_policy_is_updated_and_a_reordered_equal_one_is_not() {
    let session = Session::new("trust_drift");
    let args = ["instance-profile", "--role-name", "drift-role"];
    session.provision().run(&args).success();
    let iam = session.iam();

    iam.update_assume_role_policy()
        .role_name("drift-role")
        .policy_document(TRUST_EC2_REORDERED)
        .send()
        .await
        .expect("reorder");
    let (output, requests) = session.requests_during(|| session.provision().run(&args));
    output.success();
    assert!(
        output.stdout.contains("= unchanged iam-role drift-role"),
        "{}",
        output.stdout
    );
    assert_eq!(mutating(&requests), Vec::<String>::new());

    iam.update_assume_role_policy()
        .role_name("drift-role")
        .policy_document(TRUST_LAMBDA)
        .send()
        .await
        .expect("drift");
    let (output, requests) = session.requests_during(|| session.provision().run(&args));
    output.success();
    assert!(
        output
            .stdout
            .contains("~ update    iam-role drift-role (trust policy:"),
        "{}",
        output.stdout
    );
    assert_eq!(
        mutating(&requests),
        vec!["UpdateAssumeRolePolicy".to_string()]
    );
    let trust = role_trust_policy(&session, "drift-role").await;
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "ec2.amazonaws.com"
    );
}

#[tokio::test]
async fn an_untagged_role_of_the_same_name_is_refused_unless_adopted() {
    let session = Session::new("untagged");
    let iam = session.iam();
    iam.create_role()
        .role_name("hand-made-role")
        .assume_role_policy_document(TRUST_LAMBDA)
        .send()
        .await
        .expect("hand-made role");
    let (output, requests) = session.requests_during(|| {
        session
            .provision()
            .run(&["instance-profile", "--role-name", "hand-made-role"])
    });
    output.assert_code(1);
    assert!(
        output.stderr.contains("not created by provision"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("--adopt"), "{}", output.stderr);
    assert_eq!(mutating(&requests), Vec::<String>::new());

    session
        .provision()
        .run(&[
            "instance-profile",
            "--role-name",
            "hand-made-role",
            "--adopt",
        ])
        .success();
    let role = iam
        .get_role()
        .role_name("hand-made-role")
        .send()
        .await
        .expect("role");
    assert!(
        role.role()
            .expect("role")
            .tags()
            .iter()
            .any(|t| t.key() == "managed-by")
    );
    // Adopted: the role's own trust statement stays, EC2's is added.
    let trust = role_trust_policy(&session, "hand-made-role").await;
    let services: Vec<String> = trust["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| s["Principal"]["Service"].to_string())
        .collect();
    assert!(
        services.iter().any(|s| s.contains("lambda.amazonaws.com")),
        "{services:?}"
    );
    assert!(
        services.iter().any(|s| s.contains("ec2.amazonaws.com")),
        "{services:?}"
    );
}

#[tokio::test]
async fn json_output_is_one_document_with_every_change() {
    let session = Session::new("json_output");
    let output = session.provision().run(&[
        "instance-profile",
        "--output",
        "json",
        "--role-name",
        "json-role",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AdministratorAccess",
    ]);
    output.success();
    let document = output.json();
    assert_eq!(document["command"], "instance-profile");
    assert_eq!(document["dry_run"], false);
    assert_eq!(document["account"], "123456789012");
    let changes = document["changes"].as_array().expect("changes");
    let resources: Vec<&str> = changes
        .iter()
        .filter_map(|c| c["resource"].as_str())
        .collect();
    assert_eq!(
        resources,
        [
            "iam-role",
            "iam-role-policy",
            "iam-role-policy-attachment",
            "iam-instance-profile",
            "iam-instance-profile-role"
        ]
    );
    assert!(changes.iter().all(|c| c["action"] == "create"));
    assert_eq!(document["summary"]["created"], 5);
    assert!(
        document["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("AdministratorAccess")),
        "{document}"
    );
    assert!(
        output
            .stderr
            .contains("warning: attaching AdministratorAccess"),
        "{}",
        output.stderr
    );
    assert_eq!(
        session.attached_policies("json-role").await,
        ["AdministratorAccess"]
    );
}

#[tokio::test]
async fn several_or_no_matching_instances_are_errors_that_list_them() {
    let session = Session::new("matches");
    let first = session
        .launch_instance(&[("Name", "ide-twin"), ("course", "matches")])
        .await;
    let second = session
        .launch_instance(&[("Name", "ide-twin"), ("course", "matches")])
        .await;
    let output = session.provision().run(&[
        "instance-profile",
        "--role-name",
        "matches-role",
        "--instance-tag",
        "Name=ide-twin",
    ]);
    output.assert_code(1);
    assert!(
        output.stderr.contains("2 instances match"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains(&first) && output.stderr.contains(&second),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("--all-matching"),
        "{}",
        output.stderr
    );
    assert!(
        session
            .iam()
            .get_role()
            .role_name("matches-role")
            .send()
            .await
            .is_err()
    );

    let output = session.provision().run(&[
        "instance-profile",
        "--role-name",
        "matches-role",
        "--instance-tag",
        "Name=ide-nowhere",
    ]);
    output.assert_code(1);
    assert!(
        output
            .stderr
            .contains("no pending/running/stopping/stopped instance matches"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("Name=ide-twin"),
        "lists what exists: {}",
        output.stderr
    );

    session
        .provision()
        .run(&[
            "instance-profile",
            "--role-name",
            "matches-role",
            "--instance-tag",
            "Name=ide-twin",
            "--instance-tag",
            "course=matches",
            "--all-matching",
        ])
        .success();
    assert!(session.associated_profile(&first).await.is_some());
    assert!(session.associated_profile(&second).await.is_some());
}

#[tokio::test]
async fn a_profile_holding_another_role_is_given_ours() {
    let session = Session::new("profile_role");
    session
        .provision()
        .run(&["instance-profile", "--role-name", "profile-role"])
        .success();
    let iam = session.iam();
    iam.remove_role_from_instance_profile()
        .instance_profile_name("profile-role")
        .role_name("profile-role")
        .send()
        .await
        .expect("remove");
    iam.create_role()
        .role_name("intruder-role")
        .assume_role_policy_document(TRUST_LAMBDA)
        .send()
        .await
        .expect("intruder");
    iam.add_role_to_instance_profile()
        .instance_profile_name("profile-role")
        .role_name("intruder-role")
        .send()
        .await
        .expect("add intruder");
    let output = session
        .provision()
        .run(&["instance-profile", "--role-name", "profile-role"]);
    output.success();
    assert!(
        output.stdout.contains("replace role intruder-role"),
        "{}",
        output.stdout
    );
    let profile = iam
        .get_instance_profile()
        .instance_profile_name("profile-role")
        .send()
        .await
        .expect("profile");
    let roles: Vec<&str> = profile
        .instance_profile()
        .expect("profile")
        .roles()
        .iter()
        .map(|r| r.role_name())
        .collect();
    assert_eq!(roles, ["profile-role"]);
}
