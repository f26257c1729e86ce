//! `provision dragons-api` on moto: the function's role, the function, the REST API and its
//! wiring, read back from the SDK (moto calls no Lambda function through a deployed URL and runs
//! none without Docker: the function's code is run here, as packaged, with Python and boto3);
//! re-runs that send no mutating request; drift made by hand, named and put back; IAM's delay
//! before Lambda can assume a new role; teardown.

use std::time::Duration;

use serde_json::Value;

use crate::functions::{body, invoke, query};
use crate::harness::{Session, moto, mutating};
use crate::proxy::{EXECUTE_API, Emulation, Fault, Proxy};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The caller's API of `name`: its id.
async fn api_id(session: &Session, name: &str) -> Option<String> {
    let apis = session
        .apigateway()
        .get_rest_apis()
        .send()
        .await
        .expect("get-rest-apis");
    apis.items()
        .iter()
        .find(|a| a.name() == Some(name))
        .and_then(|a| a.id().map(str::to_string))
}

/// The integration of `GET /dragons`: (type, HTTP method, URI).
async fn integration(session: &Session, id: &str) -> (String, String, String) {
    let resources = session
        .apigateway()
        .get_resources()
        .rest_api_id(id)
        .embed("methods")
        .send()
        .await
        .expect("get-resources");
    let dragons = resources
        .items()
        .iter()
        .find(|r| r.path() == Some("/dragons"))
        .expect("/dragons");
    let method = dragons
        .resource_methods()
        .and_then(|m| m.get("GET"))
        .expect("GET /dragons");
    assert_eq!(method.authorization_type(), Some("NONE"));
    let integration = method.method_integration().expect("an integration");
    (
        integration
            .r#type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        integration.http_method().unwrap_or_default().to_string(),
        integration.uri().unwrap_or_default().to_string(),
    )
}

/// The function's resource policy, as JSON.
async fn function_policy(session: &Session, name: &str) -> Option<Value> {
    let policy = session
        .lambda()
        .get_policy()
        .function_name(name)
        .send()
        .await
        .ok()?;
    serde_json::from_str(policy.policy()?).ok()
}

/// The package `provision dragons-api package` writes: (file, CodeSha256).
fn package(session: &Session) -> (std::path::PathBuf, String) {
    let file = session.home.join("list_dragons.zip");
    let output = session.provision().run(&[
        "--output",
        "json",
        "dragons-api",
        "package",
        "--out",
        file.to_str().expect("path"),
    ]);
    let document = output.success().json();
    let sha = document["code_sha256"]
        .as_str()
        .expect("digest")
        .to_string();
    (file, sha)
}

