//! The Lambda functions' code, run here exactly as the repository holds it (and as provision
//! embeds it) with a Python and boto3 against moto, which runs no function without Docker:
//! `run_function.py` loads the file and calls its handler with API Gateway's proxy events.

use serde_json::{Value, json};

use crate::harness::{Session, moto, project_dir};
use crate::proxy::{Emulation, Fault, Proxy};

const LIST_DRAGONS: &str = "functions/list_dragons/lambda_function.py";

/// Runs the function at `file` on `event` with the session's credentials and endpoint, its
/// parameters read in the session's region: its answer and its log.
pub(crate) fn invoke(session: &Session, file: &str, event: &Value) -> (Value, Vec<String>) {
    invoke_with(session, file, event, &[])
}

/// [`invoke`] with these environment variables of the function's.
pub(crate) fn invoke_with(
    session: &Session,
    file: &str,
    event: &Value,
    env: &[(&str, &str)],
) -> (Value, Vec<String>) {
    let (outcome, log) = run(session, file, event, env);
    match outcome {
        Ok(result) => (result, log),
        Err(error) => panic!("{file} raised {error}\n{}", log.join("\n")),
    }
}

/// [`invoke`] of a function expected to raise: the error as Lambda reports it (`errorType`,
/// `errorMessage`) and the log.
pub(crate) fn invoke_failing(session: &Session, file: &str, event: &Value) -> (Value, Vec<String>) {
    invoke_failing_with(session, file, event, &[])
}

/// [`invoke_failing`] with these environment variables of the function's.
pub(crate) fn invoke_failing_with(
    session: &Session,
    file: &str,
    event: &Value,
    env: &[(&str, &str)],
) -> (Value, Vec<String>) {
    let (outcome, log) = run(session, file, event, env);
    match outcome {
        Ok(result) => panic!(
            "{file} answered {result} instead of failing\n{}",
            log.join("\n")
        ),
        Err(error) => (error, log),
    }
}

/// The function's answer (or the error it raised) and its log lines.
fn run(
    session: &Session,
    file: &str,
    event: &Value,
    env: &[(&str, &str)],
) -> (Result<Value, Value>, Vec<String>) {
    let runner = project_dir().join("tests/it/run_function.py");
    let file = project_dir().join(file);
    let event = event.to_string();
    let output = session.python_with(
        &[
            runner.to_str().expect("path"),
            file.to_str().expect("path"),
            "lambda_handler",
            &event,
        ],
        &[&[("APP_REGION", session.region.as_str())][..], env].concat(),
    );
    let document = output.success().json();
    let log = document["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect();
    let outcome = match document.get("error") {
        Some(error) => Err(error.clone()),
        None => Ok(document["result"].clone()),
    };
    (outcome, log)
}

/// `provision dragons-lab` with the dragons a function can S3-Select from moto: moto's S3 Select
/// mangles a record with an apostrophe (see dragons_lab), and the function S3-Selects as the lab
/// application does.
pub(crate) fn lab_for_s3_select(session: &Session) {
    let data = session.write_file(
        "dragons-select.json",
        &crate::dragons_lab::data_without_apostrophes(),
    );
    session
        .provision()
        .run(&["dragons-lab", "--data", data.to_str().expect("path")])
        .success();
}

pub(crate) fn body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().expect("a string body")).expect("JSON body")
}

pub(crate) fn query(parameters: Value) -> Value {
    json!({"httpMethod": "GET", "path": "/dragons", "queryStringParameters": parameters})
}

