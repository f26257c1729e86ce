//! Objects in the lab bucket: the dragons data ([`Object`], private) and, with `--site DIR`, the lab
//! web app's files ([`SiteFiles`], public-read). An object is uploaded only when its content or
//! Content-Type differs: S3's ETag of a single-part upload is the MD5 of the content, and provision
//! also stores the MD5 as metadata, which holds where the ETag does not (SSE-KMS buckets).
//!
//! Objects go with their bucket: teardown empties and deletes the bucket, so neither resource
//! plans anything when it should not exist.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ObjectCannedAcl;
use futures::stream::{self, StreamExt, TryStreamExt};
use md5::{Digest, Md5};

use crate::apply::{Executed, Progress, Report};
use crate::aws::Clients;
use crate::error::{DenyingPolicy, Error, aws_error, sent, service_code};
use crate::plan::{Action, Detail, Drift, Kind};
use crate::resources::ownership::Claims;
use crate::resources::{Change, Resource};

pub(crate) const OBJECT: Kind = Kind::new("s3-object");
pub(crate) const SITE_FILES: Kind = Kind::new("s3-site-files");

/// Metadata key holding the content's MD5 (hex), as `x-amz-meta-provision-md5`.
const MD5_METADATA: &str = "provision-md5";
/// Uploads in flight at once for `--site`.
const UPLOAD_CONCURRENCY: usize = 8;

pub(crate) fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Bytes to upload; shared, and shown by size rather than content.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Body(pub(crate) Arc<Vec<u8>>);

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Body({} bytes)", self.0.len())
    }
}

/// An object as HeadObject or ListObjectsV2 report it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ObservedObject {
    pub(crate) etag: String,
    pub(crate) content_type: Option<String>,
    pub(crate) md5_metadata: Option<String>,
    /// Grants of its ACL to everyone or to any AWS account (`AllUsers:READ`); read for the data
    /// object only.
    pub(crate) public_grants: Vec<String>,
}

/// The ACL groups that make an object public: anyone, and anyone with an AWS account.
const PUBLIC_GROUPS: &[(&str, &str)] = &[
    (
        "http://acs.amazonaws.com/groups/global/AllUsers",
        "AllUsers",
    ),
    (
        "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
        "AuthenticatedUsers",
    ),
];

impl ObservedObject {
    fn has_content(&self, md5: &str) -> bool {
        self.etag.trim_matches('"') == md5 || self.md5_metadata.as_deref() == Some(md5)
    }
}

/// The data object the lab application reads.
#[derive(Debug, Clone)]
pub(crate) struct DesiredObject {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) arn: String,
    pub(crate) body: Body,
    pub(crate) md5_hex: String,
    pub(crate) content_type: String,
}

impl DesiredObject {
    /// `bucket/key`, the object's name in the plan.
    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.bucket, self.key)
    }
}

/// One object to read.
#[derive(Debug, Clone)]
pub(crate) struct ObjectQuery {
    pub(crate) bucket: String,
    pub(crate) key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ObjectOp {
    /// A private upload.
    Put {
        bucket: String,
        key: String,
        body: Body,
        content_type: String,
        md5_hex: String,
    },
    /// Replaces the object's ACL with the canned `private` one (public grants removed).
    MakePrivate { bucket: String, key: String },
}

pub(crate) struct Object;

impl Resource for Object {
    type Query = ObjectQuery;
    type Observation = Option<ObservedObject>;
    type Desired = DesiredObject;
    type Observed = ObservedObject;
    type Op = ObjectOp;