/// The cold run makes the role, the function, the API, its permission and stage — 9 mutating
/// requests — and ends with the invoke URL; the wiring read back from the SDK is the function's;
/// the deployed code is the package, byte for byte, and running that package lists the 25
/// dragons; a re-run sends no mutating request; `url` prints the URL alone; status agrees;
/// teardown removes every new resource.
#[test]
fn the_api_is_wired_to_the_function_once_and_teardown_removes_it() {
    let rt = runtime();
    // IAM is global: each test of the default names has an account of its own.
    let session = rt.block_on(Session::in_account(
        "api-wired",
        "ap-northeast-1",
        "310000000125",
    ));
    session.provision().run(&["dragons-lab"]).success();

    let (dry, requests) =
        session.requests_during(|| session.provision().run(&["--dry-run", "dragons-api"]));
    dry.success();
    assert_eq!(mutating(&requests), Vec::<String>::new(), "the dry run");
    for line in [
        "+ create    iam-role dragons-api-function",
        "+ create    lambda-function dragons-api (python3.14, 128 MB, 10s",
        "+ create    apigateway-rest-api dragons-api (regional)",
        "+ create    apigateway-method dragons-api GET /dragons",
        "+ create    lambda-permission dragons-api from dragons-api",
        "+ create    apigateway-deployment dragons-api/prod",
    ] {
        assert!(dry.stdout.contains(line), "{line}\n{}", dry.stdout);
    }

    let (cold, requests) = session.requests_during(|| session.provision().run(&["dragons-api"]));
    cold.success();
    let made = mutating(&requests);
    let mut sorted = made.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "AddPermission",
            "CreateDeployment",
            "CreateFunction",
            "CreateResource",
            "CreateRestApi",
            "CreateRole",
            "PutIntegration",
            "PutMethod",
            "PutRolePolicy"
        ],
        "{}",
        cold.stdout
    );
    eprintln!(
        "cold run: {} requests, {} mutating",
        requests.len(),
        made.len()
    );

    let id = rt
        .block_on(api_id(&session, "dragons-api"))
        .expect("the API");
    // Against an endpoint override (the test bed), the emulators' form of the invoke URL.
    let url = format!(
        "{}/restapis/{id}/prod/_user_request_/dragons",
        session.endpoint
    );
    assert!(
        cold.stdout.contains(&format!("Invoke URL: {url}")),
        "{}",
        cold.stdout
    );

    // The wiring, from the SDK: method → integration URI → the function's ARN; the permission's
    // source is this API; the stage serves a deployment.
    let function_arn = "arn:aws:lambda:ap-northeast-1:310000000125:function:dragons-api";
    let (kind, verb, uri) = rt.block_on(integration(&session, &id));
    assert_eq!((kind.as_str(), verb.as_str()), ("AWS_PROXY", "POST"));
    assert_eq!(
        uri,
        format!(
            "arn:aws:apigateway:ap-northeast-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
        )
    );
    let policy = rt
        .block_on(function_policy(&session, "dragons-api"))
        .expect("a policy");
    let statement = &policy["Statement"][0];
    assert_eq!(
        statement["Principal"]["Service"],
        "apigateway.amazonaws.com"
    );
    assert_eq!(statement["Action"], "lambda:InvokeFunction");
    assert_eq!(
        statement["Condition"]["ArnLike"]["AWS:SourceArn"],
        format!("arn:aws:execute-api:ap-northeast-1:310000000125:{id}/*/GET/dragons")
    );
    let stage = rt
        .block_on(
            session
                .apigateway()
                .get_stage()
                .rest_api_id(&id)
                .stage_name("prod")
                .send(),
        )
        .expect("stage prod");
    assert!(stage.deployment_id().is_some());

    // The function: the package as provision writes it, run by the role under provision's path,
    // reading the lab in the app region.
    let (file, sha) = package(&session);
    let function = rt
        .block_on(
            session
                .lambda()
                .get_function()
                .function_name("dragons-api")
                .send(),
        )
        .expect("the function");
    let configuration = function.configuration().expect("configuration");
    assert_eq!(configuration.code_sha256(), Some(sha.as_str()));
    assert_eq!(
        configuration.runtime().map(|r| r.as_str()),
        Some("python3.14")
    );
    assert_eq!(
        configuration.role(),
        Some("arn:aws:iam::310000000125:role/provision/functions/dragons-api-function")
    );
    let role_policy = rt
        .block_on(
            session
                .iam()
                .get_role_policy()
                .role_name("dragons-api-function")
                .policy_name("provision-policy")
                .send(),
        )
        .expect("the role's policy");
    let document = crate::harness::policy_document(role_policy.policy_document());
    let text = document.to_string();
    assert!(
        text.contains("arn:aws:s3:::dragons-lab-310000000125-ap-northeast-1/dragons.json"),
        "{text}"
    );
    assert!(
        text.contains("log-group:/aws/lambda/dragons-api:*"),
        "{text}"
    );

    // The package's own handler, unzipped, lists the 25 dragons (read with GetObject: moto's S3
    // Select mangles the data set's apostrophes, see dragons_lab).
    let unzipped = session.home.join("unzipped");
    session
        .python(&[
            "-c",
            "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])",
            file.to_str().expect("path"),
            unzipped.to_str().expect("path"),
        ])
        .success();
    let proxy = Proxy::with(
        &moto().endpoint,
        Emulation {
            s3_select_unavailable: true,
            ..Emulation::aws()
        },
    );
    let handler = unzipped.join("lambda_function.py");
    let (answer, log) = invoke(
        &session.clone().through(&proxy),
        handler.to_str().expect("path"),
        &query(Value::Null),
    );
    assert_eq!(answer["statusCode"], 200, "{log:?}");
    assert_eq!(body(&answer).as_array().map(Vec::len), Some(25));

    // Again: nothing to change.
    let (again, requests) = session.requests_during(|| session.provision().run(&["dragons-api"]));
    again.success();
    assert_eq!(
        mutating(&requests),
        Vec::<String>::new(),
        "{}",
        again.stdout
    );
    eprintln!("re-run: {} requests, 0 mutating", requests.len());

    let printed = session.provision().run(&["dragons-api", "url"]);
    printed.success();
    assert_eq!(printed.stdout, format!("{url}\n"));

    let status = session.provision().run(&["--output", "json", "status"]);
    let document = status.success().json();
    for (kind, name) in [
        ("lambda-function", "dragons-api"),
        ("apigateway-rest-api", "dragons-api"),
        ("iam-role", "dragons-api-function"),
    ] {
        let row = document["resources"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["resource"] == kind && r["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} row in {document}"));
        assert_eq!(row["in_sync"], true, "{row}");
    }

    session.provision().run(&["teardown", "--yes"]).success();
    assert_eq!(rt.block_on(api_id(&session, "dragons-api")), None);
    assert!(
        rt.block_on(
            session
                .lambda()
                .get_function()
                .function_name("dragons-api")
                .send()
        )
        .is_err(),
        "the function is gone"
    );
    assert!(
        rt.block_on(
            session
                .iam()
                .get_role()
                .role_name("dragons-api-function")
                .send()
        )
        .is_err(),
        "the role is gone"
    );
}

