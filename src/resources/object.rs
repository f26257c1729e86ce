//! Objects in the lab bucket: the dragons data (private) and, with `--site DIR`, the lab web app's
//! files (public-read). An object is uploaded only when its content or Content-Type differs: S3's
//! ETag of a single-part upload is the MD5 of the content, and provision also stores the MD5 as
//! metadata, which holds where the ETag does not (SSE-KMS buckets).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ObjectCannedAcl;
use futures::stream::{self, StreamExt, TryStreamExt};
use md5::{Digest, Md5};

use crate::error::{Error, aws_error, service_code};
use crate::plan::{Action, Body, Change, Operation, ResourceKind, SiteFile};
use crate::printer::Printer;
use crate::resources::bucket::{bucket_id, ownership_id, public_access_id};

/// Metadata key holding the content's MD5 (hex), as `x-amz-meta-provision-md5`.
pub const MD5_METADATA: &str = "provision-md5";
/// Uploads in flight at once for `--site`.
pub const UPLOAD_CONCURRENCY: usize = 8;

pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// An object as HeadObject or ListObjectsV2 report it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedObject {
    pub etag: String,
    pub content_type: Option<String>,
    pub md5_metadata: Option<String>,
}

impl ObservedObject {
    fn has_content(&self, md5: &str) -> bool {
        self.etag.trim_matches('"') == md5 || self.md5_metadata.as_deref() == Some(md5)
    }
}

/// HeadObject; `None` when the object or the bucket does not exist.
pub async fn observe(
    s3: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<ObservedObject>, Error> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(output) => Ok(Some(ObservedObject {
            etag: output.e_tag().unwrap_or_default().to_string(),
            content_type: output.content_type().map(str::to_string),
            md5_metadata: output.metadata().and_then(|m| m.get(MD5_METADATA)).cloned(),
        })),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
        Err(e) if service_code(&e) == Some("NoSuchBucket") => Ok(None),
        // A bucket of another account answers 403; the bucket's plan reports that clearly.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => Ok(None),
        Err(e) => Err(aws_error("s3:HeadObject", e)),
    }
}

/// ETags of every object in the bucket (for `--site`): one request per thousand objects.
pub async fn observe_all(
    s3: &Client,
    bucket: &str,
) -> Result<BTreeMap<String, ObservedObject>, Error> {
    let pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut objects = BTreeMap::new();
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
                    },
                );
            }
        }
    }
    Ok(objects)
}

/// The data object the lab application reads.
#[derive(Debug, Clone)]
pub struct DesiredObject {
    pub bucket: String,
    pub key: String,
    pub body: Body,
    pub md5_hex: String,
    pub content_type: String,
    pub partition: String,
}

/// Plans the data object. Pure. It needs only the bucket, not its configuration.
pub fn plan(desired: &DesiredObject, observed: Option<&ObservedObject>) -> Change {
    let name = format!("{}/{}", desired.bucket, desired.key);
    let arn = format!("arn:{}:s3:::{name}", desired.partition);
    let upload = Operation::PutObject {
        bucket: desired.bucket.clone(),
        key: desired.key.clone(),
        body: desired.body.clone(),
        content_type: desired.content_type.clone(),
        md5_hex: desired.md5_hex.clone(),
    };
    let size = format!("{} bytes", desired.body.0.len());
    let change = match observed {
        None => Change::new(ResourceKind::S3Object, &name, Action::Create)
            .with_details(vec![size])
            .with_operations(vec![upload]),
        Some(current) => {
            let mut details = Vec::new();
            if !current.has_content(&desired.md5_hex) {
                details.push(format!("content differs ({size})"));
            }
            if current.content_type.as_deref() != Some(desired.content_type.as_str()) {
                details.push(format!(
                    "Content-Type {} → {}",
                    current.content_type.as_deref().unwrap_or("none"),
                    desired.content_type
                ));
            }
            if details.is_empty() {
                Change::unchanged(ResourceKind::S3Object, &name)
            } else {
                Change::new(ResourceKind::S3Object, &name, Action::Update)
                    .with_details(details)
                    .with_operations(vec![upload])
            }
        }
    };
    change.with_arn(arn).after(bucket_id(&desired.bucket))
}

/// Lists the files under `dir` as site files (keys relative to `dir`, `/`-separated), with MD5s.
pub fn scan_site(dir: &Path) -> Result<Vec<(SiteFile, String)>, Error> {
    let mut files = Vec::new();
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
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| {
                Error::usage(format!("cannot read site file {}", path.display()))
                    .with_cause(e.to_string())
            })?;
            let relative: PathBuf = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            let key = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((
                SiteFile {
                    content_type: content_type(&path).to_string(),
                    size: bytes.len() as u64,
                    key,
                    path,
                },
                md5_hex(&bytes),
            ));
        }
    }
    files.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    Ok(files)
}

/// Content-Type by file extension, for what a small web app holds.
pub fn content_type(path: &Path) -> &'static str {
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

