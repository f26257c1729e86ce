//! Each kind's requests answered in memory, as AWS answers them: the account the command plans'
//! scenario tests run against (`plans::fake`). Every registered kind implements [`Simulated`] in
//! its own module, beside its `execute` — the registry dispatches to it, so a kind without it
//! does not compile its tests.

use crate::engine::apply::Executed;
use crate::resources::{ObservedState, Resource};

/// The account number of the simulated account's ARNs.
pub(crate) const ACCOUNT: &str = "123456789012";

/// The account in memory: what the commands would observe, and the serial of the identifiers
/// AWS would make up (association ids).
#[derive(Debug, Clone, Default)]
pub(crate) struct World {
    pub(crate) observed: ObservedState,
    serial: u32,
}

impl World {
    pub(crate) fn new(observed: ObservedState) -> Self {
        Self {
            observed,
            serial: 0,
        }
    }

    /// The next of the identifiers AWS makes up.
    pub(crate) fn next_serial(&mut self) -> u32 {
        let serial = self.serial;
        self.serial += 1;
        serial
    }
}

/// What a kind's requests do to the account, as AWS does it.
pub(crate) trait Simulated: Resource {
    /// Applies `op` to `world` as AWS would, after the executor's rules (creating what exists and
    /// deleting what is gone count as done), or says why AWS refuses it — deleting a role that
    /// still has policies, a non-empty bucket — so that a missing dependency edge fails a test.
    fn simulate(op: &Self::Op, world: &mut World) -> Result<Executed, String>;
}
