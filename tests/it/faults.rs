//! Faults between requests, injected by the test proxy (`proxy`) in front of moto, for every
//! mutating operation of `ide`, `instance-profile`, `dragons-lab`, `dragons-api` and `teardown`:
//!
//! (a) the operation fails persistently → exit 1, the report lists each change's outcome, a
//!     fault-free re-run converges, and a third run changes nothing;
//! (b) the operation is applied but its answer is lost (the SDK retries it) → the run succeeds
//!     and a second run changes nothing (no duplicates);
//! (c) the operation hangs and the run gets SIGINT → exit 130 with the report, a re-run
//!     converges.
//!
//! Plus: 20 % random faults over fixed seeds succeed, and a silent endpoint fails within
//! `--timeout`. The operations are not listed by hand: a fault-free run through the proxy names
//! them, so a new operation is covered as soon as a command sends it.
//!
//! Each scenario has an account of its own (moto keeps one per assumed role), so scenarios run in
//! parallel against the one moto server.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{Output, Session, moto};
use crate::proxy::{Fault, Proxy};

/// Scenarios run at once (each is mostly waiting on moto and on retries).
const PARALLEL: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Ide,
    InstanceProfile,
    DragonsLab,
    DragonsApi,
    Teardown,
}

impl Command {
    fn args(self) -> Vec<&'static str> {
        match self {
            Self::Ide => vec!["ide"],
            Self::InstanceProfile => vec!["instance-profile", "--instance-tag", "Name=ide-faults"],
            Self::DragonsLab => vec!["dragons-lab"],
            Self::DragonsApi => vec!["dragons-api", "--auth"],
            Self::Teardown => vec!["teardown", "--yes"],
        }
    }

    /// A distinct account per command, mode (kind of fault) and scenario.
    fn account(self, mode: Mode, n: usize) -> String {
        let command = match self {
            Self::InstanceProfile => 1,
            Self::DragonsLab => 2,
            Self::Teardown => 3,
            Self::Ide => 4,
            Self::DragonsApi => 5,
        };
        format!("3{command}{}{n:09}", mode as u8)
    }
}

