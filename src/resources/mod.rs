//! Every AWS resource `provision` manages, behind one contract ([`Resource`]): how it is observed,
//! how desired and observed state turn into plan changes (pure), and how each planned request is
//! executed. One module per resource; each kind is registered once, in `resource_kinds!` below,
//! which gives it its arm of [`Operation`] and the executor's dispatch to it — so the compiler
//! points at anything a new kind still lacks.
//!
//! Resource modules import none of each other: edges between resources (a membership waits for its
//! role) are drawn by the command's plan (`plans`).

pub(crate) mod association;
pub(crate) mod bucket;
pub(crate) mod function;
pub(crate) mod iam_role;
pub(crate) mod instance;
pub(crate) mod instance_profile;
pub(crate) mod lifecycle;
pub(crate) mod object;
pub(crate) mod ownership;
pub(crate) mod parameter;
pub(crate) mod rest_api;
pub(crate) mod security_group;
#[cfg(test)]
pub(crate) mod simulated;
pub(crate) mod status;
pub(crate) mod tags;
pub(crate) mod user_pool;

use std::collections::{BTreeMap, BTreeSet};

use crate::connection::clients::Clients;
use crate::engine::apply::{Execute, Executed, Report};
use crate::engine::plan::Kind;
use crate::error::Error;
pub(crate) use crate::resources::lifecycle::{
    CloudFormation, CreatedBy, Discovery, Inventoried, Keep, Lifecycle, Part,
};
use crate::resources::ownership::{Claims, Creator};
use crate::resources::tags::Tags;

/// A plan line of the program, carrying its AWS requests.
pub(crate) type Change = crate::engine::plan::Change<Operation>;
/// A plan of the program.
pub(crate) type Plan = crate::engine::plan::Plan<Operation>;

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
    const KINDS: &'static [crate::engine::plan::Kind];

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

