//! The engine every command shares: a plan of changes with their dependencies (`plan`), its
//! execution in dependency order, bounded and interruptible (`apply`, `signals`), and the local
//! journal of begun creates (`journal`). Nothing here knows a resource kind.

pub(crate) mod apply;
pub(crate) mod journal;
pub(crate) mod plan;
pub(crate) mod signals;
