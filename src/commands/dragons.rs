//! `provision dragons`: what the lab application does — read the two SSM parameters, fetch the
//! data object (GetObject, or S3 Select with `--s3-select`), list the dragons — as proof that the
//! lab works.

use serde::Serialize;
use serde_json::{Map, Value};

use aws_sdk_s3::types::{
    ExpressionType, InputSerialization, JsonInput, JsonOutput, JsonType, OutputSerialization,
    SelectObjectContentEventStream,
};

use crate::commands::{Run, with_aws};
use crate::connection::aws::Aws;
use crate::connection::clients::{Clients, RUN_REGION};
use crate::course::lab::{BUCKET_PARAMETER, KEY_PARAMETER};
use crate::course::lab_data;
use crate::error::{Error, aws_error, service_code};
use crate::printer::Printer;
use crate::settings::{DragonsArgs, GlobalArgs, Lab};

/// The query the lab application sends.
pub(crate) const SELECT_EXPRESSION: &str = "select * from s3object s";

const FIX_HINT: &str = "run `provision dragons-lab` (same --app-region) to set the lab up";

#[derive(Debug, Serialize)]
struct DragonsReport<'a> {
    schema_version: u32,
    command: &'static str,
    bucket: &'a str,
    key: &'a str,
    method: &'static str,
    count: usize,
    dragons: &'a [Map<String, Value>],
}

/// The command, as the registry runs it (`cli::commands!`).
pub(crate) struct Runner;

impl Run for Runner {
    type Args = DragonsArgs;

    async fn run(global: &GlobalArgs, args: &DragonsArgs, printer: &Printer) -> Result<(), Error> {
        let lab = global.lab();
        with_aws(global, printer, async |aws| {
            read(aws, &lab, args, printer).await
        })
        .await
    }
}

async fn read(aws: &Aws, lab: &Lab, args: &DragonsArgs, printer: &Printer) -> Result<(), Error> {
    // The parameters are read where the lab application reads them (--app-region, us-east-1 by
    // default); the bucket wherever it is, following S3's redirect as boto3 does.
    let clients = aws.clients(lab);
    let [bucket_parameter, key_parameter] = [BUCKET_PARAMETER, KEY_PARAMETER]
        .map(|name| format!("{}{name}", lab.parameter_prefix.as_str()));
    let output = clients
        .ssm
        .get_parameters()
        .names(&bucket_parameter)
        .names(&key_parameter)
        .send()
        .await
        .map_err(|e| aws_error("ssm:GetParameters", e))?;
    let value = |name: &str| {
        output
            .parameters()
            .iter()
            .find(|p| p.name() == Some(name))
            .and_then(|p| p.value())
            .map(str::to_string)
    };
    let (bucket, key) = match (value(&bucket_parameter), value(&key_parameter)) {
        (Some(bucket), Some(key)) => (bucket, key),
        (bucket, key) => {
            let missing: Vec<&str> = [
                (bucket_parameter.as_str(), bucket),
                (key_parameter.as_str(), key),
            ]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| n)
            .collect();
            return Err(Error::failed(format!(
                "SSM parameter {} not found in {}",
                missing.join(" and "),
                lab.app_region
            ))
            .with_hint(FIX_HINT));
        }
    };

    let step = printer.step(format!("reading s3://{bucket}/{key}"));
    let bytes = if args.s3_select {
        select(&clients, &bucket, &key).await?
    } else {
        get(&clients, &bucket, &key).await?
    };
    step.finish(format!("read s3://{bucket}/{key}"));
    let origin = format!("s3://{bucket}/{key}");
    let dragons = match lab_data::parse_dragons(&bytes, &origin) {
        Ok(dragons) => dragons,
        // S3 Select's answer is not dragons: the object itself may be fine (what S3 Select made
        // of it is then the difference to name), or not (then dragons-lab puts it right).
        Err(e) if args.s3_select => {
            let stored = get(&clients, &bucket, &key).await?;
            return Err(match lab_data::parse_dragons(&stored, &origin) {
                Ok(_) => select_differs(&origin, &bytes, &stored, e.message()),
                Err(stored_error) => not_lab_data(&origin, stored_error.message()),
            });
        }
        Err(e) => return Err(not_lab_data(&origin, e.message())),
    };
    let matches = |record: &Map<String, Value>, field: &str, wanted: &Option<String>| {
        wanted.as_ref().is_none_or(|wanted| {
            record
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(wanted))
        })
    };
    let selected: Vec<Map<String, Value>> = dragons
        .into_iter()
        .filter(|d| matches(d, "family_str", &args.family))
        .filter(|d| matches(d, lab_data::DRAGON_NAME_FIELD, &args.name))
        .collect();

    if printer.is_json() {
        return printer.json(&DragonsReport {
            schema_version: crate::printer::SCHEMA_VERSION,
            command: "dragons",
            bucket: &bucket,
            key: &key,
            method: if args.s3_select {
                "SelectObjectContent"
            } else {
                "GetObject"
            },
            count: selected.len(),
            dragons: &selected,
        });
    }
    for line in lab_data::table(&selected) {
        printer.data(line);
    }
    printer.data(format!(
        "{} dragons from s3://{bucket}/{key}",
        selected.len()
    ));
    Ok(())
}

