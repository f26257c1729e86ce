//! Every local file provision reads: the shared AWS config and credentials files, `--accounts`,
//! policy templates, the lab data and the site's files. Each must be a regular file — a FIFO, a
//! device, a socket or a directory is refused with exit 2 before a byte is read, so that no read
//! waits for ever (the file is opened with `O_NONBLOCK`, which makes opening a FIFO return at
//! once) — and each is read up to a documented limit, refused with exit 2 beyond it, so that no
//! input can grow the run's memory. The null device reads as empty: `AWS_CONFIG_FILE=/dev/null`
//! is a common way to say "no file".

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

use crate::error::Error;

/// The shared AWS config and credentials files: a few kilobytes in practice.
pub(crate) const AWS_FILE_LIMIT: u64 = 1 << 20;
/// `--accounts FILE`: 50,000 role ARNs of 80 characters fit.
pub(crate) const ACCOUNTS_LIMIT: u64 = 4 << 20;
/// A policy template (`--policy`, `--trust-policy`): IAM allows an inline role policy of 10,240
/// characters and a trust policy of at most 4,096 ("IAM and AWS STS quotas", IAM User Guide), so
/// a template many times that is not a policy.
pub(crate) const POLICY_LIMIT: u64 = 64 << 10;
/// The lab data (`--data`): the lab application S3-Selects the whole document as one record, and
/// S3 Select refuses a record longer than 1 MiB ("Requirements and limits", Amazon S3 Select).
pub(crate) const DATA_LIMIT: u64 = 1 << 20;

/// How the last component of a path is treated when opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    /// A symbolic link is followed to its target (the user's own files: dotfiles kept elsewhere).
    Follow,
    /// A symbolic link is refused (`O_NOFOLLOW`): what is opened is the file that was planned.
    Refuse,
}

/// A regular file, opened for reading.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) file: File,
    pub(crate) metadata: Metadata,
}

/// What a path holds, in words, when it is not a regular file.
fn not_regular(metadata: &Metadata) -> Option<&'static str> {
    (!metadata.file_type().is_file()).then(|| kind_of(metadata))
}

/// What a path holds, in words: `a regular file`, `a FIFO (named pipe)`, `a character device`.
pub(crate) fn kind_of(metadata: &Metadata) -> &'static str {
    let kind = metadata.file_type();
    if kind.is_file() {
        return "a regular file";
    }
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_symlink() {
        return "a symbolic link";
    }
    "not a regular file"
}

/// Whether `metadata` is the null device's (`/dev/null`), which reads as empty.
fn is_null_device(metadata: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        metadata.file_type().is_char_device()
            && std::fs::metadata("/dev/null").is_ok_and(|null| null.rdev() == metadata.rdev())
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        false
    }
}

/// The error for `path`, which holds `kind` instead of a regular file.
pub(crate) fn not_a_file_error(what: &str, path: &Path, kind: &str) -> Error {
    Error::usage(format!(
        "{what} {} is {kind}, not a regular file",
        path.display()
    ))
    .with_cause("provision reads only regular files, so that no read can wait for ever")
}

/// What opening `path` means for its reader: opened, absent, or an error already worded.
pub(crate) enum Open {
    File(Opened),
    /// Nothing there (or the null device).
    Absent,
}

/// Opens `path` for reading without blocking and checks it is a regular file.
pub(crate) fn open(path: &Path, what: &str, links: Links) -> Result<Open, Error> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
        if links == Links::Refuse {
            flags |= libc::O_NOFOLLOW;
        }
        options.custom_flags(flags);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Open::Absent),
        #[cfg(unix)]
        Err(e) if links == Links::Refuse && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(not_a_file_error(what, path, "a symbolic link"));
        }
        Err(e) => {
            return Err(
                Error::usage(format!("cannot read {what} {}", path.display()))
                    .with_cause(e.to_string()),
            );
        }
    };
    let metadata = file.metadata().map_err(|e| {
        Error::usage(format!("cannot read {what} {}", path.display())).with_cause(e.to_string())
    })?;
    if is_null_device(&metadata) {
        return Ok(Open::Absent);
    }
    if let Some(kind) = not_regular(&metadata) {
        return Err(not_a_file_error(what, path, kind));
    }
    Ok(Open::File(Opened { file, metadata }))
}

