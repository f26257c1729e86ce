//! `dragons-lab`: the bucket, configured; the dragons data uploaded; the two SSM parameters the lab
//! application reads to find it; with `--site`, the lab web app.

use crate::course::lab::{BUCKET_PARAMETER, KEY_PARAMETER, LAB_BUCKET_PREFIX};
use crate::resources::bucket::OWNERSHIP;
use crate::resources::ownership::{MANAGED_BY_KEY, MANAGED_BY_VALUE, OWNER_KEY};
use serde_json::json;

use crate::plans::cloudformation::resource_type;
use crate::settings::GlobalArgs;
use std::path::PathBuf;
use std::sync::Arc;

use crate::connection::aws::Aws;
use crate::connection::clients::{Clients, RUN_REGION};
use crate::course::lab::{DATA_CONTENT_TYPE, DEFAULT_KEY, Target, parameter_names};
use crate::course::lab_data;
use crate::engine::plan::{Detail, wait_for};
use crate::error::{Error, aws_error};
use crate::plans::ObservedState;
use crate::resources::bucket::{
    BUCKET, Bucket, BucketQuery, DesiredBucket, OWNERSHIP_CONTROLS, PUBLIC_ACCESS_BLOCK, Presence,
    owned_buckets,
};
use crate::resources::object::{
    Body, DesiredObject, DesiredSite, ListingQuery, OBJECT, Object, ObjectQuery, SITE_FILES,
    SiteFile, SiteFiles, md5_hex, scan_site,
};
use crate::resources::ownership;
use crate::resources::ownership::Claims;
use crate::resources::parameter::{DesiredParameter, PARAMETER, Parameter};
use crate::resources::{Expected, Plan, Resource};
use crate::settings::{DragonsLabArgs, Lab};

/// The web app, if any.
#[derive(Debug, Clone)]
pub(crate) enum Site {
    /// No `--site`: the bucket stays fully private.
    None,
    /// `--site DIR`: these files, public-read; `skipped` says what the scan left out.
    Dir {
        dir: PathBuf,
        files: Vec<SiteFile>,
        skipped: Vec<String>,
    },
}

/// The command's input, checked and read (data file, site directory) before any AWS call.
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    pub(crate) bucket: Option<String>,
    pub(crate) key: String,
    body: Arc<Vec<u8>>,
    pub(crate) site: Site,
    adopt: bool,
    take_over: bool,
}

