//! The lab's S3 bucket and its configuration: tags, object ownership, public access block.
//!
//! `s3 mb` in us-east-1 "succeeds" on a bucket you already own, and HeadBucket cannot tell your
//! bucket from another account's that lets you in, so ownership is decided from ListBuckets (which
//! lists only the caller's buckets), with HeadBucket's 403 as the fallback when listing is denied.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier, ObjectOwnership,
    OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration, Tagging,
};
use futures::stream::{FuturesUnordered, StreamExt};

use crate::connection::clients::{Clients, RUN_REGION};
use crate::course::lab::LAB_BUCKET_PREFIX;
use crate::engine::apply::{Executed, Progress, Report};
use crate::engine::journal;
use crate::engine::plan::{Action, Detail, Drift, Kind, PublicAccess};
use crate::error::{Error, aws_error, sent, service_code, settled};
use crate::resources::lifecycle::{Events, Tagged, retain_by_name};
use crate::resources::ownership::is_managed;
use crate::resources::ownership::{Claims, MANAGED_BY_KEY, OWNER_KEY, not_ours};
use crate::resources::status::{Rows, StatusLine};
use crate::resources::tags::{self, Tags};
use crate::resources::{
    Change, CloudFormation, CreatedBy, Discovery, Inventoried, Keep, Lifecycle, ObservedState,
    Part, Resource,
};

pub(crate) const BUCKET: Kind = Kind::new("s3-bucket");
pub(crate) const BUCKET_TAGS: Kind = Kind::new("s3-bucket-tags");
pub(crate) const OWNERSHIP_CONTROLS: Kind = Kind::new("s3-bucket-ownership-controls");
pub(crate) const PUBLIC_ACCESS_BLOCK: Kind = Kind::new("s3-public-access-block");

/// The ownership setting the lab uses: object ACLs work, the bucket owner owns uploaded objects.
pub(crate) const OWNERSHIP: ObjectOwnership = ObjectOwnership::BucketOwnerPreferred;

/// Whose bucket a name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Presence {
    /// The caller's own bucket, in this region (empty when S3 did not say).
    Owned { region: String },
    /// The name is taken by another account.
    OtherAccount,
}

/// A bucket that exists. Its configuration is `None` (or empty) where it is not configured, and
/// where it was not read (teardown reads only tags and region).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObservedBucket {
    pub(crate) name: String,
    /// The bucket's ARN, where the observer knew the account's partition (teardown's discovery
    /// does; a command that wants the bucket plans with the desired ARN).
    pub(crate) arn: Option<String>,
    pub(crate) presence: Presence,
    pub(crate) ownership: Option<ObjectOwnership>,
    pub(crate) public_access: Option<PublicAccess>,
    pub(crate) tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DesiredBucket {
    pub(crate) name: String,
    pub(crate) region: String,
    pub(crate) arn: String,
    pub(crate) public_access: PublicAccess,
    /// Whether the bucket serves a public-read site (`dragons-lab --site`): recorded on the
    /// bucket as the tag [`SITE_KEY`], so that `status` compares it with what made it.
    pub(crate) site: bool,
    /// The data object's key when it is not the default (`dragons-lab --key`): recorded as the
    /// tag [`DATA_KEY_KEY`] (where S3's tag rules allow it, else [`KEY_IN_PARAMETER`]), so that
    /// `status` knows the key the lab was made with when its parameter was changed by hand.
    pub(crate) data_key: Option<String>,
}

/// The tag that records that a bucket was made to serve public-read site files
/// (`provision:site=public-read`). Status cannot know `--site` from its own command line; the
/// bucket says it, and status plans against the same desired state the command did.
pub(crate) const SITE_KEY: &str = "provision:site";
pub(crate) const SITE_VALUE: &str = "public-read";
/// The tag that records the data object's key, when it is not the default.
pub(crate) const DATA_KEY_KEY: &str = "provision:data-key";
/// [`DATA_KEY_KEY`]'s value for a key that S3's tag rules do not allow: the key is what the
/// lab's key parameter says.
pub(crate) const KEY_IN_PARAMETER: &str = "@parameter";

impl DesiredBucket {
    /// The lab bucket: private, or — for a `site` — with the ACL settings public-read site files
    /// need (public policies still blocked).
    pub(crate) fn new(
        name: String,
        region: String,
        arn: String,
        site: bool,
        data_key: Option<&str>,
    ) -> Self {
        Self {
            name,
            region,
            arn,
            public_access: match site {
                true => PublicAccess::PUBLIC_READ_ACLS,
                false => PublicAccess::PRIVATE,
            },
            site,
            data_key: data_key.map(str::to_string),
        }
    }

    /// This desired bucket in the mode the bucket records (what `status` compares with).
    pub(crate) fn as_recorded(&self, tags: &Tags) -> Self {
        Self::new(
            self.name.clone(),
            self.region.clone(),
            self.arn.clone(),
            recorded_site(tags),
            recorded_data_key(tags),
        )
    }

    /// The tags that record how the bucket was made, beside provision's ownership tags.
    fn recording_tags(&self) -> Tags {
        let mut tags = Tags::new();
        if self.site {
            tags.insert(SITE_KEY.to_string(), SITE_VALUE.to_string());
        }
        if let Some(key) = &self.data_key {
            let value = match fits_a_tag(key) {
                true => key.clone(),
                false => KEY_IN_PARAMETER.to_string(),
            };
            tags.insert(DATA_KEY_KEY.to_string(), value);
        }
        tags
    }

    /// What recording this bucket's mode changes on a bucket tagged `current` (plan notes).
    fn recording_notes(&self, current: &Tags) -> Vec<Detail> {
        let mut notes = Vec::new();
        if recorded_site(current) != self.site {
            notes.push(Detail::note(match self.site {
                true => format!("record --site: {SITE_KEY}={SITE_VALUE}"),
                false => format!("remove {SITE_KEY}: the lab is private without --site"),
            }));
        }
        let wanted = self.recording_tags();
        if current.get(DATA_KEY_KEY) != wanted.get(DATA_KEY_KEY) {
            notes.push(Detail::note(match wanted.get(DATA_KEY_KEY) {
                Some(key) => format!("record --key: {DATA_KEY_KEY}={key}"),
                None => format!("remove {DATA_KEY_KEY}: the data has the default key"),
            }));
        }
        notes
    }
}

