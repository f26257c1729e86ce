//! `provision dragons-lab`: the bucket, configured; the dragons data uploaded; the two SSM
//! parameters the lab application reads to find it; with `--site`, the lab web app.

use aws_sdk_s3::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};

use crate::commands::applied;
use crate::commands::{Run, apply_and_report, print_plan, with_aws};
use crate::connection::aws::Aws;
use crate::connection::clients::Clients;
use crate::course::lab::Target;
use crate::error::Error;
use crate::fanout::{AccountResult, FanOut, RunEach};
use crate::plans::dragons_lab::{DesiredState, Inputs, Site, observe, plan};
use crate::printer::Printer;
use crate::resources::Plan;
use crate::settings::{DragonsLabArgs, GlobalArgs, Lab};

/// The command, as the registry runs it (`cli::commands!`).
pub(crate) struct Runner;

impl Run for Runner {
    type Args = DragonsLabArgs;

    async fn run(
        global: &GlobalArgs,
        args: &DragonsLabArgs,
        printer: &Printer,
    ) -> Result<(), Error> {
        let inputs = Inputs::from_args(args)?;
        with_aws(global, printer, async |aws| {
            let clients = aws.clients(&global.lab());
            let observing = printer.step("observing S3 and SSM");
            let (target, plan, site_url) = prepare(aws, &clients, &inputs, &global.lab()).await?;
            observing.finish("observed S3 and SSM");
            print_plan(printer, &plan, &target);
            apply_and_report(
                printer,
                global,
                "dragons-lab",
                &plan,
                &target,
                &clients,
                site_url.as_deref(),
            )
            .await
        })
        .await
    }
}

impl RunEach for Runner {
    type Args = DragonsLabArgs;
    type Prepared = Inputs;

    fn prepare(_: &GlobalArgs, args: &DragonsLabArgs) -> Result<Inputs, Error> {
        Inputs::from_args(args)
    }

    async fn each(
        fan_out: &FanOut<'_>,
        _: &DragonsLabArgs,
        inputs: &Inputs,
    ) -> Result<Vec<AccountResult>, Error> {
        Ok(fan_out
            .each(async |aws, interrupt| {
                let clients = aws.clients(&fan_out.global.lab());
                let (target, plan, site) =
                    prepare(aws, &clients, inputs, &fan_out.global.lab()).await?;
                applied(
                    fan_out.global,
                    fan_out.name,
                    (target, plan),
                    &clients,
                    site.as_deref(),
                    interrupt,
                )
                .await
            })
            .await)
    }
}

/// Observes and plans the lab in one account, with the address the `--site` files will have.
pub(crate) async fn prepare(
    aws: &Aws,
    clients: &Clients,
    inputs: &Inputs,
    lab: &Lab,
) -> Result<(Target, Plan, Option<String>), Error> {
    let (target, observed) = observe(aws, clients, inputs, lab).await?;
    let desired = DesiredState::new(inputs, &target);
    let plan = plan(&desired, &observed)?;
    let bucket = &desired.bucket.name;
    let site_url = match &inputs.site {
        Site::Dir { files, .. } => {
            let page = if files.iter().any(|f| f.key == "index.html") {
                "index.html"
            } else {
                ""
            };
            // The bucket is in the run's region: the plan refuses one elsewhere.
            Some(format!(
                "{}/{page}",
                site_endpoint(aws.endpoint.as_deref(), bucket, &target.region).await?
            ))
        }
        Site::None => None,
    };
    Ok((target, plan, site_url))
}

/// The bucket's address as S3's own endpoint rules resolve it for this run — the partition's DNS
/// suffix (amazonaws.com, amazonaws.com.cn, …), or the endpoint override, path-style.
async fn site_endpoint(
    endpoint: Option<&str>,
    bucket: &str,
    region: &str,
) -> Result<String, Error> {
    let params = Params::builder()
        .bucket(bucket)
        .region(region)
        .set_endpoint(endpoint.map(str::to_string))
        .force_path_style(endpoint.is_some())
        .build()
        .map_err(|e| {
            Error::failed("cannot resolve the site's address").with_cause(e.to_string())
        })?;
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| {
            Error::failed("cannot resolve the site's address")
                .with_cause(crate::error::error_chain(&*e))
        })?;
    Ok(endpoint.url().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_site_address_follows_the_partition_and_the_endpoint() {
        for (region, endpoint, expected) in [
            (
                "ca-central-1",
                None,
                "https://lab-site.s3.ca-central-1.amazonaws.com",
            ),
            (
                "cn-north-1",
                None,
                "https://lab-site.s3.cn-north-1.amazonaws.com.cn",
            ),
            (
                "us-east-1",
                Some("http://127.0.0.1:5000"),
                "http://127.0.0.1:5000/lab-site",
            ),
        ] {
            let resolved = site_endpoint(endpoint, "lab-site", region)
                .await
                .expect("resolves");
            assert_eq!(resolved, expected, "{region}");
        }
    }
}
