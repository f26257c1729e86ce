//! The Lambda functions' code, run here exactly as the repository holds it (and as provision
//! embeds it) with a Python and boto3 against moto, which runs no function without Docker:
//! `run_function.py` loads the file and calls its handler with API Gateway's proxy events.

use serde_json::{Value, json};

use crate::harness::{Session, moto, project_dir};
use crate::proxy::{Emulation, Proxy};

const LIST_DRAGONS: &str = "functions/list_dragons/lambda_function.py";

/// Runs the function at `file` on `event` with the session's credentials and endpoint, its
/// parameters read in the session's region: its answer and its log.
pub(crate) fn invoke(session: &Session, file: &str, event: &Value) -> (Value, Vec<String>) {
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
        &[("APP_REGION", &session.region)],
    );
    let document = output.success().json();
    let log = document["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect();
    (document["result"].clone(), log)
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