/// Whether S3 takes `value` as a tag value: at most 256 characters of letters, digits, spaces
/// and `+ - = . _ : / @` (the rules the S3 and IAM tagging documentation give).
fn fits_a_tag(value: &str) -> bool {
    value.chars().count() <= 256
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "+-=._:/@".contains(c))
}

/// The data key `tags` record (`None`: the default; [`KEY_IN_PARAMETER`]: the parameter's).
pub(crate) fn recorded_data_key(tags: &Tags) -> Option<&str> {
    tags.get(DATA_KEY_KEY).map(String::as_str)
}

/// Whether `tags` record a site bucket.
pub(crate) fn recorded_site(tags: &Tags) -> bool {
    tags.get(SITE_KEY).map(String::as_str) == Some(SITE_VALUE)
}

/// Which bucket to read.
#[derive(Debug, Clone)]
pub(crate) enum BucketQuery {
    /// A name that may be anyone's, or nobody's.
    Name(String),
    /// A bucket ListBuckets showed to be the caller's (with its region, where S3 said).
    Owned {
        name: String,
        region: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BucketOp {
    /// Creates the bucket with `tags` in the same request (`CreateBucketConfiguration.Tags`), so
    /// that no interruption can leave an untagged bucket; `PutTags` follows for endpoints that
    /// ignore them.
    Create {
        bucket: String,
        region: String,
        tags: Tags,
    },
    /// Replaces the bucket's whole tag set (S3 has no "add tags"): `tags` is the merged set.
    /// Each operation on a bucket names its region, the bucket's (as observed, or as created).
    PutTags {
        bucket: String,
        region: String,
        tags: Tags,
    },
    PutOwnershipControls {
        bucket: String,
        region: String,
        ownership: ObjectOwnership,
    },
    PutPublicAccessBlock {
        bucket: String,
        region: String,
        settings: PublicAccess,
    },
    /// Deletes every object version and delete marker, in batches of up to 1000, concurrently.
    Empty {
        bucket: String,
        region: String,
    },
    Delete {
        bucket: String,
        region: String,
    },
}

pub(crate) struct Bucket;

impl Resource for Bucket {
    const KINDS: &'static [Kind] = &[BUCKET, BUCKET_TAGS, OWNERSHIP_CONTROLS, PUBLIC_ACCESS_BLOCK];

    type Query = BucketQuery;
    type Observation = Option<ObservedBucket>;
    type Desired = DesiredBucket;
    type Observed = ObservedBucket;
    type Op = BucketOp;

    /// Reads the bucket's presence, owner and configuration in one concurrent round; for a bucket
    /// already listed as the caller's, only its configuration.
    async fn observe(
        clients: &Clients,
        query: &BucketQuery,
    ) -> Result<Option<ObservedBucket>, Error> {
        let configuration = |bucket: &str, region: &str| {
            let (bucket, region) = (bucket.to_string(), region.to_string());
            async move {
                let (ownership, public_access, tags) = tokio::join!(
                    clients.on_bucket(&bucket, &region, |s3| {
                        let bucket = bucket.clone();
                        async move {
                            s3.get_bucket_ownership_controls()
                                .bucket(bucket)
                                .send()
                                .await
                        }
                    }),
                    clients.on_bucket(&bucket, &region, |s3| {
                        let bucket = bucket.clone();
                        async move { s3.get_public_access_block().bucket(bucket).send().await }
                    }),
                    clients.on_bucket(&bucket, &region, |s3| {
                        let bucket = bucket.clone();
                        async move { s3.get_bucket_tagging().bucket(bucket).send().await }
                    }),
                );
                configuration(ownership, public_access, tags)
            }
        };
        let (name, presence, configured) = match query {
            BucketQuery::Owned { name, region } => {
                let region = region.clone().unwrap_or_default();
                let configured = configuration(name, &region).await?;
                (name, Presence::Owned { region }, configured)
            }
            BucketQuery::Name(name) => {
                // Sent to the run's region; a bucket elsewhere is followed there (`on_bucket`),
                // and HeadBucket's answer says which region that is.
                let head = clients.on_bucket(name, RUN_REGION, |s3| {
                    let name = name.clone();
                    async move { s3.head_bucket().bucket(name).send().await }
                });
                let (listed, head, configured) = tokio::join!(
                    owned_buckets(&clients.s3),
                    head,
                    configuration(name, RUN_REGION)
                );
                let Some(presence) = presence(name, listed, head)? else {
                    return Ok(None);
                };
                // Another account's configuration is not ours to read (or to report).
                let configured = match presence {
                    Presence::Owned { .. } => configured?,
                    Presence::OtherAccount => (None, None, Tags::new()),
                };
                (name, presence, configured)
            }
        };
        let (ownership, public_access, tags) = configured;
        Ok(Some(ObservedBucket {
            name: name.clone(),
            arn: None,
            presence,
            ownership,
            public_access,
            tags,
        }))
    }

    /// The bucket and its configuration; the configuration waits for the bucket. In teardown, a
    /// bucket provision created is emptied and deleted.
    fn plan(
        desired: Option<&DesiredBucket>,
        observed: Option<&ObservedBucket>,
        claims: &Claims,
    ) -> Result<Vec<Change>, Error> {
        match (desired, observed) {
            (None, None) => Ok(Vec::new()),
            (None, Some(observed)) => Ok(removal(observed, claims)),
            (Some(desired), observed) => wanted(desired, observed, claims),
        }
    }

    async fn execute(
        clients: &Clients,
        op: &BucketOp,
        report: Report<'_>,
    ) -> Result<Executed, Error> {
        match op {
            BucketOp::Create {
                bucket,
                region,
                tags,
            } => {
                // Recorded before it is asked for: a run stopped before the bucket's tags are
                // on it leaves a bucket the journal names as this owner's (see `journal`).
                let owner = tags.get(OWNER_KEY).map_or("", String::as_str);
                journal::begin(BUCKET, bucket, owner, region)?;
                create(clients, bucket, region, tags).await?
            }
            BucketOp::PutTags {
                bucket,
                region,
                tags,
            } => {
                put_tags(clients, bucket, region, tags).await?;
                if tags.get(MANAGED_BY_KEY).is_some() {
                    journal::end(BUCKET, bucket);
                }
            }
            BucketOp::PutOwnershipControls {
                bucket,
                region,
                ownership,
            } => put_ownership_controls(clients, bucket, region, ownership).await?,
            BucketOp::PutPublicAccessBlock {
                bucket,
                region,
                settings,
            } => put_public_access_block(clients, bucket, region, settings).await?,
            BucketOp::Empty { bucket, region } => {
                empty(&clients.s3_in(region), bucket, report).await?
            }
            BucketOp::Delete { bucket, region } => {
                settled(
                    "s3:DeleteBucket",
                    clients
                        .on_bucket(bucket, region, |s3| async move {
                            s3.delete_bucket().bucket(bucket).send().await
                        })
                        .await,
                    |e| e.meta().code() == Some("NoSuchBucket"),
                )?;
                journal::end(BUCKET, bucket);
            }
        }
        Ok(Executed::default())
    }
}

fn removal(observed: &ObservedBucket, claims: &Claims) -> Vec<Change> {
    let name = &observed.name;
    let region = match &observed.presence {
        Presence::Owned { region } => region.clone(),
        // Teardown sees only the caller's buckets; another account's is nothing to remove.
        Presence::OtherAccount => return Vec::new(),
    };
    let change = claims.delete_if_ours(
        &observed.tags,
        BUCKET,
        name,
        observed.arn.as_deref(),
        || {
            vec![
                BucketOp::Empty {
                    bucket: name.clone(),
                    region: region.clone(),
                }
                .into(),
                BucketOp::Delete {
                    bucket: name.clone(),
                    region: region.clone(),
                }
                .into(),
            ]
        },
    );
    vec![match change.action {
        Action::Delete => change.with_detail(Detail::note(format!(
            "in {region}, with every object version"
        ))),
        _ => change,
    }]
}

fn wanted(
    desired: &DesiredBucket,
    observed: Option<&ObservedBucket>,
    claims: &Claims,
) -> Result<Vec<Change>, Error> {
    let (bucket, retag) = bucket_line(desired, observed, claims)?;
    let bucket_id = BUCKET.id(desired.name.clone());
    Ok(vec![
        bucket.with_arn(desired.arn.clone()),
        tags_line(desired, observed, claims, retag).after(bucket_id.clone()),
        ownership_line(desired, observed).after(bucket_id.clone()),
        public_access_line(desired, observed).after(bucket_id),
    ])
}

/// The bucket's own line — created, or claimed (with the tags adoption adds) — refused when the
/// name is another account's or the bucket is in another region.
fn bucket_line(
    desired: &DesiredBucket,
    observed: Option<&ObservedBucket>,
    claims: &Claims,
) -> Result<(Change, Option<(Detail, Tags)>), Error> {
    let name = &desired.name;
    match observed {
        Some(ObservedBucket {
            presence: Presence::OtherAccount,
            ..
        }) => Err(another_accounts(name)),
        Some(ObservedBucket {
            presence: Presence::Owned { region },
            ..
        }) if !region.is_empty() && *region != desired.region => Err(Error::failed(format!(
            "bucket {name} is in region {region}, not {}",
            desired.region
        ))
        .with_hint(format!(
            "run with --region {region}, or choose another --bucket"
        ))),
        Some(current) => {
            let claim = claims.claim(BUCKET, name, &current.tags, || {
                not_ours("bucket", name, &desired.arn)
            })?;
            let retag = claims.tagging(&claim, &current.tags, claims.tags());
            Ok((Change::unchanged(BUCKET, name), retag))
        }
        None => {
            let create = BucketOp::Create {
                bucket: name.clone(),
                region: desired.region.clone(),
                tags: claims
                    .tags()
                    .into_iter()
                    .chain(desired.recording_tags())
                    .collect(),
            };
            let change = Change::new(BUCKET, name, Action::Create)
                .with_detail(Detail::note(format!("in {}", desired.region)))
                .with_operations(vec![create.into()]);
            Ok((change, None))
        }
    }
}

/// Tags: S3 replaces the whole set, so the request carries the existing tags plus ours. A new
/// bucket's come with CreateBucket; PutTags follows for endpoints that ignore them. How the
/// bucket was made is recorded beside them, and corrected like any other setting.
fn tags_line(
    desired: &DesiredBucket,
    observed: Option<&ObservedBucket>,
    claims: &Claims,
    retag: Option<(Detail, Tags)>,
) -> Change {
    let name = &desired.name;
    let mut details = Vec::new();
    if let Some(current) = observed {
        details.extend(desired.recording_notes(&current.tags));
    }
    let tagged = observed.is_some() && retag.is_none() && details.is_empty();
    let mut merged = observed.map(|o| o.tags.clone()).unwrap_or_default();
    merged.remove(SITE_KEY);
    merged.remove(DATA_KEY_KEY);
    match retag {
        Some((detail, tags)) => {
            details.insert(0, detail);
            merged.extend(tags);
        }
        None => merged.extend(claims.tags()),
    }
    merged.extend(desired.recording_tags());
    let operations = match tagged {
        true => vec![],
        false => vec![
            BucketOp::PutTags {
                bucket: name.clone(),
                region: desired.region.clone(),
                tags: merged,
            }
            .into(),
        ],
    };
    Change::new(
        BUCKET_TAGS,
        name,
        Action::for_setting(tagged, observed.is_none()),
    )
    .with_details(details)
    .with_operations(operations)
}

/// Object ownership: `OWNERSHIP`, so that `--site`'s ACLs can work.
fn ownership_line(desired: &DesiredBucket, observed: Option<&ObservedBucket>) -> Change {
    let created = observed.is_none();
    let current = observed.and_then(|o| o.ownership.clone());
    let ok = current.as_ref() == Some(&OWNERSHIP);
    let mut ownership = Change::new(
        OWNERSHIP_CONTROLS,
        &desired.name,
        Action::for_setting(ok, created),
    );
    if !ok {
        if !created {
            ownership = ownership.with_detail(Drift::ObjectOwnership {
                current,
                desired: OWNERSHIP,
            });
        }
        ownership = ownership.with_operations(vec![
            BucketOp::PutOwnershipControls {
                bucket: desired.name.clone(),
                region: desired.region.clone(),
                ownership: OWNERSHIP,
            }
            .into(),
        ]);
    }
    ownership
}

/// The public access block: all four settings on, or — for a site — the two ACL ones off.
fn public_access_line(desired: &DesiredBucket, observed: Option<&ObservedBucket>) -> Change {
    let created = observed.is_none();
    let current = observed.and_then(|o| o.public_access);
    let ok = current == Some(desired.public_access);
    let mut public_access = Change::new(
        PUBLIC_ACCESS_BLOCK,
        &desired.name,
        Action::for_setting(ok, created),
    );
    if !ok {
        if !created {
            let drift = match current {
                Some(current) => current.differences(&desired.public_access),
                None => vec![Drift::NoPublicAccessBlock],
            };
            public_access =
                public_access.with_details(drift.into_iter().map(Detail::from).collect());
        }
        public_access = public_access.with_operations(vec![
            BucketOp::PutPublicAccessBlock {
                bucket: desired.name.clone(),
                region: desired.region.clone(),
                settings: desired.public_access,
            }
            .into(),
        ]);
    }
    public_access
}

fn another_accounts(name: &str) -> Error {
    Error::failed(format!(
        "bucket {name} belongs to another AWS account (bucket names are global)"
    ))
    .with_hint(
        "omit --bucket to use the default dragons-lab-<account-id>-<region>, which is unique to \
         your account, or choose another name",
    )
}

/// Decides whose bucket `name` is; `None` when it does not exist.
fn presence(
    name: &str,
    listed: Result<BTreeMap<String, Option<String>>, Error>,
    head: Result<
        aws_sdk_s3::operation::head_bucket::HeadBucketOutput,
        aws_smithy_runtime_api::client::result::SdkError<
            aws_sdk_s3::operation::head_bucket::HeadBucketError,
            aws_smithy_runtime_api::http::Response,
        >,
    >,
) -> Result<Option<Presence>, Error> {
    let head_status = match &head {
        Ok(_) => 200,
        Err(e) => e.raw_response().map_or(0, |r| r.status().as_u16()),
    };
    let head_region = head
        .as_ref()
        .ok()
        .and_then(|h| h.bucket_region().map(str::to_string));
    Ok(match (listed, head_status) {
        (Ok(owned), _) => match owned.get(name) {
            Some(region) => Some(Presence::Owned {
                region: region.clone().or(head_region).unwrap_or_default(),
            }),
            None if matches!(head_status, 200 | 301 | 403) => Some(Presence::OtherAccount),
            None => None,
        },
        // Without s3:ListAllMyBuckets, HeadBucket decides: 403 is someone else's bucket.
        (Err(_), 200) => Some(Presence::Owned {
            region: head_region.unwrap_or_default(),
        }),
        (Err(_), 403) => Some(Presence::OtherAccount),
        (Err(_), 404) => None,
        (Err(_), _) => {
            return Err(match head {
                Err(e) => aws_error("s3:HeadBucket", e),
                Ok(_) => Error::failed("s3:HeadBucket: unexpected answer"),
            });
        }
    })
}

type Answer<O, E> = Result<
    O,
    aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
>;

/// Interprets the three configuration reads; "not configured" answers are `None` or empty.
#[allow(clippy::type_complexity)]
fn configuration(
    ownership: Answer<
        aws_sdk_s3::operation::get_bucket_ownership_controls::GetBucketOwnershipControlsOutput,
        aws_sdk_s3::operation::get_bucket_ownership_controls::GetBucketOwnershipControlsError,
    >,
    public_access: Answer<
        aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockOutput,
        aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockError,
    >,
    tags: Answer<
        aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput,
        aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingError,
    >,
) -> Result<(Option<ObjectOwnership>, Option<PublicAccess>, Tags), Error> {
    let absent = |code: Option<&str>, codes: &[&str]| {
        code.is_some_and(|c| codes.contains(&c) || c == "NoSuchBucket")
    };
    let ownership = match ownership {
        Ok(output) => output
            .ownership_controls()
            .and_then(|c| c.rules().first())
            .map(|r| r.object_ownership().clone()),
        Err(e) if absent(service_code(&e), &["OwnershipControlsNotFoundError"]) => None,
        Err(e) => return Err(aws_error("s3:GetBucketOwnershipControls", e)),
    };
    let public_access = match public_access {
        Ok(output) => output
            .public_access_block_configuration()
            .map(|c| PublicAccess {
                block_public_acls: c.block_public_acls().unwrap_or(false),
                ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                block_public_policy: c.block_public_policy().unwrap_or(false),
                restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
            }),
        Err(e) if absent(service_code(&e), &["NoSuchPublicAccessBlockConfiguration"]) => None,
        Err(e) => return Err(aws_error("s3:GetPublicAccessBlock", e)),
    };
    let tags = match tags {
        Ok(output) => tags::from_sdk(output.tag_set()),
        Err(e) if absent(service_code(&e), &["NoSuchTagSet"]) => Tags::new(),
        Err(e) => return Err(aws_error("s3:GetBucketTagging", e)),
    };
    Ok((ownership, public_access, tags))
}

/// The caller's own buckets and, where S3 says, their regions.
pub(crate) async fn owned_buckets(s3: &Client) -> Result<BTreeMap<String, Option<String>>, Error> {
    let mut buckets = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let output = s3
            .list_buckets()
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| aws_error("s3:ListBuckets", e))?;
        for bucket in output.buckets() {
            if let Some(name) = bucket.name() {
                buckets.insert(name.to_string(), bucket.bucket_region().map(str::to_string));
            }
        }
        token = output.continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(buckets);
        }
    }
}

