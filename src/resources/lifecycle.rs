//! The whole life of a resource kind, beside observe → plan → execute ([`Resource`]): which
//! command makes it, what it needs to exist first, how provision finds what it made (teardown and
//! status), who created one made before owner tags (CloudTrail), and what CloudFormation calls it.
//! Each kind implements [`Lifecycle`] in its own module — every item is required, so a kind that
//! lacks a part does not compile — and is registered once in `resource_kinds!`
//! (`resources/mod.rs`), which generates everything that iterates over kinds: `ObservedState`'s
//! collections, discovery, teardown's removal in reverse dependency order, status's rows, owner
//! filtering, the creators' inventory.

use std::collections::{BTreeMap, BTreeSet};

use crate::connection::clients::Clients;
use crate::engine::plan::{Action, Kind, ResourceId};
use crate::error::Error;
use crate::resources::ownership::Claims;
use crate::resources::status::Rows;
use crate::resources::tags::Tags;
use crate::resources::{Change, ObservedState, Resource};
pub(crate) use crate::settings::Part;

/// Where a kind's CloudTrail management events are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Events {
    /// A global service's (IAM): the partition's first region.
    Global,
    /// In the resource's own region (a bucket's).
    InItsRegion,
}

/// How AWS tells who created one of provision's resources made before it recorded owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreatedBy {
    /// The latest CloudTrail event of this name for the resource's name ("Working with
    /// CloudTrail event history", CloudTrail User Guide: 90 days, every account, no trail).
    Event {
        name: &'static str,
        recorded: Events,
    },
    /// The service names who last changed it (SSM's `LastModifiedUser`).
    LastModifiedUser,
    /// provision records the owner on what it changed (an association, on its instance), from
    /// the first version that made it.
    Recorded,
    /// Part of another kind's resource, whose creator it shares.
    PartOf(Kind),
}

/// What CloudFormation calls a kind, for `export cloudformation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloudFormation {
    /// A resource type of its own.
    Type(&'static str),
    /// A property of another kind's resource (a bucket's public-access block).
    PropertyOf(Kind),
    /// No template can make it; the reason, which the export lists with the command that does.
    Not(&'static str),
}

impl CloudFormation {
    /// The resource type, where it has one of its own.
    pub(crate) const fn type_name(self) -> Option<&'static str> {
        match self {
            Self::Type(name) => Some(name),
            Self::PropertyOf(_) | Self::Not(_) => None,
        }
    }
}

/// One found resource as the owner rules see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Inventoried<'a> {
    pub(crate) name: &'a str,
    pub(crate) tags: &'a Tags,
    /// Its region where that is its own (a bucket's): where its CloudTrail events are.
    pub(crate) region: Option<String>,
}

/// Where teardown and status look: the names the commands use by default (found even outside
/// provision's path or tags) and the commands whose resources are looked for.
#[derive(Clone)]
pub(crate) struct Discovery<'a> {
    pub(crate) clients: &'a Clients,
    pub(crate) partition: &'a str,
    pub(crate) role_name: &'a str,
    pub(crate) profile_name: &'a str,
    pub(crate) lab_bucket: &'a str,
    /// The lab's parameters, by full name.
    pub(crate) parameter_names: Vec<String>,
    /// What the caller's runs on this machine began to create (the journal).
    pub(crate) begun: &'a BTreeSet<(String, String)>,
    /// The commands whose resources are looked for (all, or `teardown --only`'s).
    pub(crate) parts: Vec<Part>,
}

impl Discovery<'_> {
    /// Whether a kind made by `made_by` is looked for.
    pub(crate) fn includes(&self, made_by: &[Part]) -> bool {
        made_by.iter().any(|part| self.parts.contains(part))
    }
}

/// What teardown is told to keep.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Keep {
    /// The buckets and their contents (`--keep-data`).
    pub(crate) data: bool,
}

/// The whole life of one kind. No item has a default.
pub(crate) trait Lifecycle: Resource {
    /// The plan line that stands for the resource (a role's, not its policies').
    const KIND: Kind;
    /// The commands that make it: teardown `--only` looks for it with theirs.
    const MADE_BY: &'static [Part];
    /// What must exist before it (a profile's membership needs the role and the profile):
    /// commands create those first and teardown removes it first. A kind needs only kinds
    /// registered before it.
    const NEEDS: &'static [Kind];
    /// Who created one made before owner tags.
    const CREATED_BY: CreatedBy;
    /// Its CloudFormation resource.
    const CLOUDFORMATION: CloudFormation;