impl Inputs {
    pub(crate) fn from_args(args: &DragonsLabArgs) -> Result<Self, Error> {
        let (body, origin) = match &args.data {
            Some(path) => {
                let bytes =
                    crate::local_file::read(path, "the data file", crate::local_file::DATA_LIMIT)
                        .map_err(|e| {
                        e.with_hint(
                            "check the path given to --data, or omit it for the embedded \
                                 dragons (the lab application S3-Selects the document as one \
                                 record, which S3 Select allows up to 1 MiB)",
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
            Some(dir) if dir.is_dir() => {
                let scan = scan_site(dir, args.include_hidden, args.key.as_str())?;
                Site::Dir {
                    dir: dir.clone(),
                    files: scan.files,
                    skipped: scan.skipped,
                }
            }
            Some(dir) => {
                return Err(
                    Error::usage(format!("--site {} is not a directory", dir.display())).with_hint(
                        "give the directory holding the lab web app (index.html and its files)",
                    ),
                );
            }
            None => Site::None,
        };
        Ok(Self {
            bucket: args.bucket.bucket.as_ref().map(|b| b.as_str().to_string()),
            key: args.key.as_str().to_string(),
            body: Arc::new(body),
            site,
            adopt: args.adopt.adopt,
            take_over: args.adopt.take_over,
        })
    }

    /// What `dragons-lab` makes by default in `bucket`, with the data under `key` — the state
    /// `status` compares with. It describes what provision did not create instead of refusing it.
    pub(crate) fn defaults(bucket: Option<String>, key: String) -> Self {
        Self {
            bucket,
            key,
            body: Arc::new(lab_data::DEFAULT_DRAGONS.to_vec()),
            site: Site::None,
            adopt: true,
            take_over: true,
        }
    }
}

/// What the command wants, every name and ARN resolved.
#[derive(Debug, Clone)]
pub(crate) struct DesiredState {
    pub(crate) bucket: DesiredBucket,
    pub(crate) object: DesiredObject,
    pub(crate) site: Option<DesiredSite>,
    pub(crate) parameters: Vec<DesiredParameter>,
    /// The lab application's region, where it differs from the bucket's (said on the plan's
    /// parameter lines).
    pub(crate) app_region: Option<String>,
    /// Whose resources the command may change (the caller's, and what the flags add).
    pub(crate) claims: Claims,
}

impl DesiredState {
    /// Adds what the command makes to what `status` compares with: the bucket, the data object
    /// and the parameters (a site's files are the bucket's, see `SiteFiles`).
    pub(crate) fn expect(&self, expected: &mut Expected) {
        expected.buckets.push(self.bucket.clone());
        expected.objects.push(self.object.clone());
        expected.parameters.extend(self.parameters.iter().cloned());
    }

    /// Resolves names and ARNs for the target. Pure.
    pub(crate) fn new(inputs: &Inputs, target: &Target) -> Self {
        let bucket = target.lab_bucket(inputs.bucket.as_deref());
        let site = match &inputs.site {
            Site::Dir {
                dir,
                files,
                skipped,
            } => Some(DesiredSite {
                bucket: bucket.clone(),
                region: target.region.clone(),
                dir: dir.clone(),
                files: files.clone(),
                skipped: skipped.clone(),
            }),
            Site::None => None,
        };
        let parameter = |name: &str, value: &str| DesiredParameter {
            name: name.to_string(),
            value: value.to_string(),
            arn: target.parameter_arn(name),
        };
        Self {
            // Public-read site files need object ACLs allowed and honoured; nothing else does.
            bucket: DesiredBucket::new(
                bucket.clone(),
                target.region.clone(),
                target.bucket_arn(&bucket),
                site.is_some(),
                (inputs.key != DEFAULT_KEY).then_some(inputs.key.as_str()),
            ),
            object: DesiredObject {
                bucket: bucket.clone(),
                region: target.region.clone(),
                key: inputs.key.clone(),
                arn: target.object_arn(&bucket, &inputs.key),
                md5_hex: md5_hex(&inputs.body),
                body: Body(inputs.body.clone()),
                content_type: DATA_CONTENT_TYPE.to_string(),
            },
            site,
            parameters: vec![
                parameter(&target.bucket_parameter(), &bucket),
                parameter(&target.key_parameter(), &inputs.key),
            ],
            app_region: (target.app_region != target.region).then(|| target.app_region.clone()),
            claims: Claims {
                adopt: inputs.adopt,
                take_over: inputs.take_over,
                ..Claims::of(&target.owner)
            },
        }
    }
}

/// Reads the lab. Round one: identity, parameters and — for a given name — the bucket and its
/// contents. The default name needs the account id, so round one lists the caller's buckets
/// instead, and the bucket's configuration and contents are read in a second round only if it is
/// already ours.
pub(crate) async fn observe(
    aws: &Aws,
    clients: &Clients,
    inputs: &Inputs,
    lab: &Lab,
) -> Result<(Target, ObservedState), Error> {
    let site = matches!(inputs.site, Site::Dir { .. });
    let names = parameter_names(&lab.parameter_prefix);
    let explicit = async {
        match &inputs.bucket {
            Some(name) => {
                observe_bucket(clients, BucketQuery::Name(name.clone()), &inputs.key, site)
                    .await
                    .map(Some)
            }
            None => Ok(None),
        }
    };
    let owned = async {
        match &inputs.bucket {
            Some(_) => None,
            None => Some(owned_buckets(&clients.s3).await),
        }
    };
    let (identity, parameters, explicit, owned) = tokio::join!(
        aws.identity(),
        Parameter::observe(clients, &names),
        explicit,
        owned,
    );
    let target = Target::new(identity?, aws, lab);
    let mut observed = match (explicit?, owned) {
        (Some(observed), _) => observed,
        (None, Some(Ok(owned))) => {
            let name = target.default_bucket();
            match owned.get(&name) {
                Some(region) => {
                    let query = BucketQuery::Owned {
                        region: region.clone(),
                        name,
                    };
                    observe_bucket(clients, query, &inputs.key, site).await?
                }
                // Not among the caller's buckets: to be created (with nothing in it). A name
                // another account holds is refused by CreateBucket itself, before anything that
                // depends on the bucket runs.
                None => ObservedState::default(),
            }
        }
        // Listing was refused (no s3:ListAllMyBuckets): HeadBucket decides, as for a given name.
        (None, _) => {
            let query = BucketQuery::Name(target.default_bucket());
            observe_bucket(clients, query, &inputs.key, site).await?
        }
    };
    observed.parameters = parameters?;
    observed.begun = crate::engine::journal::begun(&target.owner);
    crate::plans::creators::look_up(clients, &target.partition, &mut observed).await;
    Ok((target, observed))
}

/// Reads the bucket, the data object and, for `--site`, the bucket's listing, concurrently.
async fn observe_bucket(
    clients: &Clients,
    query: BucketQuery,
    key: &str,
    site: bool,
) -> Result<ObservedState, Error> {
    // A bucket ListBuckets placed is read in its region; a name, in the run's (S3's redirect
    // is followed where the bucket is elsewhere).
    let (name, region) = match &query {
        BucketQuery::Name(name) => (name.clone(), RUN_REGION.to_string()),
        BucketQuery::Owned { name, region } => (name.clone(), region.clone().unwrap_or_default()),
    };
    let object = ObjectQuery {
        bucket: name.clone(),
        region: region.clone(),
        key: key.to_string(),
    };
    let listing = async {
        match site {
            true => {
                let query = ListingQuery {
                    bucket: name.clone(),
                    region: region.clone(),
                };
                SiteFiles::observe(clients, &query).await.map(Some)
            }
            false => Ok(None),
        }
    };
    let (bucket, object_found, listing) = tokio::join!(
        Bucket::observe(clients, &query),
        Object::observe(clients, &object),
        listing,
    );
    let mut observed = ObservedState::default();
    let bucket = bucket?;
    // Only for a bucket of ours without the tag (rare): is it an interrupted creation?
    if let Some(current) = &bucket
        && let Presence::Owned { region } = &current.presence
        && !ownership::is_managed(&current.tags)
    {
        let listed = clients
            .s3_in(region)
            .list_objects_v2()
            .bucket(&name)
            .max_keys(2)
            .send()
            .await
            .map_err(|e| aws_error("s3:ListBucket", e))?;
        let keys = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        observed.untagged_contents.insert(name.clone(), keys);
    }
    observed.add_bucket(bucket);
    if let Some(found) = object_found? {
        observed.objects.insert(format!("{name}/{key}"), found);
    }
    if let Some(listing) = listing? {
        observed.listings.insert(name, listing);
    }
    Ok(observed)
}

/// The bucket first, then — concurrently — its configuration, the data and the parameters; the
/// site files once the bucket allows their ACLs. Pure.
pub(crate) fn plan(desired: &DesiredState, observed: &ObservedState) -> Result<Plan, Error> {
    let name = &desired.bucket.name;
    let claims = &observed.knowing_creators(&desired.claims);
    let current = observed.buckets.get(name);
    let bucket_id = BUCKET.id(name.clone());
    let own_create = current.is_some_and(|bucket| claims.began(BUCKET, name, &bucket.tags));
    if !claims.adopt
        && !own_create
        && let Some(keys) = observed.untagged_contents.get(name)
        && keys.iter().all(|k| *k == desired.object.key)
    {
        return Err(interrupted_creation(name, &desired.object.key, keys));
    }
    let mut changes =
        Bucket::plan(Some(&desired.bucket), current, claims).map_err(|e| match e.holder() {
            Some(_) => e.with_hint("or choose a bucket of your own with --bucket"),
            None => e,
        })?;

    // The data waits for the bucket and its ownership setting: it is sent without an ACL, which
    // any ownership setting accepts, and lands after the setting is in force.
    let mut object = Object::plan(
        Some(&desired.object),
        observed.objects.get(&desired.object.name()),
        claims,
    )?;
    for dependency in [bucket_id.clone(), OWNERSHIP_CONTROLS.id(name.clone())] {
        object = wait_for(object, OBJECT, &dependency);
    }
    changes.extend(object);

    if let Some(site) = &desired.site {
        // Public-read uploads wait for the bucket to allow object ACLs.
        let mut files = SiteFiles::plan(Some(site), observed.listings.get(name), claims)?;
        for dependency in [
            bucket_id.clone(),
            OWNERSHIP_CONTROLS.id(name.clone()),
            PUBLIC_ACCESS_BLOCK.id(name.clone()),
        ] {
            files = wait_for(files, SITE_FILES, &dependency);
        }
        changes.extend(files);
    }

    // A bucket still to be created may turn out to be another account's name: the parameters that
    // point at it wait for it, so a refused name leaves nothing half made.
    let creating = current.is_none();
    for parameter in &desired.parameters {
        let mut planned = Parameter::plan(
            Some(parameter),
            observed.parameters.get(&parameter.name),
            claims,
        )
        .map_err(|e| held_parameter(e, desired))?;
        if let Some(region) = &desired.app_region {
            planned = planned
                .into_iter()
                .map(|c| {
                    c.with_detail(Detail::note(format!(
                        "in {region}, where the lab application reads it"
                    )))
                })
                .collect();
        }
        changes.extend(if creating {
            wait_for(planned, PARAMETER, &bucket_id)
        } else {
            planned
        });
    }
    Plan::new(changes, Vec::new())
}

/// Another owner's parameter: the lab's names are fixed, so students sharing an account collide on
/// them by design; the refusal says what the course can do.
fn held_parameter(error: Error, desired: &DesiredState) -> Error {
    let Some(holder) = error.holder().map(str::to_string) else {
        return error;
    };
    let names: Vec<&str> = desired.parameters.iter().map(|p| p.name.as_str()).collect();
    error.replacing_hints(vec![
        format!(
            "the lab application reads fixed parameter names ({}), so students who share one \
                 account collide on them by design; the course's options: one account per \
                 student (AWS Organizations, or a lab sandbox each), or a prefix per student — \
                 --parameter-prefix /<you>/ here, with the lab application changed to read \
                 /<you>/{}",
            names.join(", "),
            crate::course::lab::BUCKET_PARAMETER
        ),
        format!(
            "or pass --take-over to point them at your bucket: the lab of {holder} then reads \
                 your data, and their set-up refuses until they take the parameters back"
        ),
    ])
}

/// The refusal for an untagged bucket that looks like an earlier run's interrupted creation: it
/// has the name this run uses and holds nothing, or only the data. Taking it over is the user's
/// call (`--adopt`), never silent.
fn interrupted_creation(name: &str, key: &str, keys: &[String]) -> Error {
    let contents = if keys.is_empty() {
        "is empty".to_string()
    } else {
        format!("holds only {key}")
    };
    let mut adopt = crate::shell::command_line();
    adopt.push_str(" --adopt");
    Error::failed(format!(
        "bucket {name} exists in your account without provision's managed-by tag, and {contents}: \
         most likely an earlier run was stopped between creating and tagging it"
    ))
    .with_hint(format!(
        "if that run was yours, let provision take it over (it is tagged, configured and filled): \
         {adopt}"
    ))
    .with_hint("otherwise choose another name with --bucket")
}

impl crate::plans::cloudformation::Assembly {
    /// What `dragons-lab` makes that a template can: the bucket, configured, and the parameters.
    pub(crate) fn dragons_lab(&mut self, global: &GlobalArgs) -> Result<(), Error> {
        let prefix = global.parameter_prefix.as_str();
        let bucket =
            json!({"Fn::Sub": format!("{LAB_BUCKET_PREFIX}${{AWS::AccountId}}-${{AWS::Region}}")});
        self.resources.insert(
            "LabBucket".into(),
            json!({
                "Type": resource_type::<Bucket>()?,
                "Properties": {
                    "BucketName": bucket,
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": OWNERSHIP.as_str()}]},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true, "IgnorePublicAcls": true,
                        "BlockPublicPolicy": true, "RestrictPublicBuckets": true,
                    },
                    "Tags": self.tags,
                }
            }),
        );
        let parameter_tags = json!({MANAGED_BY_KEY: MANAGED_BY_VALUE, OWNER_KEY: self.owner});
        for (logical, name, value) in [
            (
                "BucketNameParameter",
                BUCKET_PARAMETER,
                json!({"Ref": "LabBucket"}),
            ),
            ("FileNameParameter", KEY_PARAMETER, json!(DEFAULT_KEY)),
        ] {
            self.resources.insert(
                logical.into(),
                json!({
                    "Type": resource_type::<Parameter>()?,
                    "Properties": {
                        "Name": format!("{prefix}{name}"),
                        "Type": "String",
                        "Value": value,
                        "Tags": parameter_tags,
                    }
                }),
            );
        }
        self.completes.push(json!({
            "what": format!("upload the dragons data ({DEFAULT_KEY}, {DATA_CONTENT_TYPE}) into the \
                     bucket: a template cannot upload an object"),
            "command": "provision dragons-lab --accounts <accounts file>",
        }));
        self.completes.push(json!({
            "what": "the lab application reads its parameters in us-east-1: a stack instance \
                     elsewhere puts them in its own region",
            "command": "deploy the stack instances in us-east-1, or run provision dragons-lab \
                        (it puts the parameters in --app-region)",
        }));
        self.outputs
            .insert("LabBucket".into(), json!({"Value": {"Ref": "LabBucket"}}));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::types::ObjectOwnership;

    use super::*;
    use crate::course::lab::{BUCKET_PARAMETER, KEY_PARAMETER};
    use crate::resources::ownership::{OWNER_KEY, TEST_OWNER};

    use crate::course::lab::test_target;
    use crate::engine::plan::PublicAccess;
    use crate::engine::plan::{Action, Detail};
    use crate::plans::fake;
    use crate::resources::bucket::{BUCKET_TAGS, ObservedBucket};
    use crate::resources::bucket::{SITE_KEY, SITE_VALUE};
    use crate::resources::ownership::MANAGED_BY_KEY;
    #[allow(unused_imports)]
    use crate::resources::ownership::{adopted_tags, managed_tags, test_claims};
    use crate::resources::parameter::ObservedParameter;
    use crate::resources::tags::Tags;

    const BUCKET_NAME: &str = "dragons-lab-123456789012-ca-central-1";

    fn inputs() -> Inputs {
        Inputs {
            adopt: false,
            site: Site::None,
            ..Inputs::defaults(None, "dragons.json".into())
        }
    }

    fn desired() -> DesiredState {
        DesiredState::new(&inputs(), &test_target("ca-central-1"))
    }

    async fn converged() -> ObservedState {
        fake::converge(&ObservedState::default(), |o| plan(&desired(), o)).await
    }

    fn changed(plan: &Plan) -> Vec<String> {
        plan.changes()
            .iter()
            .filter(|c| c.action != Action::Unchanged)
            .map(|c| c.line())
            .collect()
    }

    /// The desired state of another student of the same account, with their own bucket.
    fn classmates(prefix: &str, take_over: bool) -> DesiredState {
        let target = Target {
            owner: "arn:aws:iam::123456789012:user/bob".into(),
            parameter_prefix: crate::input::ParameterPrefix::parse(prefix).expect("a prefix"),
            ..test_target("ca-central-1")
        };
        let inputs = Inputs {
            bucket: Some("bob-dragons".into()),
            take_over,
            ..inputs()
        };
        DesiredState::new(&inputs, &target)
    }

    #[tokio::test]
    async fn a_classmates_set_up_refuses_to_repoint_the_lab_parameters() {
        let observed = converged().await;
        let error = plan(&classmates("", false), &observed).expect_err("the parameters are taken");
        assert_eq!(
            error.message(),
            format!(
                "ssm-parameter dragon_data_bucket_name belongs to student (provision:owner={TEST_OWNER}); \
                 provision changes only your own"
            )
        );
        assert!(
            error.hints()[0].contains("fixed parameter names"),
            "{error:?}"
        );
        assert!(error.hints()[0].contains("--parameter-prefix /<you>/"));
        assert!(error.hints()[1].contains("--take-over"));
        assert_eq!(error.status(), crate::error::ExitStatus::Failure);

        // With a prefix of their own, nothing of the first student's is touched.
        let prefixed = plan(&classmates("/bob/", false), &observed).expect("their own names");
        let parameters: Vec<&str> = prefixed
            .changes()
            .iter()
            .filter(|c| c.kind == PARAMETER)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            parameters,
            ["/bob/dragon_data_bucket_name", "/bob/dragon_data_file_name"]
        );
        let after = fake::converge(&observed, |o| plan(&classmates("/bob/", false), o)).await;
        assert_eq!(
            after.parameters["/bob/dragon_data_bucket_name"].tags[OWNER_KEY],
            "arn:aws:iam::123456789012:user/bob"
        );
        assert_eq!(
            after.parameters[BUCKET_PARAMETER],
            observed.parameters[BUCKET_PARAMETER]
        );

        // --take-over repoints the parameter and makes it theirs.
        let taken = plan(&classmates("", true), &observed).expect("taken over");
        let line = taken
            .changes()
            .iter()
            .find(|c| c.name == BUCKET_PARAMETER)
            .expect("the bucket parameter")
            .line();
        assert_eq!(
            line,
            format!(
                "~ update    ssm-parameter dragon_data_bucket_name ({BUCKET_NAME} → bob-dragons; \
                 take over from {TEST_OWNER}: tag provision:owner; in us-east-1, where the lab \
                 application reads it)"
            )
        );
    }

    #[test]
    fn a_fresh_account_gets_the_bucket_first_then_everything_else() {
        let plan = plan(&desired(), &ObservedState::default()).expect("plans");
        crate::resources::follows_the_registry(&plan, false).expect("the registry's order");
        let lines: Vec<String> = plan.changes().iter().map(|c| c.line()).collect();
        assert_eq!(
            lines,
            [
                format!("+ create    s3-bucket {BUCKET_NAME} (in ca-central-1)"),
                format!("+ create    s3-bucket-tags {BUCKET_NAME}"),
                format!("+ create    s3-bucket-ownership-controls {BUCKET_NAME}"),
                format!("+ create    s3-public-access-block {BUCKET_NAME}"),
                format!("+ create    s3-object {BUCKET_NAME}/dragons.json (9997 bytes)"),
                format!(
                    "+ create    ssm-parameter dragon_data_bucket_name (= {BUCKET_NAME}; in \
                     us-east-1, where the lab application reads it)"
                ),
                "+ create    ssm-parameter dragon_data_file_name (= dragons.json; in us-east-1, \
                 where the lab application reads it)"
                    .to_string(),
            ]
        );
        for change in &plan.changes()[1..] {
            let expected = if change.kind == OBJECT {
                // Sent without an ACL once the ownership setting is in force.
                vec![BUCKET.id(BUCKET_NAME), OWNERSHIP_CONTROLS.id(BUCKET_NAME)]
            } else {
                vec![BUCKET.id(BUCKET_NAME)]
            };
            assert_eq!(
                change.depends_on,
                expected,
                "{}: only what it needs, so the rest runs concurrently",
                change.line()
            );
        }
    }

    #[tokio::test]
    async fn an_existing_bucket_does_not_hold_up_the_parameters() {
        let mut observed = converged().await;
        observed.parameters.clear();
        let plan = plan(&desired(), &observed).expect("plans");
        for parameter in plan.changes().iter().filter(|c| c.kind == PARAMETER) {
            assert!(parameter.depends_on.is_empty(), "{}", parameter.line());
        }
    }

    #[tokio::test]
    async fn a_converged_lab_is_left_as_it_is() {
        let plan = plan(&desired(), &converged().await).expect("plans");
        assert!(plan.is_noop(), "{:?}", changed(&plan));
        assert_eq!(plan.summary().unchanged, 7);
    }

    #[tokio::test]
    async fn drift_is_corrected_and_named() {
        type Drifted = fn(&mut ObservedState);
        let cases: Vec<(&str, Drifted, Vec<String>)> = vec![
            (
                "public access turned off by hand",
                |o| {
                    o.buckets
                        .get_mut(BUCKET_NAME)
                        .expect("bucket")
                        .public_access = Some(PublicAccess {
                        block_public_acls: false,
                        ignore_public_acls: false,
                        block_public_policy: false,
                        restrict_public_buckets: false,
                    })
                },
                vec![format!(
                    "~ update    s3-public-access-block {BUCKET_NAME} (BlockPublicAcls false → true; \
                     IgnorePublicAcls false → true; BlockPublicPolicy false → true; \
                     RestrictPublicBuckets false → true)"
                )],
            ),
            (
                "ownership",
                |o| {
                    o.buckets.get_mut(BUCKET_NAME).expect("bucket").ownership =
                        Some(ObjectOwnership::BucketOwnerEnforced)
                },
                vec![format!(
                    "~ update    s3-bucket-ownership-controls {BUCKET_NAME} (BucketOwnerEnforced → \
                     BucketOwnerPreferred)"
                )],
            ),
            (
                "a tag added by hand (kept, nothing to do)",
                |o| {
                    o.buckets
                        .get_mut(BUCKET_NAME)
                        .expect("bucket")
                        .tags
                        .insert("course".into(), "cloud".into());
                },
                vec![],
            ),
            (
                "parameter value",
                |o| {
                    o.parameters
                        .get_mut(KEY_PARAMETER)
                        .expect("parameter")
                        .value = "old.json".into()
                },
                vec![
                    "~ update    ssm-parameter dragon_data_file_name (old.json → dragons.json; in \
                     us-east-1, where the lab application reads it)"
                        .to_string(),
                ],
            ),
            (
                "object body",
                |o| {
                    let object = o
                        .objects
                        .get_mut(&format!("{BUCKET_NAME}/dragons.json"))
                        .expect("object");
                    object.etag = "\"0\"".into();
                    object.md5_metadata = None;
                },
                vec![format!(
                    "~ update    s3-object {BUCKET_NAME}/dragons.json (content differs (9997 bytes))"
                )],
            ),
        ];
        for (what, drift, expected) in cases {
            let mut observed = converged().await;
            drift(&mut observed);
            let drifted = plan(&desired(), &observed).expect("plans");
            assert_eq!(changed(&drifted), expected, "{what}");
            fake::converge(&observed, |o| plan(&desired(), o)).await;
        }
    }

    #[tokio::test]
    async fn someone_elses_bucket_or_parameter_is_refused() {
        let mut observed = converged().await;
        observed
            .buckets
            .get_mut(BUCKET_NAME)
            .expect("bucket")
            .presence = Presence::OtherAccount;
        let error = plan(&desired(), &observed).expect_err("another account's");
        assert!(error.message().contains("belongs to another AWS account"));

        let mut observed = converged().await;
        observed
            .buckets
            .get_mut(BUCKET_NAME)
            .expect("bucket")
            .tags
            .remove(MANAGED_BY_KEY);
        let error = plan(&desired(), &observed).expect_err("untagged");
        assert!(error.hints()[0].contains("--adopt"));
        let adopting = DesiredState {
            claims: test_claims(true),
            ..desired()
        };
        let adopted = plan(&adopting, &observed).expect("adopted");
        let tags = adopted.find(BUCKET_TAGS, BUCKET_NAME).expect("tags");
        assert_eq!(tags.details, vec![Detail::Adopt]);

        let mut observed = converged().await;
        observed.parameters.insert(
            KEY_PARAMETER.into(),
            ObservedParameter {
                tags: Default::default(),
                value: "theirs.json".into(),
                ..observed.parameters[KEY_PARAMETER].clone()
            },
        );
        let error = plan(&desired(), &observed).expect_err("someone's parameter");
        assert!(error.message().contains("already holds `theirs.json`"));
    }

    #[tokio::test]
    async fn every_half_made_state_resumes_with_only_what_is_left() {
        let report = fake::every_prefix(&ObservedState::default(), |o| plan(&desired(), o)).await;
        assert_eq!(report.operations, 7);
        // CreateBucket carries the tags, so no prefix leaves an untagged bucket.
        assert!(report.refused.is_empty(), "{:?}", report.refused);
    }

    #[test]
    fn an_untagged_bucket_that_looks_interrupted_names_the_adopt_command() {
        let desired = desired();
        let mut observed = ObservedState::default();
        observed.add_bucket(Some(ObservedBucket {
            name: BUCKET_NAME.into(),
            arn: None,
            presence: Presence::Owned {
                region: "ca-central-1".into(),
            },
            ownership: None,
            public_access: None,
            tags: Default::default(),
        }));
        for keys in [vec![], vec!["dragons.json".to_string()]] {
            observed
                .untagged_contents
                .insert(BUCKET_NAME.into(), keys.clone());
            let error = plan(&desired, &observed).expect_err("not silently taken over");
            assert!(
                error
                    .message()
                    .contains("without provision's managed-by tag")
            );
            assert!(error.hints()[0].contains("--adopt"), "{:?}", error.hints());
        }
        // Anything else in it: someone's bucket, refused as before.
        observed
            .untagged_contents
            .insert(BUCKET_NAME.into(), vec!["theirs.csv".to_string()]);
        let error = plan(&desired, &observed).expect_err("someone's bucket");
        assert!(error.message().contains("not created by provision"));
        // With --adopt it is taken over.
        let adopting = DesiredState {
            claims: test_claims(true),
            ..desired
        };
        assert!(plan(&adopting, &observed).is_ok());
    }

    #[test]
    fn site_files_wait_for_the_acl_settings_and_make_the_bucket_allow_acls() {
        let inputs = Inputs {
            site: Site::Dir {
                skipped: vec![],
                dir: PathBuf::from("site"),
                files: vec![SiteFile::of_bytes(
                    "site/index.html",
                    "index.html",
                    "text/html",
                    b"hello",
                )],
            },
            ..inputs()
        };
        let desired = DesiredState::new(&inputs, &test_target("ca-central-1"));
        assert_eq!(desired.bucket.public_access, PublicAccess::PUBLIC_READ_ACLS);
        let plan = plan(&desired, &ObservedState::default()).expect("plans");
        crate::resources::follows_the_registry(&plan, false).expect("the registry's order");
        let site = plan
            .find(SITE_FILES, &format!("{BUCKET_NAME}:site"))
            .expect("site");
        assert!(
            site.depends_on
                .contains(&PUBLIC_ACCESS_BLOCK.id(BUCKET_NAME))
        );
        assert!(
            site.depends_on
                .contains(&OWNERSHIP_CONTROLS.id(BUCKET_NAME))
        );
    }

    #[test]
    fn status_compares_with_the_site_mode_the_bucket_records() {
        let desired = DesiredState::new(
            &Inputs::defaults(None, "dragons.json".into()),
            &test_target("ca-central-1"),
        );
        assert_eq!(desired.bucket.public_access, PublicAccess::PRIVATE);
        let site = Tags::from([(SITE_KEY.to_string(), SITE_VALUE.to_string())]);
        let recorded = desired.bucket.as_recorded(&site);
        assert_eq!(recorded.public_access, PublicAccess::PUBLIC_READ_ACLS);
        assert_eq!(desired.bucket.as_recorded(&Tags::new()), desired.bucket);
        assert!(desired.site.is_none());
    }
}
