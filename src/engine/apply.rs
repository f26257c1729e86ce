//! The executor: makes one attempt to carry out a plan. Each change starts as soon as the changes it
//! depends on are done, so independent changes (the role and the instance profile, say) run
//! concurrently and dependent ones in order. After a failure nothing new starts; what is in flight
//! finishes. The result says, change by change, what was applied, what failed and what never
//! started — re-running the command resumes from the observed state.
//!
//! The executor knows no AWS: it is generic over what executes an operation (`Execute`), and it
//! reports progress as events, which the printer draws.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::stream::{FuturesUnordered, StreamExt};

use crate::engine::plan::{Change, Plan, ResourceId};
use crate::engine::signals::{GRACE, Interrupt, Signal};
use crate::error::Error;

/// What a running operation says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Progress {
    /// It is waiting, and why (shown on the change's line).
    Waiting(String),
    /// Items (objects, files) done so far: `done` of `total` when the total is known, and their
    /// bytes, `(done, total)`, when they are counted.
    Items {
        label: String,
        done: u64,
        total: Option<u64>,
        bytes: Option<(u64, u64)>,
    },
}

/// What a running operation has of the executor: where it sends its progress, and whether the
/// run is stopping.
#[derive(Clone, Copy)]
pub(crate) struct Report<'a> {
    progress: &'a (dyn Fn(Progress) + Sync),
    halted: &'a AtomicBool,
}

impl<'a> Report<'a> {
    pub(crate) fn new(progress: &'a (dyn Fn(Progress) + Sync), halted: &'a AtomicBool) -> Self {
        Self { progress, halted }
    }

    /// Says how the operation is getting on.
    pub(crate) fn progress(&self, progress: Progress) {
        (self.progress)(progress);
    }

    /// The run was interrupted (a signal), so an operation of many requests (a site's uploads, a
    /// bucket's emptying) starts no more of them and returns [`Error::halted`], as the executor
    /// starts no more changes. Another change's failure does not halt it: what is in flight
    /// finishes.
    pub(crate) fn halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }
}

/// What executing an operation learned that the plan could not know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Executed {
    /// An identifier AWS assigned (an association id).
    pub(crate) resource_id: Option<String>,
}

/// Carries out one operation.
pub(crate) trait Execute<Op> {
    async fn execute(&self, operation: &Op, report: Report<'_>) -> Result<Executed, Error>;
}

/// What happened to one change.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// It had nothing to do.
    Unchanged,
    /// Every operation of it succeeded.
    Applied { resource_id: Option<String> },
    /// One of its operations failed (earlier ones may have succeeded).
    Failed(Error),
    /// It never started: something failed first, or something it waits for did, or the run was
    /// interrupted.
    NotStarted,
    /// It was in flight when the run was interrupted and did not finish within the grace period:
    /// it may or may not have been applied (a re-run observes which).
    Interrupted,
}

impl Outcome {
    /// The outcome's name in reports.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Unchanged => "unchanged",
            Self::Applied { .. } => "applied",
            Self::Failed(_) => "failed",
            Self::NotStarted => "not started",
            Self::Interrupted => "interrupted",
        }
    }
}

