//! What each command wants and what it finds: a `DesiredState` built from the command line and
//! files alone (no AWS), the one [`ObservedState`] read from AWS, and one pure
//! `plan(&DesiredState, &ObservedState) -> Result<Plan>` per command that owns every dependency
//! edge between resources. Commands are thin: check input, connect, observe, plan, print, apply.
//!
//! | command            | module               |
//! |--------------------|----------------------|
//! | `instance-profile` | [`instance_profile`] |
//! | `dragons-lab`      | [`dragons_lab`]      |
//! | `teardown`, `status` (discovery) | [`teardown`] |

pub(crate) mod creators;
pub(crate) mod dragons_lab;
pub(crate) mod instance_profile;
pub(crate) mod teardown;

#[cfg(test)]
pub(crate) mod fake;

use std::collections::BTreeMap;

use crate::plan::Kind;
use crate::resources::association::InstanceObservation;
use crate::resources::bucket::BUCKET;
use crate::resources::bucket::ObservedBucket;
use crate::resources::iam_role::ObservedRole;
use crate::resources::iam_role::ROLE;
use crate::resources::instance_profile::ObservedProfile;
use crate::resources::instance_profile::PROFILE;
use crate::resources::object::{Listing, ObservedObject};
use crate::resources::ownership::{Claims, Creator};
use crate::resources::parameter::{ObservedParameter, PARAMETER};
use crate::resources::tags::Tags;

/// Everything a command read from AWS. A resource absent from its map does not exist (or was not
/// looked for: each command reads what its plan needs).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ObservedState {
    pub(crate) roles: BTreeMap<String, ObservedRole>,
    pub(crate) profiles: BTreeMap<String, ObservedProfile>,
    /// The instances a selector matched, and every association by instance.
    pub(crate) instances: InstanceObservation,
    pub(crate) buckets: BTreeMap<String, ObservedBucket>,
    /// Objects by `bucket/key`.
    pub(crate) objects: BTreeMap<String, ObservedObject>,
    /// Every object of a bucket, by bucket (read for `--site`).
    pub(crate) listings: BTreeMap<String, Listing>,
    pub(crate) parameters: BTreeMap<String, ObservedParameter>,
    /// The first keys (at most two) of a bucket of the caller's that is not tagged as provision's:
    /// enough to tell an interrupted creation (empty, or only the data) from someone's bucket.
    pub(crate) untagged_contents: BTreeMap<String, Vec<String>>,
    /// Who AWS says created the resources provision tagged before it recorded owners.
    pub(crate) creators: BTreeMap<(Kind, String), Creator>,
    /// What the caller's runs on this machine began to create and never saw tagged (the local
    /// journal, read with the rest: see `journal`).
    pub(crate) begun: std::collections::BTreeSet<(String, String)>,
}

impl ObservedState {
    /// `claims`, knowing who created the resources made before owners, and which untagged ones
    /// are the caller's interrupted creates.
    pub(crate) fn knowing_creators(&self, claims: &Claims) -> Claims {
        let mut claims = claims.clone();
        claims.creators.extend(self.creators.clone());
        claims.begun.extend(self.begun.iter().cloned());
        claims
    }

    /// Drops what `status` and `teardown` do not consider: provision's resources that other
    /// owners hold (unless `--all-owners`). Returns the owners of what was dropped, with how many.
    pub(crate) fn retain_considered(&mut self, claims: &Claims) -> BTreeMap<String, usize> {
        let mut others: BTreeMap<String, usize> = BTreeMap::new();
        let mut keep = |kind: Kind, name: &str, tags: &Tags| {
            claims.considers_counting(kind, name, tags, &mut others)
        };
        self.roles.retain(|name, r| keep(ROLE, name, &r.tags));
        self.profiles.retain(|name, p| keep(PROFILE, name, &p.tags));
        self.buckets.retain(|name, b| keep(BUCKET, name, &b.tags));
        self.parameters
            .retain(|name, p| keep(PARAMETER, name, &p.tags));
        others
    }

    pub(crate) fn add_role(&mut self, role: Option<ObservedRole>) {
        if let Some(role) = role {
            self.roles.insert(role.name.clone(), role);
        }
    }

    pub(crate) fn add_profile(&mut self, profile: Option<ObservedProfile>) {
        if let Some(profile) = profile {
            self.profiles.insert(profile.name.clone(), profile);
        }
    }

    pub(crate) fn add_bucket(&mut self, bucket: Option<ObservedBucket>) {
        if let Some(bucket) = bucket {
            self.buckets.insert(bucket.name.clone(), bucket);
        }
    }
}
