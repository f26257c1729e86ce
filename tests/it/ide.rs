//! `provision ide` against moto.

use crate::harness::{Session, mutating};

/// The IDE's security group (`dragons-lab-ide`), if it exists.
async fn ide_group(session: &Session) -> Option<aws_sdk_ec2::types::SecurityGroup> {
    session
        .ec2()
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("dragons-lab-ide")
                .build(),
        )
        .send()
        .await
        .expect("describe")
        .security_groups()
        .first()
        .cloned()
}

/// The IDE's credentials: the lab's role with Session Manager's policy, and its profile; a second
/// run sends no mutating request, and `status` finds everything in sync.
#[tokio::test]
async fn the_ide_s_role_and_profile_are_made_once_and_status_agrees() {
    let session = Session::in_account("ide_first_run", "us-east-1", "240000000001").await;
    let (first, requests) =
        session.requests_during(|| session.provision().run(&["ide", "--output", "json"]));
    first.success();
    crate::harness::assert_valid(&first.stdout);
    let writes = mutating(&requests);
    for operation in [
        "CreateRole",
        "PutRolePolicy",
        "AttachRolePolicy",
        "CreateInstanceProfile",
        "AddRoleToInstanceProfile",
    ] {
        assert!(
            writes.contains(&operation.to_string()),
            "{operation} missing from {writes:?}"
        );
    }
    let attached = session.attached_policies("dragons-lab-ec2-role").await;
    assert_eq!(attached, ["AmazonSSMManagedInstanceCore"]);
    let group = ide_group(&session).await.expect("the IDE's security group");
    assert_eq!(group.ip_permissions(), &[], "no inbound rule");
    let default_vpc = session
        .ec2()
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("is-default")
                .values("true")
                .build(),
        )
        .send()
        .await
        .expect("vpcs")
        .vpcs()[0]
        .vpc_id()
        .map(str::to_string);
    assert_eq!(group.vpc_id().map(str::to_string), default_vpc);
    assert!(
        group
            .tags()
            .iter()
            .any(|t| t.key() == Some("managed-by") && t.value() == Some("provision")),
        "{group:?}"
    );

    let (second, requests) = session.requests_during(|| session.provision().run(&["ide"]));
    second.success();
    assert_eq!(
        mutating(&requests),
        Vec::<String>::new(),
        "{}",
        second.stdout
    );

    // instance-profile after ide keeps the IDE reachable: it leaves the SSM policy attached.
    let (lab, requests) =
        session.requests_during(|| session.provision().run(&["instance-profile"]));
    lab.success();
    assert_eq!(mutating(&requests), Vec::<String>::new(), "{}", lab.stdout);

    let status = session.provision().run(&["status", "--output", "json"]);
    status.success();
    let document = status.json();
    for row in document["resources"].as_array().expect("resources") {
        if row["resource"]
            .as_str()
            .is_some_and(|r| r.starts_with("iam-"))
        {
            assert_eq!(row["in_sync"], true, "{row}");
        }
    }
}

/// `teardown --only ide` removes the IDE's security group and leaves the lab's role (which is
/// instance-profile's); `teardown` removes the rest.
#[tokio::test]
async fn teardown_removes_the_ide_s_group_and_only_ide_leaves_the_lab_s_role() {
    let session = Session::in_account("ide_teardown", "us-east-1", "240000000002").await;
    session.provision().run(&["ide"]).success();
    assert!(ide_group(&session).await.is_some());
    let only = session
        .provision()
        .run(&["teardown", "--only", "ide", "--yes"]);
    only.success();
    assert!(
        only.stdout
            .contains("- delete    ec2-security-group dragons-lab-ide"),
        "{}",
        only.stdout
    );
    assert!(ide_group(&session).await.is_none());
    assert!(
        session
            .iam()
            .get_role()
            .role_name("dragons-lab-ec2-role")
            .send()
            .await
            .is_ok()
    );
    session.provision().run(&["ide"]).success();
    session.provision().run(&["teardown", "--yes"]).success();
    assert!(ide_group(&session).await.is_none());
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
