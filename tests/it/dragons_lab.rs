//! `provision dragons-lab` and `provision dragons` against moto. The SSM parameter names and the
//! default bucket are per account and region, so each test works in a region of its own.

use crate::harness::{Session, mutating};

fn default_bucket(region: &str) -> String {
    format!("dragons-lab-123456789012-{region}")
}

/// The dragons data with every apostrophe removed: moto's S3 Select parser (py-partiql-parser)
/// mangles a record holding "that's", which real S3 Select reads correctly.
pub fn data_without_apostrophes() -> String {
    include_str!("../../data/dragons.json").replace('\'', "")
}

async fn check_lab_in(region: &str, test: &str) {
    let session = Session::in_region(test, region);
    let bucket = default_bucket(region);

    let (first, requests) = session.requests_during(|| session.provision().run(&["dragons-lab"]));
    first.success();
    assert!(
        first.stdout.contains("7 created, 0 updated, 0 unchanged"),
        "{}",
        first.stdout
    );
    let writes = mutating(&requests);
    for operation in [
        "CreateBucket",
        "PutBucketTagging",
        "PutBucketOwnershipControls",
        "PutPublicAccessBlock",
        "PutObject",
        "PutParameter",
    ] {
        assert!(
            writes.contains(&operation.to_string()),
            "{operation} missing from {writes:?}"
        );
    }

    // AWS state, through the SDK.
    let s3 = session.s3();
    let location = s3
        .get_bucket_location()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket exists");
    let constraint = location
        .location_constraint()
        .map(|c| c.as_str().to_string())
        .unwrap_or_default();
    if region == "us-east-1" {
        assert!(
            constraint.is_empty() || constraint == "us-east-1",
            "{constraint}"
        );
    } else {
        assert_eq!(constraint, region);
    }
    let ownership = s3
        .get_bucket_ownership_controls()
        .bucket(&bucket)
        .send()
        .await
        .expect("ownership");
    let rule = &ownership.ownership_controls().expect("controls").rules()[0];
    assert_eq!(rule.object_ownership().as_str(), "BucketOwnerPreferred");
    let block = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("public access block");
    let block = block
        .public_access_block_configuration()
        .expect("configuration");
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let tags = s3
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .expect("tags");
    assert!(
        tags.tag_set()
            .iter()
            .any(|t| t.key() == "managed-by" && t.value() == "provision")
    );
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key("dragons.json")
        .send()
        .await
        .expect("object");
    assert_eq!(object.content_type(), Some("application/json"));
    let body = object.body.collect().await.expect("body").to_vec();
    assert_eq!(body, include_bytes!("../../data/dragons.json"));
    let ssm = session.ssm();
    let parameters = ssm
        .get_parameters()
        .names("dragon_data_bucket_name")
        .names("dragon_data_file_name")
        .send()
        .await
        .expect("parameters");
    let value = |name: &str| {
        parameters
            .parameters()
            .iter()
            .find(|p| p.name() == Some(name))
            .and_then(|p| p.value())
            .map(str::to_string)
    };
    assert_eq!(value("dragon_data_bucket_name"), Some(bucket.clone()));
    assert_eq!(
        value("dragon_data_file_name"),
        Some("dragons.json".to_string())
    );
    let parameter_tags = ssm
        .list_tags_for_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
        .resource_id("dragon_data_file_name")
        .send()
        .await
        .expect("parameter tags");
    assert!(
        parameter_tags
            .tag_list()
            .iter()
            .any(|t| t.key() == "managed-by")
    );

    let (second, requests) = session.requests_during(|| session.provision().run(&["dragons-lab"]));
    second.success();
    assert!(
        second.stdout.contains("0 created, 0 updated, 7 unchanged"),
        "{}",
        second.stdout
    );
    assert_eq!(mutating(&requests), Vec::<String>::new());
    let versions = ssm
        .get_parameter()
        .name("dragon_data_file_name")
        .send()
        .await
        .expect("parameter")
        .parameter
        .map(|p| p.version)
        .expect("version");
    assert_eq!(versions, 1, "no version churn on re-runs");

    // The private data may not be read anonymously.
    assert_eq!(
        session.anonymous_get(&format!("/{bucket}/dragons.json")),
        403
    );
}

#[tokio::test]
async fn the_lab_is_created_and_converges_in_us_east_1() {
    check_lab_in("us-east-1", "lab_us_east_1").await;
}

#[tokio::test]
async fn the_lab_is_created_and_converges_in_ca_central_1() {
    check_lab_in("ca-central-1", "lab_ca_central_1").await;
}