/// What the executor tells the printer.
pub(crate) enum Event<'a, Op> {
    Started(&'a Change<Op>),
    Progress(&'a Change<Op>, Progress),
    Finished(&'a Change<Op>, &'a Outcome),
}

/// The outcome of every change of a plan, in plan order.
#[derive(Debug)]
pub(crate) struct Execution {
    pub(crate) outcomes: Vec<Outcome>,
    /// The signal that stopped the run, if one did.
    pub(crate) interrupted: Option<Signal>,
}

impl Execution {
    /// The first failure's error, if any change failed.
    pub(crate) fn error(&self) -> Option<&Error> {
        self.outcomes.iter().find_map(|o| match o {
            Outcome::Failed(error) => Some(error),
            _ => None,
        })
    }

    pub(crate) fn resource_id(&self, index: usize) -> Option<&str> {
        match self.outcomes.get(index) {
            Some(Outcome::Applied { resource_id }) => resource_id.as_deref(),
            _ => None,
        }
    }
}

/// Carries out `plan`. When `interrupt` fires, nothing new starts and what is in flight has
/// [`GRACE`] to finish; what does not is reported as [`Outcome::Interrupted`].
pub(crate) async fn apply<Op: Sync, E: Execute<Op>>(
    plan: &Plan<Op>,
    executor: &E,
    observer: &(dyn Fn(Event<'_, Op>) + Sync),
    mut interrupt: Interrupt,
) -> Execution {
    // Declared first, so that it outlives the running changes that borrow it.
    let halted = AtomicBool::new(false);
    let halted = &halted;
    let changes = plan.changes();
    let mut outcomes: Vec<Option<Outcome>> = changes
        .iter()
        .map(|c| c.operations.is_empty().then_some(Outcome::Unchanged))
        .collect();
    // A change without operations is done from the start: its dependents need not wait for it.
    let mut done: HashSet<ResourceId> = changes
        .iter()
        .filter(|c| c.operations.is_empty())
        .map(Change::id)
        .collect();
    let mut running = FuturesUnordered::new();
    let mut started = vec![false; changes.len()];
    let mut failed = false;
    let mut interrupted: Option<Signal> = None;
    let grace = tokio::time::sleep(GRACE);
    tokio::pin!(grace);
    loop {
        if !failed && interrupted.is_none() {
            for (index, change) in changes.iter().enumerate() {
                if started[index] || outcomes[index].is_some() {
                    continue;
                }
                if change.depends_on.iter().all(|d| done.contains(d)) {
                    started[index] = true;
                    running.push(
                        async move { (index, run(change, executor, observer, halted).await) },
                    );
                }
            }
        }
        if running.is_empty() {
            break;
        }
        let (index, outcome) = tokio::select! {
            next = running.next() => match next {
                Some(next) => next,
                None => break,
            },
            signal = interrupt.received(), if interrupted.is_none() => {
                interrupted = Some(signal);
                halted.store(true, Ordering::SeqCst);
                grace.as_mut().reset(tokio::time::Instant::now() + GRACE);
                continue;
            }
            () = &mut grace, if interrupted.is_some() => break,
        };
        match &outcome {
            Outcome::Applied { .. } => {
                done.insert(changes[index].id());
            }
            Outcome::Failed(_) => failed = true,
            Outcome::Unchanged | Outcome::NotStarted | Outcome::Interrupted => {}
        }
        outcomes[index] = Some(outcome);
    }
    // `Plan::new` rules out cycles and unknown dependencies, so what is left never started
    // because something failed or the run was interrupted — or, started, was cut off.
    Execution {
        outcomes: outcomes
            .into_iter()
            .zip(started)
            .map(|(outcome, started)| match (outcome, started) {
                (Some(outcome), _) => outcome,
                (None, true) => Outcome::Interrupted,
                (None, false) => Outcome::NotStarted,
            })
            .collect(),
        interrupted,
    }
}

async fn run<Op: Sync, E: Execute<Op>>(
    change: &Change<Op>,
    executor: &E,
    observer: &(dyn Fn(Event<'_, Op>) + Sync),
    halted: &AtomicBool,
) -> Outcome {
    observer(Event::Started(change));
    let progress = |progress: Progress| observer(Event::Progress(change, progress));
    let report = Report::new(&progress, halted);
    let mut resource_id = None;
    let mut outcome = None;
    for operation in &change.operations {
        match executor.execute(operation, report).await {
            Ok(executed) => resource_id = executed.resource_id.or(resource_id),
            // It stopped part-way because the run is stopping: applied in part, as a change cut
            // off at the end of the grace period is.
            Err(error) if error.is_halted() => {
                outcome = Some(Outcome::Interrupted);
                break;
            }
            Err(error) => {
                outcome = Some(Outcome::Failed(error));
                break;
            }
        }
    }
    let outcome = outcome.unwrap_or(Outcome::Applied { resource_id });
    observer(Event::Finished(change, &outcome));
    outcome
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::engine::plan::{Action, Kind};

    const THING: Kind = Kind::new("thing");

    /// An operation of the fake: succeed or fail after a delay, naming itself in the log.
    #[derive(Debug, Clone)]
    struct FakeOp {
        name: &'static str,
        millis: u64,
        fails: bool,
    }

    #[derive(Default)]
    struct Fake {
        /// "start NAME" and "end NAME", in the order they happened.
        log: Mutex<Vec<String>>,
    }

    impl Fake {
        fn log(&self) -> Vec<String> {
            self.log.lock().expect("log").clone()
        }

        fn position(&self, entry: &str) -> usize {
            self.log()
                .iter()
                .position(|e| e == entry)
                .unwrap_or_else(|| panic!("{entry} not in {:?}", self.log()))
        }
    }

    impl Execute<FakeOp> for Fake {
        async fn execute(&self, op: &FakeOp, report: Report<'_>) -> Result<Executed, Error> {
            self.log
                .lock()
                .expect("log")
                .push(format!("start {}", op.name));
            report.progress(Progress::Waiting(format!("{} is working", op.name)));
            tokio::time::sleep(Duration::from_millis(op.millis)).await;
            self.log
                .lock()
                .expect("log")
                .push(format!("end {}", op.name));
            if op.fails {
                return Err(Error::failed(format!("{} failed", op.name)));
            }
            Ok(Executed {
                resource_id: Some(format!("id-{}", op.name)),
            })
        }
    }

    fn change(name: &'static str, millis: u64, after: &[&str]) -> Change<FakeOp> {
        after.iter().fold(
            Change::new(THING, name, Action::Create).with_operations(vec![FakeOp {
                name,
                millis,
                fails: false,
            }]),
            |change, dependency| change.after(THING.id(*dependency)),
        )
    }

    fn failing(mut change: Change<FakeOp>) -> Change<FakeOp> {
        for op in &mut change.operations {
            op.fails = true;
        }
        change
    }

    async fn execute(changes: Vec<Change<FakeOp>>) -> (Fake, Execution, Vec<String>) {
        execute_until(changes, Interrupt::never()).await
    }

    async fn execute_until(
        changes: Vec<Change<FakeOp>>,
        interrupt: Interrupt,
    ) -> (Fake, Execution, Vec<String>) {
        let plan = Plan::new(changes, vec![]).expect("valid plan");
        let fake = Fake::default();
        let events = Mutex::new(Vec::new());
        let observer = |event: Event<'_, FakeOp>| {
            let entry = match event {
                Event::Started(c) => format!("started {}", c.name),
                Event::Progress(c, Progress::Waiting(why)) => format!("{}: {why}", c.name),
                Event::Progress(c, _) => format!("{}: items", c.name),
                Event::Finished(c, Outcome::Failed(_)) => format!("failed {}", c.name),
                Event::Finished(c, _) => format!("finished {}", c.name),
            };
            events.lock().expect("events").push(entry);
        };
        let execution = apply(&plan, &fake, &observer, interrupt).await;
        let events = events.into_inner().expect("events");
        (fake, execution, events)
    }

    #[tokio::test(start_paused = true)]
    async fn dependents_start_only_after_what_they_wait_for() {
        let (fake, execution, events) = execute(vec![
            change("association", 1, &["membership"]),
            change("membership", 1, &["role", "profile"]),
            change("role", 30, &[]),
            change("profile", 10, &[]),
        ])
        .await;
        assert!(fake.position("end role") < fake.position("start membership"));
        assert!(fake.position("end profile") < fake.position("start membership"));
        assert!(fake.position("end membership") < fake.position("start association"));
        assert!(execution.error().is_none());
        assert_eq!(execution.resource_id(0), Some("id-association"));
        assert!(events.contains(&"membership: membership is working".to_string()));
        assert_eq!(
            events.last().map(String::as_str),
            Some("finished association")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn independent_changes_run_concurrently() {
        let started = tokio::time::Instant::now();
        let (fake, _, _) = execute(vec![
            change("role", 100, &[]),
            change("profile", 100, &[]),
            change("bucket", 100, &[]),
        ])
        .await;
        // All three start before any ends, and together take the time of one.
        let first_end = fake.position("end role").min(fake.position("end profile"));
        assert!(
            fake.position("start bucket") < first_end,
            "{:?}",
            fake.log()
        );
        assert_eq!(started.elapsed(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_new_starts_after_a_failure_and_every_change_has_an_outcome() {
        let (fake, execution, events) = execute(vec![
            failing(change("role", 10, &[])),
            change("slow", 50, &[]),
            change("policy", 1, &["role"]),
            change("later", 1, &["fast"]),
            change("fast", 20, &[]),
            Change::unchanged(THING, "same"),
        ])
        .await;
        let kinds: Vec<&str> = execution.outcomes.iter().map(Outcome::name).collect();
        // `slow` and `fast` were in flight when `role` failed: they finish. `later` was ready only
        // after the failure, so it never starts; `policy` waited for the failed role.
        assert_eq!(
            kinds,
            [
                "failed",
                "applied",
                "not started",
                "not started",
                "applied",
                "unchanged"
            ]
        );
        assert!(!fake.log().contains(&"start later".to_string()));
        assert!(!fake.log().contains(&"start policy".to_string()));
        assert_eq!(
            execution.error().map(|e| e.message().to_string()),
            Some("role failed".to_string())
        );
        assert!(events.contains(&"failed role".to_string()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_stops_at_its_first_failed_operation() {
        let mut two = change("pair", 1, &[]);
        two.operations = vec![
            FakeOp {
                name: "first",
                millis: 1,
                fails: true,
            },
            FakeOp {
                name: "second",
                millis: 1,
                fails: false,
            },
        ];
        let (fake, execution, _) = execute(vec![two]).await;
        assert_eq!(fake.log(), ["start first", "end first"]);
        assert!(matches!(execution.outcomes[0], Outcome::Failed(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn changes_without_operations_do_not_hold_up_their_dependents() {
        let (fake, execution, events) = execute(vec![
            Change::unchanged(THING, "role"),
            change("policy", 1, &["role"]),
        ])
        .await;
        assert_eq!(fake.log(), ["start policy", "end policy"]);
        assert!(matches!(execution.outcomes[0], Outcome::Unchanged));
        assert!(
            !events.contains(&"started role".to_string()),
            "nothing is shown for a change with nothing to do"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_interrupt_starts_nothing_new_and_cuts_off_what_outlasts_the_grace_period() {
        let (sender, interrupt) = Interrupt::manual();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            sender.send_replace(Some(Signal::Interrupt));
            // Kept alive past the run.
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let started = tokio::time::Instant::now();
        let (fake, execution, _) = execute_until(
            vec![
                change("quick", 5, &[]),
                change("in-flight", 1000, &[]),
                change("hung", 60_000, &[]),
                change("after-quick", 100, &["quick"]),
                change("after-interrupt", 1, &["in-flight"]),
            ],
            interrupt,
        )
        .await;
        let kinds: Vec<&str> = execution.outcomes.iter().map(Outcome::name).collect();
        // `after-quick` started before the signal and finished within the grace period;
        // `in-flight` too; `hung` was cut off; `after-interrupt` became ready only after it.
        assert_eq!(
            kinds,
            [
                "applied",
                "applied",
                "interrupted",
                "applied",
                "not started"
            ]
        );
        assert_eq!(execution.interrupted, Some(Signal::Interrupt));
        assert!(!fake.log().contains(&"start after-interrupt".to_string()));
        assert_eq!(started.elapsed(), Duration::from_millis(10) + GRACE);
    }
}
