//! `provision status` and `provision teardown` against moto. Teardown acts on a whole account, so
//! each test has an account of its own.

use futures::stream::{self, StreamExt};

use crate::harness::{Session, mutating};

async fn provision_both(session: &Session, name_tag: &str) -> String {
    let instance = session.launch_instance(&[("Name", name_tag)]).await;
    session
        .provision()
        .run(&[
            "instance-profile",
            "--instance-tag",
            &format!("Name={name_tag}"),
        ])
        .success();
    session.provision().run(&["dragons-lab"]).success();
    instance
}

#[tokio::test]
async fn status_then_teardown_removes_exactly_what_provision_created() {
    let session = Session::in_account("teardown_all", "us-east-1", "210000000001").await;
    let bucket = "dragons-lab-210000000001-us-east-1";
    session.provision().run(&["ide"]).success();
    let instance = provision_both(&session, "ide-teardown").await;

    // Look-alikes that provision did not create.
    let iam = session.iam();
    iam.create_role()
        .role_name("hand-made-lab-role")
        .path("/provision/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .expect("untagged role");
    session
        .s3()
        .create_bucket()
        .bucket("dragons-lab-hand-made")
        .send()
        .await
        .expect("untagged bucket");

    let status = session.provision().run(&["status", "--output", "json"]);
    status.success();
    let document = status.json();
    let resources = document["resources"].as_array().expect("resources");
    let ours: Vec<&serde_json::Value> = resources
        .iter()
        .filter(|r| r["name"] != "hand-made-lab-role" && r["name"] != "dragons-lab-hand-made")
        .filter(|r| r["resource"] != "ec2-instance-profile-association")
        .collect();
    assert_eq!(ours.len(), 8, "{document}");
    for resource in &ours {
        assert_eq!(resource["present"], true, "{resource}");
        assert_eq!(resource["in_sync"], true, "{resource}");
    }
    let hand_made = resources
        .iter()
        .find(|r| r["name"] == "hand-made-lab-role")
        .expect("listed");
    assert_eq!(hand_made["owned"], false);
    let human = session.provision().run(&["status"]);
    human.success();
    assert!(
        human.stdout.contains("dragons-lab-ec2-role") && human.stdout.contains("in sync, yours"),
        "{}",
        human.stdout
    );

    let (output, requests) =
        session.requests_during(|| session.provision().run(&["teardown", "--yes"]));
    output.success();
    assert!(
        output
            .stdout
            .contains("- delete    ec2-instance-profile-association"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("hand-made-lab-role (left alone (not created by provision))"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("dragons-lab-hand-made (left alone (not created by provision))"),
        "{}",
        output.stdout
    );
    let writes = mutating(&requests);
    let position = |op: &str| {
        writes
            .iter()
            .position(|w| w == op)
            .unwrap_or_else(|| panic!("{op} not in {writes:?}"))
    };
    assert!(position("DisassociateIamInstanceProfile") < position("RemoveRoleFromInstanceProfile"));
    assert!(position("RemoveRoleFromInstanceProfile") < position("DeleteInstanceProfile"));
    assert!(position("DeleteRolePolicy") < position("DeleteRole"));
    assert!(position("DetachRolePolicy") < position("DeleteRole"));
    assert!(
        writes.contains(&"DeleteSecurityGroup".to_string()),
        "{writes:?}"
    );

    // Checked through the SDK, not through provision.
    assert!(
        iam.get_role()
            .role_name("dragons-lab-ec2-role")
            .send()
            .await
            .is_err()
    );
    assert!(
        iam.get_instance_profile()
            .instance_profile_name("dragons-lab-ec2-role")
            .send()
            .await
            .is_err()
    );
    assert_eq!(session.associated_profile(&instance).await, None);
    assert!(!session.has_bucket(bucket).await);
    let parameters = session
        .ssm()
        .get_parameters()
        .names("dragon_data_bucket_name")
        .names("dragon_data_file_name")
        .send()
        .await
        .expect("get parameters");
    assert!(parameters.parameters().is_empty());
    assert!(
        iam.get_role()
            .role_name("hand-made-lab-role")
            .send()
            .await
            .is_ok(),
        "survives"
    );
    assert!(
        session.has_bucket("dragons-lab-hand-made").await,
        "survives"
    );

    let (again, requests) =
        session.requests_during(|| session.provision().run(&["teardown", "--yes"]));
    again.success();
    assert!(
        again.stdout.contains("0 created, 0 updated, 2 unchanged"),
        "{}",
        again.stdout
    );
    assert_eq!(mutating(&requests), Vec::<String>::new());

    let after = session.provision().run(&["status", "--output", "json"]);
    after.success();
    let document = after.json();
    let still_ours: Vec<&serde_json::Value> = document["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter(|r| r["present"] == true && r["owned"] != false)
        .collect();
    assert!(still_ours.is_empty(), "{document}");
}

#[tokio::test]
async fn a_versioned_bucket_with_thousands_of_versions_is_emptied_and_only_the_lab_goes() {
    let session = Session::in_account("teardown_versions", "us-east-1", "210000000002").await;
    let bucket = "dragons-lab-210000000002-us-east-1";
    provision_both(&session, "ide-versions").await;
    let s3 = session.s3();
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    // 2,500 objects, 300 of them with an older version, 200 deleted behind a delete marker.
    stream::iter(0..2500)
        .for_each_concurrent(16, |i| {
            let s3 = s3.clone();
            async move {
                let key = format!("objects/{i:05}.json");
                let put = || {
                    s3.put_object()
                        .bucket(bucket)
                        .key(&key)
                        .body(aws_sdk_s3::primitives::ByteStream::from(
                            format!("{{\"n\": {i}}}").into_bytes(),
                        ))
                        .send()
                };
                put().await.expect("put");
                if i < 300 {
                    put().await.expect("second version");
                }
                if (300..500).contains(&i) {
                    s3.delete_object()
                        .bucket(bucket)
                        .key(&key)
                        .send()
                        .await
                        .expect("delete marker");
                }
            }
        })
        .await;

    let refused = session
        .provision()
        .run(&["teardown", "--only", "dragons-lab"]);
    refused.assert_code(2);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert!(
        s3.head_bucket().bucket(bucket).send().await.is_ok(),
        "nothing deleted without confirmation"
    );

    let (dry, requests) =
        session.requests_during(|| session.provision().run(&["teardown", "--dry-run"]));
    dry.success();
    assert!(
        dry.stdout
            .contains(&format!("- delete    s3-bucket {bucket}")),
        "{}",
        dry.stdout
    );
    assert_eq!(mutating(&requests), Vec::<String>::new());

    let (output, requests) = session.requests_during(|| {
        session
            .provision()
            .run(&["teardown", "--only", "dragons-lab", "--yes"])
    });
    output.success();
    let batches = mutating(&requests)
        .iter()
        .filter(|op| *op == "DeleteObjects")
        .count();
    // 2,500 + 300 older versions + 200 delete markers + the lab's dragons.json = 3,001 entries:
    // three full batches of 1000 and one of 1.
    assert_eq!(batches, 4, "{:?}", mutating(&requests));
    assert!(
        s3.head_bucket().bucket(bucket).send().await.is_err(),
        "bucket deleted"
    );
    let role = session
        .iam()
        .get_role()
        .role_name("dragons-lab-ec2-role")
        .send()
        .await;
    assert!(role.is_ok(), "--only dragons-lab leaves the IAM resources");
}

#[tokio::test]
async fn teardown_after_a_partial_provisioning_deletes_what_is_there() {
    let session = Session::in_account("teardown_partial", "eu-west-3", "210000000003").await;
    session
        .iam()
        .create_role()
        .role_name("dragons-lab-ec2-role")
        .path("/provision/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("managed-by")
                .value("provision")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("role alone");
    let output = session.provision().run(&["teardown", "--yes"]);
    output.success();
    assert!(
        output
            .stdout
            .contains("- delete    iam-role dragons-lab-ec2-role"),
        "{}",
        output.stdout
    );
    assert!(
        session
            .iam()
            .get_role()
            .role_name("dragons-lab-ec2-role")
            .send()
            .await
            .is_err()
    );
}