/// Registers resource kinds, one line each — `collection: module::Kind`, in dependency order (a
/// kind after every kind it needs) — and generates what iterates over kinds: its arm of
/// [`Operation`] (named after the resource) with a conversion from its op type, the executor's
/// exhaustive dispatch to its `execute` (and the tests' account in memory to its `simulate`), its
/// collection in [`ObservedState`], and discovery, teardown's removal, status's rows, owner
/// filtering and the creators' inventory over every kind ([`Lifecycle`]).
macro_rules! resource_kinds {
    ($($field:ident : $module:ident :: $resource:ident),+ $(,)?) => {
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
        pub(crate) fn kinds() -> Vec<crate::engine::plan::Kind> {
            let mut kinds = Vec::new();
            $(kinds.extend_from_slice(<$module::$resource as Resource>::KINDS);)+
            kinds
        }

        /// The registered kind whose plan lines include `line` (a role's for its policies').
        #[cfg(test)]
        pub(crate) fn lifecycle_of(line: Kind) -> Option<Kind> {
            $(
                if <$module::$resource as Resource>::KINDS.contains(&line) {
                    return Some(<$module::$resource as Lifecycle>::KIND);
                }
            )+
            None
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

        /// Executes `operation` in the account in memory, with its kind's [`simulated::Simulated`].
        #[cfg(test)]
        pub(crate) fn simulate(
            operation: &Operation,
            world: &mut simulated::World,
        ) -> Result<Executed, String> {
            match operation {
                $(Operation::$resource(op) =>
                    <$module::$resource as simulated::Simulated>::simulate(op, world),)+
            }
        }

        /// Everything a command read from AWS: a collection per kind. A resource absent from its
        /// collection does not exist (or was not looked for: each command reads what its plan
        /// needs).
        #[derive(Debug, Clone, Default, PartialEq)]
        pub(crate) struct ObservedState {
            $(pub(crate) $field: <$module::$resource as Lifecycle>::Found,)+
            /// The first keys (at most two) of a bucket of the caller's that is not tagged as
            /// provision's: enough to tell an interrupted creation (empty, or only the data) from
            /// someone's bucket.
            pub(crate) untagged_contents: BTreeMap<String, Vec<String>>,
            /// Who AWS says created the resources provision tagged before it recorded owners.
            pub(crate) creators: BTreeMap<(Kind, String), Creator>,
            /// What the caller's runs on this machine began to create and never saw tagged (the
            /// local journal, read with the rest: see `journal`).
            pub(crate) begun: BTreeSet<(String, String)>,
        }

        /// What the commands would make by default, kind by kind: the desired state `status`
        /// compares with, which each command's state adds its part to. A kind no command makes by
        /// default (an association needs an instance selector) keeps its list empty.
        #[derive(Default)]
        #[allow(dead_code)]
        pub(crate) struct Expected {
            $(pub(crate) $field: Vec<<$module::$resource as Resource>::Desired>,)+
        }

        /// Every status row, kind by kind in registry order, with the owners of what was left
        /// out. Pure.
        pub(crate) fn rows(
            expected: &Expected,
            observed: &ObservedState,
            claims: &Claims,
        ) -> Result<(Vec<status::StatusLine>, BTreeMap<String, usize>), Error> {
            let mut rows = status::Rows::new(expected, observed, claims);
            $(<$module::$resource as Lifecycle>::rows(&mut rows)?;)+
            Ok(rows.finish())
        }

        /// Every kind's life, in registry order: what the tests check the registry against.
        #[cfg(test)]
        pub(crate) const LIFECYCLES: &[Life] = &[$(Life::of::<$module::$resource>(),)+];

        /// Finds everything provision may have made in `discovery`'s scope: every kind at once,
        /// then each kind completes from the ones before it.
        pub(crate) async fn discover(discovery: &Discovery<'_>) -> Result<ObservedState, Error> {
            let ($($field,)+) = tokio::join!($(async {
                match discovery.includes(<$module::$resource as Lifecycle>::MADE_BY) {
                    true => <$module::$resource as Lifecycle>::discover(discovery).await,
                    false => Ok(Default::default()),
                }
            }),+);
            let mut observed = ObservedState {
                $($field: $field?,)+
                begun: discovery.begun.clone(),
                ..Default::default()
            };
            $(
                if discovery.includes(<$module::$resource as Lifecycle>::MADE_BY) {
                    <$module::$resource as Lifecycle>::complete(discovery, &mut observed).await?;
                }
            )+
            Ok(observed)
        }

        /// Plans the removal of everything observed, in reverse dependency order. Pure.
        pub(crate) fn removal(
            observed: &ObservedState,
            keep: Keep,
            claims: &Claims,
        ) -> Result<Vec<Change>, Error> {
            Ok(lifecycle::in_reverse_dependency_order(vec![$(lifecycle::Removal {
                kind: <$module::$resource as Lifecycle>::KIND,
                needs: <$module::$resource as Lifecycle>::NEEDS,
                changes: <$module::$resource as Lifecycle>::removal(observed, keep, claims)?,
            },)+]))
        }

        impl ObservedState {
            /// Every found resource that carries provision's tags, with its kind's life.
            pub(crate) fn inventory(&self) -> Vec<(Life, Inventoried<'_>)> {
                let mut inventory = Vec::new();
                $(
                    let life = Life::of::<$module::$resource>();
                    for found in <$module::$resource as Lifecycle>::inventory(&self.$field) {
                        inventory.push((life, found));
                    }
                )+
                inventory
            }

            /// Keeps, of every kind, what `keep(kind, name, tags)` says.
            pub(crate) fn retain(&mut self, keep: &mut dyn FnMut(Kind, &str, &Tags) -> bool) {
                $(
                    <$module::$resource as Lifecycle>::retain(
                        &mut self.$field,
                        &mut |name, tags| keep(<$module::$resource as Lifecycle>::KIND, name, tags),
                    );
                )+
            }
        }
    };
}

/// One kind's life, as the registry lists it (see [`Lifecycle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Life {
    pub(crate) kind: Kind,
    pub(crate) made_by: &'static [Part],
    pub(crate) needs: &'static [Kind],
    pub(crate) created_by: CreatedBy,
    pub(crate) cloudformation: CloudFormation,
}

