//! What each command wants and what it finds: a `DesiredState` built from the command line and
//! files alone (no AWS), the one [`ObservedState`] read from AWS, and one pure
//! `plan(&DesiredState, &ObservedState) -> Result<Plan>` per command that owns every dependency
//! edge between resources. Commands are thin: check input, connect, observe, plan, print, apply.
//!
//! | command            | module               |
//! |--------------------|----------------------|
//! | `ide`              | [`ide`]              |
//! | `instance-profile` | [`instance_profile`] |
//! | `dragons-lab`      | [`dragons_lab`]      |
//! | `teardown`, `status` (discovery, through the registry) | [`teardown`] |

pub(crate) mod cloudformation;
pub(crate) mod creators;
pub(crate) mod dragons_api;
pub(crate) mod dragons_lab;
pub(crate) mod ide;
pub(crate) mod instance_profile;
pub(crate) mod restricted;
pub(crate) mod teardown;

#[cfg(test)]
pub(crate) mod fake;

use std::collections::BTreeMap;

use crate::engine::plan::Kind;
use crate::resources::bucket::ObservedBucket;
use crate::resources::iam_role::ObservedRole;
use crate::resources::instance_profile::ObservedProfile;
use crate::resources::ownership::Claims;
use crate::resources::tags::Tags;

/// Everything a command read from AWS: its collections are the registry's (`resource_kinds!`).
pub(crate) use crate::resources::ObservedState;

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
    /// owners hold (unless `--all-owners`), of every kind. Returns the owners of what was
    /// dropped, with how many.
    pub(crate) fn retain_considered(&mut self, claims: &Claims) -> BTreeMap<String, usize> {
        let mut others: BTreeMap<String, usize> = BTreeMap::new();
        self.retain(&mut |kind: Kind, name: &str, tags: &Tags| {
            claims.considers_counting(kind, name, tags, &mut others)
        });
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