/// The error for a file larger than `limit`.
fn too_large(what: &str, path: &Path, limit: u64) -> Error {
    Error::usage(format!(
        "{what} {} is larger than {}, the most provision reads",
        path.display(),
        size(limit)
    ))
}

/// Reads at most `limit` bytes of an opened file (a file that grew since it was opened is
/// refused too).
pub(crate) fn read_opened(
    opened: Opened,
    what: &str,
    path: &Path,
    limit: u64,
) -> Result<Vec<u8>, Error> {
    if opened.metadata.len() > limit {
        return Err(too_large(what, path, limit));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(opened.metadata.len()).unwrap_or(0));
    opened
        .file
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Error::usage(format!("cannot read {what} {}", path.display())).with_cause(e.to_string())
        })?;
    if bytes.len() as u64 > limit {
        return Err(too_large(what, path, limit));
    }
    Ok(bytes)
}

/// Reads `path` whole, if it exists: a regular file of at most `limit` bytes (the null device is
/// empty), following a symbolic link.
pub(crate) fn read_if_exists(
    path: &Path,
    what: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, Error> {
    match open(path, what, Links::Follow)? {
        Open::File(opened) => read_opened(opened, what, path, limit).map(Some),
        Open::Absent if path.exists() => Ok(Some(Vec::new())),
        Open::Absent => Ok(None),
    }
}

/// Reads `path` whole: it must exist.
pub(crate) fn read(path: &Path, what: &str, limit: u64) -> Result<Vec<u8>, Error> {
    read_if_exists(path, what, limit)?.ok_or_else(|| {
        Error::usage(format!("cannot read {what} {}", path.display()))
            .with_cause("no such file or directory")
    })
}

/// Reads `path` whole as UTF-8 text.
pub(crate) fn read_text(path: &Path, what: &str, limit: u64) -> Result<String, Error> {
    text(read(path, what, limit)?, what, path)
}

/// Bytes as UTF-8 text, or an error naming the file.
pub(crate) fn text(bytes: Vec<u8>, what: &str, path: &Path) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|e| {
        Error::usage(format!("{what} {} is not UTF-8 text", path.display()))
            .with_cause(e.to_string())
    })
}

/// `64 KiB`, `1 MiB`.
pub(crate) fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("provision-local-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn a_regular_file_is_read_up_to_its_limit() {
        let dir = dir("limit");
        let path = dir.join("f");
        std::fs::write(&path, "12345").expect("write");
        assert_eq!(read(&path, "the file", 5).expect("fits"), b"12345");
        let error = read(&path, "the file", 4).expect_err("too large");
        assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        assert!(error.message().contains("larger than 4 bytes"), "{error}");
        assert!(
            read_if_exists(&dir.join("none"), "x", 1)
                .expect("absent")
                .is_none()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_at_once_and_the_null_device_is_empty() {
        let dir = dir("fifo");
        let fifo = dir.join("fifo");
        let name = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("path");
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let error = read(&fifo, "the accounts file", 10).expect_err("a FIFO");
        assert!(
            error.message().contains("is a FIFO (named pipe)"),
            "{error}"
        );
        assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        let error = read(Path::new("/dev/zero"), "the data file", 10).expect_err("a device");
        assert!(error.message().contains("a character device"), "{error}");
        assert_eq!(
            read(Path::new("/dev/null"), "the config", 10).expect("empty"),
            b""
        );
        let error = read(&dir, "the policy file", 10).expect_err("a directory");
        assert!(error.message().contains("is a directory"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_is_refused_where_links_are() {
        let dir = dir("link");
        std::fs::write(dir.join("target"), "x").expect("write");
        std::os::unix::fs::symlink(dir.join("target"), dir.join("link")).expect("link");
        assert!(matches!(
            open(&dir.join("link"), "site file", Links::Follow),
            Ok(Open::File(_))
        ));
        let error = open(&dir.join("link"), "site file", Links::Refuse)
            .err()
            .expect("refused");
        assert!(error.message().contains("is a symbolic link"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sizes_are_written_in_their_unit() {
        assert_eq!(size(1 << 20), "1 MiB");
        assert_eq!(size(64 << 10), "64 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
