//! Status's rows, kind by kind: each kind's module builds its rows ([`Lifecycle::rows`]) from what
//! the commands would make of it by default ([`Expected`], the commands' own desired states) and
//! what was found, with the kind's own planner — so a row is drifted exactly when the command's
//! `--dry-run` would change the resource, and names the same differences. Rendering is the
//! `status` command's.
//!
//! [`Lifecycle::rows`]: crate::resources::Lifecycle::rows

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::plan::{Action, Detail, Drift, Kind};
use crate::resources::lifecycle::Tagged;
use crate::resources::ownership::{Claims, Holder, is_managed};
use crate::resources::tags::Tags;
use crate::resources::{Change, Expected, ObservedState};

/// One row of `provision status`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct StatusLine {
    pub(crate) resource: Kind,
    pub(crate) name: String,
    pub(crate) present: bool,
    /// Whether it matches what the commands would make it; `null` when missing or not one the
    /// commands make by default.
    pub(crate) in_sync: Option<bool>,
    /// Whether it carries `managed-by=provision`; `null` when missing or untaggable.
    pub(crate) owned: Option<bool>,
    /// Whose it is (`provision:owner`) when provision's: the owner's ARN, or `unknown` for one
    /// made before owners that AWS does not say the caller created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) owner: Option<String>,
    /// Whether the owner is the caller; `null` when not provision's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) yours: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) details: Vec<String>,
}

impl StatusLine {
    pub(crate) fn missing(resource: Kind, name: impl Into<String>) -> Self {
        Self {
            resource,
            name: name.into(),
            present: false,
            in_sync: None,
            owned: None,
            owner: None,
            yours: None,
            details: vec![],
        }
    }

    /// Present, but not one the commands make by default, so not compared with a desired state.
    pub(crate) fn present(
        resource: Kind,
        name: impl Into<String>,
        owned: Option<bool>,
        details: Vec<String>,
    ) -> Self {
        Self {
            resource,
            name: name.into(),
            present: true,
            in_sync: None,
            owned,
            owner: None,
            yours: None,
            details,
        }
    }

    /// Folds a resource's planned changes into one line: in sync when nothing would change but,
    /// at most, adoption.
    pub(crate) fn compared(
        resource: Kind,
        name: &str,
        changes: &[Change],
        owned: Option<bool>,
    ) -> Self {
        let mut details = Vec::new();
        for change in changes.iter().filter(|c| c.action != Action::Unchanged) {
            let drift: Vec<String> = change.drift().map(Drift::to_string).collect();
            let only_adoption =
                !change.details.is_empty() && change.details.iter().all(Detail::is_ownership);
            if !drift.is_empty() {
                details.extend(drift);
            } else if !only_adoption {
                details.push(format!(
                    "{} {} would be {}",
                    change.kind,
                    change.name,
                    change.action.past()
                ));
            }
        }
        Self {
            resource,
            name: name.to_string(),
            present: true,
            in_sync: Some(details.is_empty()),
            owned,
            owner: None,
            yours: None,
            details,
        }
    }

    /// Says whose the resource is, when it is provision's.
    pub(crate) fn owned_by(mut self, claims: &Claims, tags: &Tags) -> Self {
        if !is_managed(tags) {
            return self;
        }
        let holder = claims.holder(self.resource, &self.name, tags);
        self.yours = Some(holder == Holder::Caller);
        self.owner = Some(match holder {
            Holder::Caller => claims.owner.clone(),
            Holder::Other(owner) => owner,
            Holder::Unknown(why) => {
                self.details.push(format!("owner unknown: {why}"));
                "unknown".to_string()
            }
        });
        self
    }
}

/// Status's rows as the kinds build them, in registry order, with the owners of provision's
/// resources left out (another owner's, without `--all-owners`).
pub(crate) struct Rows<'a> {
    /// What the commands would make by default.
    pub(crate) expected: &'a Expected,
    pub(crate) observed: &'a ObservedState,
    pub(crate) claims: &'a Claims,
    lines: Vec<StatusLine>,
    left_out: BTreeMap<String, usize>,
}

impl<'a> Rows<'a> {
    pub(crate) fn new(
        expected: &'a Expected,
        observed: &'a ObservedState,
        claims: &'a Claims,
    ) -> Self {
        Self {
            expected,
            observed,
            claims,
            lines: Vec::new(),
            left_out: BTreeMap::new(),
        }
    }

