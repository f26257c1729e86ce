//! The only place that writes to stdout or stderr, and the owner of every progress bar.
//!
//! stdout carries data only (the plan, the summary, `--output json`'s single document); progress,
//! warnings and errors go to stderr. Progress bars are drawn only when stderr is a terminal, in
//! human mode, and not with `--quiet`; output reads the same without colour.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::engine::apply::{Event, Outcome, Progress};
use crate::engine::plan::{Action, Change, ResourceId, Summary};
use crate::error::Error;
use crate::settings::OutputFormat;

/// The version of every `--output json` document's shape (`schema/provision.schema.json`):
/// raised when a field changes meaning or goes away; adding a field keeps it.
pub(crate) const SCHEMA_VERSION: u32 = 1;

#[derive(Clone)]
pub(crate) struct Printer {
    format: OutputFormat,
    quiet: bool,
    verbose: bool,
    /// Whether bars are drawn (a terminal on stderr, human mode, not quiet).
    animated: bool,
    multi: MultiProgress,
}

impl Printer {
    pub(crate) fn new(format: OutputFormat, quiet: bool, verbose: bool) -> Self {
        let animated = format == OutputFormat::Human && !quiet && std::io::stderr().is_terminal();
        let target = if animated {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            format,
            quiet,
            verbose,
            animated,
            multi: MultiProgress::with_draw_target(target),
        }
    }

    /// The terminal's width, when stdout is a terminal (human tables shorten to it).
    pub(crate) fn terminal_width(&self) -> Option<usize> {
        if !std::io::stdout().is_terminal() {
            return None;
        }
        let (_, columns) = console::Term::stdout().size_checked()?;
        Some(usize::from(columns))
    }

    pub(crate) fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Text on stdout as it is, in every mode: a document of its own format (a template).
    pub(crate) fn raw(&self, text: &str) {
        self.multi.suspend(|| {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            if !text.ends_with('\n') {
                let _ = writeln!(stdout);
            }
        });
    }

    /// A line of data on stdout (human mode only; JSON mode prints one document instead). Its
    /// colours (see [`paint`]) reach a terminal only, unless `--color` says otherwise.
    pub(crate) fn data(&self, line: impl AsRef<str>) {
        if self.is_json() {
            return;
        }
        let line = line.as_ref();
        self.multi.suspend(|| {
            let mut stdout = anstream::stdout().lock();
            // A closed pipe (`provision ... | head`) is not an error worth a panic.
            let _ = writeln!(stdout, "{line}");
        });
    }