/// The kind of fault a scenario injects (part of its account id).
#[derive(Debug, Clone, Copy)]
enum Mode {
    Persistent = 1,
    LostAnswer = 2,
    Interrupt = 3,
    Random = 4,
    Untagged = 5,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A fresh account with what the command needs: the tagged instance, and for teardown everything
/// the other commands create (made without faults, straight against moto).
fn prepare(command: Command, mode: Mode, n: usize) -> Session {
    let account = command.account(mode, n);
    let rt = runtime();
    let session = rt.block_on(Session::in_account(
        &format!("faults-{account}"),
        "us-east-1",
        &account,
    ));
    rt.block_on(session.launch_instance(&[("Name", "ide-faults")]));
    if command == Command::DragonsApi {
        session
            .provision()
            .run(&Command::DragonsLab.args())
            .success();
    }
    if command == Command::Teardown {
        session.provision().run(&Command::Ide.args()).success();
        session
            .provision()
            .run(&Command::InstanceProfile.args())
            .success();
        session
            .provision()
            .run(&Command::DragonsLab.args())
            .success();
        session
            .provision()
            .run(&Command::DragonsApi.args())
            .success();
    }
    session
}

/// Runs `args` through `proxy`, with `--output json`; the SDK makes at most `attempts` attempts.
fn run(session: &Session, proxy: &Proxy, args: &[&str], attempts: u32) -> Output {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    session
        .provision()
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("AWS_MAX_ATTEMPTS", attempts.to_string())
        .run(&all)
}

/// Created + updated + deleted of a successful run's report.
fn changes_made(output: &Output) -> u64 {
    let summary = &output.json()["summary"];
    ["created", "updated", "deleted"]
        .iter()
        .map(|k| summary[k].as_u64().unwrap_or(0))
        .sum()
}

/// A fault-free re-run succeeds, and the run after it changes nothing.
#[track_caller]
fn converges(session: &Session, proxy: &Proxy, command: Command, context: &str) {
    proxy.clear();
    let rerun = run(session, proxy, &command.args(), 6);
    assert_eq!(rerun.code, 0, "{context}: re-run failed\n{}", rerun.stderr);
    let third = run(session, proxy, &command.args(), 6);
    assert_eq!(
        third.code, 0,
        "{context}: third run failed\n{}",
        third.stderr
    );
    assert_eq!(
        changes_made(&third),
        0,
        "{context}: the third run still changed something\n{}",
        third.stdout
    );
}

/// The mutating operations the command sends, from a fault-free run through the proxy.
fn mutating_operations(command: Command, mode: Mode) -> Vec<String> {
    // Scenario 0 of the mode's accounts.
    let session = prepare(command, mode, 0);
    let proxy = Proxy::start(&moto().endpoint);
    run(&session, &proxy, &command.args(), 6).success();
    let operations = proxy.mutating_operations();
    assert!(
        !operations.is_empty(),
        "{command:?} sent no mutating request"
    );
    operations
}

/// Runs `scenario` for every mutating operation of `command`, `PARALLEL` at a time; returns how
/// many ran.
fn for_every_operation(
    command: Command,
    mode: Mode,
    scenario: impl Fn(Session, &str) + Sync,
) -> usize {
    let operations = mutating_operations(command, mode);
    eprintln!(
        "{command:?} {mode:?}: {} operations: {operations:?}",
        operations.len()
    );
    for (chunk_index, chunk) in operations.chunks(PARALLEL).enumerate() {
        std::thread::scope(|scope| {
            for (i, operation) in chunk.iter().enumerate() {
                let scenario = &scenario;
                let n = 1 + chunk_index * PARALLEL + i;
                scope.spawn(move || scenario(prepare(command, mode, n), operation));
            }
        });
    }
    operations.len()
}

fn persistent_failure(command: Command) {
    let count = for_every_operation(command, Mode::Persistent, |session, operation| {
        let proxy = Proxy::start(&moto().endpoint);
        proxy.inject(operation, Fault::Fail(503), u32::MAX);
        let output = run(&session, &proxy, &command.args(), 2);
        let context = format!("{command:?}, {operation} failing");
        assert_eq!(output.code, 1, "{context}\n{}", output.stderr);
        let report = output.json();
        let outcomes: Vec<&str> = report["changes"]
            .as_array()
            .unwrap_or_else(|| panic!("{context}: no changes in\n{}", output.stdout))
            .iter()
            .map(|c| c["outcome"].as_str().unwrap_or("missing"))
            .collect();
        assert!(outcomes.contains(&"failed"), "{context}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| ["applied", "unchanged", "failed", "not started"].contains(o)),
            "{context}: {outcomes:?}"
        );
        let error = &report["error"];
        assert_eq!(error["exit_code"], 1, "{context}");
        let hints = error["hints"].to_string();
        assert!(hints.contains("AWS is failing"), "{context}: {hints}");
        assert!(
            hints.contains("resume with: provision"),
            "{context}: {hints}"
        );
        assert!(
            error["causes"].to_string().contains("sent 2 times"),
            "{context}: {}",
            error["causes"]
        );
        converges(&session, &proxy, command, &context);
    });
    assert!(count >= 3, "{command:?}: {count} operations");
}

fn lost_answer(command: Command) {
    for_every_operation(command, Mode::LostAnswer, |session, operation| {
        let proxy = Proxy::start(&moto().endpoint);
        proxy.inject(operation, Fault::LoseAnswer, 1);
        let output = run(&session, &proxy, &command.args(), 6);
        let context = format!("{command:?}, {operation} answer lost");
        assert_eq!(proxy.injected(), 1, "{context}: the fault was not injected");
        assert_eq!(output.code, 0, "{context}\n{}", output.stderr);
        converges(&session, &proxy, command, &context);
        if command == Command::InstanceProfile {
            // No duplicate association.
            let associations = runtime().block_on(async {
                session
                    .ec2()
                    .describe_iam_instance_profile_associations()
                    .send()
                    .await
                    .expect("associations")
                    .iam_instance_profile_associations()
                    .len()
            });
            assert_eq!(associations, 1, "{context}");
        }
    });
}

fn interrupted(command: Command) {
    for_every_operation(command, Mode::Interrupt, |session, operation| {
        let proxy = Proxy::start(&moto().endpoint);
        proxy.inject(operation, Fault::Hold, 1);
        let context = format!("{command:?}, SIGINT while {operation} hangs");
        let mut args = vec!["--output", "json"];
        args.extend(command.args());
        let child = session
            .provision()
            .env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .spawn(&args);
        assert!(
            proxy.wait_for(operation, Duration::from_secs(60)),
            "{context}: never sent"
        );
        let signalled = Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let output = Output::of(child);
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "{context}: took {:?} to stop",
            signalled.elapsed()
        );
        assert_eq!(output.code, 130, "{context}\n{}", output.stderr);
        let report = output.json();
        assert_eq!(report["error"]["exit_code"], 130, "{context}");
        assert!(
            report["changes"]
                .to_string()
                .contains("\"outcome\":\"interrupted\""),
            "{context}: {}",
            report["changes"]
        );
        assert!(
            output.stderr.contains("resume with: provision"),
            "{context}\n{}",
            output.stderr
        );
        converges(&session, &proxy, command, &context);
    });
}