/// What teardown needs of a bucket ListBuckets showed to be the caller's: its tags and region
/// (asked of S3 where ListBuckets did not say), in one concurrent round.
async fn observe_for_removal(
    clients: &Clients,
    partition: &str,
    name: &str,
    region: Option<&str>,
) -> Result<ObservedBucket, Error> {
    // Where ListBuckets did not say, the tags' redirect (or GetBucketLocation) does.
    let tags = clients.on_bucket(name, region.unwrap_or(RUN_REGION), |s3| async move {
        s3.get_bucket_tagging().bucket(name).send().await
    });
    let location = async {
        match region {
            Some(region) => Ok(region.to_string()),
            None => clients
                .s3
                .get_bucket_location()
                .bucket(name)
                .send()
                .await
                .map(|l| {
                    l.location_constraint()
                        .map(|c| c.as_str().to_string())
                        .filter(|c| !c.is_empty())
                        // No constraint is us-east-1.
                        .unwrap_or_else(|| "us-east-1".to_string())
                })
                .map_err(|e| aws_error("s3:GetBucketLocation", e)),
        }
    };
    let (tags, region) = tokio::join!(tags, location);
    let tags = match tags {
        Ok(output) => tags::from_sdk(output.tag_set()),
        Err(e) if matches!(service_code(&e), Some("NoSuchTagSet" | "NoSuchBucket")) => Tags::new(),
        Err(e) => return Err(aws_error("s3:GetBucketTagging", e)),
    };
    Ok(ObservedBucket {
        name: name.to_string(),
        arn: Some(crate::course::lab::bucket_arn(partition, name)),
        presence: Presence::Owned { region: region? },
        ownership: None,
        public_access: None,
        tags,
    })
}

