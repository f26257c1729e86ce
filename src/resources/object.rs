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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectCannedAcl,
};
use futures::stream::{self, StreamExt};
use md5::{Digest, Md5};

use crate::connection::clients::Clients;
use crate::engine::apply::{Executed, Progress, Report};
use crate::engine::plan::{Action, Detail, Drift, Kind};
use crate::error::{DenyingPolicy, Error, aws_error, sent, service_code};
use crate::local_file::{self, Links, Open};
use crate::resources::bucket::BUCKET;
use crate::resources::lifecycle::found_with_its_whole;
use crate::resources::ownership::Claims;
use crate::resources::status::{Rows, StatusLine};
use crate::resources::{Change, CloudFormation, CreatedBy, Lifecycle, Part, Resource};

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
    /// The bucket's region, where the object's requests go.
    pub(crate) region: String,
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

    /// What `status` compares the object with: the content provision recorded when it uploaded
    /// it (its MD5, in the object's metadata: `dragons-lab --data FILE` uploads other data than
    /// this), or — for an object without that record, such as one replaced by hand — this one.
    /// `Some` when the record names other data than this.
    pub(crate) fn as_recorded(&self, current: &ObservedObject) -> Option<Self> {
        let recorded = current.md5_metadata.as_ref()?;
        (*recorded != self.md5_hex).then(|| Self {
            md5_hex: recorded.clone(),
            ..self.clone()
        })
    }
}

