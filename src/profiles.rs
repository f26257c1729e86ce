//! The shared AWS config and credentials files, read and edited the way the AWS CLI and SDKs read
//! them: INI sections, `key = value` settings, `#`/`;` comments, indented continuation lines (nested
//! settings such as `s3 =`). Editing keeps every other line byte for byte — other profiles, their
//! comments, blank lines and order — and replaces one section's settings in place.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The first line Cloud9 writes into the credentials file it manages (and rewrites every few
/// minutes: whatever else is written there is lost).
pub(crate) const CLOUD9_MANAGED_HEADER: &str =
    "# Do not modify this file, if this file is modified it will not be updated.";

/// Which of the two shared files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `AWS_CONFIG_FILE`, else `~/.aws/config`: profiles are `[profile NAME]` and `[default]`.
    Config,
    /// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`: every section is a profile.
    Credentials,
}

impl Kind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Config => "config",
            Kind::Credentials => "credentials",
        }
    }

    /// The file's path, as the CLI finds it; `None` when there is no home directory to find it in.
    pub(crate) fn path(self) -> Option<PathBuf> {
        let (variable, default) = match self {
            Kind::Config => ("AWS_CONFIG_FILE", ".aws/config"),
            Kind::Credentials => ("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
        };
        match std::env::var(variable) {
            Ok(path) if !path.is_empty() => match path.strip_prefix("~/") {
                Some(rest) => home_dir().map(|home| home.join(rest)),
                None => Some(PathBuf::from(path)),
            },
            _ => home_dir().map(|home| home.join(default)),
        }
    }

    /// The profile a section header names, if it names one.
    fn profile_of(self, header: &str) -> Option<String> {
        match self {
            Kind::Credentials => (!header.is_empty()).then(|| header.to_string()),
            Kind::Config if header == "default" => Some(header.to_string()),
            Kind::Config => {
                let name = header.strip_prefix("profile")?;
                // `[profile NAME]`: the word, white space, the name.
                (name.starts_with(char::is_whitespace) && !name.trim().is_empty())
                    .then(|| name.trim().to_string())
            }
        }
    }

    /// The section header of a profile in this file.
    fn header_of(self, profile: &str) -> String {
        match self {
            Kind::Config if profile != "default" => format!("[profile {profile}]"),
            _ => format!("[{profile}]"),
        }
    }
}

pub(crate) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
}

/// One shared file's lines, kept as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProfileFile {
    kind: Option<Kind>,
    lines: Vec<String>,
}

/// Where one profile's section is: its header line, and the end of its settings (the next header,
/// less the blank and comment lines just above it, which belong to what follows).
#[derive(Debug, Clone, Copy)]
struct Span {
    header: usize,
    end: usize,
}

impl ProfileFile {
    pub(crate) fn parse(kind: Kind, text: &str) -> Self {
        Self {
            kind: Some(kind),
            lines: text.lines().map(str::to_string).collect(),
        }
    }

