//! `provision dragons-api call`: `GET /dragons` at the API's invoke URL, as the course's web page
//! calls it — signed in as a user of the API's pool with `--as` (the user's ID token in the
//! `Authorization` header, which a `COGNITO_USER_POOLS` authorizer reads) — and the dragons
//! listed as `provision dragons` lists them. Part of `dragons-api`, as `user` and `token` are.
//!
//! The call is one HTTPS GET on the SDK's own HTTP stack (hyper, rustls with the system's
//! roots), bounded by [`CALL_TIMEOUT`], its answer by [`ANSWER_LIMIT`]. The token is sent to the
//! API only, and never printed.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value};

use crate::commands::api_users::{id_token, read_password};
use crate::commands::dragons_api::{deployed_api, not_deployed};
use crate::commands::with_aws;
use crate::course::lab_data;
use crate::error::Error;
use crate::plans::dragons_api::PATH_PART;
use crate::printer::Printer;
use crate::resources::rest_api::ObservedApi;
use crate::settings::{CallArgs, GlobalArgs};

/// How long the call may take: API Gateway ends an integration at 29 seconds ("Amazon API
/// Gateway quotas": integration timeout), so an answer comes before this or not at all.
const CALL_TIMEOUT: Duration = Duration::from_secs(35);

/// The largest answer read: API Gateway's payload limit, 10 MB ("Amazon API Gateway quotas").
const ANSWER_LIMIT: usize = 10 * 1024 * 1024;

/// The authorization type of a method behind a Cognito user pool's authorizer.
const COGNITO: &str = "COGNITO_USER_POOLS";

/// `provision dragons-api call [--as USER] [--dragon NAME]`.
pub(crate) async fn call(
    global: &GlobalArgs,
    args: &CallArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let name = args.name.as_str();
    let stage = args.stage.as_str();
    // Asked before any request, as `token` does.
    let password = match &args.user {
        Some(user) => Some(read_password(
            &format!("Password for {}", user.as_str()),
            false,
        )?),
        None => None,
    };
    with_aws(global, printer, async |aws| {
        let clients = aws.clients(&global.lab());
        let (api, url) = deployed_api(aws, &clients, name, stage)
            .await?
            .ok_or_else(|| not_deployed(name, stage, &aws.region))?;
        let token = match (signs_in(&api), &args.user, &password) {
            (true, Some(user), Some(password)) => {
                let identity = aws.identity().await?;
                let owner = crate::course::owners::owner_of(&identity.arn);
                Some(id_token(&clients, &owner, &aws.region, name, user.as_str(), password).await?)
            }
            (true, _, _) => {
                return Err(Error::usage(format!(
                    "API {name} signs its callers in (it was made with --auth): say who calls"
                ))
                .with_hint(format!(
                    "provision dragons-api call --name {name} --as USER (a user made with \
                     `provision dragons-api user add USER --name {name}`)"
                )));
            }
            (false, Some(_), _) => {
                return Err(Error::usage(format!(
                    "API {name} has no sign-in (it was made without --auth): there is no one to \
                     call it as"
                ))
                .with_hint(format!(
                    "leave out --as, or add sign-in with `provision dragons-api --auth --name \
                     {name}`"
                )));
            }
            (false, None, _) => None,
        };
        let url = match &args.dragon {
            Some(dragon) => format!(
                "{url}?dragonName={}",
                percent_encoding::utf8_percent_encode(dragon.as_str(), QUERY_VALUE)
            ),
            None => url,
        };
        let step = printer.step(format!("calling GET {url}"));
        let (status, body) = get_retried(&url, token.as_deref()).await?;
        step.finish(format!("GET {url}: {status}"));
        let dragons = answered(
            status,
            &body,
            name,
            args.dragon.as_ref().map(|d| d.as_str()),
        )?;
        if printer.is_json() {
            return printer.json(&serde_json::json!({
                "schema_version": crate::printer::SCHEMA_VERSION,
                "command": "dragons-api call",
                "url": url,
                "status": status,
                "signed_in_as": args.user.as_ref().map(|u| u.as_str()),
                "count": dragons.len(),
                "dragons": dragons,
            }));
        }
        for line in lab_data::table(&dragons) {
            printer.data(line);
        }
        printer.data(format!("{} dragons from GET {url}", dragons.len()));
        Ok(())
    })
    .await
}

/// The characters a query value keeps as they are: RFC 3986's unreserved ones.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Whether `GET /dragons` of `api` wants a user pool's token.
fn signs_in(api: &ObservedApi) -> bool {
    api.methods
        .get(&(format!("/{PATH_PART}"), "GET".to_string()))
        .is_some_and(|m| m.authorization_type == COGNITO)
}

/// How many times a call answered 429 or 503 is sent in all: API Gateway throttles a stage's
/// calls (429 "Too Many Requests") and a GET may be sent again ("Throttle requests to your REST
/// APIs", API Gateway Developer Guide).
const CALL_ATTEMPTS: u32 = 3;

/// [`get`], sent again after a pause (0.5 s, then 1 s) while it is throttled or unavailable.
async fn get_retried(url: &str, token: Option<&str>) -> Result<(u16, Bytes), Error> {
    let mut attempt = 1;
    loop {
        let answer = get(url, token).await?;
        if !matches!(answer.0, 429 | 503) || attempt == CALL_ATTEMPTS {
            return Ok(answer);
        }
        tokio::time::sleep(Duration::from_millis(500 << (attempt - 1))).await;
        attempt += 1;
    }
}