/// Object versions and delete markers in flight for deletion at once, in batches of 1000.
const DELETE_BATCHES_IN_FLIGHT: usize = 8;

/// Deletes every object version and delete marker: pages of up to 1000 are listed one after
/// another (S3's markers require it) while each page's DeleteObjects batch runs concurrently. A
/// bucket that never had versioning holds only current objects, which the cheaper ListObjectsV2
/// lists (on moto it is four times faster per page than ListObjectVersions).
async fn empty(s3: &Client, bucket: &str, report: Report<'_>) -> Result<(), Error> {
    let versioned = match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(output) => output.status().is_some(),
        Err(e) if service_code(&e) == Some("NoSuchBucket") => return Ok(()),
        // Some emulators answer a never-versioned bucket with a 200 whose root element the SDK
        // does not expect; its XML still says whether a versioning status was ever set. Anything
        // else unreadable lists versions, which is always correct.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 200) => e
            .raw_response()
            .and_then(|r| r.body().bytes())
            .is_none_or(|body| String::from_utf8_lossy(body).contains("<Status>")),
        Err(e) => return Err(aws_error("s3:GetBucketVersioning", e)),
    };
    let label = format!("deleting the objects of {bucket}");
    let deleted = std::sync::atomic::AtomicU64::new(0);
    let count = |n: u64| {
        let done = deleted.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        report.progress(Progress::Items {
            label: label.clone(),
            done,
            total: None,
            bytes: None,
        });
    };
    count(0);
    let mut pages = Pages {
        versioned,
        key_marker: None,
        version_marker: None,
        done: false,
    };
    let mut batches = FuturesUnordered::new();
    while let Some(identifiers) = pages.next(s3, bucket).await? {
        // After a signal, no new batch starts; those in flight finish.
        if report.halted() {
            while let Some(result) = batches.next().await {
                result?;
            }
            return Err(Error::halted(format!(
                "stopped emptying {bucket}: {} deleted, the rest not started",
                deleted.load(std::sync::atomic::Ordering::Relaxed)
            )));
        }
        if !identifiers.is_empty() {
            batches.push(delete_batch(s3, bucket, identifiers, &count));
        }
        while batches.len() >= DELETE_BATCHES_IN_FLIGHT {
            if let Some(result) = batches.next().await {
                result?;
            }
        }
    }
    while let Some(result) = batches.next().await {
        result?;
    }
    Ok(())
}

