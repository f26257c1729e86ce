//! `provision dragons-lab`: the bucket, configured; the dragons data uploaded; the two SSM
//! parameters the lab application reads to find it; with `--site`, the lab web app.

use std::path::PathBuf;
use std::sync::Arc;

use crate::apply::{self, ApplyOptions, Clients};
use crate::aws::Aws;
use crate::cli::{DragonsLabArgs, GlobalArgs};
use crate::commands::instance_profile::default_bucket_name;
use crate::commands::{print_outcome, print_plan};
use crate::error::Error;
use crate::lab_data;
use crate::plan::{Action, Body, Plan, PublicAccess, ResourceKind, SiteFile};
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

type LabObservation = (
    bucket::ObservedBucket,
    Option<object::ObservedObject>,
    Option<std::collections::BTreeMap<String, object::ObservedObject>>,
);

/// Reads the bucket (fully, or — when ListBuckets showed it is ours, with `owned_region` — just its
/// configuration), the data object and, with `site`, the listing, concurrently.
async fn observe_lab(
    s3: &aws_sdk_s3::Client,
    bucket_name: &str,
    key: &str,
    site: bool,
    owned_region: Option<Option<String>>,
) -> Result<LabObservation, Error> {
    let observed_bucket = async {
        match owned_region {
            Some(region) => bucket::observe_owned(s3, bucket_name, region).await,
            None => bucket::observe(s3, bucket_name).await,
        }
    };
    let site_objects = async {
        if site {
            object::observe_all(s3, bucket_name).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let (observed_bucket, observed_object, site_objects) = tokio::join!(
        observed_bucket,
        object::observe(s3, bucket_name, key),
        site_objects
    );
    Ok((observed_bucket?, observed_object?, site_objects?))
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
    // Round one: identity, parameters and — for a given name — the bucket and its contents. The
    // default name needs the account id, so round one lists the caller's buckets instead, and the
    // bucket's configuration and contents are read in a second round only if it is already ours.
    let site = inputs.site.is_some();
    let explicit = async {
        match &inputs.bucket {
            Some(name) => observe_lab(&clients.s3, name, &inputs.key, site, None)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let owned = async {
        match &inputs.bucket {
            Some(_) => None,
            None => Some(bucket::owned_buckets(&clients.s3).await),
        }
    };
    let (identity, parameters, explicit, owned) = tokio::join!(
        aws.identity(),
        parameter::observe(&clients.ssm, &[BUCKET_PARAMETER, KEY_PARAMETER]),
        explicit,
        owned,
    );
    let (identity, parameters, explicit) = (identity?, parameters?, explicit?);
    let bucket_name = inputs
        .bucket
        .clone()
        .unwrap_or_else(|| default_bucket_name(&identity.account, &aws.region));
    let (observed_bucket, observed_object, site_objects) = match (explicit, owned) {
        (Some(observed), _) => observed,
        (None, Some(Ok(owned))) => match owned.get(&bucket_name) {
            Some(region) => {
                observe_lab(
                    &clients.s3,
                    &bucket_name,
                    &inputs.key,
                    site,
                    Some(region.clone()),
                )
                .await?
            }
            // Not among the caller's buckets: to be created. A name another account holds is
            // refused by CreateBucket itself, before anything that depends on the bucket runs.
            None => (
                bucket::ObservedBucket {
                    presence: bucket::Presence::Missing,
                    ownership: None,
                    public_access: None,
                    tags: Default::default(),
                },
                None,
                site.then(Default::default),
            ),
        },
        // Listing was refused (no s3:ListAllMyBuckets): HeadBucket decides, as for a given name.
        (None, _) => observe_lab(&clients.s3, &bucket_name, &inputs.key, site, None).await?,
    };
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

    // A bucket still to be created may turn out to be another account's name: the parameters that
    // point at it wait for it, so a refused name leaves nothing half made.
    if plan
        .find(ResourceKind::S3Bucket, &bucket_name)
        .is_some_and(|c| c.action == Action::Create)
    {
        for change in plan
            .changes
            .iter_mut()
            .filter(|c| c.resource == ResourceKind::SsmParameter)
        {
            change.depends_on.push(bucket::bucket_id(&bucket_name));
        }
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
