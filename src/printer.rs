//! The only place that writes to stdout or stderr, and the owner of every progress bar.
//!
//! stdout carries data only (the plan, the summary, `--output json`'s single document); progress,
//! warnings and errors go to stderr. Progress bars are drawn only when stderr is a terminal, in
//! human mode, and not with `--quiet`; output reads the same without colour.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::cli::OutputFormat;
use crate::error::Error;

#[derive(Clone)]
pub struct Printer {
    format: OutputFormat,
    quiet: bool,
    verbose: bool,
    /// Whether bars are drawn (a terminal on stderr, human mode, not quiet).
    animated: bool,
    multi: MultiProgress,
}

impl Printer {
    pub fn new(format: OutputFormat, quiet: bool, verbose: bool) -> Self {
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

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// A line of data on stdout (human mode only; JSON mode prints one document instead).
    pub fn data(&self, line: impl AsRef<str>) {
        if self.is_json() {
            return;
        }
        let line = line.as_ref();
        self.multi.suspend(|| {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`provision ... | head`) is not an error worth a panic.
            let _ = writeln!(stdout, "{line}");
        });
    }

    /// The single JSON document of `--output json`.
    pub fn json<T: Serialize>(&self, document: &T) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(document).map_err(|e| {
            Error::failed("could not serialize the JSON output").with_cause(e.to_string())
        })?;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        Ok(())
    }

    /// Something the user should know, on stderr; shown unless `--quiet`.
    pub fn warn(&self, message: impl AsRef<str>) {
        if !self.quiet {
            self.stderr(&format!("warning: {}", message.as_ref()));
        }
    }

    /// Informational line on stderr in human mode (not with `--quiet` or JSON).
    pub fn note(&self, message: impl AsRef<str>) {
        if !self.quiet && !self.is_json() {
            self.stderr(message.as_ref());
        }
    }

    /// Detail shown only with `--verbose`.
    pub fn debug(&self, message: impl AsRef<str>) {
        if self.verbose {
            self.stderr(message.as_ref());
        }
    }

    /// Asks on stderr and reads one line from stdin.
    pub fn prompt(&self, question: &str) -> Option<String> {
        self.multi.suspend(|| {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "{question}");
            let _ = stderr.flush();
        });
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).ok()?;
        Some(answer)
    }

    pub fn error(&self, error: &Error) {
        self.stderr(&error.to_string());
    }

    fn stderr(&self, text: &str) {
        self.multi.suspend(|| {
            let mut stderr = std::io::stderr().lock();
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

    /// A bar for `items` files or objects totalling `bytes` bytes.
    pub fn transfer(&self, label: impl Into<String>, items: u64, bytes: u64) -> Transfer {
        let label = label.into();
        let bar = if self.animated {
            let bar = self.multi.add(ProgressBar::new(bytes));
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {elapsed:.dim}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        bar.set_message(format!("{label} 0/{items}"));
        Transfer {
            bar,
            label,
            items_total: items,
            items_done: std::sync::atomic::AtomicU64::new(0),
            printer: self.clone(),
        }
    }

    /// A counter of items whose total is not known in advance (objects deleted while listing).
    pub fn counter(&self, label: impl Into<String>) -> Counter {
        let label = label.into();
        let bar = self.spinner();
        bar.set_message(format!("{label}: 0"));
        Counter {
            bar,
            label,
            done: std::sync::atomic::AtomicU64::new(0),
            printer: self.clone(),
        }
    }

    /// A spinner line for one step; `finish` leaves its final message in place.
    pub fn step(&self, message: impl Into<String>) -> Step {
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

/// A progress bar counting files (or objects) and bytes, safe to advance from concurrent tasks.
pub struct Transfer {
    bar: ProgressBar,
    label: String,
    items_total: u64,
    items_done: std::sync::atomic::AtomicU64,
    printer: Printer,
}

impl Transfer {
    /// One item of `bytes` bytes is done.
    pub fn advance(&self, bytes: u64) {
        let done = self
            .items_done
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        self.bar.inc(bytes);
        self.bar
            .set_message(format!("{} {done}/{}", self.label, self.items_total));
    }

    pub fn finish(&self) {
        let done = self.items_done.load(std::sync::atomic::Ordering::Relaxed);
        let message = format!("{} {done}/{}", self.label, self.items_total);
        if self.printer.animated {
            self.bar.finish_with_message(message);
        } else {
            self.printer.debug(format!("✓ {message}"));
        }
    }
}

/// A running count, safe to advance from concurrent tasks.
pub struct Counter {
    bar: ProgressBar,
    label: String,
    done: std::sync::atomic::AtomicU64,
    printer: Printer,
}

impl Counter {
    pub fn add(&self, count: u64) {
        let done = self
            .done
            .fetch_add(count, std::sync::atomic::Ordering::Relaxed)
            + count;
        self.bar.set_message(format!("{}: {done}", self.label));
    }

    pub fn count(&self) -> u64 {
        self.done.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn finish(&self) {
        let message = format!("{}: {}", self.label, self.count());
        self.printer.end_line(&self.bar, "✓", message, false);
    }
}

/// One line of progress.
pub struct Step {
    bar: ProgressBar,
    printer: Printer,
    message: String,
}

impl Step {
    /// Updates the line while waiting (e.g. "retrying in 4s").
    pub fn set_message(&mut self, message: impl Into<String>) {
        self.message = message.into();
        self.bar.set_message(self.message.clone());
        self.printer.debug(format!("  … {}", self.message));
    }

    pub fn finish(self, message: impl Into<String>) {
        self.printer.end_line(&self.bar, "✓", message.into(), false);
    }

    pub fn fail(self) {
        self.printer
            .end_line(&self.bar, "✗", self.message.clone(), true);
    }
}
