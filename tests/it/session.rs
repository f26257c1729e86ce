//! `provision session` and profiles with `mfa_serial`: an IAM user with a virtual MFA device on
//! moto (CreateVirtualMFADevice, EnableMFADevice, ListMFADevices, GetSessionToken, AssumeRole with
//! SerialNumber/TokenCode), and whoami's provider chain against an IMDSv2 stand-in on loopback.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};

use crate::harness::{EnforcingMoto, Session, assert_valid, project_dir};
use crate::proxy::{Denial, Emulation, Proxy};

/// A student: an IAM user (allowed everything) with an access key and an enabled virtual MFA
/// device, made through the test's own (admin) session. Returns (access key, secret key, device
/// serial).
async fn student(admin: &Session, name: &str) -> (String, String, String) {
    let everything = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    });
    let (_, key, secret) = EnforcingMoto::user(admin, name, &everything).await;
    let iam = admin.iam();
    let device = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name(format!("{name}-device"))
        .send()
        .await
        .expect("virtual MFA device");
    let serial = device
        .virtual_mfa_device()
        .expect("device")
        .serial_number()
        .to_string();
    iam.enable_mfa_device()
        .user_name(name)
        .serial_number(&serial)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .expect("enable the device");
    (key, secret, serial)
}

/// A test's admin session, its student (the same test bed seen with the student's key, to count
/// the student's requests), the student's device, and the credentials file as written: profile
/// `student` with the student's keys, between other profiles when `surrounded`.
struct Fixture {
    admin: Session,
    student: Session,
    serial: String,
    original: String,
}

async fn fixture(test: &str, surrounded: bool) -> Fixture {
    let admin = Session::new(test);
    let (key, secret, serial) =
        student(&admin, &format!("{}-student", test.replace('_', "-"))).await;
    // Made before the files are written: a session of the test starts them empty.
    let student = Session {
        access_key: key.clone(),
        secret_key: secret.clone(),
        ..Session::new(test)
    };
    let profile =
        format!("[student]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n");
    let original = if surrounded {
        format!("{OTHERS}{profile}{AFTER}")
    } else {
        profile
    };
    std::fs::write(admin.home.join(".aws/credentials"), &original).expect("credentials");
    Fixture {
        admin,
        student,
        serial,
        original,
    }
}

fn credentials_text(session: &Session) -> String {
    std::fs::read_to_string(session.home.join(".aws/credentials")).expect("credentials file")
}

fn operations(requests: &[crate::harness::Request]) -> Vec<String> {
    requests.iter().map(|r| r.operation.clone()).collect()
}

const OTHERS: &str = "\
# course keys — keep this comment
[default]
aws_access_key_id = AKIADEFAULTEXAMPLE01
aws_secret_access_key = default-secret

";

const AFTER: &str = "
; a profile after the student's, with a comment above it
[other]
aws_access_key_id = AKIAOTHEREXAMPLE0001
aws_secret_access_key = other-secret
";