/// GET /dragons: every dragon, one by name, 404 for a name not there, 400 for a query it does
/// not understand; CORS headers on every answer; the log says how the data was read.
#[test]
fn the_list_function_answers_the_list_one_dragon_and_bad_queries() {
    let session = Session::in_region("fn-list", "eu-central-2");
    lab_for_s3_select(&session);

    let (all, log) = invoke(&session, LIST_DRAGONS, &query(Value::Null));
    assert_eq!(all["statusCode"], 200, "{all} {log:?}");
    assert_eq!(all["headers"]["Access-Control-Allow-Origin"], "*");
    assert_eq!(all["headers"]["Content-Type"], "application/json");
    let dragons = body(&all);
    assert_eq!(dragons.as_array().map(Vec::len), Some(25), "{dragons}");
    assert!(
        log.iter()
            .any(|l| l.contains("read 25 dragons") && l.contains("with S3 Select")),
        "{log:?}"
    );

    let (one, _) = invoke(
        &session,
        LIST_DRAGONS,
        &query(json!({"dragonName": "Atlas"})),
    );
    assert_eq!(one["statusCode"], 200, "{one}");
    let atlas = body(&one);
    assert_eq!(atlas.as_array().map(Vec::len), Some(1));
    assert_eq!(atlas[0]["dragon_name_str"], "Atlas");
    assert_eq!(atlas[0]["family_str"], "red");

    for (parameters, status, message) in [
        (
            json!({"dragonName": "Nobody"}),
            404,
            "no dragon is named Nobody",
        ),
        (
            json!({"color": "red"}),
            400,
            "unknown query parameter color",
        ),
        (
            json!({"dragonName": ""}),
            400,
            "dragonName is 1 to 128 characters",
        ),
    ] {
        let (answer, _) = invoke(&session, LIST_DRAGONS, &query(parameters.clone()));
        assert_eq!(answer["statusCode"], status, "{parameters}: {answer}");
        assert_eq!(answer["headers"]["Access-Control-Allow-Origin"], "*");
        let said = body(&answer);
        assert!(
            said["message"]
                .as_str()
                .is_some_and(|m| m.contains(message)),
            "{parameters}: {said}"
        );
    }
}

/// An account without S3 Select (405 MethodNotAllowed): the same dragons by GetObject, and the
/// log says so.
#[test]
fn without_s3_select_the_list_function_reads_the_object() {
    let proxy = Proxy::with(
        &moto().endpoint,
        Emulation {
            s3_select_unavailable: true,
            ..Emulation::aws()
        },
    );
    let session = Session::in_region("fn-no-select", "ap-southeast-4").through(&proxy);
    session.provision().run(&["dragons-lab"]).success();
    let (all, log) = invoke(&session, LIST_DRAGONS, &query(Value::Null));
    assert_eq!(all["statusCode"], 200, "{all} {log:?}");
    assert_eq!(body(&all).as_array().map(Vec::len), Some(25));
    assert!(
        log.iter()
            .any(|l| l.contains("GetObject (S3 Select is not available")),
        "{log:?}"
    );
}

/// No lab (its parameters are missing): 500 with a message that names nothing of the account,
/// and the reason in the log.
#[test]
fn when_the_data_cannot_be_read_the_answer_is_500_and_the_reason_is_logged() {
    let session = Session::in_region("fn-no-lab", "ap-south-2");
    let (answer, log) = invoke(&session, LIST_DRAGONS, &query(Value::Null));
    assert_eq!(answer["statusCode"], 500, "{answer}");
    let said = answer["body"].as_str().expect("body");
    assert_eq!(
        said,
        r#"{"message": "the dragons cannot be read just now"}"#
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("ERROR") && l.contains("dragon_data_bucket_name")),
        "{log:?}"
    );
}

const VALIDATE_REPORT: &str = "functions/validate_report/lambda_function.py";
const ADD_DRAGON: &str = "functions/add_dragon/lambda_function.py";

/// A sighting as POST /dragons takes it: every field of the lab's records.
fn report(name: &str) -> Value {
    json!({
        "dragon_name_str": name,
        "family_str": "Green",
        "description_str": " Seen over the harbour at dawn. ",
        "location_city_str": "seattle",
        "location_state_str": "washington",
        "location_country_str": "usa",
        "location_neighborhood_str": "pike place",
        "damage_int": 3,
        "protection_int": 8,
    })
}