/// Pages of up to 1000 object identifiers: every version and delete marker of a versioned bucket,
/// or the keys of one that never had versioning.
struct Pages {
    versioned: bool,
    key_marker: Option<String>,
    version_marker: Option<String>,
    done: bool,
}

impl Pages {
    async fn next(
        &mut self,
        s3: &Client,
        bucket: &str,
    ) -> Result<Option<Vec<ObjectIdentifier>>, Error> {
        if self.done {
            return Ok(None);
        }
        let identifier = |key: Option<&str>, version: Option<&str>| {
            ObjectIdentifier::builder()
                .set_key(key.map(str::to_string))
                .set_version_id(version.map(str::to_string))
                .build()
                .ok()
        };
        if !self.versioned {
            let page = match s3
                .list_objects_v2()
                .bucket(bucket)
                .max_keys(1000)
                .set_continuation_token(self.key_marker.clone())
                .send()
                .await
            {
                Ok(page) => page,
                Err(e) if service_code(&e) == Some("NoSuchBucket") => return Ok(None),
                Err(e) => return Err(aws_error("s3:ListObjectsV2", e)),
            };
            self.key_marker = page.next_continuation_token().map(str::to_string);
            self.done = page.is_truncated() != Some(true) || self.key_marker.is_none();
            return Ok(Some(
                page.contents()
                    .iter()
                    .filter_map(|o| identifier(o.key(), None))
                    .collect(),
            ));
        }
        let page = match s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(1000)
            .set_key_marker(self.key_marker.clone())
            .set_version_id_marker(self.version_marker.clone())
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) if service_code(&e) == Some("NoSuchBucket") => return Ok(None),
            Err(e) => return Err(aws_error("s3:ListObjectVersions", e)),
        };
        self.key_marker = page.next_key_marker().map(str::to_string);
        self.version_marker = page.next_version_id_marker().map(str::to_string);
        self.done = page.is_truncated() != Some(true);
        let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = page
            .delete_markers()
            .iter()
            .map(|m| (m.key(), m.version_id()));
        Ok(Some(
            versions
                .chain(markers)
                .filter_map(|(key, version)| identifier(key, version))
                .collect(),
        ))
    }
}

async fn delete_batch(
    s3: &Client,
    bucket: &str,
    identifiers: Vec<ObjectIdentifier>,
    count: &impl Fn(u64),
) -> Result<(), Error> {
    let total = identifiers.len() as u64;
    let delete = Delete::builder()
        .set_objects(Some(identifiers))
        .quiet(true)
        .build()
        .map_err(|e| Error::failed("invalid delete batch").with_cause(e.to_string()))?;
    let output = s3
        .delete_objects()
        .bucket(bucket)
        .delete(delete)
        .send()
        .await
        .map_err(|e| aws_error("s3:DeleteObjects", e))?;
    if let Some(first) = output.errors().first() {
        return Err(Error::failed(format!(
            "s3:DeleteObjects could not delete {} of {total} objects in {bucket}",
            output.errors().len()
        ))
        .with_cause(format!(
            "{}: {} ({})",
            first.key().unwrap_or("?"),
            first.message().unwrap_or(""),
            first.code().unwrap_or("")
        )));
    }
    count(total);
    Ok(())
}