/// Drift made by hand — the integration pointed elsewhere, the function's code replaced, the
/// permission removed — is named by status and the dry run, and put back by a run; the run after
/// changes nothing.
#[test]
fn drift_made_by_hand_is_named_and_put_back() {
    let rt = runtime();
    let session = rt.block_on(Session::in_account(
        "api-drift",
        "ap-northeast-2",
        "310000000225",
    ));
    session.provision().run(&["dragons-lab"]).success();
    session.provision().run(&["dragons-api"]).success();
    let id = rt
        .block_on(api_id(&session, "dragons-api"))
        .expect("the API");
    rt.block_on(async {
        let resources = session
            .apigateway()
            .get_resources()
            .rest_api_id(&id)
            .send()
            .await
            .expect("resources");
        let dragons = resources
            .items()
            .iter()
            .find(|r| r.path() == Some("/dragons"))
            .and_then(|r| r.id())
            .expect("/dragons")
            .to_string();
        session
            .apigateway()
            .put_integration()
            .rest_api_id(&id)
            .resource_id(&dragons)
            .http_method("GET")
            .r#type(aws_sdk_apigateway::types::IntegrationType::Http)
            .integration_http_method("GET")
            .uri("https://example.com/elsewhere")
            .send()
            .await
            .expect("put-integration");
        let mut zip = Vec::new();
        {
            use std::io::Write;
            let mut writer = zip::ZipWriter::new(std::io::Cursor::new(&mut zip));
            writer
                .start_file(
                    "lambda_function.py",
                    zip::write::SimpleFileOptions::default(),
                )
                .expect("entry");
            writer
                .write_all(b"def lambda_handler(event, context):\n    return {}\n")
                .expect("write");
            writer.finish().expect("zip");
        }
        session
            .lambda()
            .update_function_code()
            .function_name("dragons-api")
            .zip_file(aws_sdk_lambda::primitives::Blob::new(zip))
            .send()
            .await
            .expect("update-function-code");
        let statement = "provision-dragons-api-GET-dragons";
        session
            .lambda()
            .remove_permission()
            .function_name("dragons-api")
            .statement_id(statement)
            .send()
            .await
            .expect("remove-permission");
    });

    let status = session.provision().run(&["--output", "json", "status"]);
    let document = status.success().json();
    let row = |kind: &str| {
        document["resources"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["resource"] == kind && r["name"] == "dragons-api")
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} row in {document}"))
    };
    assert_eq!(row("lambda-function")["in_sync"], false);
    assert_eq!(row("apigateway-rest-api")["in_sync"], false);

    let dry = session.provision().run(&["--dry-run", "dragons-api"]);
    dry.success();
    for named in [
        "~ update    lambda-function dragons-api (code ",
        "~ update    apigateway-method dragons-api GET /dragons (integration HTTP GET https://example.com/elsewhere → AWS_PROXY POST",
        "+ create    lambda-permission dragons-api from dragons-api",
        "~ update    apigateway-deployment dragons-api/prod",
    ] {
        assert!(dry.stdout.contains(named), "{named}\n{}", dry.stdout);
    }
    let (fixed, requests) = session.requests_during(|| session.provision().run(&["dragons-api"]));
    fixed.success();
    let mut made = mutating(&requests);
    made.sort();
    assert_eq!(
        made,
        [
            "AddPermission",
            "CreateDeployment",
            "PutIntegration",
            "UpdateFunctionCode"
        ]
    );
    let (_, _, uri) = rt.block_on(integration(&session, &id));
    assert!(uri.ends_with(":function:dragons-api/invocations"), "{uri}");
    let (again, requests) = session.requests_during(|| session.provision().run(&["dragons-api"]));
    again.success();
    assert_eq!(
        mutating(&requests),
        Vec::<String>::new(),
        "{}",
        again.stdout
    );
}