#[test]
fn ide_survives_every_persistent_failure() {
    persistent_failure(Command::Ide);
}

#[test]
fn ide_survives_every_lost_answer() {
    lost_answer(Command::Ide);
}

#[test]
fn ide_resumes_after_sigint_at_every_operation() {
    interrupted(Command::Ide);
}

#[test]
fn dragons_api_survives_every_persistent_failure() {
    persistent_failure(Command::DragonsApi);
}

#[test]
fn dragons_api_survives_every_lost_answer() {
    lost_answer(Command::DragonsApi);
}

#[test]
fn dragons_api_resumes_after_sigint_at_every_operation() {
    interrupted(Command::DragonsApi);
}

#[test]
fn instance_profile_survives_every_persistent_failure() {
    persistent_failure(Command::InstanceProfile);
}

#[test]
fn dragons_lab_survives_every_persistent_failure() {
    persistent_failure(Command::DragonsLab);
}

#[test]
fn teardown_survives_every_persistent_failure() {
    persistent_failure(Command::Teardown);
}

#[test]
fn instance_profile_survives_every_lost_answer() {
    lost_answer(Command::InstanceProfile);
}

#[test]
fn dragons_lab_survives_every_lost_answer() {
    lost_answer(Command::DragonsLab);
}

#[test]
fn teardown_survives_every_lost_answer() {
    lost_answer(Command::Teardown);
}

#[test]
fn instance_profile_resumes_after_sigint_at_every_operation() {
    interrupted(Command::InstanceProfile);
}

#[test]
fn dragons_lab_resumes_after_sigint_at_every_operation() {
    interrupted(Command::DragonsLab);
}

#[test]
fn teardown_resumes_after_sigint_at_every_operation() {
    interrupted(Command::Teardown);
}

#[test]
fn random_faults_over_fixed_seeds_are_survived() {
    std::thread::scope(|scope| {
        for seed in 1..=4u64 {
            scope.spawn(move || {
                let session = prepare(Command::DragonsLab, Mode::Random, seed as usize);
                let proxy = Proxy::start(&moto().endpoint);
                proxy.random(seed, 20);
                for command in [Command::InstanceProfile, Command::DragonsLab] {
                    let output = run(&session, &proxy, &command.args(), 6);
                    assert_eq!(
                        output.code, 0,
                        "seed {seed}, {command:?}\n{}",
                        output.stderr
                    );
                }
                assert!(proxy.injected() > 0, "seed {seed}: no fault injected");
                proxy.clear();
                for command in [Command::InstanceProfile, Command::DragonsLab] {
                    let again = run(&session, &proxy, &command.args(), 6);
                    assert_eq!(changes_made(&again), 0, "seed {seed}, {command:?}");
                }
            });
        }
    });
}

/// Stops a dragons-lab run between CreateBucket and PutBucketTagging, through an endpoint that
/// ignores CreateBucket's tags (moto as it is), with the journal in `state_dir`: the bucket is
/// left untagged.
fn interrupted_between_create_and_tags(session: &Session, proxy: &Proxy, state_dir: &Path) {
    proxy.ignore_create_bucket_tags();
    proxy.inject("PutBucketTagging", Fault::Fail(503), u32::MAX);
    session
        .provision()
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("PROVISION_STATE_DIR", state_dir)
        .run(&["dragons-lab"])
        .assert_code(1);
    proxy.clear();
}