    /// HeadObject and GetObjectAcl, concurrently; `None` when the object or the bucket does not
    /// exist. An ACL that cannot be read (no `s3:GetObjectAcl`) counts as holding no public grant.
    async fn observe(
        clients: &Clients,
        query: &ObjectQuery,
    ) -> Result<Option<ObservedObject>, Error> {
        let (bucket, key) = (query.bucket.as_str(), query.key.as_str());
        let (answer, acl) = tokio::join!(
            clients.on_bucket(bucket, |s3| async move {
                s3.head_object().bucket(bucket).key(key).send().await
            }),
            clients.on_bucket(bucket, |s3| async move {
                s3.get_object_acl().bucket(bucket).key(key).send().await
            }),
        );
        let public_grants = acl
            .map(|acl| {
                acl.grants()
                    .iter()
                    .filter_map(|grant| {
                        let uri = grant.grantee().and_then(|g| g.uri())?;
                        let (_, group) = PUBLIC_GROUPS.iter().find(|(u, _)| *u == uri)?;
                        let permission = grant.permission().map_or("?", |p| p.as_str());
                        Some(format!("{group}:{permission}"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        match answer {
            Ok(output) => Ok(Some(ObservedObject {
                etag: output.e_tag().unwrap_or_default().to_string(),
                content_type: output.content_type().map(str::to_string),
                md5_metadata: output.metadata().and_then(|m| m.get(MD5_METADATA)).cloned(),
                public_grants,
            })),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) if service_code(&e) == Some("NoSuchBucket") => Ok(None),
            // A bucket of another account answers 403; the bucket's plan reports that clearly.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => Ok(None),
            Err(e) => Err(aws_error("s3:HeadObject", e)),
        }
    }

    /// Uploaded when missing, or when its content or Content-Type differs.
    fn plan(
        desired: Option<&DesiredObject>,
        observed: Option<&ObservedObject>,
        _: &Claims,
    ) -> Result<Vec<Change>, Error> {
        let Some(desired) = desired else {
            return Ok(Vec::new());
        };
        let name = desired.name();
        let upload = ObjectOp::Put {
            bucket: desired.bucket.clone(),
            key: desired.key.clone(),
            body: desired.body.clone(),
            content_type: desired.content_type.clone(),
            md5_hex: desired.md5_hex.clone(),
        };
        let bytes = desired.body.0.len();
        let change = match observed {
            None => Change::new(OBJECT, &name, Action::Create)
                .with_detail(Detail::note(format!("{bytes} bytes")))
                .with_operations(vec![upload.into()]),
            Some(current) => {
                let mut drift = Vec::new();
                if !current.has_content(&desired.md5_hex) {
                    drift.push(Drift::Content { bytes });
                }
                if current.content_type.as_deref() != Some(desired.content_type.as_str()) {
                    drift.push(Drift::ContentType {
                        current: current.content_type.clone(),
                        desired: desired.content_type.clone(),
                    });
                }
                // An upload replaces the ACL with `private` too; alone, the ACL is replaced.
                let operation = if drift.is_empty() {
                    ObjectOp::MakePrivate {
                        bucket: desired.bucket.clone(),
                        key: desired.key.clone(),
                    }
                } else {
                    upload
                };
                if !current.public_grants.is_empty() {
                    drift.push(Drift::PublicGrants(current.public_grants.clone()));
                }
                if drift.is_empty() {
                    Change::unchanged(OBJECT, &name)
                } else {
                    Change::new(OBJECT, &name, Action::Update)
                        .with_details(drift.into_iter().map(Detail::from).collect())
                        .with_operations(vec![operation.into()])
                }
            }
        };
        Ok(vec![change.with_arn(desired.arn.clone())])
    }

    async fn execute(clients: &Clients, op: &ObjectOp, _: Report<'_>) -> Result<Executed, Error> {
        let (bucket, key, body, content_type, md5_hex) = match op {
            ObjectOp::Put {
                bucket,
                key,
                body,
                content_type,
                md5_hex,
            } => (bucket, key, body, content_type, md5_hex),
            ObjectOp::MakePrivate { bucket, key } => {
                let answer = clients
                    .on_bucket(bucket, |s3| async move {
                        s3.put_object_acl()
                            .bucket(bucket)
                            .key(key)
                            .acl(ObjectCannedAcl::Private)
                            .send()
                            .await
                    })
                    .await;
                sent("s3:PutObjectAcl", answer)?;
                return Ok(Executed::default());
            }
        };
        // No ACL header: a new bucket has ACLs disabled (bucket owner enforced), where only
        // requests without an ACL (or with bucket-owner-full-control) are accepted; without one,
        // the object is private to the bucket owner whatever the ownership setting.
        clients
            .on_bucket(bucket, |s3| async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(key)
                    .content_type(content_type)
                    .metadata(MD5_METADATA, md5_hex)
                    .body(ByteStream::from(body.0.as_ref().clone()))
                    .send()
                    .await
            })
            .await
            .map_err(|e| aws_error("s3:PutObject", e))?;
        Ok(Executed::default())
    }
}

/// One file of `--site DIR`, to be uploaded public-read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SiteFile {
    pub(crate) path: PathBuf,
    pub(crate) key: String,
    pub(crate) content_type: String,
    pub(crate) size: u64,
    pub(crate) md5_hex: String,
}

/// The web app's files, as `--site DIR` holds them.
#[derive(Debug, Clone)]
pub(crate) struct DesiredSite {
    pub(crate) bucket: String,
    pub(crate) dir: PathBuf,
    pub(crate) files: Vec<SiteFile>,
    /// What the scan left out (hidden files, symlinked folders), said in the plan.
    pub(crate) skipped: Vec<String>,
}

/// Every object of a bucket, by key.
pub(crate) type Listing = BTreeMap<String, ObservedObject>;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SiteOp {
    /// Public-read uploads, several at once.
    Upload {
        bucket: String,
        files: Vec<SiteFile>,
    },
}

pub(crate) struct SiteFiles;

impl Resource for SiteFiles {
    /// The bucket to list.
    type Query = str;
    type Observation = Listing;
    type Desired = DesiredSite;
    type Observed = Listing;
    type Op = SiteOp;

    /// ETags of every object in the bucket: one request per thousand objects.
    async fn observe(clients: &Clients, bucket: &str) -> Result<Listing, Error> {
        let pages = clients
            .s3_for(bucket)
            .list_objects_v2()
            .bucket(bucket)
            .into_paginator()
            .send()
            .collect::<Vec<_>>()
            .await;
        let mut objects = Listing::new();
        for page in pages {
            let page = match page {
                Ok(page) => page,
                Err(e) if service_code(&e) == Some("NoSuchBucket") => return Ok(objects),
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => {
                    return Ok(objects);
                }
                Err(e) => return Err(aws_error("s3:ListObjectsV2", e)),
            };
            for object in page.contents() {
                if let Some(key) = object.key() {
                    objects.insert(
                        key.to_string(),
                        ObservedObject {
                            etag: object.e_tag().unwrap_or_default().to_string(),
                            content_type: None,
                            md5_metadata: None,
                            public_grants: Vec::new(),
                        },
                    );
                }
            }
        }
        Ok(objects)
    }

    /// One line for the whole site: the files whose content differs are uploaded.
    fn plan(
        desired: Option<&DesiredSite>,
        observed: Option<&Listing>,
        _: &Claims,
    ) -> Result<Vec<Change>, Error> {
        let Some(desired) = desired else {
            return Ok(Vec::new());
        };
        let to_upload: Vec<SiteFile> = desired
            .files
            .iter()
            .filter(|file| {
                !observed
                    .and_then(|listing| listing.get(&file.key))
                    .is_some_and(|o| o.has_content(&file.md5_hex))
            })
            .cloned()
            .collect();
        let unchanged = desired.files.len() - to_upload.len();
        let bytes: u64 = to_upload.iter().map(|f| f.size).sum();
        let name = site_name(&desired.bucket, &desired.dir);
        let action = Action::for_setting(to_upload.is_empty(), unchanged == 0);
        let skipped = match desired.skipped.len() {
            0 => String::new(),
            n => format!(
                ", {n} skipped ({}; --include-hidden uploads hidden ones)",
                desired.skipped.join(", ")
            ),
        };
        let detail = Detail::note(format!(
            "{} to upload ({bytes} bytes), {unchanged} unchanged{skipped}",
            to_upload.len()
        ));
        let operations = if to_upload.is_empty() {
            vec![]
        } else {
            vec![
                SiteOp::Upload {
                    bucket: desired.bucket.clone(),
                    files: to_upload,
                }
                .into(),
            ]
        };
        Ok(vec![
            Change::new(SITE_FILES, name, action)
                .with_detail(detail)
                .with_operations(operations),
        ])
    }

    async fn execute(
        clients: &Clients,
        op: &SiteOp,
        report: Report<'_>,
    ) -> Result<Executed, Error> {
        let SiteOp::Upload { bucket, files } = op;
        let total_bytes: u64 = files.iter().map(|f| f.size).sum();
        let (done_files, done_bytes) = (AtomicU64::new(0), AtomicU64::new(0));
        // One file of `bytes` bytes more is done (none, to show the bar from the start).
        let advance = |files_done: u64, bytes: u64| {
            report(Progress::Items {
                label: "uploading site files".to_string(),
                done: done_files.fetch_add(files_done, Ordering::Relaxed) + files_done,
                total: Some(files.len() as u64),
                bytes: Some((
                    done_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes,
                    total_bytes,
                )),
            });
        };
        advance(0, 0);
        stream::iter(files.iter().map(|file| async move {
            let bytes = tokio::fs::read(&file.path).await.map_err(|e| {
                Error::failed(format!("cannot read {}", file.path.display()))
                    .with_cause(e.to_string())
            })?;
            let md5 = md5_hex(&bytes);
            clients
                .on_bucket(bucket, |s3| {
                    let (md5, bytes) = (md5.clone(), bytes.clone());
                    async move {
                        s3.put_object()
                            .bucket(bucket)
                            .key(&file.key)
                            .content_type(&file.content_type)
                            .acl(ObjectCannedAcl::PublicRead)
                            .metadata(MD5_METADATA, md5)
                            .body(ByteStream::from(bytes))
                            .send()
                            .await
                    }
                })
                .await
                .map_err(|e| public_upload_error(aws_error("s3:PutObject", e)))?;
            advance(1, file.size);
            Ok::<(), Error>(())
        }))
        .buffer_unordered(UPLOAD_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
        Ok(Executed::default())
    }
}

/// A refused public-read upload: the bucket's own public access block is provision's to set (and
/// it allowed ACLs before the upload ran), so what refuses a public object is the account's S3
/// Block Public Access, or an organization's SCP — not the credentials.
fn public_upload_error(error: Error) -> Error {
    let Some(denied) = error.access_denied() else {
        return error;
    };
    if denied.policy != DenyingPolicy::Identity {
        return error;
    }
    error.replacing_hints(vec![
        "public-read site files are refused by the account's S3 Block Public Access (it applies \
         to every bucket, above the bucket's own setting, which provision set to allow them): \
         check it with `aws s3control get-public-access-block --account-id ACCOUNT_ID`; an \
         administrator must turn BlockPublicAcls off there, or serve the app without --site"
            .to_string(),
        "if the account allows public objects, the credentials may lack s3:PutObjectAcl: run \
         with --profile NAME for an identity that may"
            .to_string(),
    ])
}

/// `bucket:DIR`, the site's name in the plan.
pub(crate) fn site_name(bucket: &str, dir: &Path) -> String {
    format!("{bucket}:{}", dir.display())
}

/// What `--site DIR` will upload, and what it leaves out.
#[derive(Debug, Clone, Default)]
pub(crate) struct SiteScan {
    pub(crate) files: Vec<SiteFile>,
    /// Hidden files and folders (`.git`, `.env`) left out, and symlinked folders not followed.
    pub(crate) skipped: Vec<String>,
}

/// Reads the site directory, checking it before anything is published public-read:
/// - a file whose key is the data's key is refused (it would publish the data, and overwrite it);
/// - a symlink that leads out of DIR is refused, naming it; one inside DIR is read; a symlinked
///   folder is not followed (it could loop);
/// - hidden files and folders are skipped unless `include_hidden`.
pub(crate) fn scan_site(
    dir: &Path,
    include_hidden: bool,
    data_key: &str,
) -> Result<SiteScan, Error> {
    let root = std::fs::canonicalize(dir).map_err(|e| {
        Error::usage(format!("cannot read site directory {}", dir.display()))
            .with_cause(e.to_string())
    })?;
    let mut scan = SiteScan::default();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| {
            Error::usage(format!("cannot read site directory {}", current.display()))
                .with_cause(e.to_string())
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| {
                Error::usage("cannot list the site directory").with_cause(e.to_string())
            })?;
            let path = entry.path();
            let relative: PathBuf = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            let key = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if hidden && !include_hidden {
                scan.skipped.push(key);
                continue;
            }
            let link = entry
                .file_type()
                .map_err(|e| {
                    Error::usage("cannot list the site directory").with_cause(e.to_string())
                })?
                .is_symlink();
            if link {
                let target = std::fs::canonicalize(&path).map_err(|e| {
                    Error::usage(format!("site file {} is a broken symlink", path.display()))
                        .with_cause(e.to_string())
                        .with_hint(
                            "remove the link, or point it at a file inside the site directory",
                        )
                })?;
                if !target.starts_with(&root) {
                    return Err(Error::usage(format!(
                        "site file {} is a symlink to {}, outside {}: it would be published \
                         public-read",
                        path.display(),
                        target.display(),
                        dir.display()
                    ))
                    .with_hint(
                        "copy what the site needs into the site directory, or remove the link",
                    ));
                }
                if target.is_dir() {
                    scan.skipped
                        .push(format!("{key} (symlinked folder, not followed)"));
                    continue;
                }
            } else if path.is_dir() {
                pending.push(path);
                continue;
            }
            if key == data_key {
                return Err(Error::usage(format!(
                    "site file {} has the data's key `{data_key}`: uploading it public-read would \
                     publish the lab data and overwrite it",
                    path.display()
                ))
                .with_hint(format!(
                    "rename or remove {} in the site directory, or store the data under another \
                     key with --key",
                    relative.display()
                )));
            }
            let bytes = std::fs::read(&path).map_err(|e| {
                Error::usage(format!("cannot read site file {}", path.display()))
                    .with_cause(e.to_string())
            })?;
            scan.files.push(SiteFile {
                content_type: content_type(&path).to_string(),
                size: bytes.len() as u64,
                md5_hex: md5_hex(&bytes),
                key,
                path,
            });
        }
    }
    scan.files.sort_by(|a, b| a.key.cmp(&b.key));
    scan.skipped.sort();
    Ok(scan)
}

/// Content-Type by file extension, for what a small web app holds.
pub(crate) fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match extension.as_str() {
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "txt" => "text/plain",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Operation;
    #[allow(unused_imports)]
    use crate::resources::ownership::{adopted_tags, managed_tags, test_claims};

    fn desired() -> DesiredObject {
        let bytes = b"[{\"dragon_name_str\": \"Atlas\"}]".to_vec();
        DesiredObject {
            bucket: "lab".into(),
            key: "dragons.json".into(),
            arn: "arn:aws:s3:::lab/dragons.json".into(),
            md5_hex: md5_hex(&bytes),
            body: Body(Arc::new(bytes)),
            content_type: "application/json".into(),
        }
    }

    fn plan(observed: Option<&ObservedObject>) -> Change {
        Object::plan(Some(&desired()), observed, &test_claims(false))
            .expect("plans")
            .remove(0)
    }

    #[test]
    fn unchanged_content_is_not_uploaded_again() {
        let desired = desired();
        let same = ObservedObject {
            etag: format!("\"{}\"", desired.md5_hex),
            content_type: Some("application/json".into()),
            md5_metadata: None,
            public_grants: vec![],
        };
        assert_eq!(plan(Some(&same)).action, Action::Unchanged);
        let kms = ObservedObject {
            etag: "\"not-an-md5\"".into(),
            md5_metadata: Some(desired.md5_hex.clone()),
            ..same.clone()
        };
        assert_eq!(
            plan(Some(&kms)).action,
            Action::Unchanged,
            "metadata MD5 counts"
        );
        let changed = ObservedObject {
            etag: "\"0000\"".into(),
            ..same
        };
        let change = plan(Some(&changed));
        assert_eq!(change.action, Action::Update);
        assert_eq!(
            change.details,
            vec![Detail::Drift(Drift::Content { bytes: 30 })]
        );
        assert_eq!(plan(None).action, Action::Create);
        assert!(
            Object::plan(None, Some(&changed), &test_claims(false))
                .expect("plans")
                .is_empty(),
            "objects go with their bucket"
        );
    }

    #[test]
    fn a_public_data_object_is_made_private() {
        let desired = desired();
        let public = ObservedObject {
            etag: format!("\"{}\"", desired.md5_hex),
            content_type: Some("application/json".into()),
            md5_metadata: None,
            public_grants: vec!["AllUsers:READ".into()],
        };
        let change = plan(Some(&public));
        assert_eq!(change.action, Action::Update);
        assert_eq!(
            change.details,
            vec![Detail::Drift(Drift::PublicGrants(vec![
                "AllUsers:READ".into()
            ]))]
        );
        assert_eq!(
            change.operations,
            vec![Operation::Object(ObjectOp::MakePrivate {
                bucket: desired.bucket.clone(),
                key: desired.key.clone(),
            })]
        );
        // With other drift the private upload replaces the ACL as well.
        let both = ObservedObject {
            etag: "\"0000\"".into(),
            ..public
        };
        assert!(matches!(
            plan(Some(&both)).operations[..],
            [Operation::Object(ObjectOp::Put { .. })]
        ));
    }

    fn site_dir(files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "provision-site-{}-{}",
            std::process::id(),
            files.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, contents) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            std::fs::write(path, contents).expect("write");
        }
        dir
    }