/// IAM's delay: for a while after CreateRole, Lambda cannot assume the new role; the create is
/// retried on that answer only, and says so.
#[test]
fn a_role_lambda_cannot_assume_yet_is_waited_for() {
    let rt = runtime();
    let proxy = Proxy::with(
        &moto().endpoint,
        Emulation {
            role_unassumable: Duration::from_secs(2),
            ..Emulation::aws()
        },
    );
    let session = rt
        .block_on(Session::in_account(
            "api-role-propagation",
            "us-east-1",
            "310000000025",
        ))
        .through(&proxy);
    session.provision().run(&["dragons-lab"]).success();
    session.provision().run(&["dragons-api"]).success();
    assert!(
        proxy
            .emulated()
            .iter()
            .any(|(op, code)| op == "CreateFunction" && code == "InvalidParameterValueException"),
        "{:?}",
        proxy.emulated()
    );
    assert!(
        rt.block_on(
            session
                .lambda()
                .get_function()
                .function_name("dragons-api")
                .send()
        )
        .is_ok()
    );
}

/// Without the lab's parameters the command refuses before any change, naming dragons-lab; bad
/// names exit 2 before any request.
#[test]
fn without_the_lab_or_with_bad_input_nothing_is_changed() {
    let session = Session::in_region("api-no-lab", "sa-east-1");
    let (refused, requests) = session.requests_during(|| session.provision().run(&["dragons-api"]));
    refused.assert_code(1);
    assert!(
        refused.stderr.contains("provision dragons-lab"),
        "{}",
        refused.stderr
    );
    assert_eq!(mutating(&requests), Vec::<String>::new());
    for args in [
        &["dragons-api", "--name", "9lives"][..],
        &["dragons-api", "--name", "has space"][..],
        &["dragons-api", "--stage", "pr/od"][..],
        &["dragons-api", "url", "--name", "a.b"][..],
    ] {
        let (output, requests) = session.requests_during(|| session.provision().run(args));
        output.assert_code(2);
        assert!(requests.is_empty(), "{args:?}: {requests:?}");
    }
}

/// The CloudFormation export — every command's kinds, the API's with them — passes cfn-lint
/// (pinned with moto), in both formats.
#[test]
fn the_export_with_the_api_passes_cfn_lint() {
    let session = Session::in_region("api-export", "sa-east-1");
    for format in ["yaml", "json"] {
        let output = session.provision().run(&[
            "export",
            "cloudformation",
            "--format",
            format,
            "--owner-session",
            "provision-ada",
        ]);
        output.success();
        assert!(
            output.stdout.contains("AWS::ApiGateway::Method"),
            "{format}"
        );
        let file = session.write_file(&format!("template.{format}"), &output.stdout);
        let lint = session.python(&[
            "-c",
            "import sys; from cfnlint.runner import main; sys.argv = ['cfn-lint'] + sys.argv[1:]; main()",
            file.to_str().expect("path"),
        ]);
        assert_eq!(lint.code, 0, "{format}: {}{}", lint.stdout, lint.stderr);
    }
}