impl Life {
    /// What kind `K` declares.
    pub(crate) const fn of<K: Lifecycle>() -> Self {
        Self {
            kind: K::KIND,
            made_by: K::MADE_BY,
            needs: K::NEEDS,
            created_by: K::CREATED_BY,
            cloudformation: K::CLOUDFORMATION,
        }
    }
}

resource_kinds! {
    roles: iam_role::Role,
    profiles: instance_profile::InstanceProfile,
    memberships: instance_profile::ProfileRoles,
    instances: association::Association,
    buckets: bucket::Bucket,
    objects: object::Object,
    listings: object::SiteFiles,
    parameters: parameter::Parameter,
    security_groups: security_group::SecurityGroup,
    ec2_instances: instance::Instance,
    functions: function::Function,
    user_pools: user_pool::UserPool,
    apis: rest_api::RestApi,
}

/// What `kind` needs, directly or through what it needs.
#[cfg(test)]
pub(crate) fn needs_transitively(kind: Kind) -> BTreeSet<Kind> {
    let mut needed = BTreeSet::new();
    let mut next = vec![kind];
    while let Some(kind) = next.pop() {
        for life in LIFECYCLES.iter().filter(|l| l.kind == kind) {
            for needs in life.needs {
                if needed.insert(*needs) {
                    next.push(*needs);
                }
            }
        }
    }
    needed
}

/// Checks that every edge of `plan` between two kinds runs along the registry's dependency order:
/// in a plan that creates, a line waits only for kinds its kind needs; in one that removes
/// (`removing`), only for kinds that need its kind.
#[cfg(test)]
pub(crate) fn follows_the_registry(plan: &Plan, removing: bool) -> Result<(), String> {
    for change in plan.changes() {
        for dependency in &change.depends_on {
            let (Some(this), Some(that)) =
                (lifecycle_of(change.kind), lifecycle_of(dependency.kind))
            else {
                return Err(format!(
                    "{} or {} is not registered",
                    change.id(),
                    dependency
                ));
            };
            let along = match removing {
                false => this == that || needs_transitively(this).contains(&that),
                true => this == that || needs_transitively(that).contains(&this),
            };
            if !along {
                return Err(format!(
                    "{} waits for {dependency}, against the registry's order",
                    change.id()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dependency order is the registry's order: a kind needs only kinds registered before it,
    /// so that teardown, which removes in reverse registry order, never removes what another
    /// kind still needs.
    #[test]
    fn every_kind_needs_only_kinds_registered_before_it() {
        for (position, life) in LIFECYCLES.iter().enumerate() {
            for needed in life.needs {
                assert!(
                    LIFECYCLES[..position].iter().any(|l| l.kind == *needed),
                    "{} needs {needed}, which is not registered before it",
                    life.kind
                );
            }
            assert!(
                !life.made_by.is_empty(),
                "{} is made by no command",
                life.kind
            );
        }
        let kinds: BTreeSet<Kind> = LIFECYCLES.iter().map(|l| l.kind).collect();
        assert_eq!(kinds.len(), LIFECYCLES.len(), "a kind is registered twice");
    }

    /// A part's creator and CloudFormation resource are its whole's: that whole is a registered
    /// kind with a creator and a type of its own.
    #[test]
    fn a_part_belongs_to_a_registered_whole() {
        let life = |kind: Kind| LIFECYCLES.iter().find(|l| l.kind == kind);
        for part in LIFECYCLES {
            if let CreatedBy::PartOf(whole) = part.created_by {
                let whole = life(whole).expect("the whole is registered");
                assert!(
                    !matches!(whole.created_by, CreatedBy::PartOf(_)),
                    "{} is part of a part",
                    part.kind
                );
            }
            if let CloudFormation::PropertyOf(whole) = part.cloudformation {
                let whole = life(whole).expect("the whole is registered");
                assert!(
                    matches!(whole.cloudformation, CloudFormation::Type(_)),
                    "{} is a property of {}, which has no CloudFormation type",
                    part.kind,
                    whole.kind
                );
            }
        }
    }

    /// Every plan line kind belongs to exactly one registered kind.
    #[test]
    fn every_plan_line_belongs_to_a_registered_kind() {
        for line in kinds() {
            assert!(lifecycle_of(line).is_some(), "{line}");
        }
    }
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