#[tokio::test]
async fn a_modified_data_file_and_a_new_key_change_only_what_they_must() {
    let session = Session::in_region("lab_changes", "us-east-2");
    let data = session.write_file("dragons.json", include_str!("../../data/dragons.json"));
    let data = data.to_str().expect("path").to_string();
    session
        .provision()
        .run(&["dragons-lab", "--data", &data])
        .success();

    let modified = include_str!("../../data/dragons.json").replacen(
        "\"damage_int\": 9",
        "\"damage_int\": 10",
        1,
    );
    std::fs::write(&data, modified).expect("modify data");
    let (output, requests) =
        session.requests_during(|| session.provision().run(&["dragons-lab", "--data", &data]));
    output.success();
    assert!(
        output.stdout.contains("~ update    s3-object"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("0 created, 1 updated, 6 unchanged"),
        "{}",
        output.stdout
    );
    assert_eq!(mutating(&requests), vec!["PutObject".to_string()]);

    let (output, requests) = session.requests_during(|| {
        session.provision().run(&[
            "dragons-lab",
            "--data",
            &data,
            "--key",
            "data/dragons-v2.json",
        ])
    });
    output.success();
    assert!(
        output.stdout.contains("1 created, 2 updated, 4 unchanged"),
        "{}",
        output.stdout
    );
    // The bucket records the key it serves (provision:data-key), so that
    // status plans the lab as this command does.
    assert!(
        output
            .stdout
            .contains("record --key: provision:data-key=data/dragons-v2.json"),
        "{}",
        output.stdout
    );
    let mut writes = mutating(&requests);
    writes.sort();
    assert_eq!(
        writes,
        vec![
            "PutBucketTagging".to_string(),
            "PutObject".to_string(),
            "PutParameter".to_string()
        ]
    );
    let listing = session.provision().run(&["dragons", "--output", "json"]);
    listing.success();
    assert_eq!(listing.json()["key"], "data/dragons-v2.json");
    assert_eq!(listing.json()["dragons"][0]["damage_int"], 10);
}

#[tokio::test]
async fn dragons_reads_the_lab_back_like_the_application() {
    let session = Session::in_region("dragons_read", "us-west-1");
    let missing = session.provision().run(&["dragons"]);
    missing.assert_code(1);
    assert!(
        missing
            .stderr
            .contains("SSM parameter dragon_data_bucket_name and dragon_data_file_name not found"),
        "{}",
        missing.stderr
    );
    assert!(
        missing.stderr.contains("provision dragons-lab"),
        "{}",
        missing.stderr
    );

    session.provision().run(&["dragons-lab"]).success();
    let all = session.provision().run(&["dragons"]);
    all.success();
    assert!(
        all.stdout
            .contains("25 dragons from s3://dragons-lab-123456789012-us-west-1/dragons.json"),
        "{}",
        all.stdout
    );
    assert!(all.stdout.starts_with("NAME"), "{}", all.stdout);

    let red = session
        .provision()
        .run(&["dragons", "--family", "red", "--output", "json"]);
    red.success();
    let document = red.json();
    let families: Vec<&str> = document["dragons"]
        .as_array()
        .expect("dragons")
        .iter()
        .filter_map(|d| d["family_str"].as_str())
        .collect();
    assert!(!families.is_empty());
    assert!(families.iter().all(|f| *f == "red"), "{families:?}");
    let expected_red = include_str!("../../data/dragons.json")
        .matches("\"family_str\": \"red\"")
        .count();
    assert_eq!(document["count"], expected_red);

    // S3 Select, as the lab application queries (see data_without_apostrophes).
    let data = session.write_file("dragons-select.json", &data_without_apostrophes());
    session
        .provision()
        .run(&["dragons-lab", "--data", data.to_str().expect("path")])
        .success();
    let (selected, requests) = session.requests_during(|| {
        session
            .provision()
            .run(&["dragons", "--s3-select", "--output", "json"])
    });
    selected.success();
    assert_eq!(selected.json()["count"], 25);
    assert_eq!(selected.json()["method"], "SelectObjectContent");
    assert!(
        requests
            .iter()
            .any(|r| r.operation == "SelectObjectContent"),
        "{requests:?}"
    );
    let atlas = session
        .provision()
        .run(&["dragons", "--s3-select", "--name", "atlas"]);
    atlas.success();
    assert!(
        atlas.stdout.contains("Atlas") && atlas.stdout.contains("1 dragons"),
        "{}",
        atlas.stdout
    );

    // Data replaced behind the lab's back is named as not what the lab expects.
    session
        .s3()
        .put_object()
        .bucket("dragons-lab-123456789012-us-west-1")
        .key("dragons.json")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"{\"not\": \"dragons\"}",
        ))
        .send()
        .await
        .expect("overwrite");
    let broken = session.provision().run(&["dragons"]);
    broken.assert_code(1);
    assert!(
        broken
            .stderr
            .contains("is not the dragons data the lab expects"),
        "{}",
        broken.stderr
    );
}