/// One object to read.
#[derive(Debug, Clone)]
pub(crate) struct ObjectQuery {
    pub(crate) bucket: String,
    /// The bucket's region, as observed (`RUN_REGION` where not known: S3's redirect is followed).
    pub(crate) region: String,
    pub(crate) key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ObjectOp {
    /// A private upload.
    Put {
        bucket: String,
        region: String,
        key: String,
        body: Body,
        content_type: String,
        md5_hex: String,
    },
    /// Replaces the object's ACL with the canned `private` one (public grants removed).
    MakePrivate {
        bucket: String,
        region: String,
        key: String,
    },
}

pub(crate) struct Object;

impl Resource for Object {
    const KINDS: &'static [Kind] = &[OBJECT];

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
        let region = query.region.as_str();
        let (answer, acl) = tokio::join!(
            clients.on_bucket(bucket, region, |s3| async move {
                s3.head_object().bucket(bucket).key(key).send().await
            }),
            clients.on_bucket(bucket, region, |s3| async move {
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
            region: desired.region.clone(),
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
                        region: desired.region.clone(),
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
        let (bucket, region, key, body, content_type, md5_hex) = match op {
            ObjectOp::Put {
                bucket,
                region,
                key,
                body,
                content_type,
                md5_hex,
            } => (bucket, region, key, body, content_type, md5_hex),
            ObjectOp::MakePrivate {
                bucket,
                region,
                key,
            } => {
                let answer = clients
                    .on_bucket(bucket, region, |s3| async move {
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
            .on_bucket(bucket, region, |s3| async move {
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

/// Site files larger than this are uploaded in parts of this size: the AWS CLI's default
/// `multipart_threshold` and `multipart_chunksize` (8 MiB); S3 takes parts of 5 MiB to 5 GiB, at
/// most 10,000 of them ("Amazon S3 multipart upload limits", S3 User Guide). One part at a time
/// of each file in flight is held in memory, so a run's memory does not grow with a file's size.
pub(crate) const PART_SIZE: u64 = 8 << 20;
/// S3's most parts for one object.
const MOST_PARTS: u64 = 10_000;

/// Which file a path named when it was planned: its device and inode, as `fstat` reports them,
/// and its status-change time — a file deleted and another made gets a new one even where the
/// file system hands the freed inode number on, and so does a file written since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FileIdentity {
    device: u64,
    inode: u64,
    changed: (i64, i64),
}

impl FileIdentity {
    fn of(metadata: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Self {
                device: metadata.dev(),
                inode: metadata.ino(),
                changed: (metadata.ctime(), metadata.ctime_nsec()),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = metadata;
            Self::default()
        }
    }
}

/// One file of `--site DIR`, to be uploaded public-read: read when it was planned, and uploaded
/// only if what is opened then is still that file (see [`open_planned`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SiteFile {
    /// The path in the site, as listed (named in messages).
    pub(crate) path: PathBuf,
    /// What is opened: the path, or the target inside the site of a link.
    pub(crate) source: PathBuf,
    pub(crate) identity: FileIdentity,
    pub(crate) key: String,
    pub(crate) content_type: String,
    pub(crate) size: u64,
    /// The MD5 of the whole content (hex), stored as the object's metadata.
    pub(crate) md5_hex: String,
    /// The MD5 of each part, for a file uploaded in parts (empty for one PutObject).
    pub(crate) part_md5s: Vec<[u8; 16]>,
    /// The ETag S3 gives the object: the content's MD5, or for a multipart upload the MD5 of the
    /// parts' MD5s and their count (`…-N`), so that an unchanged file is known from the listing.
    pub(crate) etag: String,
}

impl SiteFile {
    /// Whether the listed object holds this content.
    fn is_in(&self, observed: &ObservedObject) -> bool {
        observed.etag.trim_matches('"') == self.etag || observed.has_content(&self.md5_hex)
    }

    /// A file made from bytes, for tests of the plan.
    #[cfg(test)]
    pub(crate) fn of_bytes(path: &str, key: &str, content_type: &str, bytes: &[u8]) -> Self {
        Self {
            path: PathBuf::from(path),
            source: PathBuf::from(path),
            identity: FileIdentity::default(),
            key: key.into(),
            content_type: content_type.into(),
            size: bytes.len() as u64,
            md5_hex: md5_hex(bytes),
            part_md5s: Vec::new(),
            etag: md5_hex(bytes),
        }
    }
}

/// The web app's files, as `--site DIR` holds them.
#[derive(Debug, Clone)]
pub(crate) struct DesiredSite {
    pub(crate) bucket: String,
    /// The bucket's region, where the uploads go.
    pub(crate) region: String,
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
        region: String,
        files: Vec<SiteFile>,
    },
}

/// A bucket whose objects are listed, in its region (as observed; `RUN_REGION` where not known).
#[derive(Debug, Clone)]
pub(crate) struct ListingQuery {
    pub(crate) bucket: String,
    pub(crate) region: String,
}

pub(crate) struct SiteFiles;

impl Resource for SiteFiles {
    const KINDS: &'static [Kind] = &[SITE_FILES];

    type Query = ListingQuery;
    type Observation = Listing;
    type Desired = DesiredSite;
    type Observed = Listing;
    type Op = SiteOp;

    /// ETags of every object in the bucket: one request per thousand objects.
    async fn observe(clients: &Clients, query: &ListingQuery) -> Result<Listing, Error> {
        let bucket = &query.bucket;
        let pages = clients
            .s3_in(&query.region)
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
                    .is_some_and(|o| file.is_in(o))
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
                    region: desired.region.clone(),
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
        let SiteOp::Upload {
            bucket,
            region,
            files,
        } = op;
        let total_bytes: u64 = files.iter().map(|f| f.size).sum();
        let (done_files, done_bytes) = (AtomicU64::new(0), AtomicU64::new(0));
        // `files` more files and `bytes` more bytes are done (none, to show the bar at once).
        let advance = |files_done: u64, bytes: u64| {
            report.progress(Progress::Items {
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
        // After a signal, or a failure of one of these uploads, no upload starts; those in flight
        // finish (none is dropped half-sent).
        let failed = AtomicBool::new(false);
        let stopping = || report.halted() || failed.load(Ordering::SeqCst);
        let results: Vec<Result<bool, Error>> = stream::iter(files.iter().map(|file| async {
            if stopping() {
                return Ok(false);
            }
            let result = upload(clients, bucket, region, file, &stopping, &advance).await;
            if result.is_err() {
                failed.store(true, Ordering::SeqCst);
            }
            result.map(|()| true)
        }))
        .buffer_unordered(UPLOAD_CONCURRENCY)
        .collect()
        .await;
        let mut uploaded = 0;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(true) => uploaded += 1,
                Ok(false) => {}
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) if !error.is_halted() => Err(error),
            _ if uploaded < files.len() => Err(Error::halted(format!(
                "stopped after {uploaded} of {} site files; the rest were not started",
                files.len()
            ))),
            _ => Ok(Executed::default()),
        }
    }
}

/// Opens the file planned as `file` and checks it is still that file — the same device and
/// inode, a regular file of the planned size, not a symbolic link (`O_NOFOLLOW`) — so that what
/// is published is what was planned, read from the handle that was checked: a file replaced
/// after planning (by a link to a private file, say) is not uploaded.
fn open_planned(file: &SiteFile) -> Result<std::fs::File, Error> {
    let changed = |why: &str| {
        Error::failed(format!(
            "site file {} changed after the plan was made ({why}): none of it was uploaded",
            file.path.display()
        ))
        .with_hint("run the command again: it plans the site anew from what the folder holds")
    };
    let opened = match local_file::open(&file.source, "site file", Links::Refuse) {
        Ok(Open::File(opened)) => opened,
        Ok(Open::Absent) => return Err(changed("it is gone")),
        Err(error) => return Err(changed(error.message())),
    };
    if FileIdentity::of(&opened.metadata) != file.identity {
        return Err(changed(
            "another file is at its path now, or it was written since",
        ));
    }
    if opened.metadata.len() != file.size {
        return Err(changed(&format!(
            "it is {} bytes long, not {}",
            opened.metadata.len(),
            file.size
        )));
    }
    Ok(opened.file)
}

/// Reads `length` bytes at `offset` of an opened file, off the async threads.
async fn read_range(
    file: &Arc<std::fs::File>,
    offset: u64,
    length: u64,
    path: &Path,
) -> Result<Vec<u8>, Error> {
    let file = Arc::clone(file);
    let read = tokio::task::spawn_blocking(move || {
        let mut bytes = vec![0; usize::try_from(length).unwrap_or(usize::MAX)];
        read_exact_at(&file, &mut bytes, offset).map(|()| bytes)
    })
    .await;
    match read {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(
            Error::failed(format!("cannot read site file {}", path.display()))
                .with_cause(e.to_string()),
        ),
        Err(e) => Err(
            Error::failed(format!("cannot read site file {}", path.display()))
                .with_cause(e.to_string()),
        ),
    }
}

#[cfg(unix)]
fn read_exact_at(file: &std::fs::File, bytes: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, bytes, offset)
}

#[cfg(not(unix))]
fn read_exact_at(file: &std::fs::File, bytes: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(bytes)
}

/// The MD5 of `hex`'s bytes, base64, as Content-MD5 carries it: S3 refuses the upload
/// (`BadDigest`) when what arrives is not what was planned.
fn content_md5(digest: &[u8]) -> String {
    aws_smithy_types::base64::encode(digest)
}

/// Uploads one site file, public-read, from the checked handle: one PutObject up to
/// [`PART_SIZE`], else a multipart upload whose parts go one after another (and which is
/// aborted when it cannot finish, so that no unfinished upload is left to be billed).
async fn upload(
    clients: &Clients,
    bucket: &str,
    region: &str,
    file: &SiteFile,
    stopping: &(dyn Fn() -> bool + Sync),
    advance: &(dyn Fn(u64, u64) + Sync),
) -> Result<(), Error> {
    let handle = Arc::new(open_planned(file)?);
    let md5 = file.md5_hex.as_str();
    if file.part_md5s.is_empty() {
        let bytes = read_range(&handle, 0, file.size, &file.path).await?;
        let digest = content_md5(&hex::decode(md5).unwrap_or_default());
        clients
            .on_bucket(bucket, region, |s3| {
                let (bytes, digest) = (bytes.clone(), digest.clone());
                async move {
                    s3.put_object()
                        .bucket(bucket)
                        .key(&file.key)
                        .content_type(&file.content_type)
                        .acl(ObjectCannedAcl::PublicRead)
                        .metadata(MD5_METADATA, md5)
                        .content_md5(digest)
                        .body(ByteStream::from(bytes))
                        .send()
                        .await
                }
            })
            .await
            .map_err(|e| public_upload_error(aws_error("s3:PutObject", e)))?;
        advance(1, file.size);
        return Ok(());
    }
    let key = file.key.as_str();
    let created = clients
        .on_bucket(bucket, region, |s3| async move {
            s3.create_multipart_upload()
                .bucket(bucket)
                .key(key)
                .content_type(&file.content_type)
                .acl(ObjectCannedAcl::PublicRead)
                .metadata(MD5_METADATA, md5)
                // The parts carry CRC32 checksums (the SDK adds them): the upload must say so.
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .send()
                .await
        })
        .await
        .map_err(|e| public_upload_error(aws_error("s3:CreateMultipartUpload", e)))?;
    let Some(upload_id) = created.upload_id().map(str::to_string) else {
        return Err(Error::failed(format!(
            "s3:CreateMultipartUpload of {key} answered without an upload id"
        )));
    };
    let upload_id = upload_id.as_str();
    let parts = async {
        let mut completed = Vec::new();
        for (index, part_md5) in file.part_md5s.iter().enumerate() {
            if stopping() {
                return Err(Error::halted(format!(
                    "stopped uploading {key} after {index} of {} parts",
                    file.part_md5s.len()
                )));
            }
            let offset = index as u64 * PART_SIZE;
            let length = PART_SIZE.min(file.size - offset);
            let bytes = read_range(&handle, offset, length, &file.path).await?;
            let number = i32::try_from(index + 1).unwrap_or(i32::MAX);
            let digest = content_md5(part_md5);
            let answer = clients
                .on_bucket(bucket, region, |s3| {
                    let (bytes, digest) = (bytes.clone(), digest.clone());
                    async move {
                        s3.upload_part()
                            .bucket(bucket)
                            .key(key)
                            .upload_id(upload_id)
                            .part_number(number)
                            .content_md5(digest)
                            .checksum_algorithm(ChecksumAlgorithm::Crc32)
                            .body(ByteStream::from(bytes))
                            .send()
                            .await
                    }
                })
                .await
                .map_err(|e| aws_error("s3:UploadPart", e))?;
            completed.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(answer.e_tag().map(str::to_string))
                    .set_checksum_crc32(answer.checksum_crc32().map(str::to_string))
                    .build(),
            );
            advance(0, length);
        }
        let parts = CompletedMultipartUpload::builder()
            .set_parts(Some(completed))
            .build();
        clients
            .on_bucket(bucket, region, |s3| {
                let parts = parts.clone();
                async move {
                    s3.complete_multipart_upload()
                        .bucket(bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .multipart_upload(parts)
                        .send()
                        .await
                }
            })
            .await
            .map_err(|e| aws_error("s3:CompleteMultipartUpload", e))?;
        Ok(())
    }
    .await;
    if parts.is_err() {
        // Best effort, so that no unfinished upload is left holding parts (S3 bills them).
        let _ = clients
            .on_bucket(bucket, region, |s3| async move {
                s3.abort_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await
            })
            .await;
    }
    parts?;
    advance(1, 0);
    Ok(())
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
/// - a FIFO, a device or a socket is refused (a FIFO would block for ever, a device is no page);
/// - a name holding a newline or another control character is refused (S3 keeps it, and every
///   listing and URL of it is then ambiguous);
/// - hidden files and folders are skipped unless `include_hidden`.
///
/// Each file is read as a stream to find its MD5s (no file is held in memory) from the handle
/// whose device and inode the plan records.
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
            if key.chars().any(char::is_control) {
                return Err(Error::usage(format!(
                    "site file {:?} has a newline or another control character in its name",
                    relative.display().to_string()
                ))
                .with_hint("rename it: a web page cannot link to such a name reliably"));
            }
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if hidden && !include_hidden {
                scan.skipped.push(key);
                continue;
            }
            let file_type = entry.file_type().map_err(|e| {
                Error::usage("cannot list the site directory").with_cause(e.to_string())
            })?;
            let source = if file_type.is_symlink() {
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
                target
            } else if file_type.is_dir() {
                pending.push(path);
                continue;
            } else {
                path.clone()
            };
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
            let opened = match local_file::open(&source, "site file", Links::Refuse) {
                Ok(Open::File(opened)) => opened,
                Ok(Open::Absent) if source.exists() => {
                    return Err(local_file::not_a_file_error(
                        "site file",
                        &path,
                        "a character device (the null device)",
                    )
                    .with_hint("remove it from the site directory"));
                }
                Ok(Open::Absent) => {
                    return Err(Error::usage(format!(
                        "site file {} vanished while the site was read",
                        path.display()
                    ))
                    .with_hint("run the command again"));
                }
                Err(error) => return Err(error.with_hint("remove it from the site directory")),
            };
            let identity = FileIdentity::of(&opened.metadata);
            let digests = digest(opened.file, &path)?;
            scan.files.push(SiteFile {
                content_type: content_type(&path).to_string(),
                size: digests.size,
                md5_hex: digests.md5_hex,
                part_md5s: digests.part_md5s,
                etag: digests.etag,
                identity,
                key,
                source,
                path,
            });
        }
    }
    scan.files.sort_by(|a, b| a.key.cmp(&b.key));
    scan.skipped.sort();
    Ok(scan)
}

/// A file's MD5s, read as a stream.
struct Digests {
    size: u64,
    md5_hex: String,
    part_md5s: Vec<[u8; 16]>,
    etag: String,
}

/// Reads `file` in 64 KiB pieces: the MD5 of the whole, and of each [`PART_SIZE`] part when it is
/// larger than one part.
fn digest(mut file: std::fs::File, path: &Path) -> Result<Digests, Error> {
    use std::io::Read;
    let mut whole = Md5::new();
    let mut part = Md5::new();
    let mut part_md5s: Vec<[u8; 16]> = Vec::new();
    let (mut size, mut in_part) = (0u64, 0u64);
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        let read = file.read(&mut buffer).map_err(|e| {
            Error::usage(format!("cannot read site file {}", path.display()))
                .with_cause(e.to_string())
        })?;
        if read == 0 {
            break;
        }
        let mut bytes = &buffer[..read];
        whole.update(bytes);
        size += read as u64;
        while !bytes.is_empty() {
            let room = usize::try_from(PART_SIZE - in_part).unwrap_or(usize::MAX);
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            part.update(now);
            in_part += now.len() as u64;
            if in_part == PART_SIZE {
                part_md5s.push(part.finalize_reset().into());
                in_part = 0;
            }
            bytes = rest;
        }
    }
    if in_part > 0 {
        part_md5s.push(part.finalize().into());
    }
    let md5_hex = hex::encode(whole.finalize());
    if size <= PART_SIZE {
        return Ok(Digests {
            size,
            etag: md5_hex.clone(),
            md5_hex,
            part_md5s: Vec::new(),
        });
    }
    if part_md5s.len() as u64 > MOST_PARTS {
        return Err(Error::usage(format!(
            "site file {} is {size} bytes: more than S3's {MOST_PARTS} parts of {}",
            path.display(),
            local_file::size(PART_SIZE)
        )));
    }
    // S3's ETag of a multipart upload: the MD5 of the parts' MD5s, then `-` and their count.
    let mut of_parts = Md5::new();
    for digest in &part_md5s {
        of_parts.update(digest);
    }
    let etag = format!("{}-{}", hex::encode(of_parts.finalize()), part_md5s.len());
    Ok(Digests {
        size,
        md5_hex,
        part_md5s,
        etag,
    })
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

impl Lifecycle for Object {
    const KIND: Kind = OBJECT;
    const MADE_BY: &'static [Part] = &[Part::DragonsLab];
    const NEEDS: &'static [Kind] = &[BUCKET];
    const CREATED_BY: CreatedBy = CreatedBy::PartOf(BUCKET);
    const CLOUDFORMATION: CloudFormation =
        CloudFormation::Not("a template cannot upload an object");

    /// By `bucket/key`.
    type Found = BTreeMap<String, ObservedObject>;

    found_with_its_whole!();

    /// The lab's data object, compared with the data provision uploaded (the embedded dragons,
    /// or the `--data` file whose MD5 it recorded); objects have no tags of their own.
    fn rows(rows: &mut Rows<'_>) -> Result<(), Error> {
        let (expected, observed, claims) = (rows.expected, rows.observed, rows.claims);
        for desired in &expected.objects {
            let name = desired.name();
            let bucket_theirs = observed
                .buckets
                .get(&desired.bucket)
                .is_some_and(|b| !claims.considers(BUCKET, &b.name, &b.tags));
            let line = match observed.objects.get(&name) {
                None => StatusLine::missing(OBJECT, &name),
                Some(_) if bucket_theirs => StatusLine::present(
                    OBJECT,
                    &name,
                    None,
                    vec!["in another owner's bucket".into()],
                ),
                Some(current) => {
                    let recorded = desired.as_recorded(current);
                    let compared = recorded.as_ref().unwrap_or(desired);
                    let changes = Object::plan(Some(compared), Some(current), claims)?;
                    let mut line = StatusLine::compared(OBJECT, &name, &changes, None);
                    if recorded.is_some() {
                        line.details
                            .push("the data given with --data, not the embedded dragons".into());
                    }
                    line
                }
            };
            rows.push(line);
        }
        Ok(())
    }
}

impl Lifecycle for SiteFiles {
    const KIND: Kind = SITE_FILES;
    const MADE_BY: &'static [Part] = &[Part::DragonsLab];
    const NEEDS: &'static [Kind] = &[BUCKET];
    const CREATED_BY: CreatedBy = CreatedBy::PartOf(BUCKET);
    const CLOUDFORMATION: CloudFormation = CloudFormation::Not("a template cannot upload files");

    /// Every object of a bucket, by bucket (read for `--site`).
    type Found = BTreeMap<String, Listing>;

    found_with_its_whole!();

    /// A site's files are its bucket's contents, not compared one by one: the bucket's row says
    /// whether it is a site (`provision:site`).
    fn rows(_: &mut Rows<'_>) -> Result<(), Error> {
        Ok(())
    }
}

#[cfg(test)]
impl crate::resources::simulated::Simulated for Object {
    fn simulate(
        op: &ObjectOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        let observed = &mut world.observed;
        match op {
            ObjectOp::Put {
                bucket,
                key,
                content_type,
                md5_hex,
                ..
            } => {
                if !observed.buckets.contains_key(bucket) {
                    return Err(format!("NoSuchBucket: {bucket}"));
                }
                let object = ObservedObject {
                    etag: format!("\"{md5_hex}\""),
                    content_type: Some(content_type.clone()),
                    md5_metadata: Some(md5_hex.clone()),
                    public_grants: vec![],
                };
                simulated_put(observed, bucket, key, object);
            }
            ObjectOp::MakePrivate { bucket, key, .. } => {
                let name = format!("{bucket}/{key}");
                let object = observed
                    .objects
                    .get_mut(&name)
                    .ok_or_else(|| format!("NoSuchKey: {name}"))?;
                object.public_grants.clear();
            }
        }
        Ok(Executed::default())
    }
}

#[cfg(test)]
impl crate::resources::simulated::Simulated for SiteFiles {
    fn simulate(
        op: &SiteOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        let observed = &mut world.observed;
        match op {
            SiteOp::Upload { bucket, files, .. } => {
                if !observed.buckets.contains_key(bucket) {
                    return Err(format!("NoSuchBucket: {bucket}"));
                }
                for file in files {
                    let object = ObservedObject {
                        etag: format!("\"{}\"", file.etag),
                        content_type: Some(file.content_type.clone()),
                        md5_metadata: Some(file.md5_hex.clone()),
                        public_grants: vec!["AllUsers:READ".to_string()],
                    };
                    simulated_put(observed, bucket, &file.key, object);
                }
            }
        }
        Ok(Executed::default())
    }
}

/// An object written to the simulated account: readable by its name and in its bucket's listing.
#[cfg(test)]
fn simulated_put(
    observed: &mut crate::resources::ObservedState,
    bucket: &str,
    key: &str,
    object: ObservedObject,
) {
    observed
        .objects
        .insert(format!("{bucket}/{key}"), object.clone());
    observed
        .listings
        .entry(bucket.to_string())
        .or_default()
        .insert(key.to_string(), object);
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
            region: "us-east-1".into(),
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
                region: desired.region.clone(),
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
        // One folder a call: the tests run at once.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "provision-site-{}-{}",
            std::process::id(),
            CALLS.fetch_add(1, Ordering::Relaxed)
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
    fn a_large_file_s_etag_is_the_one_s3_gives_its_multipart_upload() {
        let dir = site_dir(&[("small.txt", "x")]);
        // Two full parts and a short one.
        let size = 2 * PART_SIZE as usize + 5;
        let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("big.bin"), &bytes).expect("write");
        let scan = scan_site(&dir, false, "dragons.json").expect("scans");
        let big = scan.files.iter().find(|f| f.key == "big.bin").expect("big");
        assert_eq!(big.size, size as u64);
        assert_eq!(big.md5_hex, md5_hex(&bytes));
        let parts: Vec<[u8; 16]> = bytes
            .chunks(PART_SIZE as usize)
            .map(|c| Md5::digest(c).into())
            .collect();
        assert_eq!(big.part_md5s, parts);
        let joined: Vec<u8> = parts.concat();
        assert_eq!(big.etag, format!("{}-3", md5_hex(&joined)));
        let small = scan
            .files
            .iter()
            .find(|f| f.key == "small.txt")
            .expect("small");
        assert!(small.part_md5s.is_empty());
        assert_eq!(small.etag, md5_hex(b"x"));
        // A listing that shows the multipart ETag is the same content: nothing to upload.
        let listed = ObservedObject {
            etag: format!("\"{}\"", big.etag),
            ..Default::default()
        };
        assert!(big.is_in(&listed));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn the_site_scan_refuses_fifos_devices_and_names_with_newlines() {
        let dir = site_dir(&[("index.html", "<html>"), ("a/b.css", "x")]);
        let fifo = dir.join("a/pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        let error = scan_site(&dir, false, "dragons.json").expect_err("a FIFO");
        assert!(
            error.message().contains("is a FIFO (named pipe)"),
            "{error}"
        );
        assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        std::fs::remove_file(&fifo).expect("remove");
        std::os::unix::fs::symlink("/dev/null", dir.join("a/null")).expect("link");
        let error = scan_site(&dir, false, "dragons.json").expect_err("outside");
        assert!(error.message().contains("outside"), "{error}");
        std::fs::remove_file(dir.join("a/null")).expect("remove");
        std::fs::write(dir.join("two\nlines.html"), "x").expect("write");
        let error = scan_site(&dir, false, "dragons.json").expect_err("a newline");
        assert!(error.message().contains("newline"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_swapped_after_planning_is_not_opened_for_upload() {
        let dir = site_dir(&[("index.html", "<html>"), ("app.js", "1")]);
        let scan = scan_site(&dir, false, "dragons.json").expect("scans");
        let index = scan
            .files
            .iter()
            .find(|f| f.key == "index.html")
            .expect("index");
        assert!(open_planned(index).is_ok(), "the planned file opens");
        // Replaced by a link to a private file: refused, whether or not it is followed.
        let secret = dir.with_extension("private");
        std::fs::write(&secret, "<html>").expect("write");
        std::fs::remove_file(dir.join("index.html")).expect("remove");
        std::os::unix::fs::symlink(&secret, dir.join("index.html")).expect("link");
        let error = open_planned(index).expect_err("a link now");
        assert!(
            error.message().contains("changed after the plan was made"),
            "{error}"
        );
        // Replaced by another regular file of the same size: another inode.
        std::fs::remove_file(dir.join("index.html")).expect("remove");
        std::fs::write(dir.join("other"), "<html>").expect("write");
        std::fs::rename(dir.join("other"), dir.join("index.html")).expect("rename");
        let error = open_planned(index).expect_err("another file");
        assert!(
            error.message().contains("another file is at its path"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&secret);
    }

    #[test]
    fn site_files_upload_only_what_changed() {
        let file = |key: &str, md5: &str| SiteFile {
            size: 10,
            md5_hex: md5.into(),
            etag: md5.into(),
            ..SiteFile::of_bytes(key, key, "text/html", b"")
        };
        let desired = DesiredSite {
            bucket: "lab".into(),
            region: "us-east-1".into(),
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