/// Issue 22, finding 9: a run stopped between CreateBucket and PutBucketTagging left an untagged
/// bucket only `--adopt` could finish, which teardown left behind. The local journal records the
/// create before it is asked for: the re-run finishes the bucket as its own, without `--adopt`.
#[test]
fn an_untagged_bucket_left_by_an_interrupted_run_is_finished_by_the_re_run() {
    let session = prepare(Command::DragonsLab, Mode::Untagged, 1);
    let proxy = Proxy::start(&moto().endpoint);
    let journal = session.home.join("state");
    interrupted_between_create_and_tags(&session, &proxy, &journal);
    let resumed = session
        .provision()
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("PROVISION_STATE_DIR", &journal)
        .run(&["--output", "json", "dragons-lab"]);
    resumed.assert_code(0);
    assert!(
        resumed
            .stdout
            .contains("finish your interrupted create (the local journal records it)"),
        "{}",
        resumed.stdout
    );
    let record = std::fs::read_to_string(journal.join("journal.json")).expect("journal");
    assert!(
        !record.contains("dragons-lab-"),
        "the confirmed create left the journal: {record}"
    );
    let again = run(&session, &proxy, &Command::DragonsLab.args(), 6);
    assert_eq!(changes_made(&again), 0, "{}", again.stdout);
}

/// Finding 9: teardown removes the half-made bucket its journal records.
#[test]
fn teardown_removes_the_half_made_bucket_the_journal_records() {
    let session = prepare(Command::DragonsLab, Mode::Untagged, 2);
    let proxy = Proxy::start(&moto().endpoint);
    let journal = session.home.join("state");
    interrupted_between_create_and_tags(&session, &proxy, &journal);
    let bucket = format!(
        "dragons-lab-{}-us-east-1",
        Command::DragonsLab.account(Mode::Untagged, 2)
    );
    let rt = runtime();
    assert!(rt.block_on(session.has_bucket(&bucket)));
    session
        .provision()
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("PROVISION_STATE_DIR", &journal)
        .run(&["teardown", "--yes"])
        .success();
    assert!(
        !rt.block_on(session.has_bucket(&bucket)),
        "teardown removed it"
    );
}

/// Finding 9, the other side: where the journal does not record the create (another machine, or
/// it was deleted), an untagged bucket is still someone's until `--adopt` says otherwise.
#[test]
fn without_the_journal_an_untagged_bucket_names_the_adopt_command() {
    let session = prepare(Command::DragonsLab, Mode::Untagged, 3);
    let proxy = Proxy::start(&moto().endpoint);
    interrupted_between_create_and_tags(&session, &proxy, &session.home.join("state"));
    let elsewhere = session.home.join("another-machine");
    let refused = session
        .provision()
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("PROVISION_STATE_DIR", &elsewhere)
        .run(&["--output", "json", "dragons-lab"]);
    refused.assert_code(1);
    let error = &refused.json()["error"];
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("without provision's managed-by tag")),
        "{error}"
    );
    let hint = error["hints"][0].as_str().unwrap_or_default();
    assert!(
        hint.ends_with("provision --output json dragons-lab --adopt"),
        "{hint}"
    );
    session
        .provision()
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("PROVISION_STATE_DIR", &elsewhere)
        .run(&["dragons-lab", "--adopt"])
        .success();
    let again = run(&session, &proxy, &Command::DragonsLab.args(), 6);
    assert_eq!(changes_made(&again), 0, "{}", again.stdout);
}

#[test]
fn a_silent_endpoint_fails_within_the_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    // Accepts every connection and never answers.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let session = Session::new("silent-endpoint");
    let started = Instant::now();
    let output = session.provision().run(&[
        "dragons-lab",
        "--endpoint-url",
        &endpoint,
        "--timeout",
        "2s",
    ]);
    let took = started.elapsed();
    output.assert_code(1);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        output
            .stderr
            .contains(&format!("no answer from {endpoint} within 2 s")),
        "{}",
        output.stderr
    );
}

#[test]
fn an_http_server_that_is_not_aws_is_described() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    // Answers every request with a web page.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buffer = [0u8; 8192];
                let _ = stream.read(&mut buffer);
                let page = "<html><body>It works!</body></html>";
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{page}",
                    page.len()
                );
            });
        }
    });
    let session = Session::new("not-aws");
    let output = session
        .provision()
        .run(&["whoami", "--endpoint-url", &endpoint]);
    output.assert_code(1);
    assert!(
        output.stderr.contains(&format!(
            "HTTP 200 text/html from {endpoint} — is this an AWS endpoint?"
        )),
        "{}",
        output.stderr
    );
}
