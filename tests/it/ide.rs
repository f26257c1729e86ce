//! `provision ide` against moto.

use crate::harness::{Session, mutating};

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
