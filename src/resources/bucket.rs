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

use crate::error::{Error, aws_error, service_code};
use crate::plan::{
    Action, Change, LEFT_ALONE, Operation, PublicAccess, ResourceId, ResourceKind, Tag,
};
use crate::printer::Counter;
use crate::resources::is_managed;

/// The ownership setting the lab uses: object ACLs work, the bucket owner owns uploaded objects.
pub const OWNERSHIP: &str = "BucketOwnerPreferred";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Missing,
    /// The caller's own bucket, in this region.
    Owned {
        region: String,
    },
    /// The name is taken by another account.
    OtherAccount,
}

#[derive(Debug, Clone)]
pub struct ObservedBucket {
    pub presence: Presence,
    pub ownership: Option<String>,
    pub public_access: Option<PublicAccess>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct DesiredBucket {
    pub name: String,
    pub region: String,
    pub partition: String,
    pub public_access: PublicAccess,
}

pub fn bucket_id(name: &str) -> ResourceId {
    ResourceId::new(ResourceKind::S3Bucket, name)
}

pub fn ownership_id(name: &str) -> ResourceId {
    ResourceId::new(ResourceKind::S3BucketOwnershipControls, name)
}

pub fn public_access_id(name: &str) -> ResourceId {
    ResourceId::new(ResourceKind::S3PublicAccessBlock, name)
}

/// Reads the bucket's presence, owner and configuration in one concurrent round.
pub async fn observe(s3: &Client, bucket: &str) -> Result<ObservedBucket, Error> {
    let (listed, head, ownership, public_access, tags) = tokio::join!(
        owned_buckets(s3),
        s3.head_bucket().bucket(bucket).send(),
        s3.get_bucket_ownership_controls().bucket(bucket).send(),
        s3.get_public_access_block().bucket(bucket).send(),
        s3.get_bucket_tagging().bucket(bucket).send(),
    );
    let head_status = match &head {
        Ok(_) => 200,
        Err(e) => e.raw_response().map_or(0, |r| r.status().as_u16()),
    };
    let head_region = head
        .as_ref()
        .ok()
        .and_then(|h| h.bucket_region().map(str::to_string));
    let presence = match (listed, head_status) {
        (Ok(owned), _) => match owned.get(bucket) {
            Some(region) => Presence::Owned {
                region: region.clone().or(head_region).unwrap_or_default(),
            },
            None if head_status == 200 || head_status == 403 || head_status == 301 => {
                Presence::OtherAccount
            }
            None => Presence::Missing,
        },
        // Without s3:ListAllMyBuckets, HeadBucket decides: 403 is someone else's bucket.
        (Err(_), 200) => Presence::Owned {
            region: head_region.unwrap_or_default(),
        },
        (Err(_), 403) => Presence::OtherAccount,
        (Err(_), 404) => Presence::Missing,
        (Err(_), _) => {
            return Err(match head {
                Err(e) => aws_error("s3:HeadBucket", e),
                Ok(_) => Error::failed("s3:HeadBucket: unexpected answer"),
            });
        }
    };
    if !matches!(presence, Presence::Owned { .. }) {
        return Ok(ObservedBucket {
            presence,
            ownership: None,
            public_access: None,
            tags: BTreeMap::new(),
        });
    }
    let (ownership, public_access, tags) = configuration(ownership, public_access, tags)?;
    Ok(ObservedBucket {
        presence,
        ownership,
        public_access,
        tags,
    })
}

/// Reads the configuration of a bucket ListBuckets already showed to be the caller's: one round,
/// without the ownership checks `observe` makes.
pub async fn observe_owned(
    s3: &Client,
    bucket: &str,
    region: Option<String>,
) -> Result<ObservedBucket, Error> {
    let (ownership, public_access, tags) = tokio::join!(
        s3.get_bucket_ownership_controls().bucket(bucket).send(),
        s3.get_public_access_block().bucket(bucket).send(),
        s3.get_bucket_tagging().bucket(bucket).send(),
    );
    let (ownership, public_access, tags) = configuration(ownership, public_access, tags)?;
    Ok(ObservedBucket {
        presence: Presence::Owned {
            region: region.unwrap_or_default(),
        },
        ownership,
        public_access,
        tags,
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
) -> Result<
    (
        Option<String>,
        Option<PublicAccess>,
        BTreeMap<String, String>,
    ),
    Error,
> {
    let absent = |code: Option<&str>, codes: &[&str]| {
        code.is_some_and(|c| codes.contains(&c) || c == "NoSuchBucket")
    };
    let ownership = match ownership {
        Ok(output) => output
            .ownership_controls()
            .and_then(|c| c.rules().first())
            .map(|r| r.object_ownership().as_str().to_string()),
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
        Ok(output) => output
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        Err(e) if absent(service_code(&e), &["NoSuchTagSet"]) => BTreeMap::new(),
        Err(e) => return Err(aws_error("s3:GetBucketTagging", e)),
    };
    Ok((ownership, public_access, tags))
}

/// The caller's own buckets and, where S3 says, their regions.
pub async fn owned_buckets(s3: &Client) -> Result<BTreeMap<String, Option<String>>, Error> {
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

/// Plans the bucket and its configuration. Pure.
pub fn plan(
    desired: &DesiredBucket,
    observed: &ObservedBucket,
    adopt: bool,
) -> Result<Vec<Change>, Error> {
    let name = &desired.name;
    let arn = format!("arn:{}:s3:::{name}", desired.partition);
    let bucket = match &observed.presence {
        Presence::OtherAccount => {
            return Err(Error::failed(format!(
                "bucket {name} belongs to another AWS account (bucket names are global)"
            ))
            .with_hint(
                "omit --bucket to use the default dragons-lab-<account-id>-<region>, which is \
                 unique to your account, or choose another name",
            ));
        }
        Presence::Owned { region } if !region.is_empty() && *region != desired.region => {
            return Err(Error::failed(format!(
                "bucket {name} is in region {region}, not {}",
                desired.region
            ))
            .with_hint(format!(
                "run with --region {region}, or choose another --bucket"
            )));
        }
        Presence::Owned { .. } if !is_managed(&observed.tags) && !adopt => {
            return Err(crate::resources::iam_role::not_ours("bucket", name, &arn));
        }
        Presence::Owned { .. } => Change::unchanged(ResourceKind::S3Bucket, name),
        Presence::Missing => Change::new(ResourceKind::S3Bucket, name, Action::Create)
            .with_details(vec![format!("in {}", desired.region)])
            .with_operations(vec![Operation::CreateBucket {
                bucket: name.clone(),
                region: desired.region.clone(),
            }]),
    };
    let created = observed.presence == Presence::Missing;
    let action = |same: bool| match (same, created) {
        (true, _) => Action::Unchanged,
        (false, true) => Action::Create,
        (false, false) => Action::Update,
    };

    // Tags: S3 replaces the whole set, so the request carries the existing tags plus ours.
    let managed = is_managed(&observed.tags);
    let mut merged: BTreeMap<String, String> = observed.tags.clone();
    let (key, value) = crate::plan::managed_by_tag();
    merged.insert(key, value);
    let tags = Change::new(ResourceKind::S3BucketTags, name, action(managed))
        .with_details(if managed || created {
            vec![]
        } else {
            vec!["adopt: tag managed-by=provision".into()]
        })
        .with_operations(if managed {
            vec![]
        } else {
            vec![Operation::PutBucketTagging {
                bucket: name.clone(),
                tags: merged.into_iter().collect::<Vec<Tag>>(),
            }]
        })
        .after(bucket_id(name));

    let ownership_ok = observed.ownership.as_deref() == Some(OWNERSHIP);
    let ownership = Change::new(
        ResourceKind::S3BucketOwnershipControls,
        name,
        action(ownership_ok),
    )
    .with_details(match (&observed.ownership, ownership_ok || created) {
        (_, true) => vec![],
        (Some(current), false) => vec![format!("{current} → {OWNERSHIP}")],
        (None, false) => vec![format!("none → {OWNERSHIP}")],
    })
    .with_operations(if ownership_ok {
        vec![]
    } else {
        vec![Operation::PutOwnershipControls {
            bucket: name.clone(),
            ownership: OWNERSHIP.to_string(),
        }]
    })
    .after(bucket_id(name));

    let public_ok = observed.public_access == Some(desired.public_access);
    let public_access = Change::new(ResourceKind::S3PublicAccessBlock, name, action(public_ok))
        .with_details(match (&observed.public_access, public_ok || created) {
            (_, true) => vec![],
            (Some(current), false) => current.differences(&desired.public_access),
            (None, false) => vec!["none → all four settings".into()],
        })
        .with_operations(if public_ok {
            vec![]
        } else {
            vec![Operation::PutPublicAccessBlock {
                bucket: name.clone(),
                settings: desired.public_access,
            }]
        })
        .after(bucket_id(name));

    Ok(vec![bucket.with_arn(arn), tags, ownership, public_access])
}

/// Plans the bucket's removal with all its contents (teardown). Pure. `keep_data` keeps it.
pub fn plan_absent(
    name: &str,
    region: &str,
    partition: &str,
    tags: &BTreeMap<String, String>,
    keep_data: bool,
) -> Change {
    let change = if !is_managed(tags) {
        Change::unchanged(ResourceKind::S3Bucket, name).with_details(vec![LEFT_ALONE.into()])
    } else if keep_data {
        Change::unchanged(ResourceKind::S3Bucket, name)
            .with_details(vec!["kept (--keep-data)".into()])
    } else {
        Change::new(ResourceKind::S3Bucket, name, Action::Delete)
            .with_details(vec![format!("in {region}, with every object version")])
            .with_operations(vec![
                Operation::EmptyBucket {
                    bucket: name.to_string(),
                    region: region.to_string(),
                },
                Operation::DeleteBucket {
                    bucket: name.to_string(),
                    region: region.to_string(),
                },
            ])
    };
    change.with_arn(format!("arn:{partition}:s3:::{name}"))
}

/// Object versions and delete markers in flight for deletion at once, in batches of 1000.
pub const DELETE_BATCHES_IN_FLIGHT: usize = 8;

/// Deletes every object version and delete marker: pages of up to 1000 are listed one after
/// another (S3's markers require it) while each page's DeleteObjects batch runs concurrently. A
/// bucket that never had versioning holds only current objects, which the cheaper ListObjectsV2
/// lists (on moto it is four times faster per page than ListObjectVersions).
pub async fn empty(s3: &Client, bucket: &str, counter: &Counter) -> Result<(), Error> {
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
    let mut pages = Pages {
        versioned,
        key_marker: None,
        version_marker: None,
        done: false,
    };
    let mut batches = FuturesUnordered::new();
    while let Some(identifiers) = pages.next(s3, bucket).await? {
        if !identifiers.is_empty() {
            batches.push(delete_batch(s3, bucket, identifiers, counter));
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
    counter: &Counter,
) -> Result<(), Error> {
    let count = identifiers.len() as u64;
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
            "s3:DeleteObjects could not delete {} of {count} objects in {bucket}",
            output.errors().len()
        ))
        .with_cause(format!(
            "{}: {} ({})",
            first.key().unwrap_or("?"),
            first.message().unwrap_or(""),
            first.code().unwrap_or("")
        )));
    }
    counter.add(count);
    Ok(())
}

/// Executes one bucket request.
pub async fn execute(s3: &Client, operation: &Operation) -> Result<(), Error> {
    match operation {
        Operation::CreateBucket { bucket, region } => {
            let mut request = s3.create_bucket().bucket(bucket);
            // us-east-1 is the one region that takes no LocationConstraint.
            if region != "us-east-1" {
                request = request.create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .location_constraint(BucketLocationConstraint::from(region.as_str()))
                        .build(),
                );
            }
            match request.send().await {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
                {
                    Ok(())
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_bucket_already_exists()) =>
                {
                    Err(Error::failed(format!(
                        "bucket {bucket} belongs to another AWS account (bucket names are global)"
                    ))
                    .with_hint(
                        "omit --bucket to use the default dragons-lab-<account-id>-<region>",
                    ))
                }
                Err(e) => Err(aws_error("s3:CreateBucket", e)),
            }
        }
        Operation::PutBucketTagging { bucket, tags } => {
            let tag_set = tags
                .iter()
                .map(|(k, v)| {
                    aws_sdk_s3::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                        .map_err(|e| Error::failed("invalid tag").with_cause(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let tagging = Tagging::builder()
                .set_tag_set(Some(tag_set))
                .build()
                .map_err(|e| Error::failed("invalid tag set").with_cause(e.to_string()))?;
            s3.put_bucket_tagging()
                .bucket(bucket)
                .tagging(tagging)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("s3:PutBucketTagging", e))
        }
        Operation::PutOwnershipControls { bucket, ownership } => {
            let rule = OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::from(ownership.as_str()))
                .build()
                .map_err(|e| Error::failed("invalid ownership rule").with_cause(e.to_string()))?;
            let controls = OwnershipControls::builder()
                .rules(rule)
                .build()
                .map_err(|e| {
                    Error::failed("invalid ownership controls").with_cause(e.to_string())
                })?;
            s3.put_bucket_ownership_controls()
                .bucket(bucket)
                .ownership_controls(controls)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("s3:PutBucketOwnershipControls", e))
        }
        Operation::PutPublicAccessBlock { bucket, settings } => s3
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(settings.block_public_acls)
                    .ignore_public_acls(settings.ignore_public_acls)
                    .block_public_policy(settings.block_public_policy)
                    .restrict_public_buckets(settings.restrict_public_buckets)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("s3:PutPublicAccessBlock", e)),
        Operation::DeleteBucket { bucket, .. } => crate::error::settled(
            "s3:DeleteBucket",
            s3.delete_bucket().bucket(bucket).send().await,
            |e| e.meta().code() == Some("NoSuchBucket"),
        ),
        other => Err(Error::failed(format!(
            "internal: {other:?} is not a bucket request"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> DesiredBucket {
        DesiredBucket {
            name: "lab".into(),
            region: "ca-central-1".into(),
            partition: "aws".into(),
            public_access: PublicAccess::PRIVATE,
        }
    }

    fn observed(presence: Presence) -> ObservedBucket {
        ObservedBucket {
            presence,
            ownership: Some(OWNERSHIP.into()),
            public_access: Some(PublicAccess::PRIVATE),
            tags: [
                ("managed-by".to_string(), "provision".to_string()),
                ("course".into(), "x".into()),
            ]
            .into(),
        }
    }

    #[test]
    fn a_missing_bucket_is_created_then_configured_concurrently() {
        let mut missing = observed(Presence::Missing);
        missing.tags.clear();
        missing.ownership = None;
        missing.public_access = None;
        let changes = plan(&desired(), &missing, false).expect("plans");
        assert!(changes.iter().all(|c| c.action == Action::Create));
        assert_eq!(
            changes[0].operations,
            vec![Operation::CreateBucket {
                bucket: "lab".into(),
                region: "ca-central-1".into()
            }]
        );
        for change in &changes[1..] {
            assert_eq!(
                change.depends_on,
                vec![bucket_id("lab")],
                "{}",
                change.line()
            );
        }
    }

    #[test]
    fn a_configured_bucket_is_unchanged() {
        let changes = plan(
            &desired(),
            &observed(Presence::Owned {
                region: "ca-central-1".into(),
            }),
            false,
        )
        .expect("plans");
        assert!(changes.iter().all(|c| c.operations.is_empty()));
    }

    #[test]
    fn drift_is_reported_and_tags_are_merged() {
        let mut drifted = observed(Presence::Owned {
            region: "ca-central-1".into(),
        });
        drifted.public_access = Some(PublicAccess {
            block_public_policy: false,
            ..PublicAccess::PRIVATE
        });
        drifted.ownership = Some("BucketOwnerEnforced".into());
        let changes = plan(&desired(), &drifted, false).expect("plans");
        assert_eq!(
            changes[2].details,
            vec!["BucketOwnerEnforced → BucketOwnerPreferred"]
        );
        assert_eq!(changes[3].details, vec!["BlockPublicPolicy false → true"]);

        let mut untagged = observed(Presence::Owned {
            region: "ca-central-1".into(),
        });
        untagged.tags.remove("managed-by");
        assert!(
            plan(&desired(), &untagged, false).is_err(),
            "not ours without --adopt"
        );
        let adopted = plan(&desired(), &untagged, true).expect("adopted");
        assert_eq!(
            adopted[1].operations,
            vec![Operation::PutBucketTagging {
                bucket: "lab".into(),
                tags: vec![
                    ("course".into(), "x".into()),
                    ("managed-by".into(), "provision".into())
                ]
            }]
        );
    }

    #[test]
    fn another_accounts_bucket_and_another_region_are_errors() {
        let error = plan(&desired(), &observed(Presence::OtherAccount), false).expect_err("taken");
        assert!(error.message().contains("belongs to another AWS account"));
        let error = plan(
            &desired(),
            &observed(Presence::Owned {
                region: "us-west-2".into(),
            }),
            false,
        )
        .expect_err("elsewhere");
        assert!(error.hints()[0].contains("--region us-west-2"));
    }
}