#[tokio::test]
async fn site_files_are_public_and_the_data_stays_private() {
    let session = Session::in_region("lab_site", "us-west-2");
    let site = session.home.join("site");
    std::fs::create_dir_all(site.join("css")).expect("site dir");
    std::fs::write(site.join("index.html"), "<h1>Dragons</h1>").expect("index");
    std::fs::write(site.join("css/app.css"), "h1 { color: red }").expect("css");
    let site = site.to_str().expect("path");
    let bucket = default_bucket("us-west-2");

    let output = session.provision().run(&["dragons-lab", "--site", site]);
    output.success();
    assert!(output.stdout.contains("2 to upload"), "{}", output.stdout);
    assert!(
        output
            .stdout
            .contains(&format!("Site: {}/{bucket}/index.html", session.endpoint)),
        "{}",
        output.stdout
    );
    assert_eq!(session.anonymous_get(&format!("/{bucket}/index.html")), 200);
    assert_eq!(
        session.anonymous_get(&format!("/{bucket}/dragons.json")),
        403
    );
    let head = session
        .s3()
        .head_object()
        .bucket(&bucket)
        .key("css/app.css")
        .send()
        .await
        .expect("css");
    assert_eq!(head.content_type(), Some("text/css"));
    let block = session
        .s3()
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("block");
    let block = block
        .public_access_block_configuration()
        .expect("configuration");
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(false), Some(false), Some(true), Some(true))
    );

    let (again, requests) = session.requests_during(|| {
        session
            .provision()
            .run(&["dragons-lab", "--site", site, "--output", "json"])
    });
    again.success();
    assert_eq!(mutating(&requests), Vec::<String>::new());
    assert_eq!(
        again.json()["site_url"],
        format!("{}/{bucket}/index.html", session.endpoint)
    );
}

#[tokio::test]
async fn a_bucket_of_another_account_is_a_clear_error() {
    let session = Session::in_region("other_account", "eu-west-1");
    let other = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&session.other_account("111122223333").await)
            .force_path_style(true)
            .build(),
    );
    other
        .create_bucket()
        .bucket("taken-dragons-bucket")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .expect("the other account's bucket");
    let (output, requests) = session.requests_during(|| {
        session
            .provision()
            .run(&["dragons-lab", "--bucket", "taken-dragons-bucket"])
    });
    output.assert_code(1);
    assert!(
        output
            .stderr
            .contains("bucket taken-dragons-bucket belongs to another AWS account"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("dragons-lab-<account-id>-<region>"),
        "{}",
        output.stderr
    );
    assert_eq!(mutating(&requests), Vec::<String>::new());
}

#[tokio::test]
async fn someone_elses_parameter_is_refused_unless_adopted() {
    let session = Session::in_region("parameter_adopt", "eu-west-2");
    session
        .ssm()
        .put_parameter()
        .name("dragon_data_file_name")
        .value("my-own-dragons.json")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("hand-made parameter");
    let (output, requests) = session.requests_during(|| session.provision().run(&["dragons-lab"]));
    output.assert_code(1);
    assert!(
        output
            .stderr
            .contains("already holds `my-own-dragons.json`"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("--adopt"), "{}", output.stderr);
    assert_eq!(
        mutating(&requests),
        Vec::<String>::new(),
        "nothing half-created"
    );

    session
        .provision()
        .run(&["dragons-lab", "--adopt"])
        .success();
    let value = session
        .ssm()
        .get_parameter()
        .name("dragon_data_file_name")
        .send()
        .await
        .expect("parameter")
        .parameter
        .and_then(|p| p.value)
        .expect("value");
    assert_eq!(value, "dragons.json");
}

#[tokio::test]
async fn dry_run_sends_no_mutating_request() {
    let session = Session::in_region("lab_dry_run", "eu-central-1");
    let (output, requests) =
        session.requests_during(|| session.provision().run(&["dragons-lab", "--dry-run"]));
    output.success();
    assert!(
        output
            .stdout
            .contains("+ create    s3-bucket dragons-lab-123456789012-eu-central-1"),
        "{}",
        output.stdout
    );
    assert_eq!(mutating(&requests), Vec::<String>::new());
    assert!(!session.has_bucket(&default_bucket("eu-central-1")).await);
}
