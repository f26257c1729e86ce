//! The course's domain: the lab's names and target (`lab`), its data (`lab_data`), its Lambda
//! functions and their packages (`function_package`), the policy
//! templates and their placeholders (`template`, `policy`), the IDE's set-up script
//! (`ide_setup`) and what an hour of it costs (`prices`), who owns what provision made
//! (`owners`).

pub(crate) mod function_package;
pub(crate) mod ide_setup;
pub(crate) mod lab;
pub(crate) mod lab_data;
pub(crate) mod owners;
pub(crate) mod policy;
pub(crate) mod prices;
pub(crate) mod template;
