//! `provision status` against moto: what it reports as drifted.

use crate::harness::{Session, mutating};

/// The lab's instructions turn all four Block Public Access settings off by hand; `dragons-lab`
/// keeps them on (or only the two ACL settings off, with `--site`). `status` must say so.
#[tokio::test]
async fn status_reports_a_public_access_block_turned_off_by_hand_as_drifted() {
    let session = Session::in_account("status_public_access", "ap-south-1", "210000000004").await;
    let bucket = "dragons-lab-210000000004-ap-south-1";
    session.provision().run(&["dragons-lab"]).success();

    let bucket_line = |document: &serde_json::Value| {
        document["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["resource"] == "s3-bucket" && r["name"] == bucket)
            .cloned()
            .unwrap_or_else(|| panic!("no s3-bucket {bucket} in {document}"))
    };
    let status = || {
        let output = session.provision().run(&["status", "--output", "json"]);
        output.success();
        bucket_line(&output.json())
    };
    let before = status();
    assert_eq!(before["in_sync"], true, "{before}");
    assert_eq!(before["owned"], true, "{before}");

    session
        .s3()
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(false)
                .ignore_public_acls(false)
                .block_public_policy(false)
                .restrict_public_buckets(false)
                .build(),
        )
        .send()
        .await
        .expect("turn Block Public Access off by hand");

    let (drifted, requests) = session.requests_during(status);
    assert_eq!(drifted["in_sync"], false, "{drifted}");
    assert_eq!(
        drifted["details"],
        serde_json::json!([
            "BlockPublicAcls false → true",
            "IgnorePublicAcls false → true",
            "BlockPublicPolicy false → true",
            "RestrictPublicBuckets false → true"
        ])
    );
    assert_eq!(
        mutating(&requests),
        Vec::<String>::new(),
        "status changes nothing"
    );
    let human = session.provision().run(&["status"]);
    human.success();
    assert!(
        human
            .stdout
            .lines()
            .any(|l| l.contains(bucket)
                && l.contains("drifted, yours (BlockPublicAcls false → true")),
        "{}",
        human.stdout
    );

    // The command repairs it, and only it.
    let (repair, requests) = session.requests_during(|| session.provision().run(&["dragons-lab"]));
    repair.success();
    assert_eq!(mutating(&requests), ["PutPublicAccessBlock"]);
    assert_eq!(status()["in_sync"], true);
}
