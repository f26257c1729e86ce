//! Every AWS resource `provision` manages, behind one contract ([`Resource`]): how it is observed,
//! how desired and observed state turn into plan changes (pure), and how each planned request is
//! executed. One module per resource; each kind is registered once, in `resource_kinds!` below,
//! which gives it its arm of [`Operation`] and the executor's dispatch to it — so the compiler
//! points at anything a new kind still lacks.
//!
//! Resource modules import none of each other: edges between resources (a membership waits for its
//! role) are drawn by the command's plan (`state`).

pub(crate) mod association;
pub(crate) mod bucket;
pub(crate) mod iam_role;
pub(crate) mod instance_profile;
pub(crate) mod object;
pub(crate) mod ownership;
pub(crate) mod parameter;
pub(crate) mod tags;

use crate::apply::{Execute, Executed, Report};
use crate::aws::Clients;
use crate::error::Error;
use crate::resources::ownership::Claims;

/// A plan line of the program, carrying its AWS requests.
pub(crate) type Change = crate::plan::Change<Operation>;
/// A plan of the program.
pub(crate) type Plan = crate::plan::Plan<Operation>;

/// The contract of one resource kind.
pub(crate) trait Resource {
    /// What `observe` is asked for (a name, a selector, a list of names).
    type Query: ?Sized;
    /// What `observe` returns: the resource, `None` when it does not exist, or a map of several.
    type Observation;
    /// What a command wants the resource to be.
    type Desired;
    /// What AWS holds for one resource.
    type Observed;
    /// The requests that change it, with every argument resolved.
    type Op;

    /// The kinds of plan line it makes (a bucket's configuration has lines of its own): the JSON
    /// schema's list of resources is checked against these (`kinds`, in the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    const KINDS: &'static [crate::plan::Kind];

    /// Reads the resource from AWS (every read of one resource in one concurrent round).
    async fn observe(clients: &Clients, query: &Self::Query) -> Result<Self::Observation, Error>;

    /// Plans the changes that turn `observed` into `desired`. Pure. `desired: None` means the
    /// resource should not exist (teardown); `observed: None` that it does not. `claims` says
    /// whose resources the run may change or remove (see `ownership`).
    fn plan(
        desired: Option<&Self::Desired>,
        observed: Option<&Self::Observed>,
        claims: &Claims,
    ) -> Result<Vec<Change>, Error>;

    /// Sends one request. Creating what already exists and deleting what is already gone count as
    /// done, so an interrupted run resumes.
    async fn execute(
        clients: &Clients,
        op: &Self::Op,
        report: Report<'_>,
    ) -> Result<Executed, Error>;
}

/// Registers resource kinds, one line each: its arm of [`Operation`] (named after the resource),
/// a conversion from its op type, and the executor's exhaustive dispatch to its `execute`.
macro_rules! resource_kinds {
    ($($module:ident :: $resource:ident),+ $(,)?) => {
        /// One request to AWS: the op of one resource kind.
        #[derive(Debug, Clone, PartialEq)]
        pub(crate) enum Operation {
            $($resource(<$module::$resource as Resource>::Op),)+
        }

        $(
            impl From<<$module::$resource as Resource>::Op> for Operation {
                fn from(op: <$module::$resource as Resource>::Op) -> Self {
                    Self::$resource(op)
                }
            }
        )+

        /// Every kind of plan line, in registry order: what `resource` may be in a document.
        #[cfg(test)]
        pub(crate) fn kinds() -> Vec<crate::plan::Kind> {
            let mut kinds = Vec::new();
            $(kinds.extend_from_slice(<$module::$resource as Resource>::KINDS);)+
            kinds
        }

        impl Execute<Operation> for Clients {
            async fn execute(&self, operation: &Operation, report: Report<'_>)
                -> Result<Executed, Error>
            {
                match operation {
                    $(Operation::$resource(op) =>
                        <$module::$resource as Resource>::execute(self, op, report).await,)+
                }
            }
        }
    };
}

resource_kinds! {
    iam_role::Role,
    instance_profile::InstanceProfile,
    instance_profile::ProfileRoles,
    association::Association,
    bucket::Bucket,
    object::Object,
    object::SiteFiles,
    parameter::Parameter,
}

#[cfg(test)]
mod tests {
    /// Issue 22, finding 10: the JSON schema took any string as a change's `resource`. Its enum is
    /// the registry's kinds; this test fails when a kind is added without it, and prints the
    /// list to put in `schema/provision.schema.json` (`$defs.resource`).
    #[test]
    fn the_schema_lists_exactly_the_registry_s_kinds() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/provision.schema.json"))
                .expect("the schema is JSON");
        let listed: Vec<&str> = schema["$defs"]["resource"]["enum"]
            .as_array()
            .expect("$defs.resource.enum")
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect();
        let kinds: Vec<String> = super::kinds().iter().map(ToString::to_string).collect();
        assert_eq!(
            listed,
            kinds,
            "set $defs.resource.enum in schema/provision.schema.json to {}",
            serde_json::to_string(&kinds).unwrap_or_default()
        );
        for line in ["change", "statusLine"] {
            assert_eq!(
                schema["$defs"][line]["properties"]["resource"]["$ref"], "#/$defs/resource",
                "{line}"
            );
        }
    }
}