fn not_lab_data(origin: &str, why: &str) -> Error {
    Error::failed(format!("{origin} is not the dragons data the lab expects"))
        .with_cause(why.to_string())
        .with_hint(FIX_HINT)
}

/// S3 Select's answer is not the object's dragons although the object is: re-uploading it
/// (`dragons-lab`) would change nothing, so the error says where the two differ.
fn select_differs(origin: &str, selected: &[u8], stored: &[u8], why: &str) -> Error {
    let parse = |bytes: &[u8]| match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(items)) => items,
        Ok(other) => vec![other],
        Err(_) => Vec::new(),
    };
    Error::failed(format!(
        "S3 Select's answer differs from {origin}, which holds the dragons the lab expects"
    ))
    .with_cause(format!("S3 Select's answer: {why}"))
    .with_cause(difference(&parse(selected), &parse(stored)))
    .with_hint(
        "the object is right, and dragons-lab would upload it unchanged: what differs is how the \
         endpoint's S3 Select reads it (the lab application gets the same answer); \
         `provision dragons` without --s3-select reads the object itself",
    )
}

/// Where S3 Select's records and the object's dragons first differ.
fn difference(selected: &[Value], stored: &[Value]) -> String {
    let name = |value: &Value| {
        value[lab_data::DRAGON_NAME_FIELD]
            .as_str()
            .map_or_else(String::new, |n| format!(" ({n})"))
    };
    for (index, (ours, theirs)) in stored.iter().zip(selected).enumerate() {
        if ours == theirs {
            continue;
        }
        let field = match (ours, theirs) {
            (Value::Object(ours), Value::Object(theirs)) => ours
                .iter()
                .find(|(field, value)| theirs.get(field.as_str()) != Some(value))
                .map(|(field, value)| {
                    let got = theirs
                        .get(field.as_str())
                        .map_or_else(|| "nothing".to_string(), Value::to_string);
                    format!(
                        ": its {field} is {} in the object, {} in S3 Select's answer",
                        crate::error::excerpt(&value.to_string(), 80),
                        crate::error::excerpt(&got, 80)
                    )
                })
                .unwrap_or_else(|| ": S3 Select's record has fields the object's has not".into()),
            _ => format!(
                ": S3 Select returned {}",
                crate::error::excerpt(&theirs.to_string(), 80)
            ),
        };
        return format!("dragon {}{}{field}", index + 1, name(ours));
    }
    format!(
        "the object holds {} dragons, S3 Select returned {} records",
        stored.len(),
        selected.len()
    )
}

async fn get(clients: &Clients, bucket: &str, key: &str) -> Result<Vec<u8>, Error> {
    let output = clients
        .on_bucket(bucket, RUN_REGION, |s3| async move {
            s3.get_object().bucket(bucket).key(key).send().await
        })
        .await
        .map_err(|e| {
            missing_object(bucket, key, service_code(&e).map(str::to_string), || {
                aws_error("s3:GetObject", e)
            })
        })?;
    let body = output.body.collect().await.map_err(|e| {
        Error::failed(format!("reading s3://{bucket}/{key} failed")).with_cause(e.to_string())
    })?;
    Ok(body.to_vec())
}