    #[test]
    fn the_site_scan_refuses_the_data_key_and_skips_hidden_files() {
        let dir = site_dir(&[
            ("index.html", "<html>"),
            (".env", "SECRET=1"),
            (".git/config", "[core]"),
            ("js/app.js", "1"),
        ]);
        let scan = scan_site(&dir, false, "dragons.json").expect("scans");
        let keys: Vec<&str> = scan.files.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["index.html", "js/app.js"]);
        assert_eq!(scan.skipped, [".env", ".git"]);
        let all = scan_site(&dir, true, "dragons.json").expect("scans");
        assert_eq!(all.files.len(), 4);
        let error = scan_site(&dir, false, "js/app.js").expect_err("the data's key");
        assert!(error.message().contains("has the data's key `js/app.js`"));
        assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn the_site_scan_refuses_symlinks_out_of_the_directory() {
        let dir = site_dir(&[("index.html", "<html>"), ("css/site.css", "x")]);
        let outside = dir.with_extension("secret");
        std::fs::write(&outside, "secret").expect("write");
        std::os::unix::fs::symlink(dir.join("index.html"), dir.join("home.html")).expect("link");
        let scan = scan_site(&dir, false, "dragons.json").expect("a link inside is read");
        assert_eq!(scan.files.len(), 3);
        std::os::unix::fs::symlink(dir.join("css"), dir.join("styles")).expect("link");
        let scan = scan_site(&dir, false, "dragons.json").expect("scans");
        assert_eq!(scan.skipped, ["styles (symlinked folder, not followed)"]);
        std::os::unix::fs::symlink(&outside, dir.join("leak.txt")).expect("link");
        let error = scan_site(&dir, false, "dragons.json").expect_err("leads out");
        assert!(
            error.message().contains("leak.txt is a symlink to"),
            "{}",
            error.message()
        );
        assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&outside);
    }