#[tokio::test]
async fn one_command_turns_keys_and_a_code_into_a_session_profile() {
    let Fixture {
        admin,
        student,
        serial,
        original,
    } = fixture("session_flow", true).await;
    std::fs::write(
        admin.home.join(".aws/config"),
        "[profile student]\nregion = us-east-1\n",
    )
    .expect("config");

    // No mfa_serial configured: the device is found with iam:ListMFADevices of the caller.
    let (output, requests) = student.requests_during(|| {
        admin
            .provision()
            .run(&["--profile", "student", "session", "--token-code", "123456"])
    });
    output.success();
    assert_eq!(
        operations(&requests),
        ["GetCallerIdentity", "ListMFADevices", "GetSessionToken"],
        "{}",
        output.stderr
    );
    assert!(
        output.stdout.contains("Wrote profile student-mfa"),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains(&serial), "{}", output.stdout);
    let written = credentials_text(&admin);
    assert!(
        written.starts_with(&original),
        "every other line stays as it was:\n{written}"
    );
    let section = &written[original.len()..];
    assert!(
        section.starts_with(
            "\n[student-mfa]\n# written by provision session from profile student, expires "
        ),
        "{section}"
    );
    // moto's GetSessionToken answer.
    assert!(
        section.contains("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"),
        "{section}"
    );
    assert!(
        section.contains("aws_session_token = AQoEXAMPLEH4aoAH0gNCAPyJxz4BlCFFxWNE1OPTgk5TthT"),
        "{section}"
    );
    assert!(section.contains("region = us-east-1\n"), "{section}");
    let mode = std::fs::metadata(admin.home.join(".aws/credentials"))
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The profile works, and whoami says what it is and how long it lasts.
    let whoami = admin
        .provision()
        .run(&["--profile", "student-mfa", "--output", "json", "whoami"]);
    whoami.success();
    assert_valid(&whoami.stdout);
    let document = whoami.json();
    assert_eq!(document["credentials"]["kind"], "mfa-session");
    assert_eq!(document["credentials"]["base"], "student");
    let left = document["expires_in_seconds"].as_u64().expect("expiry");
    assert!((3000..=3600).contains(&left), "{left}");

    // Again: the kept session is reused, with no request and no change.
    let (again, requests) = student.requests_during(|| {
        admin.provision().run(&[
            "--profile",
            "student",
            "--output",
            "json",
            "session",
            "--token-code",
            "123456",
        ])
    });
    again.success();
    assert_valid(&again.stdout);
    assert_eq!(again.json()["reused"], true);
    assert!(requests.is_empty(), "{:?}", operations(&requests));
    assert_eq!(credentials_text(&admin), written);

    // --force renews: one GetSessionToken (the device named this time), the section replaced.
    let (renewed, requests) = student.requests_during(|| {
        admin.provision().run(&[
            "--profile",
            "student",
            "--output",
            "json",
            "session",
            "--token-code",
            "123456",
            "--mfa-serial",
            &serial,
            "--force",
            "--duration",
            "2h",
        ])
    });
    renewed.success();
    assert_valid(&renewed.stdout);
    let document = renewed.json();
    assert_eq!(document["reused"], false);
    assert_eq!(document["kind"], "session-token");
    assert!(document["expires_in_seconds"].as_u64().expect("expiry") > 3600);
    assert_eq!(operations(&requests), ["GetSessionToken"]);
    let renewed_text = credentials_text(&admin);
    assert!(renewed_text.starts_with(&original));
    assert_eq!(renewed_text.matches("[student-mfa]").count(), 1);
    assert_ne!(renewed_text, written, "a new expiry");

    // On a terminal, the code is asked for instead of passed.
    let asked = admin.provision().run_on_terminal(
        &[
            "--profile",
            "student",
            "session",
            "--mfa-serial",
            &serial,
            "--force",
        ],
        "MFA code for",
        "246810",
    );
    asked.success();
    assert!(!asked.stdout.contains("246810"), "echoed: {}", asked.stdout);
    assert!(
        asked.stdout.contains("Wrote profile student-mfa"),
        "{}",
        asked.stdout
    );
    let renewed_text = credentials_text(&admin);

    // --print-env: export lines for eval, the file untouched.
    let env = admin.provision().run(&[
        "--profile",
        "student",
        "session",
        "--token-code",
        "123456",
        "--mfa-serial",
        &serial,
        "--force",
        "--print-env",
    ]);
    env.success();
    assert!(
        env.stdout
            .starts_with("export AWS_ACCESS_KEY_ID='AKIAIOSFODNN7EXAMPLE'\n"),
        "{}",
        env.stdout
    );
    assert!(env.stdout.contains("unset AWS_PROFILE"), "{}", env.stdout);
    assert_eq!(credentials_text(&admin), renewed_text);
}

