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
        "CreateSecurityGroup",
        "RunInstances",
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

    check_the_instance(&session, &group).await;

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
            .is_some_and(|r| r.starts_with("iam-") || r.starts_with("ec2-"))
            && row["resource"] != "ec2-instance-profile-association"
        {
            assert_eq!(row["in_sync"], true, "{row}");
        }
    }
    assert!(
        document["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .any(|r| r["resource"] == "ec2-instance" && r["present"] == true),
        "{document}"
    );
}

/// The IDE's instance as AWS has it: the latest Amazon Linux 2023 image (its public parameter),
/// the lab's profile, its own group, IMDSv2 with hop limit 1, an encrypted gp3 root volume, stop
/// on shutdown, no key pair, and the set-up script with the idle stop.
async fn check_the_instance(session: &Session, group: &aws_sdk_ec2::types::SecurityGroup) {
    let ec2 = session.ec2();
    let instance = ide_instance(session).await.expect("the IDE's instance");
    let latest = session
        .ssm()
        .get_parameter()
        .name("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")
        .send()
        .await
        .expect("the public parameter");
    assert_eq!(
        instance.image_id(),
        latest.parameter().and_then(|p| p.value())
    );
    assert_eq!(
        instance.instance_type().map(|t| t.as_str()),
        Some("t3.small")
    );
    assert_eq!(instance.key_name(), None, "no key pair");
    assert!(
        instance
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .is_some_and(|arn| arn.ends_with("/dragons-lab-ec2-role")),
        "{instance:?}"
    );
    let groups: Vec<&str> = instance
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id())
        .collect();
    assert_eq!(groups, [group.group_id().expect("id")]);
    let metadata = instance.metadata_options().expect("metadata options");
    assert_eq!(
        metadata.http_tokens(),
        Some(&aws_sdk_ec2::types::HttpTokensState::Required)
    );
    assert_eq!(metadata.http_put_response_hop_limit(), Some(1));
    let id = instance.instance_id().expect("id");
    let shutdown = ec2
        .describe_instance_attribute()
        .instance_id(id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::InstanceInitiatedShutdownBehavior)
        .send()
        .await
        .expect("attribute");
    assert_eq!(
        shutdown
            .instance_initiated_shutdown_behavior()
            .and_then(|v| v.value()),
        Some("stop")
    );
    let volumes = ec2
        .describe_volumes()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("attachment.instance-id")
                .values(id)
                .build(),
        )
        .send()
        .await
        .expect("volumes");
    let root = &volumes.volumes()[0];
    assert_eq!(root.encrypted(), Some(true));
    assert_eq!(
        root.volume_type(),
        Some(&aws_sdk_ec2::types::VolumeType::Gp3)
    );
    assert_eq!(root.size(), Some(16));
    let user_data = ec2
        .describe_instance_attribute()
        .instance_id(id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .expect("user data");
    let encoded = user_data
        .user_data()
        .and_then(|v| v.value())
        .expect("user data is set");
    let script = String::from_utf8(aws_smithy_types::base64::decode(encoded).expect("base64"))
        .expect("utf-8");
    assert!(script.contains("idle_minutes=30\n"), "{script}");
    assert!(script.contains("python3-boto3"), "{script}");
}

/// The IDE's instance (`Name=dragons-lab-ide`), if one is there.
async fn ide_instance(session: &Session) -> Option<aws_sdk_ec2::types::Instance> {
    session
        .ec2()
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:Name")
                .values("dragons-lab-ide")
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .values("stopped")
                .build(),
        )
        .send()
        .await
        .expect("describe")
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .cloned()
}

/// Learner Lab is reported to deny reading the public AMI parameter: the newest Amazon Linux 2023
/// image owned by Amazon is used, and the plan says so.
#[tokio::test]
async fn where_the_image_parameter_is_denied_the_newest_amazon_image_is_used() {
    let proxy = crate::proxy::Proxy::start(&crate::harness::moto().endpoint);
    let session = Session::in_account("ide_image_fallback", "us-east-1", "240000000003")
        .await
        .through(&proxy);
    proxy.inject(
        "GetParameter",
        crate::proxy::Fault::Deny(crate::proxy::Denial::Identity),
        100,
    );
    let run = session.provision().run(&["ide", "--dry-run"]);
    run.success();
    assert!(
        run.stdout
            .contains("the newest al2023-ami-* image owned by Amazon"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("+ create    ec2-instance dragons-lab-ide"),
        "{}",
        run.stdout
    );
}

/// `teardown --only ide` removes the IDE's security group and leaves the lab's role (which is
/// instance-profile's); `teardown` removes the rest.
#[tokio::test]
async fn teardown_removes_the_ide_s_group_and_only_ide_leaves_the_lab_s_role() {
    let session = Session::in_account("ide_teardown", "us-east-1", "240000000002").await;
    session.provision().run(&["ide"]).success();
    assert!(ide_group(&session).await.is_some());
    assert!(ide_instance(&session).await.is_some());
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
    assert!(ide_instance(&session).await.is_none(), "terminated");
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

/// The lab's reader as the IDE's set-up writes it (`~/environment/dragons/app.py`, taken from the
/// user data the instance was launched with): after `dragons-lab` it reads the lab with S3 Select
/// as the course's app.py does, and on an account without S3 Select with GetObject.
#[tokio::test]
async fn the_reader_written_on_the_ide_reads_the_lab() {
    let session = Session::in_account("ide_reader", "us-east-1", "240000000004").await;
    session.provision().run(&["ide"]).success();
    session.provision().run(&["dragons-lab"]).success();
    let instance = ide_instance(&session).await.expect("the IDE");
    let user_data = session
        .ec2()
        .describe_instance_attribute()
        .instance_id(instance.instance_id().expect("id"))
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .expect("user data");
    let script = String::from_utf8(
        aws_smithy_types::base64::decode(
            user_data.user_data().and_then(|v| v.value()).expect("set"),
        )
        .expect("base64"),
    )
    .expect("utf-8");
    let app = script
        .split_once("cat > \"$lab/app.py\" <<'APP'\n")
        .and_then(|(_, rest)| rest.split_once("\nAPP\n"))
        .map(|(app, _)| app)
        .expect("the user data writes app.py");
    let path = session.home.join("app.py");
    std::fs::write(&path, app).expect("write");
    let path = path.to_str().expect("path");

    let read = session.python(&[path, "--json"]).success().json();
    assert_eq!(read["method"], "S3 Select", "{read}");
    assert_eq!(read["key"], "dragons.json");
    assert_eq!(read["dragons"].as_array().map(Vec::len), Some(25), "{read}");

    let proxy = crate::proxy::Proxy::with(
        &crate::harness::moto().endpoint,
        crate::proxy::Emulation {
            s3_select_unavailable: true,
            ..crate::proxy::Emulation::aws()
        },
    );
    let without_select = session
        .clone()
        .through(&proxy)
        .python(&[path, "--json"]);
    let read = without_select.success().json();
    assert_eq!(read["method"], "GetObject", "{read}");
    assert_eq!(read["dragons"].as_array().map(Vec::len), Some(25));
    assert!(
        without_select
            .stderr
            .contains("S3 Select is not available to this account"),
        "{}",
        without_select.stderr
    );
}