/// validate_report (dragons-report's first task): a report is answered as it will be stored,
/// every problem of a bad one is named in one ReportInvalid, and a name the lab has (in any case)
/// is DragonExists — the error names Step Functions' Catch matches.
#[test]
fn the_report_check_names_every_problem_and_a_dragon_that_exists() {
    let session = Session::in_region("fn-validate", "ca-west-1");
    session.provision().run(&["dragons-lab"]).success();

    let (stored, log) = invoke(&session, VALIDATE_REPORT, &report("Verdigris"));
    assert_eq!(stored["family_str"], "green");
    assert_eq!(stored["description_str"], "Seen over the harbour at dawn.");
    assert_eq!(stored["damage_int"], 3);
    assert!(
        log.iter()
            .any(|l| l.contains("report of Verdigris accepted")),
        "{log:?}"
    );

    let mut bad = report("Verdigris");
    bad["damage_int"] = json!(11);
    bad["protection_int"] = json!(true);
    bad["family_str"] = json!("green-ish");
    bad["colour"] = json!("green");
    bad.as_object_mut()
        .expect("object")
        .remove("location_city_str");
    let (error, _) = invoke_failing(&session, VALIDATE_REPORT, &bad);
    assert_eq!(error["errorType"], "ReportInvalid", "{error}");
    let message = error["errorMessage"].as_str().expect("message");
    for problem in [
        "unknown fields: colour",
        "location_city_str is missing",
        "family_str is one word of letters",
        "damage_int is from 1 to 10, not 11",
        "protection_int is a whole number, not true",
    ] {
        assert!(message.contains(problem), "{problem}: {message}");
    }
    for not_a_report in [json!([]), json!("Atlas"), json!(null)] {
        let (error, _) = invoke_failing(&session, VALIDATE_REPORT, &not_a_report);
        assert_eq!(
            error["errorType"], "ReportInvalid",
            "{not_a_report}: {error}"
        );
    }
    let mut control = report("Verdigris");
    control["description_str"] = json!("line\u{7}bell");
    let (error, _) = invoke_failing(&session, VALIDATE_REPORT, &control);
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("control character")
    );

    let (error, _) = invoke_failing(&session, VALIDATE_REPORT, &report("atlas"));
    assert_eq!(error["errorType"], "DragonExists", "{error}");
}

/// add_dragon (dragons-report's second task): the dragon is added to the lab's document, a retry
/// of the same task finds it there and answers the same, another dragon of the name is refused,
/// and two reports at once are both kept — the later write, made against a version that is no
/// longer current, is refused by S3's conditional write and made again on the new version.
#[test]
fn a_report_is_added_once_and_two_at_once_are_both_kept() {
    let proxy = Proxy::start(&moto().endpoint);
    let session = Session::in_region("fn-add", "ca-west-1").through(&proxy);
    let bucket = "fn-add-dragons";
    session
        .provision()
        .run(&[
            "dragons-lab",
            "--bucket",
            bucket,
            "--parameter-prefix",
            "fn-add-",
        ])
        .success();
    let env = [("PARAMETER_PREFIX", "fn-add-")];
    let stored = |name: &str| {
        let (answer, _) = invoke_with(&session, VALIDATE_REPORT, &report(name), &env);
        answer
    };
    let document = || -> Vec<Value> {
        let body = session
            .python(&[
                "-c",
                "import boto3, sys; print(boto3.client('s3').get_object(Bucket=sys.argv[1], Key='dragons.json')['Body'].read().decode())",
                bucket,
            ])
            .success()
            .stdout
            .clone();
        serde_json::from_str(&body).expect("the document")
    };

    let verdigris = stored("Verdigris");
    let (added, log) = invoke_with(&session, ADD_DRAGON, &verdigris, &env);
    assert_eq!(
        added,
        json!({"added": "Verdigris", "dragons": 26, "already": false}),
        "{log:?}"
    );
    let now = document();
    assert_eq!(now.len(), 26);
    assert_eq!(now[25], verdigris);
    // The task run again (Step Functions retrying after a lost answer): nothing added twice.
    let (again, _) = invoke_with(&session, ADD_DRAGON, &verdigris, &env);
    assert_eq!(
        again,
        json!({"added": "Verdigris", "dragons": 26, "already": true})
    );
    let mut other = verdigris.clone();
    other["damage_int"] = json!(9);
    let (error, _) = invoke_failing_with(&session, ADD_DRAGON, &other, &env);
    assert_eq!(error["errorType"], "DragonExists", "{error}");

    // Two at once: the first write to arrive is held 3 s, while the other reads the same
    // version and writes; the held one's condition then fails (412) and it is made again.
    proxy.inject("PutObject", Fault::Delay(3000), 1);
    let (left, right) = (stored("Emberwyn"), stored("Frostquill"));
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| invoke_with(&session, ADD_DRAGON, &left, &env));
        let b = scope.spawn(|| invoke_with(&session, ADD_DRAGON, &right, &env));
        (a.join().expect("Emberwyn"), b.join().expect("Frostquill"))
    });
    let names: Vec<String> = document()
        .iter()
        .map(|d| {
            d["dragon_name_str"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(names.len(), 28, "{names:?}");
    assert!(names.contains(&"Emberwyn".to_string()) && names.contains(&"Frostquill".to_string()));
    let retried: Vec<&String> = first
        .1
        .iter()
        .chain(&second.1)
        .filter(|l| l.contains("changed since it was read"))
        .collect();
    assert!(
        !retried.is_empty(),
        "no write lost the race: {:?} {:?}",
        first.1,
        second.1
    );
}