    #[test]
    fn site_files_upload_only_what_changed() {
        let file = |key: &str, md5: &str| SiteFile {
            path: PathBuf::from(key),
            key: key.into(),
            content_type: "text/html".into(),
            size: 10,
            md5_hex: md5.into(),
        };
        let desired = DesiredSite {
            bucket: "lab".into(),
            dir: PathBuf::from("site"),
            files: vec![file("index.html", "aa"), file("app.js", "bb")],
            skipped: vec![],
        };
        let existing: Listing = [(
            "index.html".to_string(),
            ObservedObject {
                etag: "\"aa\"".into(),
                ..Default::default()
            },
        )]
        .into();
        let change = SiteFiles::plan(Some(&desired), Some(&existing), &test_claims(false))
            .expect("plans")
            .remove(0);
        assert_eq!(change.action, Action::Update);
        assert_eq!(
            change.line(),
            "~ update    s3-site-files lab:site (1 to upload (10 bytes), 1 unchanged)"
        );
        assert!(
            matches!(&change.operations[0], Operation::SiteFiles(SiteOp::Upload { files, .. }) if files.len() == 1 && files[0].key == "app.js")
        );
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(content_type(Path::new("a/index.HTML")), "text/html");
        assert_eq!(content_type(Path::new("app.js")), "text/javascript");
        assert_eq!(content_type(Path::new("blob")), "application/octet-stream");
    }
}
