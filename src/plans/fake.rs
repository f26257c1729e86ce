//! An AWS account in memory, for the command plans' scenario tests: it executes every operation
//! against an [`ObservedState`] — what the commands would observe afterwards — as each kind's
//! module says AWS does (`resources::simulated`), refusing what AWS refuses (deleting a role that
//! still has policies or profiles, deleting a non-empty bucket, adding a role to a profile that does
//! not exist), so a missing dependency edge fails a test.

use std::collections::HashSet;
use std::sync::Mutex;

use aws_sdk_ec2::types::InstanceStateName;

use crate::engine::apply::{Execute, Executed, Report, apply};
use crate::engine::plan::ResourceId;
use crate::error::Error;
use crate::input::RoleName;
use crate::plans::ObservedState;
use crate::resources::association::ObservedInstance;
use crate::resources::simulated::World;
use crate::resources::{self, Operation, Plan};
use crate::settings::{BucketArg, IamNames, NamesArgs};

/// The default names of the commands, as the command line gives them.
pub(crate) fn names() -> NamesArgs {
    NamesArgs {
        iam: IamNames {
            role_name: RoleName::parse("dragons-lab-ec2-role").expect("a valid role name"),
            instance_profile_name: None,
        },
        bucket: BucketArg { bucket: None },
        all_owners: false,
    }
}

/// A running instance named like the course IDE.
pub(crate) fn instance(id: &str) -> ObservedInstance {
    ObservedInstance {
        id: id.into(),
        name: Some("ide".into()),
        state: Some(InstanceStateName::Running),
        ..Default::default()
    }
}

pub(crate) struct FakeAws {
    world: Mutex<World>,
}

impl FakeAws {
    pub(crate) fn new(start: &ObservedState) -> Self {
        Self {
            world: Mutex::new(World::new(start.clone())),
        }
    }

    pub(crate) fn state(&self) -> ObservedState {
        self.world.lock().expect("world").observed.clone()
    }

    /// Executes one operation as AWS would, after the executor's rules: creating what exists and
    /// deleting what is gone count as done. Each kind's module says how (`Simulated`).
    pub(crate) fn run(&self, operation: &Operation) -> Result<Executed, Error> {
        let mut world = self.world.lock().expect("world");
        resources::simulate(operation, &mut world)
            .map_err(|why| Error::failed(format!("fake AWS refuses: {why}")))
    }
}

impl Execute<Operation> for FakeAws {
    async fn execute(&self, operation: &Operation, _: Report<'_>) -> Result<Executed, Error> {
        self.run(operation)
    }
}

/// Plans from `start`, applies the plan with the real executor, and checks that a plan made from
/// the result has nothing left to do. Returns the result.
pub(crate) async fn converge(
    start: &ObservedState,
    plan: impl Fn(&ObservedState) -> Result<Plan, Error>,
) -> ObservedState {
    let fake = FakeAws::new(start);
    let first = plan(start).unwrap_or_else(|e| panic!("planning failed: {e}"));
    let execution = apply(
        &first,
        &fake,
        &|_| {},
        crate::engine::signals::Interrupt::never(),
    )
    .await;
    if let Some(error) = execution.error() {
        panic!("applying failed: {error}");
    }
    let end = fake.state();
    let again = plan(&end).unwrap_or_else(|e| panic!("planning again failed: {e}"));
    let left: Vec<String> = again
        .changes()
        .iter()
        .filter(|c| !c.operations.is_empty())
        .map(|c| c.line())
        .collect();
    assert!(left.is_empty(), "not converged: {left:?}");
    end
}

/// What [`every_prefix`] found.
#[derive(Debug)]
pub(crate) struct Prefixes {
    /// The operations of the plan from the start.
    pub(crate) operations: usize,
    /// The prefixes (how many operations were done) after which planning failed, and why.
    pub(crate) refused: Vec<(usize, Error)>,
}

/// Interrupts a run after every prefix of its operations (in plan order) and runs the command
/// again from there: the new plan must not redo a change that was complete, and must converge.
pub(crate) async fn every_prefix(
    start: &ObservedState,
    plan: impl Fn(&ObservedState) -> Result<Plan, Error>,
) -> Prefixes {
    let fresh = plan(start).unwrap_or_else(|e| panic!("planning failed: {e}"));
    let steps: Vec<(ResourceId, &Operation)> = fresh
        .changes()
        .iter()
        .flat_map(|c| c.operations.iter().map(move |op| (c.id(), op)))
        .collect();
    let mut refused = Vec::new();
    for done in 0..=steps.len() {
        let fake = FakeAws::new(start);
        for (id, op) in &steps[..done] {
            fake.run(op)
                .unwrap_or_else(|e| panic!("{id} out of order after {done} steps: {e}"));
        }
        let complete: HashSet<&ResourceId> = steps[..done]
            .iter()
            .map(|(id, _)| id)
            .filter(|id| steps[done..].iter().all(|(later, _)| later != *id))
            .collect();
        let half_made = fake.state();
        match plan(&half_made) {
            Err(error) => refused.push((done, error)),
            Ok(again) => {
                for change in again.changes().iter().filter(|c| !c.operations.is_empty()) {
                    assert!(
                        !complete.contains(&change.id()),
                        "after {done} steps, {} is planned again",
                        change.line()
                    );
                }
                converge(&half_made, &plan).await;
            }
        }
    }
    Prefixes {
        operations: steps.len(),
        refused,
    }
}