    /// `ObservedState`'s collection of the kind.
    type Found: std::fmt::Debug + Clone + Default + PartialEq;

    /// Finds what provision may have made of the kind (by path, tag, name or record),
    /// concurrently with every other kind.
    async fn discover(discovery: &Discovery<'_>) -> Result<Self::Found, Error>;

    /// Completes discovery from what the kinds before it found (a role that one of provision's
    /// profiles holds); usually no request.
    async fn complete(discovery: &Discovery<'_>, observed: &mut ObservedState)
    -> Result<(), Error>;

    /// Every found resource that carries provision's tags, for the owner rules.
    fn inventory(found: &Self::Found) -> Vec<Inventoried<'_>>;

    /// Keeps what `keep(name, tags)` says.
    fn retain(found: &mut Self::Found, keep: &mut dyn FnMut(&str, &Tags) -> bool);

    /// Plans the removal of what was found (teardown), each resource on its own; the registry
    /// orders the kinds.
    fn removal(observed: &ObservedState, keep: Keep, claims: &Claims)
    -> Result<Vec<Change>, Error>;

    /// Adds the kind's status rows: each resource the commands would make by default
    /// (`rows.expected`) compared with what was found by the kind's own planner, and every other
    /// one provision made that was found. A part shown in its whole's row adds none.
    fn rows(rows: &mut Rows<'_>) -> Result<(), Error>;
}

/// A found resource that carries tags, kept by its name in its kind's collection.
pub(crate) trait Tagged {
    fn name(&self) -> &str;
    fn tags(&self) -> &Tags;
}

/// Reads the named resources concurrently into a collection by name; what does not exist is left
/// out.
pub(crate) async fn observe_by_name<T: Tagged, Found>(
    names: BTreeSet<String>,
    observe: impl Fn(String) -> Found,
) -> Result<BTreeMap<String, T>, Error>
where
    Found: Future<Output = Result<Option<T>, Error>>,
{
    let found = futures::future::join_all(names.into_iter().map(observe)).await;
    let mut collection = BTreeMap::new();
    for resource in found {
        if let Some(resource) = resource? {
            collection.insert(resource.name().to_string(), resource);
        }
    }
    Ok(collection)
}

/// The inventory of a collection by name, of resources with no region of their own.
pub(crate) fn inventory_by_name<T: Tagged>(found: &BTreeMap<String, T>) -> Vec<Inventoried<'_>> {
    found
        .iter()
        .map(|(name, resource)| Inventoried {
            name,
            tags: resource.tags(),
            region: None,
        })
        .collect()
}

/// A found resource in a region of its own (an EC2 resource's): where its CloudTrail events are.
pub(crate) trait Regional: Tagged {
    fn region(&self) -> &str;
}

/// The inventory of a collection by name, of resources each in its own region.
pub(crate) fn inventory_in_region<T: Regional>(
    found: &BTreeMap<String, T>,
) -> Vec<Inventoried<'_>> {
    found
        .values()
        .map(|resource| Inventoried {
            name: resource.name(),
            tags: resource.tags(),
            region: Some(resource.region().to_string()),
        })
        .collect()
}

/// Keeps what `keep(name, tags)` says of a collection by name.
pub(crate) fn retain_by_name<T: Tagged>(
    found: &mut BTreeMap<String, T>,
    keep: &mut dyn FnMut(&str, &Tags) -> bool,
) {
    found.retain(|name, resource| keep(name, resource.tags()));
}

/// Each found resource's removal, planned on its own.
pub(crate) fn remove_each<'a, K: Resource + 'a>(
    found: impl IntoIterator<Item = &'a K::Observed>,
    claims: &Claims,
) -> Result<Vec<Change>, Error> {
    let mut changes = Vec::new();
    for resource in found {
        changes.extend(K::plan(None, Some(resource), claims)?);
    }
    Ok(changes)
}

/// The discovery, completion, inventory, owner filtering and removal of a kind found and removed
/// with its whole (an object with its bucket, which teardown empties whatever it holds): none of
/// its own. A kind says so by invoking this inside its `impl Lifecycle`.
macro_rules! found_with_its_whole {
    () => {
        async fn discover(
            _: &crate::resources::Discovery<'_>,
        ) -> Result<Self::Found, crate::error::Error> {
            Ok(Default::default())
        }

        async fn complete(
            _: &crate::resources::Discovery<'_>,
            _: &mut crate::resources::ObservedState,
        ) -> Result<(), crate::error::Error> {
            Ok(())
        }

        fn inventory(_: &Self::Found) -> Vec<crate::resources::Inventoried<'_>> {
            Vec::new()
        }

        fn retain(
            _: &mut Self::Found,
            _: &mut dyn FnMut(&str, &crate::resources::tags::Tags) -> bool,
        ) {
        }

        fn removal(
            _: &crate::resources::ObservedState,
            _: crate::resources::Keep,
            _: &crate::resources::ownership::Claims,
        ) -> Result<Vec<crate::resources::Change>, crate::error::Error> {
            Ok(Vec::new())
        }
    };
}
pub(crate) use found_with_its_whole;