/// Plans the site upload as one line: the files whose content differs. Pure. Public-read uploads
/// wait for the bucket's ownership controls and public access block, which must allow ACLs.
pub fn plan_site(
    bucket: &str,
    dir: &Path,
    files: &[(SiteFile, String)],
    existing: &BTreeMap<String, ObservedObject>,
) -> Change {
    let to_upload: Vec<SiteFile> = files
        .iter()
        .filter(|(file, md5)| !existing.get(&file.key).is_some_and(|o| o.has_content(md5)))
        .map(|(file, _)| file.clone())
        .collect();
    let unchanged = files.len() - to_upload.len();
    let bytes: u64 = to_upload.iter().map(|f| f.size).sum();
    let name = format!("{bucket}:{}", dir.display());
    let details = vec![format!(
        "{} to upload ({bytes} bytes), {unchanged} unchanged",
        to_upload.len()
    )];
    let action = match (to_upload.is_empty(), unchanged == 0) {
        (true, _) => Action::Unchanged,
        (false, true) => Action::Create,
        (false, false) => Action::Update,
    };
    let operations = if to_upload.is_empty() {
        vec![]
    } else {
        vec![Operation::UploadSiteFiles {
            bucket: bucket.to_string(),
            files: to_upload,
        }]
    };
    Change::new(ResourceKind::S3SiteFiles, name, action)
        .with_details(details)
        .with_operations(operations)
        .after(bucket_id(bucket))
        .after(ownership_id(bucket))
        .after(public_access_id(bucket))
}

/// Executes one object request.
pub async fn execute(s3: &Client, operation: &Operation, printer: &Printer) -> Result<(), Error> {
    match operation {
        Operation::PutObject {
            bucket,
            key,
            body,
            content_type,
            md5_hex,
        } => s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .acl(ObjectCannedAcl::Private)
            .metadata(MD5_METADATA, md5_hex)
            .body(ByteStream::from(body.0.as_ref().clone()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("s3:PutObject", e)),
        Operation::UploadSiteFiles { bucket, files } => {
            let total: u64 = files.iter().map(|f| f.size).sum();
            let progress =
                Arc::new(printer.transfer("uploading site files", files.len() as u64, total));
            stream::iter(files.iter().map(|file| {
                let progress = progress.clone();
                async move {
                    let bytes = tokio::fs::read(&file.path).await.map_err(|e| {
                        Error::failed(format!("cannot read {}", file.path.display()))
                            .with_cause(e.to_string())
                    })?;
                    let md5 = md5_hex(&bytes);
                    s3.put_object()
                        .bucket(bucket)
                        .key(&file.key)
                        .content_type(&file.content_type)
                        .acl(ObjectCannedAcl::PublicRead)
                        .metadata(MD5_METADATA, md5)
                        .body(ByteStream::from(bytes))
                        .send()
                        .await
                        .map_err(|e| aws_error("s3:PutObject", e))?;
                    progress.advance(file.size);
                    Ok::<(), Error>(())
                }
            }))
            .buffer_unordered(UPLOAD_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
            progress.finish();
            Ok(())
        }
        other => Err(Error::failed(format!(
            "internal: {other:?} is not an object request"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> DesiredObject {
        let bytes = b"[{\"dragon_name_str\": \"Atlas\"}]".to_vec();
        DesiredObject {
            bucket: "lab".into(),
            key: "dragons.json".into(),
            md5_hex: md5_hex(&bytes),
            body: Body(Arc::new(bytes)),
            content_type: "application/json".into(),
            partition: "aws".into(),
        }
    }

    #[test]
    fn unchanged_content_is_not_uploaded_again() {
        let desired = desired();
        let same = ObservedObject {
            etag: format!("\"{}\"", desired.md5_hex),
            content_type: Some("application/json".into()),
            md5_metadata: None,
        };
        assert_eq!(plan(&desired, Some(&same)).action, Action::Unchanged);
        let kms = ObservedObject {
            etag: "\"not-an-md5\"".into(),
            md5_metadata: Some(desired.md5_hex.clone()),
            ..same.clone()
        };
        assert_eq!(
            plan(&desired, Some(&kms)).action,
            Action::Unchanged,
            "metadata MD5 counts"
        );
        let changed = ObservedObject {
            etag: "\"0000\"".into(),
            ..same
        };
        let change = plan(&desired, Some(&changed));
        assert_eq!(change.action, Action::Update);
        assert!(change.details[0].starts_with("content differs"));
        assert_eq!(plan(&desired, None).action, Action::Create);
    }

    #[test]
    fn site_files_upload_only_what_changed_after_the_acl_settings() {
        let file = |key: &str| SiteFile {
            path: PathBuf::from(key),
            key: key.into(),
            content_type: "text/html".into(),
            size: 10,
        };
        let files = vec![
            (file("index.html"), "aa".to_string()),
            (file("app.js"), "bb".to_string()),
        ];
        let existing: BTreeMap<String, ObservedObject> = [(
            "index.html".to_string(),
            ObservedObject {
                etag: "\"aa\"".into(),
                ..Default::default()
            },
        )]
        .into();
        let change = plan_site("lab", Path::new("site"), &files, &existing);
        assert_eq!(change.action, Action::Update);
        assert_eq!(change.details, vec!["1 to upload (10 bytes), 1 unchanged"]);
        assert!(change.depends_on.contains(&public_access_id("lab")));
        assert!(
            matches!(&change.operations[0], Operation::UploadSiteFiles { files, .. } if files.len() == 1 && files[0].key == "app.js")
        );
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(content_type(Path::new("a/index.HTML")), "text/html");
        assert_eq!(content_type(Path::new("app.js")), "text/javascript");
        assert_eq!(content_type(Path::new("blob")), "application/octet-stream");
    }
}