    pub(crate) fn push(&mut self, line: StatusLine) {
        self.lines.push(line);
    }

    /// Puts `details` of what was found first on the compared rows of `kind` (the others show
    /// them already): what a kind's row says whether or not it is in sync (the IDE's state).
    pub(crate) fn describe_compared<T: Tagged>(
        &mut self,
        kind: Kind,
        found: &BTreeMap<String, T>,
        details: impl Fn(&T) -> Vec<String>,
    ) {
        for line in self
            .lines
            .iter_mut()
            .filter(|l| l.resource == kind && l.present && l.in_sync.is_some())
        {
            if let Some(current) = found.get(&line.name) {
                let mut described = details(current);
                described.append(&mut line.details);
                line.details = described;
            }
        }
    }

    /// The rows, and how many of provision's resources each other owner holds that were left out.
    pub(crate) fn finish(self) -> (Vec<StatusLine>, BTreeMap<String, usize>) {
        (self.lines, self.left_out)
    }

    /// A command's default resource that another owner holds: shown as theirs, not compared.
    pub(crate) fn theirs(&self, kind: Kind, name: &str, tags: &Tags) -> Option<StatusLine> {
        (!self.claims.considers(kind, name, tags)).then(|| {
            StatusLine::present(kind, name, Some(true), vec![]).owned_by(self.claims, tags)
        })
    }

    /// Whether a found resource that is no command's default is listed (counting what is not).
    pub(crate) fn listed(&mut self, kind: Kind, name: &str, tags: &Tags) -> bool {
        self.claims
            .considers_counting(kind, name, tags, &mut self.left_out)
    }

    /// The rows of a kind kept by name: each expected resource (`names`) missing, another
    /// owner's, or compared by `compare` (its planned changes); then every other one found and
    /// listed, with `details`.
    pub(crate) fn by_name<T: Tagged>(
        &mut self,
        kind: Kind,
        names: &[&str],
        found: &BTreeMap<String, T>,
        compare: impl Fn(&str, &T) -> Result<Vec<Change>, crate::error::Error>,
        details: impl Fn(&T) -> Vec<String>,
    ) -> Result<(), crate::error::Error> {
        for name in names {
            let line = match found.get(*name) {
                None => StatusLine::missing(kind, *name),
                Some(current) => match self.theirs(kind, name, current.tags()) {
                    Some(line) => line,
                    None => StatusLine::compared(
                        kind,
                        name,
                        &compare(name, current)?,
                        Some(is_managed(current.tags())),
                    )
                    .owned_by(self.claims, current.tags()),
                },
            };
            self.push(line);
        }
        self.others(kind, names, found, details);
        Ok(())
    }

    /// The rows of kind `K`, kept by name, each expected resource compared by `K`'s own planner:
    /// [`Rows::by_name`] with `K::plan(desired, found)` as the comparison.
    pub(crate) fn planned<K>(
        &mut self,
        kind: Kind,
        expected: &[K::Desired],
        name_of: impl Fn(&K::Desired) -> &str,
        found: &BTreeMap<String, K::Observed>,
        details: impl Fn(&K::Observed) -> Vec<String>,
    ) -> Result<(), crate::error::Error>
    where
        K: crate::resources::Resource,
        K::Observed: Tagged,
    {
        let names: Vec<&str> = expected.iter().map(&name_of).collect();
        let claims = self.claims;
        self.by_name(
            kind,
            &names,
            found,
            |name, current| {
                let desired = expected.iter().find(|d| name_of(d) == name);
                K::plan(desired, Some(current), claims)
            },
            details,
        )
    }

    /// Every found resource of a kind that is none of the commands' defaults (`names`) and is
    /// listed: shown with `details`, not compared.
    pub(crate) fn others<T: Tagged>(
        &mut self,
        kind: Kind,
        names: &[&str],
        found: &BTreeMap<String, T>,
        details: impl Fn(&T) -> Vec<String>,
    ) {
        for other in found.values().filter(|f| !names.contains(&f.name())) {
            if self.listed(kind, other.name(), other.tags()) {
                let line = StatusLine::present(
                    kind,
                    other.name(),
                    Some(is_managed(other.tags())),
                    details(other),
                )
                .owned_by(self.claims, other.tags());
                self.push(line);
            }
        }
    }
}