/// One kind's removal, with its place in dependency order.
pub(crate) struct Removal {
    pub(crate) kind: Kind,
    pub(crate) needs: &'static [Kind],
    pub(crate) changes: Vec<Change>,
}

/// Joins the kinds' removals, given in registry (dependency) order: listed in reverse, and a
/// kind's own line waits for every change of every kind that needs it (an instance profile is
/// deleted after its roles left it and its associations went).
pub(crate) fn in_reverse_dependency_order(removals: Vec<Removal>) -> Vec<Change> {
    let changing = |changes: &[Change]| -> Vec<ResourceId> {
        changes
            .iter()
            .filter(|c| c.action != Action::Unchanged)
            .map(Change::id)
            .collect()
    };
    let mut joined = Vec::new();
    for removal in removals.iter().rev() {
        let first: Vec<ResourceId> = removals
            .iter()
            .filter(|other| other.needs.contains(&removal.kind))
            .flat_map(|other| changing(&other.changes))
            .collect();
        for change in &removal.changes {
            let mut change = change.clone();
            if change.kind == removal.kind && change.action != Action::Unchanged {
                for id in &first {
                    change = change.after(id.clone());
                }
            }
            joined.push(change);
        }
    }
    joined
}

/// Sends a create that AWS does not make idempotent — a second request makes a second resource of
/// the same name (a REST API, a user pool, an app client, an authorizer) — so that an answer lost
/// after the resource was made does not make another: `send` makes one attempt (it turns the SDK's
/// retries off), and after a failure that may have been applied (a 5xx, throttling, no answer)
/// `look` says whether the resource is there before the next attempt. As many attempts as the SDK
/// would make (`AWS_MAX_ATTEMPTS`), `pause` apart (the service's rate for the create); a refusal
/// (4xx) is final at once.
pub(crate) async fn create_once<T, E, Send, Sent, Look, Looked>(
    action: &str,
    what: &str,
    pause: std::time::Duration,
    report: crate::engine::apply::Report<'_>,
    mut send: Send,
    mut look: Look,
) -> Result<T, Error>
where
    Send: FnMut() -> Sent,
    Sent: Future<
        Output = Result<
            T,
            aws_smithy_runtime_api::client::result::SdkError<
                E,
                aws_smithy_runtime_api::http::Response,
            >,
        >,
    >,
    Look: FnMut() -> Looked,
    Looked: Future<Output = Result<Option<T>, Error>>,
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + std::marker::Send
        + Sync
        + 'static,
{
    let attempts = crate::connection::clients::retry_config().max_attempts();
    let operation = action.rsplit(':').next().unwrap_or(action);
    let mut attempt = 1;
    loop {
        let error = match send().await {
            Ok(made) => return Ok(made),
            Err(e) => e,
        };
        let transient = match error.raw_response() {
            Some(response) => {
                let status = response.status().as_u16();
                status >= 500 || status == 429
            }
            None => true,
        };
        if !transient || attempt >= attempts {
            crate::requests::record_attempts(operation, attempt);
            return Err(crate::error::aws_error(action, error));
        }
        if let Some(made) = look().await? {
            return Ok(made);
        }
        report.progress(crate::engine::apply::Progress::Waiting(format!(
            "{what}: no answer to the create ({}); trying again (attempt {})",
            crate::error::error_chain(&error),
            attempt + 1
        )));
        tokio::time::sleep(pause).await;
        attempt += 1;
    }
}
