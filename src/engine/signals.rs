//! SIGINT (Ctrl-C) and SIGTERM. Outside `apply` nothing has been changed — observing and planning
//! only read — so a signal ends the run at once with "nothing was changed". During `apply` the
//! executor is told instead: it starts nothing new, gives what is in flight a short grace period,
//! and the command reports what was applied and how to resume. A second signal ends the run at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::error::ExitStatus;

/// How long in-flight requests may finish after a signal during `apply`.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// The signal that interrupted the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal number, as shells report a process a signal ended.
    pub(crate) fn exit_status(self) -> ExitStatus {
        match self {
            Self::Interrupt => ExitStatus::Interrupted,
            Self::Terminate => ExitStatus::Terminated,
        }
    }
}

/// Receives the run's signal, for `apply`.
#[derive(Clone)]
pub(crate) struct Interrupt(watch::Receiver<Option<Signal>>);

impl Interrupt {
    /// Never fires (tests, or a run without signal handling): with its sender gone, `received`
    /// pends for ever.
    pub(crate) fn never() -> Self {
        let (_, receiver) = watch::channel(None);
        Self(receiver)
    }

    /// A pair that fires when the sender sends (tests).
    #[cfg(test)]
    pub(crate) fn manual() -> (watch::Sender<Option<Signal>>, Self) {
        let (sender, receiver) = watch::channel(None);
        (sender, Self(receiver))
    }

    /// The signal, if one has arrived.
    pub(crate) fn fired(&self) -> Option<Signal> {
        *self.0.borrow()
    }

    /// Waits for the signal.
    pub(crate) async fn received(&mut self) -> Signal {
        loop {
            if let Some(signal) = *self.0.borrow_and_update() {
                return signal;
            }
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Reports a signal that arrived outside `apply`, told whether `apply` ran earlier.
type OutsideApply = Box<dyn Fn(Signal, bool) + Send>;

struct Handler {
    sender: watch::Sender<Option<Signal>>,
    /// Set while `apply` runs, which then handles the signal itself.
    applying: AtomicBool,
    /// Set once `apply` has started: after that, changes may have been made.
    applied: AtomicBool,
    /// What to do when a signal arrives outside `apply`: report, then exit.
    outside_apply: Mutex<Option<OutsideApply>>,
}

static HANDLER: OnceLock<Handler> = OnceLock::new();

/// Installs the handlers (once, at start-up, inside the runtime). `outside_apply` reports a signal
/// that arrives while nothing is being changed — told whether `apply` ran earlier in the run — and
/// the process then exits with the signal's status.
pub(crate) fn install(outside_apply: impl Fn(Signal, bool) + Send + 'static) {
    let (sender, _) = watch::channel(None);
    let handler = HANDLER.get_or_init(|| Handler {
        sender,
        applying: AtomicBool::new(false),
        applied: AtomicBool::new(false),
        outside_apply: Mutex::new(None),
    });
    if let Ok(mut slot) = handler.outside_apply.lock() {
        *slot = Some(Box::new(outside_apply));
    }
    tokio::spawn(async move {
        let mut seen = false;
        loop {
            let signal = next_signal().await;
            if seen || !handler.applying.load(Ordering::SeqCst) {
                if let Ok(slot) = handler.outside_apply.lock()
                    && let Some(report) = slot.as_ref()
                {
                    report(signal, handler.applied.load(Ordering::SeqCst));
                }
                std::process::exit(signal.exit_status() as i32);
            }
            seen = true;
            handler.sender.send_replace(Some(signal));
        }
    });
}

#[cfg(unix)]
async fn next_signal() -> Signal {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => Signal::Interrupt,
        _ = terminate.recv() => Signal::Terminate,
    }
}

#[cfg(not(unix))]
async fn next_signal() -> Signal {
    match tokio::signal::ctrl_c().await {
        Ok(()) => Signal::Interrupt,
        Err(_) => std::future::pending().await,
    }
}

/// Marks `apply` as running until the guard drops, and gives it the signal to watch. Without
/// installed handlers (unit tests) the interrupt never fires.
pub(crate) fn applying() -> (ApplyingGuard, Interrupt) {
    match HANDLER.get() {
        Some(handler) => {
            handler.applying.store(true, Ordering::SeqCst);
            handler.applied.store(true, Ordering::SeqCst);
            (ApplyingGuard(true), Interrupt(handler.sender.subscribe()))
        }
        None => (ApplyingGuard(false), Interrupt::never()),
    }
}

/// Clears the "applying" mark when dropped.
pub(crate) struct ApplyingGuard(bool);

impl Drop for ApplyingGuard {
    fn drop(&mut self) {
        if let (true, Some(handler)) = (self.0, HANDLER.get()) {
            handler.applying.store(false, Ordering::SeqCst);
        }
    }
}