async fn create(clients: &Clients, bucket: &str, region: &str, tags: &Tags) -> Result<(), Error> {
    // Tags in CreateBucketConfiguration are applied with the bucket (general purpose buckets:
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucketConfiguration.html).
    let mut configuration =
        CreateBucketConfiguration::builder().set_tags(Some(tags::to_sdk(tags)?));
    // us-east-1 is the one region that takes no LocationConstraint.
    if region != "us-east-1" {
        configuration = configuration.location_constraint(BucketLocationConstraint::from(region));
    }
    // Sent to the bucket's own region, as S3 requires of CreateBucket.
    let request = clients
        .s3_in(region)
        .create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(configuration.build());
    match request.send().await {
        Ok(_) => {
            clients.created(bucket);
            Ok(())
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
        {
            clients.created(bucket);
            Ok(())
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_exists()) =>
        {
            // Nothing was made: the name is another account's.
            journal::end(BUCKET, bucket);
            Err(another_accounts(bucket))
        }
        Err(e) => Err(aws_error("s3:CreateBucket", e)),
    }
}

fn invalid(what: &str, error: aws_smithy_types::error::operation::BuildError) -> Error {
    Error::failed(format!("invalid {what}")).with_cause(error.to_string())
}

async fn put_tags(clients: &Clients, bucket: &str, region: &str, tags: &Tags) -> Result<(), Error> {
    let tagging = Tagging::builder()
        .set_tag_set(Some(tags::to_sdk(tags)?))
        .build()
        .map_err(|e| invalid("tag set", e))?;
    let answer = clients
        .on_bucket(bucket, region, |s3| {
            let tagging = tagging.clone();
            async move {
                s3.put_bucket_tagging()
                    .bucket(bucket)
                    .tagging(tagging)
                    .send()
                    .await
            }
        })
        .await;
    sent("s3:PutBucketTagging", answer)
}

async fn put_ownership_controls(
    clients: &Clients,
    bucket: &str,
    region: &str,
    ownership: &ObjectOwnership,
) -> Result<(), Error> {
    let rule = OwnershipControlsRule::builder()
        .object_ownership(ownership.clone())
        .build()
        .map_err(|e| invalid("ownership rule", e))?;
    let controls = OwnershipControls::builder()
        .rules(rule)
        .build()
        .map_err(|e| invalid("ownership controls", e))?;
    let answer = clients
        .on_bucket(bucket, region, |s3| {
            let controls = controls.clone();
            async move {
                s3.put_bucket_ownership_controls()
                    .bucket(bucket)
                    .ownership_controls(controls)
                    .send()
                    .await
            }
        })
        .await;
    sent("s3:PutBucketOwnershipControls", answer)
}

async fn put_public_access_block(
    clients: &Clients,
    bucket: &str,
    region: &str,
    settings: &PublicAccess,
) -> Result<(), Error> {
    let configuration = PublicAccessBlockConfiguration::builder()
        .block_public_acls(settings.block_public_acls)
        .ignore_public_acls(settings.ignore_public_acls)
        .block_public_policy(settings.block_public_policy)
        .restrict_public_buckets(settings.restrict_public_buckets)
        .build();
    let answer = clients
        .on_bucket(bucket, region, |s3| {
            let configuration = configuration.clone();
            async move {
                s3.put_public_access_block()
                    .bucket(bucket)
                    .public_access_block_configuration(configuration)
                    .send()
                    .await
            }
        })
        .await;
    sent("s3:PutPublicAccessBlock", answer)
}

impl Lifecycle for Bucket {
    const KIND: Kind = BUCKET;
    const MADE_BY: &'static [Part] = &[Part::DragonsLab];
    const NEEDS: &'static [Kind] = &[];
    const CREATED_BY: CreatedBy = CreatedBy::Event {
        name: "CreateBucket",
        recorded: Events::InItsRegion,
    };
    const CLOUDFORMATION: CloudFormation = CloudFormation::Type("AWS::S3::Bucket");

    type Found = BTreeMap<String, ObservedBucket>;

    /// Every bucket of the account with its tags and region, read concurrently; kept are the
    /// ones provision manages, the ones its journal says it began, and, to report them as left
    /// alone, those named like the lab's.
    async fn discover(discovery: &Discovery<'_>) -> Result<Self::Found, Error> {
        let names = owned_buckets(&discovery.clients.s3).await?;
        let found = futures::future::join_all(names.iter().map(|(name, region)| {
            observe_for_removal(
                discovery.clients,
                discovery.partition,
                name,
                region.as_deref(),
            )
        }))
        .await;
        let mut buckets = BTreeMap::new();
        for bucket in found {
            let bucket = bucket?;
            let named_like_ours = bucket.name == discovery.lab_bucket
                || bucket.name.starts_with(LAB_BUCKET_PREFIX)
                || discovery
                    .begun
                    .contains(&(BUCKET.to_string(), bucket.name.clone()));
            if is_managed(&bucket.tags) || named_like_ours {
                buckets.insert(bucket.name.clone(), bucket);
            }
        }
        Ok(buckets)
    }

    async fn complete(_: &Discovery<'_>, _: &mut ObservedState) -> Result<(), Error> {
        Ok(())
    }

