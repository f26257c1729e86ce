//! Regression tests for what an audit of the tool found (issue 22), one or more a finding, each
//! named after what it guards: the user's files, the waits and reads that had no bound, the
//! credentials as botocore resolves them, and the messages.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Output, Provision, Session, moto};
use crate::proxy::{Fault, Proxy};

/// Runs `provision` and fails the test, rather than hanging it, when it does not finish within
/// `limit` (what these tests are about is that nothing waits for ever).
pub fn run_within(provision: Provision, args: &[&str], limit: Duration) -> Output {
    let mut child = provision.spawn(args);
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return Output::of(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = Output::of(child);
            panic!(
                "provision {args:?} did not finish within {limit:?}\n--- stderr\n{}",
                output.stderr
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Makes a FIFO at `path`.
pub fn fifo(path: &Path) -> PathBuf {
    let _ = std::fs::remove_file(path);
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
    path.to_path_buf()
}

/// A session whose keys are profile `student` of its config file (so that the credentials file
/// can be anything), with the environment's keys removed.
fn student_in_config(test: &str) -> (Session, PathBuf) {
    let session = Session::new(test);
    let config = session.write_file(
        "config-student",
        &format!(
            "[profile student]\naws_access_key_id = {}\naws_secret_access_key = {}\nregion = \
             us-east-1\n",
            session.access_key, session.secret_key
        ),
    );
    (session, config)
}

fn without_keys(session: &Session) -> Provision {
    session
        .provision()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
}

/// Finding 1: `session` wrote over whatever sat at the credentials path (`/dev/null` became a
/// regular file holding the keys, as root). Only a regular file is written, or one created
/// where nothing is; anything else is refused with exit 2, naming it, before any request.
#[test]
fn session_writes_only_over_a_regular_credentials_file() {
    let (session, config) = student_in_config("hardening_session_target");
    let dir = session.home.join("targets");
    std::fs::create_dir_all(&dir).expect("dir");
    let dangling = dir.join("dangling");
    let _ = std::fs::remove_file(&dangling);
    std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).expect("link");
    let read_only = dir.join("read-only");
    std::fs::write(&read_only, "[keep]\nx = 1\n").expect("write");
    std::fs::set_permissions(
        &read_only,
        std::os::unix::fs::PermissionsExt::from_mode(0o400),
    )
    .expect("chmod");
    let pipe = fifo(&dir.join("fifo"));
    for (path, why) in [
        (PathBuf::from("/dev/null"), "is a character device"),
        (pipe.clone(), "is a FIFO (named pipe)"),
        (dangling.clone(), "which does not exist"),
        (read_only.clone(), "is read-only (mode 0400)"),
        (dir.clone(), "is a directory"),
    ] {
        let (output, requests) = session.requests_during(|| {
            run_within(
                without_keys(&session)
                    .env("AWS_CONFIG_FILE", &config)
                    .env("AWS_SHARED_CREDENTIALS_FILE", &path),
                &["--profile", "student", "session", "--token-code", "123456"],
                Duration::from_secs(20),
            )
        });
        output.assert_code(2);
        assert!(
            output.stderr.contains(&path.display().to_string()) && output.stderr.contains(why),
            "{}: {}",
            path.display(),
            output.stderr
        );
        assert!(requests.is_empty(), "{}: {requests:?}", path.display());
    }
    let null = std::fs::metadata("/dev/null").expect("/dev/null");
    assert!(
        std::os::unix::fs::FileTypeExt::is_char_device(&null.file_type()),
        "/dev/null is still the null device"
    );
    assert!(
        std::fs::symlink_metadata(&dangling)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(&read_only).expect("read"),
        "[keep]\nx = 1\n"
    );
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(
        &std::fs::metadata(&pipe).expect("fifo").file_type()
    ));
}

/// Finding 4: a FIFO as the config file, the credentials file or `--accounts FILE` blocked until
/// killed. Each is refused at once, with exit 2 and its path.
#[test]
fn a_fifo_where_a_file_is_read_is_refused_at_once() {
    let session = Session::new("hardening_fifos");
    let pipe = fifo(&session.home.join("pipe"));
    for (variable, what) in [
        ("AWS_CONFIG_FILE", "the AWS config file"),
        ("AWS_SHARED_CREDENTIALS_FILE", "the AWS credentials file"),
    ] {
        let output = run_within(
            session.provision().env(variable, &pipe),
            &["whoami"],
            Duration::from_secs(20),
        );
        output.assert_code(2);
        assert!(
            output
                .stderr
                .contains(&format!("{what} {} is a FIFO (named pipe)", pipe.display())),
            "{variable}: {}",
            output.stderr
        );
    }
    let output = run_within(
        session.provision(),
        &["--accounts", pipe.to_str().expect("path"), "status"],
        Duration::from_secs(20),
    );
    output.assert_code(2);
    assert!(
        output.stderr.contains("the accounts file") && output.stderr.contains("FIFO"),
        "{}",
        output.stderr
    );
    // The null device is the common way to say "no file": it reads as empty.
    session
        .provision()
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .run(&["whoami"])
        .success();
}

/// Finding 5: `--accounts /dev/zero` grew to 1 GB. What is read into memory has a documented
/// limit, exit 2 beyond it.
#[test]
fn reads_into_memory_are_limited() {
    let session = Session::new("hardening_limits");
    let output = run_within(
        session.provision(),
        &["--accounts", "/dev/zero", "status"],
        Duration::from_secs(20),
    );
    output.assert_code(2);
    assert!(
        output.stderr.contains("/dev/zero is a character device"),
        "{}",
        output.stderr
    );
    let big = session.write_file("accounts-big", &"111111111111\n".repeat(400_000));
    let output = session
        .provision()
        .run(&["--accounts", big.to_str().expect("path"), "status"]);
    output.assert_code(2);
    assert!(
        output.stderr.contains("is larger than 4 MiB"),
        "{}",
        output.stderr
    );
    let policy = session.write_file("policy-big", &" ".repeat(70_000));
    let output = session.provision().run(&[
        "instance-profile",
        "--dry-run",
        "--instance-tag",
        "Name=x",
        "--policy",
        policy.to_str().expect("path"),
    ]);
    output.assert_code(2);
    assert!(
        output.stderr.contains("is larger than 64 KiB"),
        "{}",
        output.stderr
    );
    let data = session.write_file(
        "data-big",
        &format!(
            "[{}]",
            vec![r#"{"dragon_name_str": "x"}"#; 50_000].join(",")
        ),
    );
    let output = session.provision().run(&[
        "dragons-lab",
        "--dry-run",
        "--data",
        data.to_str().expect("path"),
    ]);
    output.assert_code(2);
    assert!(
        output.stderr.contains("is larger than 1 MiB") && output.stderr.contains("S3 Select"),
        "{}",
        output.stderr
    );
}

/// Finding 4: a `credential_process` that hangs ignored `--timeout`. It is stopped at the
/// timeout, with an error naming it.
#[test]
fn a_hanging_credential_process_is_stopped_at_the_timeout() {
    let session = Session::new("hardening_process_timeout");
    let config = session.write_file(
        "config-slow",
        "[profile slow]\ncredential_process = sleep 120\n",
    );
    let started = Instant::now();
    let output = run_within(
        without_keys(&session).env("AWS_CONFIG_FILE", &config),
        &["--profile", "slow", "--timeout", "2s", "whoami"],
        Duration::from_secs(30),
    );
    output.assert_code(1);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        output.stderr.contains(
            "credential_process `sleep` of profile slow: did not finish within --timeout 2 s"
        ),
        "{}",
        output.stderr
    );
}

/// Finding 8: a failing `credential_process`'s stderr was printed verbatim (a token appeared
/// there). It is quoted only with `-v`.
#[test]
fn a_credential_process_s_stderr_is_quoted_only_with_verbose() {
    let session = Session::new("hardening_process_stderr");
    let config = session.write_file(
        "config-failing",
        "[profile failing]\ncredential_process = sh -c 'echo token=SECRET123 >&2; exit 3'\n",
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["--profile", "failing"];
        args.extend(extra);
        args.push("whoami");
        without_keys(&session)
            .env("AWS_CONFIG_FILE", &config)
            .run(&args)
    };
    let quiet = run(&[]);
    quiet.assert_code(1);
    assert!(
        quiet.stderr.contains("exited with code 3"),
        "{}",
        quiet.stderr
    );
    assert!(!quiet.stderr.contains("SECRET123"), "{}", quiet.stderr);
    assert!(quiet.stderr.contains("run with -v"), "{}", quiet.stderr);
    let verbose = run(&["-v"]);
    verbose.assert_code(1);
    assert!(verbose.stderr.contains("SECRET123"), "{}", verbose.stderr);
}

/// Findings 6 and 7: with `role_arn` + `source_profile`, AssumeRole went to the real STS
/// although `--endpoint-url` was given; the profile was reported as kind `profile`; its
/// `duration_seconds` was ignored. Here no `AWS_ENDPOINT_URL` is set: only the flag.
#[test]
fn a_role_profile_is_assumed_through_the_endpoint_flag_for_its_duration() {
    let session = Session::new("hardening_role_profile");
    let config = session.write_file(
        "config-role",
        "[profile lab]\nrole_arn = arn:aws:iam::210987654321:role/lab-student\nsource_profile = \
         keys\nduration_seconds = 1800\nrole_session_name = ada\n",
    );
    let credentials = session.write_file(
        "credentials-role",
        &format!(
            "[keys]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            session.access_key, session.secret_key
        ),
    );
    let (output, requests) = session.requests_during(|| {
        without_keys(&session)
            .env_remove("AWS_ENDPOINT_URL")
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .run(&[
                "--endpoint-url",
                &session.endpoint,
                "--profile",
                "lab",
                "--output",
                "json",
                "whoami",
            ])
    });
    output.success();
    assert!(
        requests.iter().any(|r| r.operation == "AssumeRole"),
        "the AssumeRole reached the test bed: {requests:?}"
    );
    let document = output.json();
    assert_eq!(document["account"], "210987654321");
    assert_eq!(
        document["arn"],
        "arn:aws:sts::210987654321:assumed-role/lab-student/ada"
    );
    assert_eq!(document["credentials"]["kind"], "assume-role");
    let left = document["expires_in_seconds"].as_u64().expect("expiry");
    assert!((1700..=1800).contains(&left), "{left}");
}

/// Finding 7: a role assumed with `credential_source = Environment` marked the environment's
/// keys "shadowed" though they were used.
#[test]
fn a_role_s_environment_source_is_shown_as_used() {
    let session = Session::new("hardening_credential_source");
    let config = session.write_file(
        "config-source",
        "[profile lab]\nrole_arn = arn:aws:iam::210987654322:role/lab\ncredential_source = \
         Environment\n",
    );
    let output = session.provision().env("AWS_CONFIG_FILE", &config).run(&[
        "--profile",
        "lab",
        "--output",
        "json",
        "whoami",
    ]);
    output.success();
    let document = output.json();
    assert_eq!(document["account"], "210987654322");
    assert_eq!(document["credentials"]["kind"], "assume-role");
    let links = document["chain"]["links"].as_array().expect("links");
    let environment = links
        .iter()
        .find(|l| l["link"] == "environment")
        .expect("the environment link");
    assert_eq!(environment["state"], "source", "{environment}");
    assert!(
        document["skipped"]
            .as_array()
            .is_none_or(|skipped| skipped.is_empty()),
        "{document}"
    );
}

/// Finding 7: partial keys, an empty AWS_PROFILE and a broken source_profile said "no AWS
/// credentials were found". Each is named, with exit 2, before any request.
#[test]
fn credential_set_ups_botocore_refuses_are_refused_with_their_cause() {
    let session = Session::new("hardening_partial");
    let config = session.write_file(
        "config-broken",
        "[profile gone]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = missing\n\
         [profile itself]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = itself\n",
    );
    let cases: Vec<(Provision, Vec<&str>, &str)> = vec![
        (
            session.provision().env_remove("AWS_SECRET_ACCESS_KEY"),
            vec!["whoami"],
            "partial credentials in the environment: AWS_ACCESS_KEY_ID is set, \
             AWS_SECRET_ACCESS_KEY is not",
        ),
        (
            session.provision().env("AWS_PROFILE", ""),
            vec!["whoami"],
            "AWS_PROFILE is set, but to nothing",
        ),
        (
            without_keys(&session).env("AWS_CONFIG_FILE", &config),
            vec!["--profile", "gone", "whoami"],
            "profile gone's source_profile `missing` is not defined",
        ),
        (
            without_keys(&session).env("AWS_CONFIG_FILE", &config),
            vec!["--profile", "itself", "whoami"],
            "its source_profile is itself itself, which holds no access keys",
        ),
    ];
    for (provision, args, why) in cases {
        let (output, requests) = session.requests_during(|| provision.run(&args));
        output.assert_code(2);
        assert!(output.stderr.contains(why), "{args:?}: {}", output.stderr);
        assert!(requests.is_empty(), "{args:?}: {requests:?}");
    }
}

/// Finding 8: a malformed config file said "no AWS region is configured" (exit 2) or "could not
/// parse profile file" (exit 1), naming neither file nor line; `session` with a malformed
/// credentials file said "the request could not be sent" though none was.
#[test]
fn a_malformed_shared_file_is_named_with_its_line() {
    let session = Session::new("hardening_malformed");
    let config = session.write_file("config-malformed", "[default]\nregion us-east-1\n");
    let output = session
        .provision()
        .env("AWS_CONFIG_FILE", &config)
        .run(&["whoami"]);
    output.assert_code(2);
    assert!(
        output.stderr.contains(&format!(
            "the AWS config file {} is malformed on line 2",
            config.display()
        )),
        "{}",
        output.stderr
    );
    let credentials = session.write_file(
        "credentials-malformed",
        "aws_access_key_id = AKIA\n[student]\n",
    );
    let (output, requests) = session.requests_during(|| {
        session
            .provision()
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .run(&["session", "--token-code", "123456"])
    });
    output.assert_code(2);
    assert!(
        output.stderr.contains(&format!(
            "the AWS credentials file {} is malformed on line 1",
            credentials.display()
        )),
        "{}",
        output.stderr
    );
    assert!(requests.is_empty(), "{requests:?}");
}

/// Finding 8: an `--accounts` line like `1111111111ab` was taken as a profile name and failed
/// after a request.
#[test]
fn an_account_id_look_alike_is_refused_before_any_request() {
    let session = Session::new("hardening_accounts_line");
    let accounts = session.write_file("accounts-typo", "111111111111\n1111111111ab\n");
    let (output, requests) = session.requests_during(|| {
        session
            .provision()
            .run(&["--accounts", accounts.to_str().expect("path"), "status"])
    });
    output.assert_code(2);
    assert!(
        output
            .stderr
            .contains("line 2: `1111111111ab` looks like an account id"),
        "{}",
        output.stderr
    );
    assert!(requests.is_empty(), "{requests:?}");
}

/// A site of `count` small pages (and `last`, sorted after them), in `session`'s home.
fn site_of(session: &Session, count: usize, last: &str) -> PathBuf {
    let site = session.home.join("site");
    let _ = std::fs::remove_dir_all(&site);
    std::fs::create_dir_all(&site).expect("site");
    for page in 0..count {
        std::fs::write(
            site.join(format!("page-{page:03}.html")),
            format!("<p>{page}</p>"),
        )
        .expect("page");
    }
    std::fs::write(site.join(last), "<p>public</p>").expect("last");
    site
}

fn count_of(proxy: &Proxy, operation: &str) -> usize {
    proxy
        .operations()
        .iter()
        .filter(|op| op.as_str() == operation)
        .count()
}

fn interrupt(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Finding 2: a site file replaced by a symbolic link to a private file after the uploads began
/// was uploaded public-read. What is opened is checked against the plan (no link followed, the
/// same device and inode) and read from that handle: the private file is never sent.
#[tokio::test]
async fn a_site_file_swapped_after_uploads_began_is_not_published() {
    let proxy = Proxy::start(&moto().endpoint);
    let session = Session::in_account("hardening-swap", "us-east-1", "330000000001")
        .await
        .through(&proxy);
    let site = site_of(&session, 24, "zz-last.html");
    let secret = session.write_file("private.txt", "TOP SECRET");
    proxy.inject("PutObject", Fault::Delay(400), 1000);
    let child = session
        .provision()
        .spawn(&["dragons-lab", "--site", site.to_str().expect("path")]);
    assert!(proxy.wait_for("PutObject", Duration::from_secs(60)));
    std::fs::remove_file(site.join("zz-last.html")).expect("remove");
    std::os::unix::fs::symlink(&secret, site.join("zz-last.html")).expect("link");
    let output = Output::of(child);
    output.assert_code(1);
    assert!(
        output
            .stderr
            .contains("zz-last.html changed after the plan was made"),
        "{}",
        output.stderr
    );
    let bucket = "dragons-lab-330000000001-us-east-1";
    let s3 = session.s3();
    assert!(
        s3.head_object()
            .bucket(bucket)
            .key("zz-last.html")
            .send()
            .await
            .is_err(),
        "the swapped file was not uploaded"
    );
    let listing = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list");
    for object in listing.contents() {
        let key = object.key().expect("key");
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("get")
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes();
        assert!(
            !String::from_utf8_lossy(&body).contains("TOP SECRET"),
            "{key} holds the private file"
        );
    }
}

/// Finding 3: Ctrl-C during a `--site` upload went on starting uploads (458–496 PutObject
/// requests in the 2 s grace). After the signal, none starts: at most those already in flight
/// (8 at a time) arrive.
#[tokio::test]
async fn no_upload_starts_after_ctrl_c() {
    let proxy = Proxy::start(&moto().endpoint);
    let session = Session::in_account("hardening-interrupt", "us-east-1", "330000000002")
        .await
        .through(&proxy);
    let site = site_of(&session, 200, "zz-last.html");
    let site = site.to_str().expect("path");
    proxy.inject("PutObject", Fault::Delay(300), 10_000);
    let child = session
        .provision()
        .spawn(&["--output", "json", "dragons-lab", "--site", site]);
    assert!(proxy.wait_for("PutObject", Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(700));
    let at_signal = count_of(&proxy, "PutObject");
    interrupt(&child);
    let output = Output::of(child);
    assert_eq!(output.code, 130, "{}", output.stderr);
    std::thread::sleep(Duration::from_millis(500));
    let after = count_of(&proxy, "PutObject") - at_signal;
    assert!(
        after <= 8,
        "{after} uploads arrived after the signal ({at_signal} before it)"
    );
    let report = output.json();
    assert!(
        report["changes"]
            .to_string()
            .contains("\"outcome\":\"interrupted\""),
        "{}",
        report["changes"]
    );
    // A re-run finishes the site.
    proxy.clear();
    session
        .provision()
        .run(&["dragons-lab", "--site", site])
        .success();
    let keys = session
        .s3()
        .list_objects_v2()
        .bucket("dragons-lab-330000000002-us-east-1")
        .send()
        .await
        .expect("list")
        .key_count();
    assert_eq!(keys, Some(202), "200 pages, the last one and the data");
}

/// Finding 5: a 300 MiB site file was read whole into memory (twice). Large files are streamed
/// from disk in parts (multipart above 8 MiB); the object is the file, and a re-run, which knows
/// the multipart ETag, uploads nothing.
#[tokio::test]
async fn a_large_site_file_is_uploaded_in_parts_and_not_again() {
    let session = Session::in_account("hardening-multipart", "us-east-1", "330000000003").await;
    let site = site_of(&session, 1, "video.bin");
    let bytes: Vec<u8> = (0..(17 << 20) + 123)
        .map(|i: u32| (i % 253) as u8)
        .collect();
    std::fs::write(site.join("video.bin"), &bytes).expect("write");
    let site = site.to_str().expect("path");
    let (output, requests) =
        session.requests_during(|| session.provision().run(&["dragons-lab", "--site", site]));
    output.success();
    let operations: Vec<&str> = requests.iter().map(|r| r.operation.as_str()).collect();
    assert_eq!(
        operations.iter().filter(|op| **op == "UploadPart").count(),
        3,
        "{operations:?}"
    );
    let bucket = "dragons-lab-330000000003-us-east-1";
    let stored = session
        .s3()
        .get_object()
        .bucket(bucket)
        .key("video.bin")
        .send()
        .await
        .expect("get");
    assert!(
        stored
            .e_tag()
            .is_some_and(|etag| etag.trim_matches('"').ends_with("-3")),
        "{:?}",
        stored.e_tag()
    );
    let body = stored.body.collect().await.expect("body").into_bytes();
    assert!(body.as_ref() == bytes.as_slice(), "the object is the file");
    let (again, requests) =
        session.requests_during(|| session.provision().run(&["dragons-lab", "--site", site]));
    again.success();
    assert!(
        crate::harness::mutating(&requests).is_empty(),
        "{:?}",
        crate::harness::mutating(&requests)
    );
}

/// Finding 8: a denied AssociateIamInstanceProfile took 11–23 s to report, DecodeAuthorizationMessage
/// being retried 6 times. Decoding is one attempt, bounded; the error then names the command that
/// decodes the message.
#[tokio::test]
async fn an_undecodable_refusal_is_reported_after_one_decode_attempt() {
    let proxy = Proxy::start(&moto().endpoint);
    let session = Session::in_account("hardening-decode", "us-east-1", "330000000004")
        .await
        .through(&proxy);
    session.launch_instance(&[("Name", "ide-decode")]).await;
    proxy.deny("AssociateIamInstanceProfile", crate::proxy::Denial::Encoded);
    proxy.inject("DecodeAuthorizationMessage", Fault::Fail(503), 100);
    let output =
        session
            .provision()
            .run(&["instance-profile", "--instance-tag", "Name=ide-decode"]);
    output.assert_code(1);
    assert!(
        output
            .stderr
            .contains("access denied: ec2:AssociateIamInstanceProfile"),
        "{}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .contains("aws sts decode-authorization-message --encoded-message ENCODEDtestbed"),
        "{}",
        output.stderr
    );
    assert_eq!(count_of(&proxy, "DecodeAuthorizationMessage"), 1);
}

/// Finding 10: when S3 Select's answer differs from the object, `dragons --s3-select` told the
/// user to re-run `dragons-lab`, which changes nothing. It names the difference instead. moto's
/// S3 Select mangles a record holding an apostrophe (the course's data has some), as a real
/// endpoint's answer could differ.
#[tokio::test]
async fn an_s3_select_answer_unlike_the_object_is_named_not_blamed_on_the_data() {
    let session = Session::in_account("hardening-select", "us-east-1", "330000000005").await;
    session.provision().run(&["dragons-lab"]).success();
    let output = session.provision().run(&["dragons", "--s3-select"]);
    output.assert_code(1);
    assert!(
        output.stderr.contains(
            "S3 Select's answer differs from s3://dragons-lab-330000000005-us-east-1/dragons.json, \
             which holds the dragons the lab expects"
        ),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("dragon "), "{}", output.stderr);
    assert!(
        !output.stderr.contains("to set the lab up"),
        "{}",
        output.stderr
    );
    session.provision().run(&["dragons"]).success();
}

/// Finding 10: `--color never` still wrote dim escape codes around the spinner's timer, and
/// `--color always` did not colour usage errors.
#[tokio::test]
async fn colour_is_as_asked_for_the_spinner_and_usage_errors() {
    const DIM: &str = "\u{1b}[2m";
    let proxy = Proxy::start(&moto().endpoint);
    let session = Session::in_account("hardening-colour", "us-east-1", "330000000006")
        .await
        .through(&proxy);
    let observe = |colour: &str| {
        // A slow read keeps the spinner (and its timer) on the terminal for a while.
        proxy.inject("ListBuckets", Fault::Delay(1500), 1);
        session
            .provision()
            .env_remove("NO_COLOR")
            .env("TERM", "xterm-256color")
            .run_on_terminal(
                &["--color", colour, "dragons-lab", "--dry-run"],
                "no prompt is expected",
                "",
            )
    };
    let never = observe("never");
    never.success();
    assert!(
        never.stdout.contains("observing S3 and SSM"),
        "{:?}",
        never.stdout
    );
    assert!(!never.stdout.contains(DIM), "{:?}", never.stdout);
    let always = observe("always");
    always.success();
    assert!(
        always.stdout.contains(DIM),
        "the test sees colour: {:?}",
        always.stdout
    );

    for args in [
        vec!["--color", "always", "instance-profile", "--no-such-flag"],
        vec!["--color=always", "--region", "US EAST", "whoami"],
    ] {
        let coloured = session.provision().run(&args);
        coloured.assert_code(2);
        assert!(
            coloured.stderr.contains('\u{1b}'),
            "{args:?}: {:?}",
            coloured.stderr
        );
        let args: Vec<&str> = args
            .iter()
            .map(|a| {
                if a.contains("always") {
                    "--color=never"
                } else {
                    a
                }
            })
            .collect();
        let plain = session.provision().run(&args);
        plain.assert_code(2);
        assert!(
            !plain.stderr.contains('\u{1b}'),
            "{args:?}: {:?}",
            plain.stderr
        );
    }
}
