//! `provision dragons-api`: the Dragons lab's data behind API Gateway and Lambda — the function's
//! role, the function, the REST API with `GET /dragons`, its permission and its stage; `url`
//! prints the stage's invoke URL.

use crate::commands::applied;
use crate::commands::{Run, apply_and_report, print_plan, with_aws};
use crate::connection::aws::Aws;
use crate::connection::clients::Clients;
use crate::error::Error;
use crate::fanout::{AccountResult, FanOut, RunEach};
use crate::plans::dragons_api::{Inputs, explained, invoke_url, prepare};
use crate::printer::Printer;
use crate::resources::Resource;
use crate::resources::ownership::Claims;
use crate::resources::rest_api::{ApiQuery, ObservedApi, RestApi};
use crate::settings::{ApiNameArgs, DragonsApiAction, DragonsApiArgs, GlobalArgs, PackageArgs};

/// The command, as the registry runs it (`cli::commands!`).
pub(crate) struct Runner;

impl Run for Runner {
    type Args = DragonsApiArgs;

    async fn run(
        global: &GlobalArgs,
        args: &DragonsApiArgs,
        printer: &Printer,
    ) -> Result<(), Error> {
        match &args.action {
            Some(DragonsApiAction::Url(url)) => return print_url(global, url, printer).await,
            Some(DragonsApiAction::Package(package)) => return write_package(package, printer),
            Some(DragonsApiAction::User(crate::settings::UserAction::Add(user))) => {
                return crate::commands::api_users::add(global, user, printer).await;
            }
            Some(DragonsApiAction::Token(user)) => {
                return crate::commands::api_users::token(global, user, printer).await;
            }
            Some(DragonsApiAction::Call(call)) => {
                return crate::commands::api_call::call(global, call, printer).await;
            }
            None => {}
        }
        let inputs = Inputs::from_args(args)?;
        with_aws(global, printer, async |aws| {
            let clients = aws.clients(&global.lab());
            let observing = printer.step(format!(
                "observing IAM, Lambda and API Gateway for {}",
                inputs.name
            ));
            let prepared = prepare(aws, &clients, &inputs, &global.lab()).await;
            let (target, plan) = explained(prepared, &inputs, &clients).await?;
            observing.finish(format!(
                "observed IAM, Lambda and API Gateway for {}",
                inputs.name
            ));
            print_plan(printer, &plan, &target);
            let applied = apply_and_report(
                printer,
                global,
                "dragons-api",
                &plan,
                &target,
                &clients,
                None,
            )
            .await;
            explained(applied, &inputs, &clients).await?;
            if !global.dry_run
                && !printer.is_json()
                && let Some((_, url)) =
                    deployed_api(aws, &clients, &inputs.name, &inputs.stage).await?
            {
                printer.data(format!("Invoke URL: {url}"));
            }
            Ok(())
        })
        .await
    }
}

impl RunEach for Runner {
    type Args = DragonsApiArgs;
    type Prepared = Inputs;

    fn prepare(_: &GlobalArgs, args: &DragonsApiArgs) -> Result<Inputs, Error> {
        if args.action.is_some() {
            return Err(Error::usage(
                "`provision dragons-api url`, `call`, `user` and `token` act on one account",
            )
            .with_hint(
                "leave out --accounts / --org, and run it with that account's credentials",
            ));
        }
        Inputs::from_args(args)
    }

    async fn each(
        fan_out: &FanOut<'_>,
        _: &DragonsApiArgs,
        inputs: &Inputs,
    ) -> Result<Vec<AccountResult>, Error> {
        Ok(fan_out
            .each(async |aws, interrupt| {
                let clients = aws.clients(&fan_out.global.lab());
                let prepared = prepare(aws, &clients, inputs, &fan_out.global.lab()).await;
                let prepared = explained(prepared, inputs, &clients).await?;
                applied(
                    fan_out.global,
                    fan_out.name,
                    prepared,
                    &clients,
                    None,
                    interrupt,
                )
                .await
            })
            .await)
    }
}

/// The caller's API `name` deployed to `stage`, with its invoke URL; `None` when it has no such
/// stage.
pub(crate) async fn deployed_api(
    aws: &Aws,
    clients: &Clients,
    name: &str,
    stage: &str,
) -> Result<Option<(ObservedApi, String)>, Error> {
    let identity = aws.identity().await?;
    let owner = crate::course::owners::owner_of(&identity.arn);
    let claims = Claims::of(owner);
    let apis = RestApi::observe(
        clients,
        &ApiQuery {
            name: name.to_string(),
            route: None,
        },
    )
    .await?;
    Ok(apis
        .into_iter()
        .find(|api| {
            claims.is_callers(crate::resources::rest_api::REST_API, &api.name, &api.tags)
                && api.stages.contains_key(stage)
        })
        .map(|api| {
            let url = invoke_url(
                &identity.partition,
                &aws.region,
                &api.id,
                stage,
                aws.endpoint.as_deref(),
            );
            (api, url)
        }))
}

/// The error for an API `name` the caller has not deployed to `stage`.
pub(crate) fn not_deployed(name: &str, stage: &str, region: &str) -> Error {
    Error::failed(format!(
        "you have no API {name} deployed to stage {stage} in {region}"
    ))
    .with_hint(format!(
        "run `provision dragons-api --name {name} --stage {stage}` first (with the same --region)"
    ))
}

/// `provision dragons-api url`: the URL alone, or why there is none.
async fn print_url(
    global: &GlobalArgs,
    args: &ApiNameArgs,
    printer: &Printer,
) -> Result<(), Error> {
    with_aws(global, printer, async |aws| {
        let clients = aws.clients(&global.lab());
        let name = args.name.as_str();
        let stage = args.stage.as_str();
        match deployed_api(aws, &clients, name, stage).await? {
            Some((_, url)) if printer.is_json() => printer.json(&serde_json::json!({
                "schema_version": crate::printer::SCHEMA_VERSION,
                "command": "dragons-api url",
                "url": url,
            })),
            Some((_, url)) => {
                printer.data(url);
                Ok(())
            }
            None => Err(not_deployed(name, stage, &aws.region)),
        }
    })
    .await
}

/// `provision dragons-api package`: the function's package, as `dragons-api` uploads it, for a
/// template to read from S3 (`export cloudformation`). Written atomically; nothing is sent.
fn write_package(args: &PackageArgs, printer: &Printer) -> Result<(), Error> {
    let package = crate::course::function_package::list_dragons()?;
    crate::connection::profiles::write_atomically(&args.out, &package.zip).map_err(|e| {
        Error::failed(format!("cannot write {}", args.out.display()))
            .with_cause(e.to_string())
            .with_hint("choose another file with --out")
    })?;
    match printer.is_json() {
        true => printer.json(&serde_json::json!({
            "schema_version": crate::printer::SCHEMA_VERSION,
            "command": "dragons-api package",
            "file": args.out.display().to_string(),
            "bytes": package.zip.len(),
            "code_sha256": package.code_sha256,
        })),
        false => {
            printer.data(format!(
                "{}: {} bytes, CodeSha256 {}",
                args.out.display(),
                package.zip.len(),
                package.code_sha256
            ));
            Ok(())
        }
    }
}