    fn inventory(found: &Self::Found) -> Vec<Inventoried<'_>> {
        found
            .values()
            .map(|b| Inventoried {
                name: &b.name,
                tags: &b.tags,
                region: match &b.presence {
                    // GetBucketLocation's empty answer is us-east-1.
                    Presence::Owned { region } if region.is_empty() => Some("us-east-1".into()),
                    Presence::Owned { region } => Some(region.clone()),
                    Presence::OtherAccount => None,
                },
            })
            .collect()
    }

    fn retain(found: &mut Self::Found, keep: &mut dyn FnMut(&str, &Tags) -> bool) {
        retain_by_name(found, keep);
    }

    /// Each bucket emptied and deleted, or kept with `--keep-data`.
    fn removal(
        observed: &ObservedState,
        keep: Keep,
        claims: &Claims,
    ) -> Result<Vec<Change>, Error> {
        let mut changes = Vec::new();
        for bucket in observed.buckets.values() {
            if keep.data && claims.removes(BUCKET, &bucket.name, &bucket.tags) {
                let mut kept = Change::unchanged(BUCKET, &bucket.name)
                    .with_detail(Detail::note("kept (--keep-data)"));
                kept.arn = bucket.arn.clone();
                changes.push(kept);
            } else {
                changes.extend(Bucket::plan(None, Some(bucket), claims)?);
            }
        }
        Ok(changes)
    }

    /// The lab's bucket compared where it is (`dragons-lab` refuses another region) in the mode
    /// it records (`--site`, `--key`); every other bucket of provision's, with its region.
    fn rows(rows: &mut Rows<'_>) -> Result<(), Error> {
        let (expected, observed, claims) = (rows.expected, rows.observed, rows.claims);
        for lab in &expected.buckets {
            let line = match observed.buckets.get(&lab.name) {
                None => StatusLine::missing(BUCKET, &lab.name),
                Some(current) if current.presence == Presence::OtherAccount => StatusLine {
                    details: vec!["the name belongs to another account".into()],
                    owned: Some(false),
                    ..StatusLine::missing(BUCKET, &lab.name)
                },
                Some(current) => match rows.theirs(BUCKET, &lab.name, &current.tags) {
                    Some(line) => line,
                    None => {
                        let recorded = lab.as_recorded(&current.tags);
                        let desired = match &current.presence {
                            Presence::Owned { region } if !region.is_empty() => DesiredBucket {
                                region: region.clone(),
                                ..recorded
                            },
                            _ => recorded,
                        };
                        let mut line = StatusLine::compared(
                            BUCKET,
                            &lab.name,
                            &Bucket::plan(Some(&desired), Some(current), claims)?,
                            Some(is_managed(&current.tags)),
                        )
                        .owned_by(claims, &current.tags);
                        if desired.region != lab.region {
                            line.details.push(format!("in {}", desired.region));
                        }
                        line
                    }
                },
            };
            rows.push(line);
        }
        let names: Vec<&str> = expected.buckets.iter().map(|b| b.name.as_str()).collect();
        rows.others(BUCKET, &names, &observed.buckets, |other| {
            let region = match &other.presence {
                Presence::Owned { region } => region.as_str(),
                Presence::OtherAccount => "another account",
            };
            vec![format!("in {region}")]
        });
        Ok(())
    }
}

