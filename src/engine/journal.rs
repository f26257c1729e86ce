//! Creates in flight, recorded on this machine before they are asked for — as Terraform records a
//! create in its state before it tags — so that a run stopped between asking and confirming (a
//! bucket made, its tags not yet applied by an endpoint that ignores CreateBucket's tags) leaves
//! a resource the re-run and teardown recognise as the caller's own, without `--adopt`.
//!
//! A create is begun before its request and ended when it is confirmed (the resource carries
//! provision's tags) or when it is known not to have happened, or the resource is deleted. What
//! is begun and never ended names a resource that may exist untagged: the journal's entry, with
//! the owner who began it, is the proof that it is provision's.
//!
//! The journal is `journal.json` in `PROVISION_STATE_DIR`, else `$XDG_STATE_HOME/provision`,
//! else `~/.local/state/provision` (`%LOCALAPPDATA%\provision` on Windows): one small JSON
//! document, rewritten atomically under a lock, so concurrent runs keep each other's entries.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::engine::plan::Kind;
use crate::error::Error;

/// One create begun and not yet ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// The resource's kind, as plans name it (`s3-bucket`).
    kind: String,
    name: String,
    /// The `provision:owner` of the run that began it.
    owner: String,
    /// Where it is made.
    region: String,
    /// When it was begun, in seconds since 1970.
    begun: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    version: u32,
    creates: Vec<Entry>,
}

const VERSION: u32 = 1;
const FILE: &str = "journal.json";
/// How long a run waits for another's hold on the journal (a read and a rewrite: milliseconds).
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The journal's directory.
pub(crate) fn directory() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("PROVISION_STATE_DIR") {
        return Some(dir);
    }
    if cfg!(windows) {
        return var("LOCALAPPDATA").map(|dir| dir.join("provision"));
    }
    var("XDG_STATE_HOME")
        .map(|dir| dir.join("provision"))
        .or_else(|| {
            crate::connection::profiles::home_dir().map(|home| home.join(".local/state/provision"))
        })
}

fn unwritable(dir: &Path, cause: impl std::fmt::Display) -> Error {
    Error::failed(format!(
        "the journal in {} could not be written, so nothing was created",
        dir.display()
    ))
    .with_cause(cause.to_string())
    .with_hint(
        "provision records a create there before it asks for it (so that an interrupted run can \
         be finished): make the folder writable, or set PROVISION_STATE_DIR to one that is",
    )
}

/// Reads the journal; a missing one is empty. An unreadable one is an error: what it holds may be
/// the only record of a half-made resource.
fn read(dir: &Path) -> Result<Document, Error> {
    let path = dir.join(FILE);
    let Some(bytes) =
        crate::local_file::read_if_exists(&path, "the journal", crate::local_file::AWS_FILE_LIMIT)?
    else {
        return Ok(Document::default());
    };
    if bytes.is_empty() {
        return Ok(Document::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::failed(format!("the journal {} is not readable", path.display()))
            .with_cause(e.to_string())
            .with_hint(
                "it records creates provision began; move it aside if you are sure none was \
                 interrupted",
            )
    })
}

/// Runs `change` on the journal under an exclusive lock, and writes it back atomically.
fn update(dir: &Path, change: impl FnOnce(&mut Vec<Entry>)) -> Result<(), Error> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| unwritable(dir, e))?;
    let _lock = Lock::take(dir)?;
    let mut document = read(dir)?;
    change(&mut document.creates);
    document.version = VERSION;
    let text = serde_json::to_string_pretty(&document).map_err(|e| unwritable(dir, e))?;
    crate::connection::profiles::write_atomically(&dir.join(FILE), &text)
        .map_err(|e| unwritable(dir, e))
}

/// An exclusive hold on the journal, released when dropped.
struct Lock {
    #[cfg(unix)]
    _file: std::fs::File,
}

impl Lock {
    fn take(dir: &Path) -> Result<Self, Error> {
        let path = dir.join("journal.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| unwritable(dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            let deadline = Instant::now() + LOCK_WAIT;
            loop {
                // SAFETY: flock on a descriptor this function owns.
                if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                    return Ok(Self { _file: file });
                }
                if Instant::now() > deadline {
                    return Err(unwritable(
                        dir,
                        format!(
                            "another provision run held {} for {}",
                            path.display(),
                            crate::error::seconds(LOCK_WAIT)
                        ),
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (file, Instant::now());
            Ok(Self {})
        }
    }
}

/// Records that the run of `owner` is about to create `name` of `kind` in `region`. Called
/// before the request: when it fails, the request is not sent.
pub(crate) fn begin(kind: Kind, name: &str, owner: &str, region: &str) -> Result<(), Error> {
    let dir = directory().ok_or_else(|| {
        unwritable(
            Path::new("(no home directory)"),
            "neither PROVISION_STATE_DIR, XDG_STATE_HOME nor HOME is set",
        )
    })?;
    let begun = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let kind = kind.to_string();
    update(&dir, |creates| {
        creates.retain(|e| !(e.kind == kind && e.name == name));
        creates.push(Entry {
            kind,
            name: name.to_string(),
            owner: owner.to_string(),
            region: region.to_string(),
            begun,
        });
    })
}

/// Records that the create of `name` is over: confirmed, known not to have happened, or the
/// resource deleted. Nothing depends on it succeeding (an entry left names a resource that is
/// tagged, or gone), so a failure is not an error of the run.
pub(crate) fn end(kind: Kind, name: &str) {
    let Some(dir) = directory() else {
        return;
    };
    if !dir.join(FILE).exists() {
        return;
    }
    let kind = kind.to_string();
    let _ = update(&dir, |creates| {
        creates.retain(|e| !(e.kind == kind && e.name == name));
    });
}

/// The resources `owner`'s runs on this machine began to create and did not see confirmed, as
/// (kind, name). A journal that cannot be read gives none (and the rule for what provision did
/// not tag applies: `--adopt`).
pub(crate) fn begun(owner: &str) -> BTreeSet<(String, String)> {
    directory()
        .and_then(|dir| read(&dir).ok())
        .map(|document| {
            document
                .creates
                .into_iter()
                .filter(|e| e.owner == owner)
                .map(|e| (e.kind, e.name))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: Kind = Kind::new("s3-bucket");

    #[test]
    fn a_create_begun_is_listed_for_its_owner_until_it_ends() {
        let dir = std::env::temp_dir().join(format!("provision-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        update(&dir, |creates| {
            creates.push(Entry {
                kind: BUCKET.to_string(),
                name: "lab".into(),
                owner: "alice".into(),
                region: "us-east-1".into(),
                begun: 1,
            });
        })
        .expect("written");
        let document = read(&dir).expect("read");
        assert_eq!(document.version, VERSION);
        assert_eq!(document.creates.len(), 1);
        // Another entry for the same resource replaces it; others stay.
        update(&dir, |creates| {
            creates.push(Entry {
                kind: BUCKET.to_string(),
                name: "other".into(),
                owner: "bob".into(),
                region: "eu-west-1".into(),
                begun: 2,
            });
        })
        .expect("written");
        update(&dir, |creates| creates.retain(|e| e.name != "lab")).expect("ended");
        let names: Vec<String> = read(&dir)
            .expect("read")
            .creates
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["other"]);
        std::fs::write(dir.join(FILE), "{not json").expect("write");
        assert!(
            read(&dir).is_err(),
            "an unreadable journal is not silently empty"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