/// `--auth`: the user pool (the course's password policy, no self sign-up), its app client (no
/// secret; user-password and SRP), the authorizer trusting that pool on GET /dragons — read back
/// from the SDK; `user add` makes a confirmed user with a password from stdin, checked first;
/// `token` signs in and prints an ID token; a wrong password is refused; the authorizer removed by
/// hand is named and put back; the re-run sends no mutating request; teardown removes the pool.
#[test]
fn with_auth_the_route_takes_the_pool_s_tokens_and_users_get_them() {
    let rt = runtime();
    let session = rt.block_on(Session::in_account(
        "api-auth",
        "ap-southeast-1",
        "310000000325",
    ));
    session.provision().run(&["dragons-lab"]).success();
    let (made, requests) =
        session.requests_during(|| session.provision().run(&["dragons-api", "--auth"]));
    made.success();
    for line in [
        "+ create    cognito-user-pool dragons-api (passwords 12+ characters, upper, lower, digit",
        "+ create    cognito-user-pool-client dragons-api (no secret",
        "+ create    apigateway-authorizer dragons-api-users",
    ] {
        assert!(made.stdout.contains(line), "{line}\n{}", made.stdout);
    }
    let mut sorted = mutating(&requests);
    sorted.sort();
    eprintln!(
        "--auth cold run: {} requests, {} mutating",
        requests.len(),
        sorted.len()
    );
    for operation in ["CreateUserPool", "CreateUserPoolClient", "CreateAuthorizer"] {
        assert!(
            sorted.iter().any(|o| o == operation),
            "{operation}: {sorted:?}"
        );
    }

    // The wiring: the method takes the authorizer, which trusts the pool.
    let id = rt
        .block_on(api_id(&session, "dragons-api"))
        .expect("the API");
    let (pool_id, pool_arn) = rt.block_on(async {
        let cognito = aws_sdk_cognitoidentityprovider::Client::new(&session.sdk_config());
        let pools = cognito
            .list_user_pools()
            .max_results(60)
            .send()
            .await
            .expect("pools");
        let pool_id = pools
            .user_pools()
            .iter()
            .find(|p| p.name() == Some("dragons-api"))
            .and_then(|p| p.id())
            .expect("the pool")
            .to_string();
        let pool = cognito
            .describe_user_pool()
            .user_pool_id(&pool_id)
            .send()
            .await
            .expect("describe");
        let pool = pool.user_pool().expect("pool");
        let policy = pool
            .policies()
            .and_then(|p| p.password_policy())
            .expect("policy");
        assert_eq!(policy.minimum_length(), Some(12));
        assert!(policy.require_uppercase() && policy.require_numbers());
        assert!(
            pool.admin_create_user_config()
                .is_some_and(|c| c.allow_admin_create_user_only())
        );
        let clients = cognito
            .list_user_pool_clients()
            .user_pool_id(&pool_id)
            .send()
            .await
            .expect("clients");
        let client_id = clients.user_pool_clients()[0].client_id().expect("id");
        let client = cognito
            .describe_user_pool_client()
            .user_pool_id(&pool_id)
            .client_id(client_id)
            .send()
            .await
            .expect("client");
        let client = client.user_pool_client().expect("client");
        assert!(client.client_secret().is_none());
        let mut flows: Vec<&str> = client
            .explicit_auth_flows()
            .iter()
            .map(|f| f.as_str())
            .collect();
        flows.sort();
        assert_eq!(
            flows,
            [
                "ALLOW_REFRESH_TOKEN_AUTH",
                "ALLOW_USER_PASSWORD_AUTH",
                "ALLOW_USER_SRP_AUTH"
            ]
        );
        (pool_id, pool.arn().expect("arn").to_string())
    });
    let (authorizer_id, method) = rt.block_on(async {
        let authorizers = session
            .apigateway()
            .get_authorizers()
            .rest_api_id(&id)
            .send()
            .await
            .expect("authorizers");
        let authorizer = &authorizers.items()[0];
        assert_eq!(authorizer.name(), Some("dragons-api-users"));
        assert_eq!(authorizer.provider_arns(), std::slice::from_ref(&pool_arn));
        let resources = session
            .apigateway()
            .get_resources()
            .rest_api_id(&id)
            .embed("methods")
            .send()
            .await
            .expect("resources");
        let method = resources
            .items()
            .iter()
            .find(|r| r.path() == Some("/dragons"))
            .and_then(|r| r.resource_methods())
            .and_then(|m| m.get("GET"))
            .cloned()
            .expect("GET /dragons");
        (authorizer.id().expect("id").to_string(), method)
    });
    assert_eq!(method.authorization_type(), Some("COGNITO_USER_POOLS"));
    assert_eq!(method.authorizer_id(), Some(authorizer_id.as_str()));

    // A user, confirmed, with a password from stdin; a weak one refused before any request.
    let (weak, requests) = session.requests_during(|| {
        session
            .provision()
            .run_with_stdin(&["dragons-api", "user", "add", "student"], "short\n")
    });
    weak.assert_code(2);
    assert!(
        weak.stderr.contains("at least 12 characters"),
        "{}",
        weak.stderr
    );
    assert!(requests.is_empty(), "{requests:?}");
    let password = "Dragons-Atlas-2026";
    let added = session.provision().run_with_stdin(
        &["dragons-api", "user", "add", "student"],
        &format!("{password}\n"),
    );
    added.success();
    assert!(!added.stdout.contains(password) && !added.stderr.contains(password));
    let status = rt.block_on(async {
        aws_sdk_cognitoidentityprovider::Client::new(&session.sdk_config())
            .admin_get_user()
            .user_pool_id(&pool_id)
            .username("student")
            .send()
            .await
            .expect("the user")
            .user_status()
            .map(|s| s.as_str().to_string())
    });
    assert_eq!(status.as_deref(), Some("CONFIRMED"));

    // Its ID token: a JWT, alone on stdout.
    let token = session.provision().run_with_stdin(
        &["dragons-api", "token", "student"],
        &format!("{password}\n"),
    );
    token.success();
    let jwt = token.stdout.trim();
    assert_eq!(jwt.split('.').count(), 3, "{jwt}");
    assert_eq!(token.stdout.lines().count(), 1);
    let wrong = session
        .provision()
        .run_with_stdin(&["dragons-api", "token", "student"], "Not-The-Password-1\n");
    wrong.assert_code(1);
    assert!(
        wrong.stderr.contains("wrong user name or password"),
        "{}",
        wrong.stderr
    );

    // Nothing to change; then the authorizer removed by hand is named and made again.
    let (again, requests) =
        session.requests_during(|| session.provision().run(&["dragons-api", "--auth"]));
    again.success();
    assert_eq!(
        mutating(&requests),
        Vec::<String>::new(),
        "{}",
        again.stdout
    );
    rt.block_on(async {
        session
            .apigateway()
            .delete_authorizer()
            .rest_api_id(&id)
            .authorizer_id(&authorizer_id)
            .send()
            .await
            .expect("delete-authorizer");
    });
    let dry = session
        .provision()
        .run(&["--dry-run", "dragons-api", "--auth"]);
    dry.success();
    assert!(
        dry.stdout
            .contains("+ create    apigateway-authorizer dragons-api-users"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("~ update    apigateway-method dragons-api GET /dragons"),
        "{}",
        dry.stdout
    );
    session
        .provision()
        .run(&["dragons-api", "--auth"])
        .success();
    let (settled, requests) =
        session.requests_during(|| session.provision().run(&["dragons-api", "--auth"]));
    settled.success();
    assert_eq!(
        mutating(&requests),
        Vec::<String>::new(),
        "{}",
        settled.stdout
    );

    session.provision().run(&["teardown", "--yes"]).success();
    let left = rt.block_on(async {
        aws_sdk_cognitoidentityprovider::Client::new(&session.sdk_config())
            .list_user_pools()
            .max_results(60)
            .send()
            .await
            .expect("pools")
            .user_pools()
            .len()
    });
    assert_eq!(left, 0, "teardown removes the pool");
}

/// AWS Academy's Learner Lab: `--auth` is refused before any change (no Cognito there), and the
/// function runs as the account's LabRole with `--existing-role`, with no IAM write; the plain
/// run, refused CreateRole, names that command.
#[test]
fn in_a_learner_lab_auth_is_refused_and_the_function_runs_as_lab_role() {
    let rt = runtime();
    let proxy = Proxy::start(&moto().endpoint);
    let session = rt
        .block_on(Session::in_account(
            "voclabs-api",
            "us-east-1",
            "310000000425",
        ))
        .through(&proxy);
    session.provision().run(&["dragons-lab"]).success();
    rt.block_on(async {
        session
            .iam()
            .create_role()
            .role_name("LabRole")
            .assume_role_policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#,
            )
            .send()
            .await
            .expect("LabRole");
    });
    proxy.deny("CreateRole", crate::proxy::Denial::Identity);

    let before = proxy.mutating_operations().len();
    let auth = session.provision().run(&["dragons-api", "--auth"]);
    auth.assert_code(1);
    assert!(auth.stderr.contains("Learner Lab"), "{}", auth.stderr);
    assert_eq!(proxy.mutating_operations().len(), before, "no change");

    let refused = session.provision().run(&["dragons-api"]);
    refused.assert_code(1);
    assert!(
        refused
            .stderr
            .contains("provision dragons-api --existing-role LabRole"),
        "{}",
        refused.stderr
    );

    let before = proxy.mutating_operations().len();
    let used = session
        .provision()
        .run(&["dragons-api", "--existing-role", "LabRole"]);
    used.success();
    let writes = proxy.mutating_operations()[before..].to_vec();
    assert!(
        !writes
            .iter()
            .any(|o| o.starts_with("CreateRole") || o.starts_with("PutRolePolicy")),
        "{writes:?}"
    );
    let role = rt.block_on(async {
        session
            .lambda()
            .get_function()
            .function_name("dragons-api")
            .send()
            .await
            .expect("the function")
            .configuration()
            .and_then(|c| c.role().map(str::to_string))
    });
    assert_eq!(
        role.as_deref(),
        Some("arn:aws:iam::310000000425:role/LabRole")
    );
    // Teardown leaves LabRole, which provision did not make.
    session.provision().run(&["teardown", "--yes"]).success();
    assert!(
        rt.block_on(session.iam().get_role().role_name("LabRole").send())
            .is_ok()
    );
}