    /// Reads the file; one that does not exist is empty.
    pub(crate) fn read(kind: Kind, path: &Path) -> Result<Self, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self::parse(kind, &text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::parse(kind, "")),
            Err(e) => Err(Error::usage(format!(
                "the AWS {} file {} could not be read",
                kind.describe(),
                path.display()
            ))
            .with_cause(e.to_string())
            .with_hint(
                "fix the file, or point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE elsewhere",
            )),
        }
    }

    /// Reads this kind's file where the CLI would find it (empty when there is none).
    pub(crate) fn load(kind: Kind) -> Result<Self, Error> {
        match kind.path() {
            Some(path) => Self::read(kind, &path),
            None => Ok(Self::parse(kind, "")),
        }
    }

    fn kind(&self) -> Kind {
        self.kind.unwrap_or(Kind::Credentials)
    }

    pub(crate) fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }

    /// Whether this is the credentials file Cloud9 manages (its first line is Cloud9's header).
    pub(crate) fn is_cloud9_managed(&self) -> bool {
        self.lines
            .iter()
            .find(|line| !line.trim().is_empty())
            .is_some_and(|line| line.trim_start().starts_with(CLOUD9_MANAGED_HEADER))
    }

    fn header(line: &str) -> Option<&str> {
        let line = line.trim();
        let inner = line.strip_prefix('[')?;
        Some(inner.split(']').next()?.trim())
    }

    /// The profiles this file defines, in order.
    pub(crate) fn profiles(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|line| Self::header(line))
            .filter_map(|header| self.kind().profile_of(header))
            .collect()
    }

    fn span(&self, profile: &str) -> Option<Span> {
        // The last definition wins, as in the CLI.
        let header = self.lines.iter().rposition(|line| {
            Self::header(line)
                .and_then(|h| self.kind().profile_of(h))
                .as_deref()
                == Some(profile)
        })?;
        let next = self.lines[header + 1..]
            .iter()
            .position(|line| Self::header(line).is_some())
            .map_or(self.lines.len(), |i| header + 1 + i);
        let mut end = next;
        if next < self.lines.len() {
            while end > header + 1 && is_blank_or_comment(&self.lines[end - 1]) {
                end -= 1;
            }
        }
        Some(Span { header, end })
    }

    /// A profile's settings (top-level keys; nested blocks are skipped), `None` if undefined.
    pub(crate) fn settings(&self, profile: &str) -> Option<BTreeMap<String, String>> {
        let span = self.span(profile)?;
        let mut settings = BTreeMap::new();
        for line in &self.lines[span.header + 1..span.end] {
            if is_blank_or_comment(line) || line.starts_with(char::is_whitespace) {
                continue;
            }
            if let Some((key, value)) = line.split_once('=') {
                settings.insert(
                    key.trim().to_ascii_lowercase(),
                    strip_inline_comment(value.trim()).to_string(),
                );
            }
        }
        Some(settings)
    }

    /// The comments inside a profile's section.
    pub(crate) fn comments(&self, profile: &str) -> Vec<String> {
        self.span(profile)
            .map(|span| {
                self.lines[span.header + 1..span.end]
                    .iter()
                    .filter_map(|line| {
                        let line = line.trim();
                        line.strip_prefix('#')
                            .or_else(|| line.strip_prefix(';'))
                            .map(|c| c.trim().to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Replaces a profile's section body with `body` (comment and setting lines), in place; a
    /// profile not yet defined is added at the end. Every other line stays as it was.
    pub(crate) fn set_profile(&mut self, profile: &str, body: &[String]) {
        match self.span(profile) {
            Some(span) => {
                self.lines
                    .splice(span.header + 1..span.end, body.iter().cloned());
            }
            None => {
                if self
                    .lines
                    .last()
                    .is_some_and(|line| !line.trim().is_empty())
                {
                    self.lines.push(String::new());
                }
                self.lines.push(self.kind().header_of(profile));
                self.lines.extend(body.iter().cloned());
            }
        }
    }
}

fn is_blank_or_comment(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#') || line.starts_with(';')
}

/// `value # note` → `value`: the CLI treats ` #` and ` ;` after a value as a comment.
fn strip_inline_comment(value: &str) -> &str {
    [" #", "\t#", " ;", "\t;"]
        .iter()
        .filter_map(|marker| value.find(marker))
        .min()
        .map_or(value, |at| value[..at].trim_end())
}

/// Writes `text` to `path` atomically: a temporary file beside it, mode 0600 from its creation,
/// flushed to disk, then renamed over the old file — a reader sees the old file or the new one,
/// never half of one, and an interruption leaves the old file. The directory is created (0700) if
/// it does not exist.
pub(crate) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "credentials".to_string());
    let temporary = dir.join(format!(".{name}.provision-{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "\
# my keys
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = secret ; inline note

; the course account
[course]
aws_access_key_id=AKIACOURSE
aws_secret_access_key=s2
s3 =
  max_concurrent_requests = 4

[course-mfa]
# written by provision session from profile course, expires 2026-01-01T00:00:00Z
aws_access_key_id = ASIAOLD
aws_secret_access_key = old
aws_session_token = oldtoken
";

    #[test]
    fn settings_and_comments_are_read_as_the_cli_reads_them() {
        let file = ProfileFile::parse(Kind::Credentials, CREDENTIALS);
        assert_eq!(file.profiles(), ["default", "course", "course-mfa"]);
        let default = file.settings("default").unwrap();
        assert_eq!(default["aws_secret_access_key"], "secret");
        let course = file.settings("course").unwrap();
        assert_eq!(course["aws_access_key_id"], "AKIACOURSE");
        assert_eq!(course["s3"], "");
        assert!(!course.contains_key("max_concurrent_requests"));
        assert_eq!(
            file.comments("course-mfa"),
            ["written by provision session from profile course, expires 2026-01-01T00:00:00Z"]
        );
        assert!(file.settings("other").is_none());
    }

    #[test]
    fn config_profiles_are_profile_sections() {
        let file = ProfileFile::parse(
            Kind::Config,
            "[default]\nregion = us-east-1\n[profile lab]\nmfa_serial = arn:aws:iam::1:mfa/a\n\
             [sso-session s]\nsso_region = x\n[profilex]\n",
        );
        assert_eq!(file.profiles(), ["default", "lab"]);
        assert_eq!(
            file.settings("lab").unwrap()["mfa_serial"],
            "arn:aws:iam::1:mfa/a"
        );
    }

    #[test]
    fn replacing_a_section_keeps_every_other_line() {
        let mut file = ProfileFile::parse(Kind::Credentials, CREDENTIALS);
        file.set_profile("course", &["aws_access_key_id = NEW".to_string()]);
        let text = file.text();
        assert!(text.starts_with("# my keys\n[default]\naws_access_key_id = AKIADEFAULT\n"));
        // The comment above the next section stays with it.
        assert!(text.contains("[course]\naws_access_key_id = NEW\n\n[course-mfa]\n"));
        assert!(text.contains("; the course account\n[course]"));
        assert!(text.ends_with("aws_session_token = oldtoken\n"));
    }

    #[test]
    fn a_comment_before_the_next_section_stays_with_it() {
        let mut file = ProfileFile::parse(Kind::Credentials, CREDENTIALS);
        file.set_profile("default", &["aws_access_key_id = X".to_string()]);
        assert!(file.text().starts_with(
            "# my keys\n[default]\naws_access_key_id = X\n\n; the course account\n[course]\n"
        ));
    }

    #[test]
    fn a_new_profile_is_added_at_the_end_after_a_blank_line() {
        let mut file = ProfileFile::parse(Kind::Credentials, "[default]\nx = 1");
        file.set_profile("mfa", &["y = 2".to_string()]);
        assert_eq!(file.text(), "[default]\nx = 1\n\n[mfa]\ny = 2\n");
        let mut empty = ProfileFile::parse(Kind::Credentials, "");
        empty.set_profile("mfa", &["y = 2".to_string()]);
        assert_eq!(empty.text(), "[mfa]\ny = 2\n");
        let mut config = ProfileFile::parse(Kind::Config, "");
        config.set_profile("mfa", &["region = eu-west-1".to_string()]);
        assert_eq!(config.text(), "[profile mfa]\nregion = eu-west-1\n");
    }

    #[test]
    fn the_cloud9_managed_file_is_told_by_its_header() {
        let managed = "# Do not modify this file, if this file is modified it will not be updated. \
                       If the file is deleted, it will be recreated on Tue May 25 2021.\n# 0123 #\n\n\
                       [default]\naws_access_key_id = ASIA\n";
        let read = |text: &str| ProfileFile::parse(Kind::Credentials, text).is_cloud9_managed();
        assert!(read(managed));
        assert!(read(&format!("\n{CLOUD9_MANAGED_HEADER}\n[default]\n")));
        assert!(!read(CREDENTIALS));
        assert!(!read(
            "[default]\n# Do not modify this file, if this file is modified it will not be updated.\n"
        ));
    }

    #[test]
    fn profiles_are_the_sections_the_cli_reads() {
        let config = "[default]\nregion = us-east-1\n\n[profile course] # the course's\n\
                      region = ca-central-1\n[sso-session school]\nsso_region = us-east-1\n\
                      [services local]\n[profilex]\n  [profile   spaced  ]\n";
        assert_eq!(
            ProfileFile::parse(Kind::Config, config).profiles(),
            ["default", "course", "spaced"]
        );
        let credentials = "[default]\naws_access_key_id = A\n[admin]\n; comment\n[]\n";
        assert_eq!(
            ProfileFile::parse(Kind::Credentials, credentials).profiles(),
            ["default", "admin"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_are_written_whole_with_mode_0600_in_a_new_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("provision-profiles-{}", std::process::id()));
        let path = dir.join("aws").join("credentials");
        write_atomically(&path, "[a]\n").unwrap();
        write_atomically(&path, "[b]\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[b]\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
