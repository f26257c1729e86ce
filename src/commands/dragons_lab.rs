//! `provision dragons-lab`: the bucket, configured; the dragons data uploaded; the two SSM
//! parameters the lab application reads to find it; with `--site`, the lab web app.

use std::path::PathBuf;
use std::sync::Arc;

use crate::apply::{self, ApplyOptions, Clients};
use crate::aws::Aws;
use crate::cli::{DragonsLabArgs, GlobalArgs};
use crate::commands::instance_profile::DEFAULT_BUCKET_TEMPLATE;
use crate::commands::{print_outcome, print_plan};
use crate::error::Error;
use crate::lab_data;
use crate::plan::{Body, Plan, PublicAccess, SiteFile};
use crate::printer::Printer;
use crate::resources::bucket::{self, DesiredBucket};
use crate::resources::object::{self, DesiredObject};
use crate::resources::parameter::{self, BUCKET_PARAMETER, KEY_PARAMETER};

pub const DATA_CONTENT_TYPE: &str = "application/json";

struct Inputs {
    bucket: Option<String>,
    key: String,
    body: Vec<u8>,
    site: Option<(PathBuf, Vec<(SiteFile, String)>)>,
}

/// Everything that can be checked without AWS: names, the data, the site directory.
fn check_inputs(args: &DragonsLabArgs) -> Result<Inputs, Error> {
    if let Some(bucket) = &args.bucket {
        lab_data::check_bucket_name(bucket)?;
    }
    lab_data::check_object_key(&args.key)?;
    let (body, origin) = match &args.data {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                Error::usage(format!("cannot read the data file {}", path.display()))
                    .with_cause(e.to_string())
                    .with_hint(
                        "check the path given to --data, or omit it for the embedded dragons",
                    )
            })?;
            (bytes, path.display().to_string())
        }
        None => (
            lab_data::DEFAULT_DRAGONS.to_vec(),
            "the embedded data/dragons.json".to_string(),
        ),
    };
    lab_data::parse_dragons(&body, &origin)?;
    let site = match &args.site {
        Some(dir) if dir.is_dir() => Some((dir.clone(), object::scan_site(dir)?)),
        Some(dir) => {
            return Err(
                Error::usage(format!("--site {} is not a directory", dir.display())).with_hint(
                    "give the directory holding the lab web app (index.html and its files)",
                ),
            );
        }
        None => None,
    };
    Ok(Inputs {
        bucket: args.bucket.clone(),
        key: args.key.clone(),
        body,
        site,
    })
}

pub async fn run(
    global: &GlobalArgs,
    args: &DragonsLabArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let inputs = check_inputs(args)?;
    let aws = Aws::connect(global).await?;
    match run_with(&aws, global, args, inputs, printer).await {
        Ok(()) => Ok(()),
        Err(error) => Err(aws.explain(error).await),
    }
}

async fn run_with(
    aws: &Aws,
    global: &GlobalArgs,
    args: &DragonsLabArgs,
    inputs: Inputs,
    printer: &Printer,
) -> Result<(), Error> {
    let clients = Clients::new(aws);
    let observing = printer.step("observing S3 and SSM");
    // The default bucket name needs the account id; a given one lets everything start at once.
    let bucket_name = match &inputs.bucket {
        Some(name) => name.clone(),
        None => {
            let identity = aws.identity().await?;
            DEFAULT_BUCKET_TEMPLATE
                .replace("{{account_id}}", &identity.account)
                .replace("{{region}}", &aws.region)
        }
    };
    let site_objects = async {
        match &inputs.site {
            Some(_) => object::observe_all(&clients.s3, &bucket_name)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let (identity, observed_bucket, observed_object, site_objects, parameters) = tokio::join!(
        aws.identity(),
        bucket::observe(&clients.s3, &bucket_name),
        object::observe(&clients.s3, &bucket_name, &inputs.key),
        site_objects,
        parameter::observe(&clients.ssm, &[BUCKET_PARAMETER, KEY_PARAMETER]),
    );
    let identity = identity?;
    let (observed_bucket, observed_object, site_objects, parameters) = (
        observed_bucket?,
        observed_object?,
        site_objects?,
        parameters?,
    );
    observing.finish("observed S3 and SSM");

    let (account, partition, region) = (&identity.account, &identity.partition, &aws.region);
    let desired_bucket = DesiredBucket {
        name: bucket_name.clone(),
        region: region.clone(),
        partition: partition.clone(),
        public_access: if inputs.site.is_some() {
            PublicAccess::PUBLIC_READ_ACLS
        } else {
            PublicAccess::PRIVATE
        },
    };
    let md5_hex = object::md5_hex(&inputs.body);
    let desired_object = DesiredObject {
        bucket: bucket_name.clone(),
        key: inputs.key.clone(),
        body: Body(Arc::new(inputs.body)),
        md5_hex,
        content_type: DATA_CONTENT_TYPE.to_string(),
        partition: partition.clone(),
    };

    let mut plan = Plan::default();
    plan.changes
        .extend(bucket::plan(&desired_bucket, &observed_bucket, args.adopt)?);
    plan.changes
        .push(object::plan(&desired_object, observed_object.as_ref()));
    if let (Some((dir, files)), Some(existing)) = (&inputs.site, &site_objects) {
        plan.changes
            .push(object::plan_site(&bucket_name, dir, files, existing));
    }
    for (name, value) in [
        (BUCKET_PARAMETER, &bucket_name),
        (KEY_PARAMETER, &inputs.key),
    ] {
        let arn = format!("arn:{partition}:ssm:{region}:{account}:parameter/{name}");
        plan.changes.push(parameter::plan(
            name,
            value,
            parameters.get(name),
            args.adopt,
            arn,
        )?);
    }

    print_plan(printer, &plan, account, region);
    if !global.dry_run && !plan.is_noop() {
        apply::apply(&plan, &clients, ApplyOptions::default(), printer).await?;
    }
    let site_url = inputs.site.as_ref().map(|(_, files)| {
        let page = if files.iter().any(|(f, _)| f.key == "index.html") {
            "index.html"
        } else {
            ""
        };
        match &aws.endpoint {
            Some(endpoint) => format!("{}/{bucket_name}/{page}", endpoint.trim_end_matches('/')),
            None => format!("https://{bucket_name}.s3.{region}.amazonaws.com/{page}"),
        }
    });
    print_outcome(
        printer,
        "dragons-lab",
        &plan,
        global.dry_run,
        account,
        region,
        site_url.as_deref(),
    )?;
    Ok(())
}