/// An HTTP GET of `url` from a Python (urllib), with `authorization` as its header: the status.
/// What a browser or curl sees, beside provision's own call.
fn raw_get(session: &Session, url: &str, authorization: Option<&str>) -> u16 {
    let script = "import sys, urllib.request, urllib.error\n\
                  request = urllib.request.Request(sys.argv[1])\n\
                  if len(sys.argv) > 2: request.add_header('Authorization', sys.argv[2])\n\
                  try:\n    print(urllib.request.urlopen(request, timeout=60).status)\n\
                  except urllib.error.HTTPError as e:\n    print(e.code)\n";
    let mut args = vec!["-c", script, url];
    args.extend(authorization);
    session
        .python(&args)
        .success()
        .stdout
        .trim()
        .parse()
        .expect("a status")
}

/// `dragons-api call`: the deployed URL answers as API Gateway does (the test bed runs the
/// function's uploaded package as its role, behind the stage, the function's permission and the
/// authorizer; moto alone does none of it): the 25 dragons, one by name, a name not there, a
/// throttled call sent again, the permission removed by hand (500, then put back by a run);
/// with --auth, no call without a token of the pool, and `--as USER` signs in.
#[test]
fn calling_the_api_runs_the_function_behind_its_permission_and_authorizer() {
    let rt = runtime();
    let proxy = Proxy::start(&moto().endpoint);
    let session = rt
        .block_on(Session::in_account(
            "api-call",
            "ap-southeast-2",
            "310000000525",
        ))
        .through(&proxy);
    crate::functions::lab_for_s3_select(&session);
    session.provision().run(&["dragons-api"]).success();

    let url = session.provision().run(&["dragons-api", "url"]);
    url.success();
    let url = url.stdout.trim().to_string();
    assert!(
        url.starts_with(&proxy.endpoint) && url.ends_with("/prod/_user_request_/dragons"),
        "{url}"
    );

    let all = session
        .provision()
        .run(&["--output", "json", "dragons-api", "call"]);
    let report = all.success().json();
    assert_eq!(report["status"], 200);
    assert_eq!(report["count"], 25, "{}", all.stdout);
    let expected: Value =
        serde_json::from_str(&crate::dragons_lab::data_without_apostrophes()).expect("data");
    assert_eq!(report["dragons"], expected);
    let table = session.provision().run(&["dragons-api", "call"]);
    table.success();
    assert!(
        table.stdout.contains("25 dragons from GET ") && table.stdout.contains("Bahamethut"),
        "{}",
        table.stdout
    );

    let one = session
        .provision()
        .run(&["dragons-api", "call", "--dragon", "Bahamethut"]);
    one.success();
    assert!(one.stdout.contains("1 dragons from GET "), "{}", one.stdout);
    assert!(
        one.stdout.contains("?dragonName=Bahamethut"),
        "{}",
        one.stdout
    );
    let nobody = session
        .provision()
        .run(&["dragons-api", "call", "--dragon", "Nobody"]);
    nobody.assert_code(1);
    assert!(
        nobody
            .stderr
            .contains("answered 404: no dragon is named Nobody"),
        "{}",
        nobody.stderr
    );

    // Bad input and a user for an API without sign-in: refused before any call.
    let seen = proxy.operations().len();
    let long = "x".repeat(129);
    for (args, needle) in [
        (
            vec!["dragons-api", "call", "--dragon", long.as_str()],
            "is not a dragon's name",
        ),
        (
            vec!["dragons-api", "call", "--as", "a b"],
            "is not a user name",
        ),
    ] {
        let refused = session.provision().run(&args);
        refused.assert_code(2);
        assert!(refused.stderr.contains(needle), "{}", refused.stderr);
    }
    let as_user = session.provision().run_with_stdin(
        &["dragons-api", "call", "--as", "student"],
        "Whatever-Pass-1\n",
    );
    as_user.assert_code(2);
    assert!(
        as_user.stderr.contains("has no sign-in"),
        "{}",
        as_user.stderr
    );
    let since = proxy.operations()[seen..].to_vec();
    assert!(!since.iter().any(|o| o == EXECUTE_API), "{since:?}");

    // Throttled (API Gateway's 429): sent again; still throttled: the answer said.
    proxy.inject(EXECUTE_API, Fault::Fail(429), 1);
    session.provision().run(&["dragons-api", "call"]).success();
    proxy.inject(EXECUTE_API, Fault::Fail(503), 3);
    let unavailable = session.provision().run(&["dragons-api", "call"]);
    unavailable.assert_code(1);
    assert!(
        unavailable.stderr.contains("answered 503"),
        "{}",
        unavailable.stderr
    );

    // The function's permission removed by hand: API Gateway may not invoke it (500); status
    // names it, and a run puts it back.
    rt.block_on(async {
        session
            .lambda()
            .remove_permission()
            .function_name("dragons-api")
            .statement_id("provision-dragons-api-GET-dragons")
            .send()
            .await
            .expect("remove-permission");
    });
    let denied = session.provision().run(&["dragons-api", "call"]);
    denied.assert_code(1);
    assert!(
        denied
            .stderr
            .contains("answered 500: Internal server error")
            && denied.stderr.contains("/aws/lambda/dragons-api"),
        "{}",
        denied.stderr
    );
    session.provision().run(&["dragons-api"]).success();
    session.provision().run(&["dragons-api", "call"]).success();

    // With --auth: the test bed's authorizer refuses a call without a token of the pool, and
    // provision signs in with --as.
    session
        .provision()
        .run(&["dragons-api", "--auth"])
        .success();
    assert_eq!(raw_get(&session, &url, None), 401);
    assert_eq!(raw_get(&session, &url, Some("not.a.token")), 401);
    let anonymous = session.provision().run(&["dragons-api", "call"]);
    anonymous.assert_code(2);
    assert!(
        anonymous.stderr.contains("signs its callers in"),
        "{}",
        anonymous.stderr
    );
    let password = "Dragons-Atlas-2026";
    session
        .provision()
        .run_with_stdin(
            &["dragons-api", "user", "add", "student"],
            &format!("{password}\n"),
        )
        .success();
    let signed_in = session.provision().run_with_stdin(
        &["--output", "json", "dragons-api", "call", "--as", "student"],
        &format!("{password}\n"),
    );
    let report = signed_in.success().json();
    assert_eq!(report["count"], 25, "{}", signed_in.stdout);
    assert_eq!(report["signed_in_as"], "student");
    assert!(!signed_in.stdout.contains(password) && !signed_in.stderr.contains(password));
    let token = session.provision().run_with_stdin(
        &["dragons-api", "token", "student"],
        &format!("{password}\n"),
    );
    token.success();
    assert_eq!(raw_get(&session, &url, Some(token.stdout.trim())), 200);

    session.provision().run(&["teardown", "--yes"]).success();
    let gone = session.provision().run(&["dragons-api", "call"]);
    gone.assert_code(1);
    assert!(
        gone.stderr.contains("you have no API dragons-api deployed"),
        "{}",
        gone.stderr
    );
}