    /// The single JSON document of `--output json`.
    pub(crate) fn json<T: Serialize>(&self, document: &T) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(document).map_err(|e| {
            Error::failed("could not serialize the JSON output").with_cause(e.to_string())
        })?;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        Ok(())
    }

    /// Something the user should know, on stderr; shown unless `--quiet`.
    pub(crate) fn warn(&self, message: impl AsRef<str>) {
        if !self.quiet {
            self.stderr(&format!(
                "{} {}",
                paint(WARNING, "warning:"),
                message.as_ref()
            ));
        }
    }

    /// Detail shown only with `--verbose`.
    pub(crate) fn debug(&self, message: impl AsRef<str>) {
        if self.verbose {
            self.stderr(message.as_ref());
        }
    }

    /// Asks on stderr and reads one line from stdin.
    pub(crate) fn prompt(&self, question: &str) -> Option<String> {
        self.multi.suspend(|| {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "{question}");
            let _ = stderr.flush();
        });
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).ok()?;
        Some(answer)
    }

    /// Removes every progress line still drawn (the run is ending early).
    pub(crate) fn clear(&self) {
        let _ = self.multi.clear();
    }

    /// An error: `error:` in red, each `hint:` in cyan.
    pub(crate) fn error(&self, error: &Error) {
        let text: Vec<String> = error
            .to_string()
            .lines()
            .map(|line| {
                if let Some(rest) = line.strip_prefix("error:") {
                    format!("{}{rest}", paint(ERROR, "error:"))
                } else if let Some(rest) = line.strip_prefix("hint:") {
                    format!("{}{rest}", paint(HINT, "hint:"))
                } else {
                    line.to_string()
                }
            })
            .collect();
        self.stderr(&text.join("\n"));
    }

    fn stderr(&self, text: &str) {
        self.multi.suspend(|| {
            let mut stderr = anstream::stderr().lock();
            let _ = writeln!(stderr, "{text}");
        });
    }

    /// A ticking spinner line, or a hidden bar when nothing is drawn.
    fn spinner(&self) -> ProgressBar {
        if !self.animated {
            return ProgressBar::hidden();
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }

    /// A bar of `total` bytes, or a hidden bar when nothing is drawn.
    fn bar(&self, total: u64) -> ProgressBar {
        if !self.animated {
            return ProgressBar::hidden();
        }
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {elapsed:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    }

    /// Ends a progress line with `mark` and `message` (left on screen), or logs it with
    /// `--verbose` when nothing is drawn. `abandon` marks it as not completed.
    fn end_line(&self, bar: &ProgressBar, mark: &str, message: String, abandon: bool) {
        if !self.animated {
            self.debug(format!("{mark} {message}"));
            return;
        }
        bar.set_style(
            ProgressStyle::with_template(&format!("{mark} {{msg}}"))
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        if abandon {
            bar.abandon_with_message(message);
        } else {
            bar.finish_with_message(message);
        }
    }

    /// A spinner line for one step; `finish` leaves its final message in place.
    pub(crate) fn step(&self, message: impl Into<String>) -> Step {
        let message = message.into();
        let bar = self.spinner();
        bar.set_message(message.clone());
        Step {
            bar,
            printer: self.clone(),
            message,
        }
    }
}

/// Created (green), updated (yellow), deleted and errors (red), hints (cyan), warnings (yellow).
const CREATE: anstyle::Style = anstyle::AnsiColor::Green.on_default();
const UPDATE: anstyle::Style = anstyle::AnsiColor::Yellow.on_default();
const DELETE: anstyle::Style = anstyle::AnsiColor::Red.on_default();
const ERROR: anstyle::Style = anstyle::AnsiColor::Red.on_default().bold();
const HINT: anstyle::Style = anstyle::AnsiColor::Cyan.on_default();
const WARNING: anstyle::Style = anstyle::AnsiColor::Yellow.on_default().bold();

/// `text` in `style`; the escapes are dropped on the way out where colour is off.
pub(crate) fn paint(style: anstyle::Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// A plan line with its symbol and action coloured by action.
pub(crate) fn painted_change<Op>(change: &Change<Op>) -> String {
    let line = change.line();
    let style = match change.action {
        Action::Create => CREATE,
        Action::Update => UPDATE,
        Action::Delete => DELETE,
        Action::Unchanged => return line,
    };
    // "+ create    …": the symbol and the padded action come first.
    let split = line.char_indices().nth(11).map_or(line.len(), |(i, _)| i);
    format!("{}{}", paint(style, &line[..split]), &line[split..])
}

/// A plan's counts, each in its action's colour when not zero.
pub(crate) fn painted_summary(summary: &Summary) -> String {
    let part = |count: usize, word: &str, style: anstyle::Style| {
        let text = format!("{count} {word}");
        if count == 0 {
            text
        } else {
            paint(style, &text)
        }
    };
    let mut line = format!(
        "{}, {}, {} unchanged",
        part(summary.created, "created", CREATE),
        part(summary.updated, "updated", UPDATE),
        summary.unchanged
    );
    if summary.deleted > 0 {
        line.push_str(&format!(", {}", part(summary.deleted, "deleted", DELETE)));
    }
    line
}

/// One line of progress.
pub(crate) struct Step {
    bar: ProgressBar,
    printer: Printer,
    message: String,
}

impl Step {
    /// Updates the line while waiting (e.g. "retrying in 4s").
    pub(crate) fn set_message(&mut self, message: impl Into<String>) {
        self.message = message.into();
        self.bar.set_message(self.message.clone());
        self.printer.debug(format!("  … {}", self.message));
    }

    pub(crate) fn finish(self, message: impl Into<String>) {
        self.printer.end_line(&self.bar, "✓", message.into(), false);
    }

    pub(crate) fn fail(self) {
        self.printer
            .end_line(&self.bar, "✗", self.message.clone(), true);
    }
}

/// Draws a plan being applied, from the executor's events: one line per running change
/// ("creating iam-role lab"), updated while it waits, with a bar while it counts objects or files,
/// and ✓ or ✗ when it ends.
pub(crate) struct ApplyProgress {
    printer: Printer,
    lines: Mutex<HashMap<ResourceId, Line>>,
}

struct Line {
    step: Step,
    title: String,
    items: Option<(ProgressBar, String)>,
}

impl Printer {
    pub(crate) fn apply_progress(&self) -> ApplyProgress {
        ApplyProgress {
            printer: self.clone(),
            lines: Mutex::new(HashMap::new()),
        }
    }
}

impl ApplyProgress {
    pub(crate) fn event<Op>(&self, event: Event<'_, Op>) {
        let Ok(mut lines) = self.lines.lock() else {
            return;
        };
        match event {
            Event::Started(change) => {
                let title = format!("{} {}", change.kind, change.name);
                let step = self
                    .printer
                    .step(format!("{} {title}", change.action.progressive()));
                lines.insert(
                    change.id(),
                    Line {
                        step,
                        title,
                        items: None,
                    },
                );
            }
            Event::Progress(change, progress) => {
                let Some(line) = lines.get_mut(&change.id()) else {
                    return;
                };
                match progress {
                    Progress::Waiting(why) => line.step.set_message(format!(
                        "{} {}: {why}",
                        change.action.progressive(),
                        line.title
                    )),
                    Progress::Items {
                        label,
                        done,
                        total,
                        bytes,
                    } => self.items(line, &label, done, total, bytes),
                }
            }
            Event::Finished(change, outcome) => self.finish(&mut lines, change, outcome),
        }
    }

    fn items(
        &self,
        line: &mut Line,
        label: &str,
        done: u64,
        total: Option<u64>,
        bytes: Option<(u64, u64)>,
    ) {
        let message = match total {
            Some(total) => format!("{label} {done}/{total}"),
            None => format!("{label}: {done}"),
        };
        let (bar, shown) = line.items.get_or_insert_with(|| {
            let bar = match bytes {
                Some((_, total_bytes)) => self.printer.bar(total_bytes),
                None => self.printer.spinner(),
            };
            (bar, String::new())
        });
        if let Some((done_bytes, _)) = bytes {
            bar.set_position(done_bytes);
        }
        bar.set_message(message.clone());
        *shown = message;
    }

    /// Ends the lines of changes still running when the run stops (interrupted), marked so.
    pub(crate) fn abandon_running(&self) {
        let Ok(mut lines) = self.lines.lock() else {
            return;
        };
        for (_, line) in lines.drain() {
            if let Some((bar, shown)) = &line.items {
                self.printer.end_line(bar, "✗", shown.clone(), true);
            }
            let message = format!("{}: interrupted", line.step.message);
            self.printer.end_line(&line.step.bar, "✗", message, true);
        }
    }

    fn finish<Op>(
        &self,
        lines: &mut HashMap<ResourceId, Line>,
        change: &Change<Op>,
        outcome: &Outcome,
    ) {
        let Some(line) = lines.remove(&change.id()) else {
            return;
        };
        let failed = matches!(outcome, Outcome::Failed(_));
        if let Some((bar, shown)) = &line.items {
            let mark = if failed { "✗" } else { "✓" };
            self.printer.end_line(bar, mark, shown.clone(), failed);
        }
        if failed {
            line.step.fail();
        } else {
            line.step
                .finish(format!("{} {}", change.action.past(), line.title));
        }
    }
}
