//! The shared AWS config and credentials files, read and edited the way the AWS CLI and SDKs read
//! them: INI sections, `key = value` settings, `#`/`;` comments, indented continuation lines (nested
//! settings such as `s3 =`). Editing keeps every other line byte for byte — other profiles, their
//! comments, blank lines and order — and replaces one section's settings in place.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::local_file;

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
    /// The file's line ending (`\r\n` for a file written on Windows), kept when it is rewritten.
    crlf: bool,
}

/// Both shared files, read once per run and checked as the SDK will read them.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedFiles {
    pub(crate) config: ProfileFile,
    pub(crate) credentials: ProfileFile,
}

impl SharedFiles {
    /// Reads and checks both files (see [`ProfileFile::read`]) before the SDK reads them.
    pub(crate) fn load() -> Result<Self, Error> {
        Ok(Self {
            config: ProfileFile::load(Kind::Config)?,
            credentials: ProfileFile::load(Kind::Credentials)?,
        })
    }

    /// The profiles the two files define.
    pub(crate) fn profiles(&self) -> std::collections::BTreeSet<String> {
        self.config
            .profiles()
            .into_iter()
            .chain(self.credentials.profiles())
            .collect()
    }

    /// A profile's settings from both files, as the CLI merges them (the credentials file's
    /// values win); `None` when neither defines it.
    pub(crate) fn settings(&self, profile: &str) -> Option<BTreeMap<String, String>> {
        let from_config = self.config.settings(profile);
        let from_credentials = self.credentials.settings(profile);
        if from_config.is_none() && from_credentials.is_none() {
            return None;
        }
        let mut settings = from_config.unwrap_or_default();
        settings.extend(from_credentials.unwrap_or_default());
        Some(settings)
    }
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
            crlf: text.find('\n').is_some_and(|at| text[..at].ends_with('\r')),
        }
    }

    /// Reads the file (one that does not exist, or the null device, is empty) and checks it as the
    /// SDK parses it, so that a malformed file is named with its line — exit 2 — before the SDK
    /// reads it and says only "could not parse profile file", or finds no region in it.
    pub(crate) fn read(kind: Kind, path: &Path) -> Result<Self, Error> {
        let what = format!("the AWS {} file", kind.describe());
        let hint = match kind {
            Kind::Config => "fix the file, or point AWS_CONFIG_FILE at another",
            Kind::Credentials => "fix the file, or point AWS_SHARED_CREDENTIALS_FILE at another",
        };
        let read = || -> Result<Self, Error> {
            let Some(bytes) = local_file::read_if_exists(path, &what, local_file::AWS_FILE_LIMIT)?
            else {
                return Ok(Self::parse(kind, ""));
            };
            let text = local_file::text(bytes, &what, path)?;
            if let Some((line, problem)) = syntax_error(&text) {
                return Err(Error::usage(format!(
                    "{what} {} is malformed on line {line}: {problem}",
                    path.display()
                )));
            }
            Ok(Self::parse(kind, &text))
        };
        read().map_err(|error| error.with_hint(hint))
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

    /// The file's text, with its own line endings.
    pub(crate) fn text(&self) -> String {
        let newline = if self.crlf { "\r\n" } else { "\n" };
        let mut text = self.lines.join(newline);
        if !text.is_empty() {
            text.push_str(newline);
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

/// The first line the SDK's profile parser refuses, and why (aws-runtime's `env_config::parse`,
/// which every AWS SDK's parser follows: sections in `[...]`, `key = value` settings inside a
/// section, indented continuation lines under a setting, the sub-settings of a setting with an
/// empty value each `key = value`). Only spaces and tabs are white space there.
pub(crate) fn syntax_error(text: &str) -> Option<(usize, &'static str)> {
    const WHITESPACE: &[char] = &[' ', '\t'];
    // Where the parser stands: before any section, in a section, under a setting (with an
    // empty value: its continuation lines are sub-settings).
    enum At {
        Start,
        Section,
        Setting { nested: bool },
    }
    let mut at = At::Start;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim_matches(WHITESPACE).is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if line.starts_with('[') {
            let header = strip_comment(line, false);
            if !header.ends_with(']') {
                return Some((number, "a section header must end with `]`"));
            }
            at = At::Section;
        } else if line.starts_with(WHITESPACE) {
            match at {
                At::Start => {
                    return Some((number, "an indented line comes before any [section] header"));
                }
                At::Section => {
                    return Some((
                        number,
                        "an indented (continuation) line has no setting above it",
                    ));
                }
                At::Setting { nested: true } => {
                    if let Some(problem) = setting_error(line) {
                        return Some((number, problem));
                    }
                }
                At::Setting { nested: false } => {}
            }
        } else {
            if matches!(at, At::Start) {
                return Some((number, "a setting comes before any [section] header"));
            }
            if let Some(problem) = setting_error(line) {
                return Some((number, problem));
            }
            let value = strip_comment(line, true)
                .split_once('=')
                .map_or("", |(_, value)| value.trim_matches(WHITESPACE));
            at = At::Setting {
                nested: value.is_empty(),
            };
        }
    }
    None
}

/// What is wrong with a `key = value` line, if anything.
fn setting_error(line: &str) -> Option<&'static str> {
    let line = strip_comment(line, true);
    let Some((key, _)) = line.split_once('=') else {
        return Some("a setting must have the form `key = value` (there is no `=`)");
    };
    key.trim_matches([' ', '\t'])
        .is_empty()
        .then_some("a setting has no name before its `=`")
}

/// A line without its surrounding white space and its comment: `#` or `;` anywhere in a section
/// header, and after white space in a setting.
fn strip_comment(line: &str, needs_whitespace: bool) -> &str {
    let line = line.trim_matches([' ', '\t']);
    let mut previous_whitespace = false;
    for (at, c) in line.char_indices() {
        if (c == '#' || c == ';') && (previous_whitespace || !needs_whitespace) {
            return line[..at].trim_matches([' ', '\t']);
        }
        previous_whitespace = c.is_whitespace();
    }
    line
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
pub(crate) fn write_atomically(path: &Path, text: impl AsRef<[u8]>) -> std::io::Result<()> {
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
        file.write_all(text.as_ref())?;
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

    #[test]
    fn what_the_sdk_refuses_is_found_with_its_line() {
        for (text, line, why) in [
            ("region = us-east-1\n", 1, "before any [section]"),
            ("[default]\nregion\n", 2, "no `=`"),
            ("[default]\n= us-east-1\n", 2, "no name"),
            ("[default\nregion = x\n", 1, "must end with `]`"),
            ("# c\n[default]\n  indented = 1\n", 3, "no setting above it"),
            ("[default]\ns3 =\n  bad line\n", 3, "no `=`"),
            ("  x = 1\n", 1, "before any [section]"),
        ] {
            assert_eq!(syntax_error(text).map(|(l, _)| l), Some(line), "{text:?}");
            assert!(
                syntax_error(text).is_some_and(|(_, w)| w.contains(why)),
                "{text:?}"
            );
        }
        for good in [
            CREDENTIALS,
            "",
            "[default] ; note\nregion = us-east-1 # note\n\n[profile a]\nregion=x\n",
            "[default]\ns3 =\n  max_concurrent_requests = 4\n\n  addressing_style = path\n",
            "[default]\nregion = a\n  continued\n",
            "[default]\r\nregion = us-east-1\r\n",
        ] {
            assert_eq!(syntax_error(good), None, "{good:?}");
        }
    }

    #[test]
    fn a_file_with_crlf_line_endings_keeps_them() {
        let mut file = ProfileFile::parse(
            Kind::Credentials,
            "[default]\r\naws_access_key_id = A\r\n\r\n[old]\r\nx = 1\r\n",
        );
        assert_eq!(file.settings("default").unwrap()["aws_access_key_id"], "A");
        file.set_profile("mfa", &["y = 2".to_string()]);
        assert_eq!(
            file.text(),
            "[default]\r\naws_access_key_id = A\r\n\r\n[old]\r\nx = 1\r\n\r\n[mfa]\r\ny = 2\r\n"
        );
        let mut unix = ProfileFile::parse(Kind::Credentials, "[default]\nx = 1\n");
        unix.set_profile("mfa", &["y = 2".to_string()]);
        assert!(!unix.text().contains('\r'));
    }

    #[cfg(unix)]
    #[test]
    fn a_malformed_file_is_named_with_its_line_before_the_sdk_reads_it() {
        let dir = std::env::temp_dir().join(format!("provision-malformed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config");
        std::fs::write(&path, "[default]\nregion = us-east-1\noops\n").unwrap();
        let error = ProfileFile::read(Kind::Config, &path).unwrap_err();
        assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        assert!(
            error.message().contains(&path.display().to_string()),
            "{error}"
        );
        assert!(error.message().contains("malformed on line 3"), "{error}");
        assert!(error.hints()[0].contains("AWS_CONFIG_FILE"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
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