/// Runs the lab application's S3 Select query and reassembles the records into one JSON array.
async fn select(clients: &Clients, bucket: &str, key: &str) -> Result<Vec<u8>, Error> {
    let mut output = clients
        // The parameter names only the bucket, not its region: S3's redirect is followed, as
        // boto3 follows it for the lab application (and for `get`, below).
        .on_bucket(bucket, RUN_REGION, |s3| async move {
            s3.select_object_content()
                .bucket(bucket)
                .key(key)
                .expression(SELECT_EXPRESSION)
                .expression_type(ExpressionType::Sql)
                .input_serialization(
                    InputSerialization::builder()
                        .json(JsonInput::builder().r#type(JsonType::Document).build())
                        .build(),
                )
                .output_serialization(
                    OutputSerialization::builder()
                        .json(JsonOutput::builder().record_delimiter("\n").build())
                        .build(),
                )
                .send()
                .await
        })
        .await
        .map_err(|e| {
            let code = service_code(&e).map(str::to_string);
            if select_unavailable(
                code.as_deref(),
                e.raw_response().map(|r| r.status().as_u16()),
            ) {
                return select_unavailable_error(bucket, key);
            }
            missing_object(bucket, key, code, || aws_error("s3:SelectObjectContent", e))
        })?;
    let mut records = Vec::new();
    loop {
        let event = output.payload.recv().await.map_err(|e| {
            Error::failed(format!("S3 Select on s3://{bucket}/{key} failed"))
                .with_cause(crate::error::error_chain(&e))
        })?;
        match event {
            Some(SelectObjectContentEventStream::Records(event)) => {
                if let Some(payload) = event.payload() {
                    records.extend_from_slice(payload.as_ref());
                }
            }
            Some(SelectObjectContentEventStream::End(_)) | None => break,
            Some(_) => {}
        }
    }
    // `select * from s3object s` over a document whose top level is an array yields one record,
    // {"_1": [...]}; records that are dragons themselves are collected as they come.
    let mut dragons = Vec::new();
    for line in records
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
    {
        let record: Value = serde_json::from_slice(line).map_err(|e| {
            Error::failed(format!(
                "S3 Select returned a record that is not JSON from s3://{bucket}/{key}"
            ))
            .with_cause(e.to_string())
        })?;
        match record {
            Value::Object(mut object) if object.len() == 1 && object.contains_key("_1") => {
                match object.remove("_1") {
                    Some(Value::Array(items)) => dragons.extend(items),
                    Some(other) => dragons.push(other),
                    None => {}
                }
            }
            other => dragons.push(other),
        }
    }
    serde_json::to_vec(&Value::Array(dragons)).map_err(|e| {
        Error::failed("could not reassemble the S3 Select records").with_cause(e.to_string())
    })
}

/// Whether S3 refused S3 Select itself: "Amazon S3 Select is no longer available to new
/// customers" (AWS, July 2024); accounts without it are answered 405 `MethodNotAllowed`.
fn select_unavailable(code: Option<&str>, status: Option<u16>) -> bool {
    code == Some("MethodNotAllowed") || (code.is_none() && status == Some(405))
}

fn select_unavailable_error(bucket: &str, key: &str) -> Error {
    Error::failed(format!(
        "S3 Select is not available to this AWS account (s3://{bucket}/{key} was not queried)"
    ))
    .with_cause(
        "AWS closed S3 Select to new customers in July 2024: accounts that had not used it get \
         MethodNotAllowed for SelectObjectContent",
    )
    .with_hint(
        "read the data with GetObject instead: `provision dragons` (without --s3-select); the lab \
         application's listDragons() needs the same change (get_object, then json.loads) on such \
         an account",
    )
}

/// A missing bucket or object is named, with the way to create it.
fn missing_object(
    bucket: &str,
    key: &str,
    code: Option<String>,
    otherwise: impl FnOnce() -> Error,
) -> Error {
    match code.as_deref() {
        Some("NoSuchBucket") => Error::failed(format!(
            "bucket {bucket} (named by SSM parameter {BUCKET_PARAMETER}) does not exist"
        ))
        .with_hint(FIX_HINT),
        Some("NoSuchKey") => Error::failed(format!(
            "object {key} (named by SSM parameter {KEY_PARAMETER}) is not in bucket {bucket}"
        ))
        .with_hint(FIX_HINT),
        _ => otherwise(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_difference_between_s3_select_and_the_object_is_named() {
        let stored = serde_json::json!([
            {"dragon_name_str": "Atlas", "description_str": "it's big"},
            {"dragon_name_str": "Bahamethut", "damage_int": 7}
        ]);
        let mangled = serde_json::json!([
            {"dragon_name_str": "Atlas", "description_str": "its big"},
            {"dragon_name_str": "Bahamethut", "damage_int": 7}
        ]);
        let items = |v: &Value| v.as_array().cloned().unwrap_or_default();
        assert_eq!(
            difference(&items(&mangled), &items(&stored)),
            "dragon 1 (Atlas): its description_str is \"it's big\" in the object, \"its big\" in \
             S3 Select's answer"
        );
        assert_eq!(
            difference(&items(&stored)[..1], &items(&stored)),
            "the object holds 2 dragons, S3 Select returned 1 records"
        );
    }
}
