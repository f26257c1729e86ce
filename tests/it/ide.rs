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

/// The IDE's instance (`Name=dragons-lab-ide`), if one is there: pending, running or stopped.
async fn ide_instance(session: &Session) -> Option<aws_sdk_ec2::types::Instance> {
    use aws_sdk_ec2::types::InstanceStateName::{Pending, Running, Stopped};
    session
        .instances_named("dragons-lab-ide")
        .await
        .into_iter()
        .find(|i| {
            i.state()
                .and_then(|s| s.name())
                .is_some_and(|n| [Pending, Running, Stopped].contains(n))
        })
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
    let without_select = session.clone().through(&proxy).python(&[path, "--json"]);
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

/// A folder of stand-ins for the AWS CLI and its Session Manager plugin: `aws` records its
/// arguments, one per line, in `aws-args` beside them.
fn fake_session_manager(session: &Session) -> std::path::PathBuf {
    let bin = session.home.join("fake-bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let args = session.home.join("aws-args");
    for (name, body) in [
        ("aws", format!("printf '%s\\n' \"$@\" > {}", args.display())),
        ("session-manager-plugin", "true".to_string()),
    ] {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
        let mut permissions = std::fs::metadata(&path).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&path, permissions).expect("chmod");
    }
    bin
}

fn path_with(bin: &std::path::Path) -> String {
    format!("{}:/usr/bin:/bin", bin.display())
}

/// `ide stop` / `ide start`: each waits for the state, a second one sends no mutating request,
/// and status shows the IDE's state, type, idle stop and the cost of an hour running. IMDSv1
/// turned back on by hand is named by status and `ide --dry-run` and set back by `ide`.
#[tokio::test]
async fn the_ide_stops_and_starts_and_status_shows_its_state_and_cost() {
    let session = Session::in_account("ide_life", "us-east-1", "240000000005").await;
    session
        .provision()
        .run(&["ide", "--idle-stop", "45m"])
        .success();
    let id = ide_instance(&session)
        .await
        .and_then(|i| i.instance_id().map(str::to_string))
        .expect("the IDE");

    let stop = session.provision().run(&["ide", "stop"]);
    stop.success();
    assert!(
        stop.stdout.contains("stopped the IDE dragons-lab-ide"),
        "{}",
        stop.stdout
    );
    let state = |instance: aws_sdk_ec2::types::Instance| {
        instance
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
    };
    assert_eq!(
        ide_instance(&session).await.and_then(state).as_deref(),
        Some("stopped")
    );
    let (again, requests) = session.requests_during(|| session.provision().run(&["ide", "stop"]));
    again.success();
    assert!(
        again.stdout.contains("is stopped already"),
        "{}",
        again.stdout
    );
    assert_eq!(mutating(&requests), Vec::<String>::new());

    let status = session
        .provision()
        .run(&["status", "--output", "json"])
        .success()
        .json();
    let row = status["resources"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["resource"] == "ec2-instance")
        .expect("the IDE's row")
        .clone();
    let details = row["details"].to_string();
    for expected in [
        format!("{id}, stopped, t3.small, idle stop 45m"),
        "$0.0208 an hour running (us-east-1 on-demand, prices of 2026-12)".to_string(),
    ] {
        assert!(details.contains(&expected), "{expected}: {row}");
    }

    let start = session
        .provision()
        .run(&["ide", "start", "--output", "json"]);
    start.success();
    crate::harness::assert_valid(&start.stdout);
    let document = start.json();
    assert_eq!(document["changed"], true, "{document}");
    assert_eq!(document["state"], "running");
    assert_eq!(document["instance_id"], id.as_str());
    let (again, requests) = session.requests_during(|| session.provision().run(&["ide", "start"]));
    again.success();
    assert!(
        again.stdout.contains("is running already"),
        "{}",
        again.stdout
    );
    assert_eq!(mutating(&requests), Vec::<String>::new());

    // IMDSv1 turned back on by hand: drift, named and corrected.
    session
        .ec2()
        .modify_instance_metadata_options()
        .instance_id(&id)
        .http_tokens(aws_sdk_ec2::types::HttpTokensState::Optional)
        .send()
        .await
        .expect("by hand");
    let dry = session.provision().run(&["ide", "--dry-run"]);
    dry.success();
    assert!(
        dry.stdout.contains(
            "instance metadata tokens optional, hop limit 1 → tokens required, hop limit 1"
        ),
        "{}",
        dry.stdout
    );
    let status = session.provision().run(&["status"]);
    assert!(
        status.stdout.contains("instance metadata tokens optional"),
        "{}",
        status.stdout
    );
    let (fixed, requests) = session.requests_during(|| session.provision().run(&["ide"]));
    fixed.success();
    assert_eq!(mutating(&requests), ["ModifyInstanceMetadataOptions"]);
    let metadata = ide_instance(&session)
        .await
        .and_then(|i| i.metadata_options().cloned())
        .expect("options");
    assert_eq!(
        metadata.http_tokens(),
        Some(&aws_sdk_ec2::types::HttpTokensState::Required)
    );
}

/// `ide connect`, `ide forward` and `ide ssh-config` run the AWS CLI's Session Manager (stood in
/// for here) to the caller's IDE; ssh-config makes a key, puts its public half on the instance
/// with SSM Run Command and writes the Host block, keeping the rest of the file. Without the
/// programs, each names what to install before any request; a stopped IDE is named with the
/// command that starts it.
#[tokio::test]
async fn the_ide_is_reached_through_session_manager() {
    let session = Session::in_account("ide_reach", "us-east-1", "240000000006").await;
    let bin = fake_session_manager(&session);
    let empty = session.home.join("empty-bin");
    std::fs::create_dir_all(&empty).expect("empty");

    let (missing, requests) = session.requests_during(|| {
        session
            .provision()
            .env("PATH", &empty)
            .run(&["ide", "connect"])
    });
    missing.assert_code(1);
    assert!(
        missing
            .stderr
            .contains("the AWS CLI (`aws`) is not installed"),
        "{}",
        missing.stderr
    );
    assert!(missing.stderr.contains("awscli"), "{}", missing.stderr);
    assert!(requests.is_empty(), "{requests:?}");
    let only_cli = session.home.join("cli-only");
    std::fs::create_dir_all(&only_cli).expect("dir");
    std::fs::copy(bin.join("aws"), only_cli.join("aws")).expect("copy");
    let plugin = session
        .provision()
        .env("PATH", &only_cli)
        .run(&["ide", "forward", "8080"]);
    plugin.assert_code(1);
    assert!(
        plugin.stderr.contains("`session-manager-plugin`")
            && plugin
                .stderr
                .contains("brew install --cask session-manager-plugin"),
        "{}",
        plugin.stderr
    );

    let none = session
        .provision()
        .env("PATH", path_with(&bin))
        .run(&["ide", "connect"]);
    none.assert_code(1);
    assert!(
        none.stderr
            .contains("there is no IDE named dragons-lab-ide")
            && none.stderr.contains("provision ide"),
        "{}",
        none.stderr
    );

    session.provision().run(&["ide"]).success();
    let id = ide_instance(&session)
        .await
        .and_then(|i| i.instance_id().map(str::to_string))
        .expect("the IDE");
    let args = || std::fs::read_to_string(session.home.join("aws-args")).expect("aws ran");

    session
        .provision()
        .env("PATH", path_with(&bin))
        .run(&["ide", "connect"])
        .success();
    assert_eq!(
        args(),
        format!("ssm\nstart-session\n--target\n{id}\n--region\nus-east-1\n")
    );

    session
        .provision()
        .env("PATH", path_with(&bin))
        .run(&["ide", "forward", "8080", "--local-port", "9090"])
        .success();
    assert_eq!(
        args(),
        format!(
            "ssm\nstart-session\n--target\n{id}\n--document-name\nAWS-StartPortForwardingSession\n\
             --parameters\n{{\"portNumber\":[\"8080\"],\"localPortNumber\":[\"9090\"]}}\n\
             --region\nus-east-1\n"
        )
    );

    let config = session.home.join(".ssh/config");
    std::fs::create_dir_all(config.parent().expect("dir")).expect("ssh dir");
    let mine = "Host work\n    User me\n";
    std::fs::write(&config, mine).expect("config");
    let written = session.provision().env("PATH", path_with(&bin)).run(&[
        "ide",
        "ssh-config",
        "--output",
        "json",
    ]);
    written.success();
    crate::harness::assert_valid(&written.stdout);
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.starts_with(mine), "{text}");
    for line in [
        "Host dragons-lab-ide\n".to_string(),
        format!("    HostName {id}\n"),
        "    User ec2-user\n".to_string(),
        "    ProxyCommand aws ssm start-session --target %h --document-name AWS-StartSSHSession \
         --parameters portNumber=%p --region us-east-1\n"
            .to_string(),
    ] {
        assert!(text.contains(&line), "{line}: {text}");
    }
    let key = session.home.join(".ssh/provision/dragons-lab-ide");
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    assert!(public.starts_with("ssh-ed25519 "), "{public}");
    assert!(text.contains(&format!("IdentityFile \"{}\"", key.display())));
    // The public key went to the instance, by Run Command.
    let commands = session
        .ssm()
        .list_commands()
        .instance_id(&id)
        .send()
        .await
        .expect("commands");
    let sent = commands
        .commands()
        .iter()
        .find(|c| c.document_name() == Some("AWS-RunShellScript"))
        .expect("the key's command");
    let lines = sent
        .parameters()
        .and_then(|p| p.get("commands"))
        .cloned()
        .unwrap_or_default()
        .join("\n");
    let key_part: Vec<&str> = public.split_whitespace().take(2).collect();
    assert!(
        lines.contains(&format!(
            "echo '{} #provision-ide-dragons-lab-ide' >> /home/ec2-user/.ssh/authorized_keys",
            key_part.join(" ")
        )),
        "{lines}"
    );
    // Again: the same block, once; the key kept.
    session
        .provision()
        .env("PATH", path_with(&bin))
        .run(&["ide", "ssh-config"])
        .success();
    let again = std::fs::read_to_string(&config).expect("config");
    assert_eq!(again, text);
    assert_eq!(
        std::fs::read_to_string(key.with_extension("pub")).expect("kept"),
        public
    );

    session.provision().run(&["ide", "stop"]).success();
    let stopped = session
        .provision()
        .env("PATH", path_with(&bin))
        .run(&["ide", "connect"]);
    stopped.assert_code(1);
    assert!(
        stopped.stderr.contains("is stopped, not running")
            && stopped.stderr.contains("provision ide start"),
        "{}",
        stopped.stderr
    );
}