#[tokio::test]
async fn what_can_be_refused_is_refused_before_any_request() {
    let Fixture {
        admin,
        student,
        serial,
        original,
    } = fixture("session_refusals", true).await;

    let refusals: &[(&[&str], &str)] = &[
        // No terminal to ask on, and no --token-code.
        (&["--profile", "student", "session"], "--token-code"),
        // A code is six digits.
        (
            &["--profile", "student", "session", "--token-code", "12ab56"],
            "six digits",
        ),
        // STS's limits.
        (
            &[
                "--profile",
                "student",
                "session",
                "--token-code",
                "123456",
                "--duration",
                "10m",
            ],
            "15m to 36h",
        ),
        // The session never replaces the keys it is made from, nor other long-term keys.
        (
            &[
                "--profile",
                "student",
                "session",
                "--token-code",
                "123456",
                "--into",
                "student",
            ],
            "--into",
        ),
        (
            &[
                "--profile",
                "student",
                "session",
                "--token-code",
                "123456",
                "--into",
                "other",
            ],
            "long-term keys",
        ),
        (
            &[
                "--profile",
                "student",
                "session",
                "--token-code",
                "123456",
                "--into",
                "bad name",
            ],
            "profile name",
        ),
    ];
    for (args, says) in refusals {
        let (output, requests) = student.requests_during(|| admin.provision().run(args));
        output.assert_code(2);
        assert!(output.stderr.contains(says), "{args:?}: {}", output.stderr);
        assert!(requests.is_empty(), "{args:?}: {:?}", operations(&requests));
        assert_eq!(credentials_text(&admin), original, "{args:?}");
    }

    // The course IDE's managed credentials file is never written; --print-env is the way out.
    let managed = format!(
        "# Do not modify this file, if this file is modified it will not be updated.\n\
         [default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        student.access_key, student.secret_key
    );
    std::fs::write(admin.home.join(".aws/credentials"), &managed).expect("credentials");
    let (refused, requests) = student.requests_during(|| {
        admin
            .provision()
            .run(&["session", "--token-code", "123456", "--mfa-serial", &serial])
    });
    refused.assert_code(2);
    assert!(refused.stderr.contains("Cloud9"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--print-env"), "{}", refused.stderr);
    assert!(requests.is_empty());
    let printed = admin
        .provision()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .run(&[
            "session",
            "--token-code",
            "123456",
            "--mfa-serial",
            &serial,
            "--print-env",
        ]);
    printed.success();
    assert!(
        printed.stdout.contains("export AWS_SESSION_TOKEN="),
        "{}",
        printed.stdout
    );
    assert_eq!(credentials_text(&admin), managed);
}

#[tokio::test]
async fn a_wrong_code_says_to_wait_for_the_next_one() {
    let Fixture { admin, serial, .. } = fixture("session_wrong_code", false).await;
    let proxy = Proxy::with(&admin.endpoint, Emulation::aws());
    proxy.deny_matching(
        "GetSessionToken",
        "TokenCode=000000",
        Denial::InvalidMfaCode,
    );
    let admin = admin.through(&proxy);
    let output = admin.provision().run(&[
        "--profile",
        "student",
        "session",
        "--token-code",
        "000000",
        "--mfa-serial",
        &serial,
    ]);
    output.assert_code(1);
    assert!(
        output.stderr.contains("MultiFactorAuthentication failed"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("wait for the next code"),
        "{}",
        output.stderr
    );
    assert!(!credentials_text(&admin).contains("student-mfa"));
}

#[tokio::test]
async fn a_profile_with_mfa_serial_uses_its_kept_session_or_says_how_to_make_one() {
    let Fixture {
        admin,
        student,
        serial,
        ..
    } = fixture("session_mfa_serial", false).await;
    let role_arn = "arn:aws:iam::123456789012:role/session-lab-admin";
    std::fs::write(
        admin.home.join(".aws/config"),
        format!(
            "[profile lab-admin]\nrole_arn = {role_arn}\nsource_profile = student\n\
             mfa_serial = {serial}\nrole_session_name = alice\nregion = us-east-1\n"
        ),
    )
    .expect("config");

    // Without a terminal and without a kept session: exit 2, naming provision session.
    let (refused, requests) =
        student.requests_during(|| admin.provision().run(&["--profile", "lab-admin", "whoami"]));
    refused.assert_code(2);
    assert!(
        refused
            .stderr
            .contains("provision session --profile lab-admin"),
        "{}",
        refused.stderr
    );
    assert!(requests.is_empty());

    // On a terminal the code is asked for (not echoed), the role assumed with it, and the session
    // kept as lab-admin-mfa.
    let (asked, requests) = student.requests_during(|| {
        admin.provision().run_on_terminal(
            &["--profile", "lab-admin", "whoami"],
            "MFA code for",
            "975310",
        )
    });
    asked.success();
    assert!(
        asked.stdout.contains(&format!("MFA code for {serial}: ")),
        "{}",
        asked.stdout
    );
    assert!(!asked.stdout.contains("975310"), "echoed: {}", asked.stdout);
    assert!(
        asked
            .stdout
            .contains("MFA session kept as profile lab-admin-mfa"),
        "{}",
        asked.stdout
    );
    assert!(
        asked
            .stdout
            .contains("assumed-role/session-lab-admin/alice"),
        "{}",
        asked.stdout
    );
    assert_eq!(operations(&requests), ["AssumeRole"]);

    // Every command with the profile now uses the kept session: the role's, with no new
    // AssumeRole.
    let (whoami, requests) = student.requests_during(|| {
        admin
            .provision()
            .run(&["--profile", "lab-admin", "--output", "json", "whoami"])
    });
    whoami.success();
    assert!(requests.is_empty(), "{:?}", operations(&requests));
    let document = whoami.json();
    assert_eq!(document["credentials"]["kind"], "mfa-session");
    assert_eq!(
        document["arn"],
        "arn:aws:sts::123456789012:assumed-role/session-lab-admin/alice"
    );

    // provision session renews it with AssumeRole.
    let (made, requests) = student.requests_during(|| {
        admin.provision().run(&[
            "--profile",
            "lab-admin",
            "--output",
            "json",
            "session",
            "--token-code",
            "123456",
            "--force",
        ])
    });
    made.success();
    assert_valid(&made.stdout);
    assert_eq!(made.json()["kind"], "assume-role");
    assert_eq!(made.json()["profile"], "lab-admin-mfa");
    assert_eq!(operations(&requests), ["AssumeRole"]);

    // An expired session names the command that renews it, before any request.
    let text = credentials_text(&admin);
    let start = text.find(", expires ").expect("marker") + ", expires ".len();
    let end = start + text[start..].find('\n').expect("line");
    let expired = format!("{}2020-01-01T00:00:00Z{}", &text[..start], &text[end..]);
    std::fs::write(admin.home.join(".aws/credentials"), expired).expect("credentials");
    let stale = admin
        .provision()
        .run(&["--profile", "lab-admin-mfa", "status"]);
    stale.assert_code(1);
    assert!(
        stale.stderr.contains("the AWS session has expired"),
        "{}",
        stale.stderr
    );
    assert!(
        stale
            .stderr
            .contains("provision session --profile lab-admin --force"),
        "{}",
        stale.stderr
    );
}

/// Issue 23: chained MFA. A role profile without a device of its own whose source_profile names an
/// mfa_serial (an IAM user whose policy requires MFA) assumes its role from that profile's MFA
/// session: `provision session --profile lab` makes the source's session, and every command with
/// the profile assumes the role with it — the user's bare keys sign nothing.
#[tokio::test]
async fn a_role_whose_source_profile_names_an_mfa_serial_is_assumed_with_its_session() {
    let Fixture {
        admin,
        student,
        serial,
        ..
    } = fixture("session_chained", false).await;
    let role_arn = "arn:aws:iam::123456789012:role/session-chained-lab";
    std::fs::write(
        admin.home.join(".aws/config"),
        format!(
            "[profile student]\nmfa_serial = {serial}\nregion = us-east-1\n\
             [profile lab]\nrole_arn = {role_arn}\nsource_profile = student\n\
             role_session_name = alice\nregion = us-east-1\n"
        ),
    )
    .expect("config");

    // Without a terminal and without the source's session: exit 2 before any request, naming the
    // command that makes it.
    let (refused, requests) =
        student.requests_during(|| admin.provision().run(&["--profile", "lab", "whoami"]));
    refused.assert_code(2);
    assert!(
        refused
            .stderr
            .contains("provision session --profile student"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("profile lab assumes its role with profile student's credentials"),
        "{}",
        refused.stderr
    );
    assert!(requests.is_empty(), "{:?}", operations(&requests));

    // `provision session --profile lab` makes the source's session: GetSessionToken with its
    // device, kept as student-mfa.
    let (made, requests) = student.requests_during(|| {
        admin.provision().run(&[
            "--profile",
            "lab",
            "--output",
            "json",
            "session",
            "--token-code",
            "123456",
        ])
    });
    made.success();
    assert_valid(&made.stdout);
    assert_eq!(made.json()["kind"], "session-token");
    assert_eq!(made.json()["profile"], "student-mfa");
    assert_eq!(made.json()["mfa_serial"], serial.as_str());
    assert_eq!(operations(&requests), ["GetSessionToken"]);
    assert!(credentials_text(&admin).contains("[student-mfa]"));

    // Every command with the profile assumes the role with the session: the user's own key signs
    // no request, and the identity is the role's.
    let (whoami, requests) = student.requests_during(|| {
        admin
            .provision()
            .run(&["--profile", "lab", "--output", "json", "whoami"])
    });
    whoami.success();
    assert!(requests.is_empty(), "{:?}", operations(&requests));
    assert_eq!(
        whoami.json()["arn"],
        "arn:aws:sts::123456789012:assumed-role/session-chained-lab/alice"
    );
    let status = admin.provision().run(&["--profile", "lab", "status"]);
    status.success();

    // Asked again, the kept session is reused: no request.
    let (again, requests) = student.requests_during(|| {
        admin.provision().run(&[
            "--profile",
            "lab",
            "--output",
            "json",
            "session",
            "--token-code",
            "123456",
        ])
    });
    again.success();
    assert_eq!(again.json()["reused"], true);
    assert!(requests.is_empty(), "{:?}", operations(&requests));

    // An expired source session names the command that renews it, before any request.
    let text = credentials_text(&admin);
    let start = text.find(", expires ").expect("marker") + ", expires ".len();
    let end = start + text[start..].find('\n').expect("line");
    let expired = format!("{}2020-01-01T00:00:00Z{}", &text[..start], &text[end..]);
    std::fs::write(admin.home.join(".aws/credentials"), expired).expect("credentials");
    let (stale, requests) =
        student.requests_during(|| admin.provision().run(&["--profile", "lab", "whoami"]));
    stale.assert_code(2);
    assert!(
        stale.stderr.contains("provision session --profile student"),
        "{}",
        stale.stderr
    );
    assert!(requests.is_empty(), "{:?}", operations(&requests));
}

/// The IMDSv2 stand-in (tests/it/imds.py): its endpoint, and the child to stop.
struct Imds {
    child: Child,
    endpoint: String,
    log: std::path::PathBuf,
}

impl Imds {
    fn start(session: &Session, role: &str, profile_arn: &str) -> Self {
        let log = session.home.join("imds.log");
        let _ = std::fs::remove_file(&log);
        let mut child = Command::new(project_dir().join(".venv/bin/python"))
            .arg(project_dir().join("tests/it/imds.py"))
            .args([role, profile_arn, log.to_str().expect("path")])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the IMDS stand-in");
        let mut port = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut port)
            .expect("port");
        let endpoint = format!("http://127.0.0.1:{}/", port.trim());
        crate::harness::assert_loopback(&endpoint);
        Self {
            child,
            endpoint,
            log,
        }
    }

    /// (method, path, carried a valid token) of every request it answered.
    fn requests(&self) -> Vec<(String, String, bool)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .map(|r| {
                (
                    r["method"].as_str().unwrap_or_default().to_string(),
                    r["path"].as_str().unwrap_or_default().to_string(),
                    r["token"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    }
}

impl Drop for Imds {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn whoami_names_the_instance_profile_that_environment_keys_shadow() {
    let session = Session::new("session_imds_shadowed");
    let profile_arn = "arn:aws:iam::123456789012:instance-profile/LabInstanceProfile";
    let imds = Imds::start(&session, "LabRole", profile_arn);
    let on_ec2 = || {
        session
            .provision()
            .env_remove("AWS_EC2_METADATA_DISABLED")
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.endpoint)
    };

    // The test's environment keys win; the instance profile below them is shadowed.
    let output = on_ec2().run(&["--output", "json", "whoami"]);
    output.success();
    assert_valid(&output.stdout);
    let document = output.json();
    let links = document["chain"]["links"].as_array().expect("links");
    let states: Vec<(&str, &str)> = links
        .iter()
        .map(|l| {
            (
                l["link"].as_str().unwrap_or_default(),
                l["state"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("profile-argument", "absent"),
            ("environment", "supplied"),
            ("credentials-file", "absent"),
            ("config-file", "absent"),
            ("web-identity", "absent"),
            ("container", "absent"),
            ("instance-profile", "shadowed"),
        ]
    );
    assert_eq!(
        links[6]["detail"],
        format!("role LabRole (instance profile {profile_arn})")
    );
    let hint = document["chain"]["hint"].as_str().expect("hint");
    assert!(hint.contains("LabRole"), "{hint}");
    assert!(hint.contains("unset AWS_ACCESS_KEY_ID"), "{hint}");

    let human = on_ec2().run(&["whoami"]);
    human.success();
    assert!(
        human
            .stdout
            .contains("chain        searched in this order:"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("shadowed"), "{}", human.stdout);
    assert!(
        human
            .stderr
            .contains("warning: this instance's role LabRole is shadowed"),
        "{}",
        human.stderr
    );

    // Without the environment keys the instance profile supplies the credentials.
    let from_instance = on_ec2()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .run(&["--output", "json", "whoami"]);
    from_instance.success();
    assert_valid(&from_instance.stdout);
    let document = from_instance.json();
    assert_eq!(document["credentials"]["kind"], "instance-metadata");
    assert_eq!(document["chain"]["links"][6]["state"], "supplied");
    assert!(document["chain"]["hint"].is_null());

    // IMDSv2 only: a token first, and every read carried it.
    let requests = imds.requests();
    assert!(
        requests
            .iter()
            .any(|(method, path, _)| method == "PUT" && path == "/latest/api/token")
    );
    assert!(
        requests.iter().all(|(_, _, token)| *token),
        "a request without a token: {requests:?}"
    );

    // Metadata turned off: not asked at all.
    let before = imds.requests().len();
    let off = session
        .provision()
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.endpoint)
        .run(&["--output", "json", "whoami"]);
    off.success();
    assert_eq!(
        off.json()["chain"]["links"][6]["detail"],
        "not asked (AWS_EC2_METADATA_DISABLED=true)"
    );
    assert_eq!(imds.requests().len(), before);
}

/// Issue 22, finding 1: CRLF line endings became LF when the session was written. The file keeps
/// its own line endings.
#[tokio::test]
async fn a_credentials_file_with_crlf_line_endings_keeps_them() {
    let Fixture {
        admin, original, ..
    } = fixture("session_crlf", true).await;
    let windows = original.replace('\n', "\r\n");
    std::fs::write(admin.home.join(".aws/credentials"), &windows).expect("credentials");
    admin
        .provision()
        .run(&["--profile", "student", "session", "--token-code", "123456"])
        .success();
    let written = credentials_text(&admin);
    assert!(written.starts_with(&windows), "{written:?}");
    assert!(written.contains("[student-mfa]\r\n# written by provision session"));
    assert_eq!(
        written.matches('\n').count(),
        written.matches("\r\n").count(),
        "every line ends in CRLF: {written:?}"
    );
}