impl Tagged for ObservedBucket {
    fn name(&self) -> &str {
        &self.name
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

/// New buckets start as AWS makes them since April 2023: object ownership "bucket owner enforced"
/// (ACLs disabled) and all four Block Public Access settings on ("Amazon S3 now automatically
/// enables S3 Block Public Access and disables access control lists for all new buckets", AWS,
/// 2023).
#[cfg(test)]
impl crate::resources::simulated::Simulated for Bucket {
    fn simulate(
        op: &BucketOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        let observed = &mut world.observed;
        let no_bucket = |bucket: &str| format!("NoSuchBucket: {bucket}");
        match op {
            BucketOp::Create {
                bucket,
                region,
                tags,
            } => match observed.buckets.get(bucket) {
                Some(ObservedBucket {
                    presence: Presence::OtherAccount,
                    ..
                }) => return Err(format!("BucketAlreadyExists: {bucket}")),
                Some(_) => {}
                None => {
                    observed.buckets.insert(
                        bucket.clone(),
                        ObservedBucket {
                            name: bucket.clone(),
                            arn: None,
                            presence: Presence::Owned {
                                region: region.clone(),
                            },
                            ownership: Some(ObjectOwnership::BucketOwnerEnforced),
                            public_access: Some(PublicAccess::PRIVATE),
                            tags: tags.clone(),
                        },
                    );
                }
            },
            BucketOp::PutTags { bucket, tags, .. } => {
                let b = observed
                    .buckets
                    .get_mut(bucket)
                    .ok_or_else(|| no_bucket(bucket))?;
                b.tags = tags.clone();
            }
            BucketOp::PutOwnershipControls {
                bucket, ownership, ..
            } => {
                let b = observed
                    .buckets
                    .get_mut(bucket)
                    .ok_or_else(|| no_bucket(bucket))?;
                b.ownership = Some(ownership.clone());
            }
            BucketOp::PutPublicAccessBlock {
                bucket, settings, ..
            } => {
                let b = observed
                    .buckets
                    .get_mut(bucket)
                    .ok_or_else(|| no_bucket(bucket))?;
                b.public_access = Some(*settings);
            }
            BucketOp::Empty { bucket, .. } => {
                let prefix = format!("{bucket}/");
                observed.objects.retain(|key, _| !key.starts_with(&prefix));
                observed.listings.remove(bucket);
            }
            BucketOp::Delete { bucket, .. } => {
                let prefix = format!("{bucket}/");
                if observed.objects.keys().any(|key| key.starts_with(&prefix)) {
                    return Err(format!("BucketNotEmpty: {bucket}"));
                }
                observed.buckets.remove(bucket);
                observed.listings.remove(bucket);
            }
        }
        Ok(Executed::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Operation;
    #[allow(unused_imports)]
    use crate::resources::ownership::{adopted_tags, managed_tags, test_claims};

    fn desired() -> DesiredBucket {
        DesiredBucket {
            name: "lab".into(),
            region: "ca-central-1".into(),
            arn: "arn:aws:s3:::lab".into(),
            public_access: PublicAccess::PRIVATE,
            site: false,
            data_key: None,
        }
    }

    fn observed(presence: Presence) -> ObservedBucket {
        ObservedBucket {
            name: "lab".into(),
            arn: Some("arn:aws:s3:::lab".into()),
            presence,
            ownership: Some(OWNERSHIP),
            public_access: Some(PublicAccess::PRIVATE),
            tags: {
                let mut tags = managed_tags();
                tags.insert("course".into(), "x".into());
                tags
            },
        }
    }

    fn owned() -> Presence {
        Presence::Owned {
            region: "ca-central-1".into(),
        }
    }

    fn plan(observed: Option<&ObservedBucket>, adopt: bool) -> Result<Vec<Change>, Error> {
        Bucket::plan(Some(&desired()), observed, &test_claims(adopt))
    }

    #[test]
    fn a_missing_bucket_is_created_then_configured_concurrently() {
        let changes = plan(None, false).expect("plans");
        assert!(changes.iter().all(|c| c.action == Action::Create));
        assert_eq!(
            changes[0].operations,
            vec![Operation::Bucket(BucketOp::Create {
                bucket: "lab".into(),
                region: "ca-central-1".into(),
                tags: managed_tags(),
            })]
        );
        for change in &changes[1..] {
            assert_eq!(
                change.depends_on,
                vec![BUCKET.id("lab")],
                "{}",
                change.line()
            );
            assert!(change.details.is_empty(), "nothing differs on a new bucket");
        }
    }

    #[test]
    fn a_configured_bucket_is_unchanged() {
        let changes = plan(Some(&observed(owned())), false).expect("plans");
        assert!(changes.iter().all(|c| c.operations.is_empty()));
    }

    #[test]
    fn drift_is_reported_and_tags_are_merged() {
        let mut drifted = observed(owned());
        drifted.public_access = Some(PublicAccess {
            block_public_policy: false,
            ..PublicAccess::PRIVATE
        });
        drifted.ownership = Some(ObjectOwnership::BucketOwnerEnforced);
        let changes = plan(Some(&drifted), false).expect("plans");
        assert_eq!(
            changes[2].line(),
            "~ update    s3-bucket-ownership-controls lab (BucketOwnerEnforced → BucketOwnerPreferred)"
        );
        assert_eq!(
            changes[3].details,
            vec![Detail::Drift(Drift::PublicAccessSetting {
                setting: "BlockPublicPolicy",
                current: false,
                desired: true
            })]
        );
        assert_eq!(
            changes[3].line(),
            "~ update    s3-public-access-block lab (BlockPublicPolicy false → true)"
        );

        let mut untagged = observed(owned());
        untagged.tags = Tags::from([("course".into(), "x".into())]);
        assert!(
            plan(Some(&untagged), false).is_err(),
            "not ours without --adopt"
        );
        let adopted = plan(Some(&untagged), true).expect("adopted");
        assert_eq!(adopted[1].details, vec![Detail::Adopt]);
        assert_eq!(
            adopted[1].operations,
            vec![Operation::Bucket(BucketOp::PutTags {
                bucket: "lab".into(),
                region: "ca-central-1".into(),
                tags: {
                    let mut tags = managed_tags();
                    tags.insert("course".into(), "x".into());
                    tags
                }
            })]
        );
    }

    #[test]
    fn the_site_mode_is_recorded_on_the_bucket_and_its_settings_follow_it() {
        let site_desired = DesiredBucket::new(
            "lab".into(),
            "ca-central-1".into(),
            "arn:aws:s3:::lab".into(),
            true,
            None,
        );
        let created = Bucket::plan(Some(&site_desired), None, &test_claims(false)).expect("plans");
        let Operation::Bucket(BucketOp::Create { tags, .. }) = &created[0].operations[0] else {
            panic!("{:?}", created[0]);
        };
        assert_eq!(tags.get(SITE_KEY).map(String::as_str), Some(SITE_VALUE));

        // A private bucket asked to serve a site: the ACL settings open, the mode is recorded.
        let private = observed(owned());
        let changes =
            Bucket::plan(Some(&site_desired), Some(&private), &test_claims(false)).expect("plans");
        assert_eq!(
            changes[1].line(),
            "~ update    s3-bucket-tags lab (record --site: provision:site=public-read)"
        );
        assert_eq!(changes[3].action, Action::Update);
        // Once both are done it is in sync; without --site, both are undone.
        let mut site = observed(owned());
        site.public_access = Some(PublicAccess::PUBLIC_READ_ACLS);
        site.tags.insert(SITE_KEY.into(), SITE_VALUE.into());
        let changes =
            Bucket::plan(Some(&site_desired), Some(&site), &test_claims(false)).expect("plans");
        assert!(
            changes.iter().all(|c| c.operations.is_empty()),
            "{changes:?}"
        );
        let changes = plan(Some(&site), false).expect("plans");
        let Operation::Bucket(BucketOp::PutTags { tags, .. }) = &changes[1].operations[0] else {
            panic!("{:?}", changes[1]);
        };
        assert!(!tags.contains_key(SITE_KEY), "{tags:?}");
        assert!(tags.contains_key(MANAGED_BY_KEY), "{tags:?}");
        assert_eq!(
            changes[3].line(),
            "~ update    s3-public-access-block lab (BlockPublicAcls false → true; IgnorePublicAcls false → true)"
        );
        site.public_access = None;
        let none =
            Bucket::plan(Some(&site_desired), Some(&site), &test_claims(false)).expect("plans");
        assert_eq!(
            none[3].details,
            vec![Detail::Drift(Drift::NoPublicAccessBlock)]
        );
    }

    #[test]
    fn a_key_other_than_the_default_is_recorded_when_s3_s_tag_rules_allow_it() {
        let keyed = |key: &str| {
            DesiredBucket::new(
                "lab".into(),
                "ca-central-1".into(),
                "arn:aws:s3:::lab".into(),
                false,
                Some(key),
            )
        };
        let changes = Bucket::plan(
            Some(&keyed("data/dragons-2.json")),
            Some(&observed(owned())),
            &test_claims(false),
        )
        .expect("plans");
        assert_eq!(
            changes[1].line(),
            "~ update    s3-bucket-tags lab (record --key: provision:data-key=data/dragons-2.json)"
        );
        let Operation::Bucket(BucketOp::PutTags { tags, .. }) = &changes[1].operations[0] else {
            panic!("{:?}", changes[1]);
        };
        assert_eq!(recorded_data_key(tags), Some("data/dragons-2.json"));
        assert_eq!(
            keyed("x").as_recorded(tags).data_key.as_deref(),
            Some("data/dragons-2.json")
        );
        let odd = keyed("data (old)/dragons.json").recording_tags();
        assert_eq!(recorded_data_key(&odd), Some(KEY_IN_PARAMETER));
        assert!(!fits_a_tag(&"k".repeat(257)));
    }

    #[test]
    fn another_accounts_bucket_and_another_region_are_errors() {
        let error = plan(Some(&observed(Presence::OtherAccount)), false).expect_err("taken");
        assert!(error.message().contains("belongs to another AWS account"));
        let error = plan(
            Some(&observed(Presence::Owned {
                region: "us-west-2".into(),
            })),
            false,
        )
        .expect_err("elsewhere");
        assert!(error.hints()[0].contains("--region us-west-2"));
    }

    #[test]
    fn teardown_empties_and_deletes_only_ours() {
        let changes =
            Bucket::plan(None, Some(&observed(owned())), &test_claims(false)).expect("plans");
        assert_eq!(
            changes[0].line(),
            "- delete    s3-bucket lab (in ca-central-1, with every object version)"
        );
        assert!(matches!(
            changes[0].operations[..],
            [
                Operation::Bucket(BucketOp::Empty { .. }),
                Operation::Bucket(BucketOp::Delete { .. })
            ]
        ));
        let mut theirs = observed(owned());
        theirs.tags.clear();
        let left = Bucket::plan(None, Some(&theirs), &test_claims(false)).expect("plans");
        assert_eq!(left[0].details, vec![Detail::LeftAlone]);
    }
}