/// Bad input exits 2 before any request: an unknown instance type family, a malformed subnet,
/// a name that is not a valid tag; a subnet of another VPC exits 2 before any change.
#[tokio::test]
async fn bad_input_to_ide_exits_2_before_any_request() {
    let session = Session::in_account("ide_bad_input", "us-east-1", "240000000007").await;
    for (args, expected) in [
        (
            vec!["ide", "--instance-type", "q5.large"],
            "no instance family is named q5",
        ),
        (vec!["ide", "--subnet", "subnet-xyz"], "is not a subnet id"),
        (
            vec!["ide", "--name", "my ide!"],
            "is not a name for the IDE",
        ),
        (
            vec!["ide", "stop", "--name", "sg-1"],
            "is not a name for the IDE",
        ),
        (vec!["ide", "forward", "0"], "0"),
    ] {
        let (run, requests) = session.requests_during(|| session.provision().run(&args));
        run.assert_code(2);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(requests.is_empty(), "{args:?}: {requests:?}");
    }

    let ec2 = session.ec2();
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .expect("vpc");
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("id").to_string();
    let other = ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.9.1.0/24")
        .send()
        .await
        .expect("subnet");
    let other = other
        .subnet()
        .and_then(|s| s.subnet_id())
        .expect("id")
        .to_string();
    let (run, requests) =
        session.requests_during(|| session.provision().run(&["ide", "--subnet", &other]));
    run.assert_code(2);
    assert!(
        run.stderr.contains(&format!(
            "subnet {other} is in {vpc_id}, not in the default VPC"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("describe-subnets"), "{}", run.stderr);
    assert_eq!(mutating(&requests), Vec::<String>::new());

    // One of the default VPC's subnets: the IDE is launched in it.
    let defaults = ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .expect("subnets");
    let subnet = defaults.subnets()[0].subnet_id().expect("id").to_string();
    session
        .provision()
        .run(&["ide", "--subnet", &subnet])
        .success();
    let instance = ide_instance(&session).await.expect("the IDE");
    assert_eq!(instance.subnet_id(), Some(subnet.as_str()));
}