/// One GET of `url`, with `token` as its `Authorization` header: the status and the body.
async fn get(url: &str, token: Option<&str>) -> Result<(u16, Bytes), Error> {
    let unreachable = |cause: String| {
        Error::failed(format!("the call to {url} did not get an answer"))
            .with_cause(cause)
            .with_hint("check the network (and --endpoint-url, if you use one), then call again")
    };
    let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| {
        Error::failed(format!("`{url}` is not a URL")).with_cause(e.to_string())
    })?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| {
            Error::failed("no trusted root certificates were found on this machine")
                .with_cause(e.to_string())
                .with_hint("install the system's CA certificates (ca-certificates)")
        })?
        .https_or_http()
        .enable_http1()
        .build();
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(https);
    let mut request = http::Request::get(uri)
        .header(http::header::ACCEPT, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("provision/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, token);
    }
    let request = request
        .body(Empty::new())
        .map_err(|e| unreachable(e.to_string()))?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), ANSWER_LIMIT)
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        Ok::<_, Error>((status, body))
    };
    tokio::time::timeout(CALL_TIMEOUT, exchange)
        .await
        .map_err(|_| unreachable(format!("no answer in {} s", CALL_TIMEOUT.as_secs())))?
}

/// An error and what caused it, each cause once ("error trying to connect: Connection refused").
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// The dragons of a 2xx answer, or the error an answer means: what API Gateway or the function
/// said, and what to do.
fn answered(
    status: u16,
    body: &[u8],
    api: &str,
    dragon: Option<&str>,
) -> Result<Vec<Map<String, Value>>, Error> {
    let document: Option<Value> = serde_json::from_slice(body).ok();
    let message = document
        .as_ref()
        .and_then(|d| d.get("message").or_else(|| d.get("Message")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            text.chars()
                .take(200)
                .collect::<String>()
                .trim()
                .to_string()
        });
    let refused = |hint: String| {
        Err(Error::failed(format!("the API answered {status}: {message}")).with_hint(hint))
    };
    match status {
        200..=299 => {}
        401 => {
            return refused(
                "the token was refused or has expired: call again with --as USER, a user of this \
                 API's pool (`provision dragons-api user add USER`)"
                    .to_string(),
            );
        }
        403 => {
            return refused(format!(
                "API Gateway serves no GET /{PATH_PART} at this stage, or refused the caller: run \
                 `provision dragons-api --name {api}` (same --stage) to deploy it again"
            ));
        }
        404 if dragon.is_some() => {
            return refused(format!(
                "`provision dragons-api call --name {api}` lists the dragons there are"
            ));
        }
        400..=499 => {
            return refused(format!(
                "`provision status --only dragons-api` shows what of API {api} is not as it \
                 should be"
            ));
        }
        _ => {
            return refused(format!(
                "the function's log says why: `aws logs tail /aws/lambda/{api} --since 10m`; \
                 `provision status --only dragons-api` shows what is not as it should be"
            ));
        }
    }
    let dragons = match document {
        Some(Value::Array(records)) => records,
        Some(record @ Value::Object(_)) => vec![record],
        _ => {
            return Err(Error::failed(format!(
                "the API answered {status}, but not with dragons (a JSON list or one record)"
            ))
            .with_hint(format!(
                "`provision status --only dragons-api` shows whether API {api} still calls its \
                 function"
            )));
        }
    };
    dragons
        .into_iter()
        .map(|record| match record {
            Value::Object(fields) => Ok(fields),
            other => Err(Error::failed(format!(
                "the API answered {status} with a list holding {other}, not dragon records"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_dragons_or_an_error_that_says_what_to_do() {
        let list = br#"[{"dragon_name_str":"Atlas"},{"dragon_name_str":"Bahamethut"}]"#;
        assert_eq!(answered(200, list, "api", None).expect("dragons").len(), 2);
        let one = br#"{"dragon_name_str":"Atlas"}"#;
        assert_eq!(
            answered(200, one, "api", Some("Atlas")).expect("one")[0]["dragon_name_str"],
            "Atlas"
        );

        let unauthorized =
            answered(401, br#"{"message":"Unauthorized"}"#, "api", None).expect_err("401");
        assert!(unauthorized.message().contains("401: Unauthorized"));
        assert!(unauthorized.hints().iter().any(|h| h.contains("--as USER")));

        let missing = answered(
            404,
            br#"{"message":"no dragon is named Nobody"}"#,
            "api",
            Some("Nobody"),
        )
        .expect_err("404");
        assert!(missing.message().contains("no dragon is named Nobody"));

        let failed = answered(500, br#"{"message": "Internal server error"}"#, "api", None)
            .expect_err("500");
        assert!(failed.hints().iter().any(|h| h.contains("/aws/lambda/api")));

        let stage = answered(
            403,
            br#"{"message":"Missing Authentication Token"}"#,
            "api",
            None,
        )
        .expect_err("403");
        assert!(stage.hints().iter().any(|h| h.contains("deploy it again")));

        let html = answered(502, b"<html>Bad Gateway</html>", "api", None).expect_err("502");
        assert!(html.message().contains("502: <html>Bad Gateway</html>"));

        assert!(answered(200, b"not json", "api", None).is_err());
        assert!(answered(200, b"[1, 2]", "api", None).is_err());
    }

    #[test]
    fn a_dragon_s_name_is_encoded_in_the_query() {
        let encoded =
            percent_encoding::utf8_percent_encode("Bahamut & Co/é", QUERY_VALUE).to_string();
        assert_eq!(encoded, "Bahamut%20%26%20Co%2F%C3%A9");
    }
}
