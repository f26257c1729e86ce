//! Who a resource belongs to, decided in one place for every kind.
//!
//! Everything `provision` creates carries the tags `managed-by=provision` and `provision:owner` =
//! the caller's principal (see `owners`). A same-named resource without `managed-by` belongs to
//! someone else: a command that wants it refuses unless `--adopt` (which tags it), and teardown
//! leaves it alone. An adopted IAM role or instance profile (a lab account's shared `LabRole`) also
//! carries `provision:adopted=true`: provision only adds to it (unless `--prune`), and teardown
//! removes what provision added, never the resource itself.
//!
//! Among provision's own resources, the owner decides: set-up changes only the caller's (another
//! owner's is refused, unless `--take-over`), and `status` and `teardown` consider only the caller's
//! (unless `--all-owners`). A resource made before provision recorded owners (`managed-by` only) is
//! the caller's when AWS says the caller created it (CloudTrail, or a parameter's last modifier:
//! [`Creator`]); otherwise its owner is unknown, and it is left alone like another owner's.

use std::collections::BTreeMap;

use crate::course::owners;
use crate::engine::plan::{Action, Detail, Kind};
use crate::error::Error;
use crate::resources::tags::Tags;
use crate::resources::{Change, Operation};

pub(crate) const MANAGED_BY_KEY: &str = "managed-by";
pub(crate) const MANAGED_BY_VALUE: &str = "provision";
/// Marks a resource provision adopted rather than created.
pub(crate) const ADOPTED_KEY: &str = "provision:adopted";
/// The principal a resource belongs to (see `owners`).
pub(crate) const OWNER_KEY: &str = "provision:owner";

/// True when the tags mark a resource as created (or adopted) by provision.
pub(crate) fn is_managed(tags: &Tags) -> bool {
    tags.get(MANAGED_BY_KEY).map(String::as_str) == Some(MANAGED_BY_VALUE)
}

/// True when provision created the resource (managed, and not adopted).
pub(crate) fn is_created(tags: &Tags) -> bool {
    is_managed(tags) && !is_adopted(tags)
}

/// True when provision adopted the resource (`--adopt` on a role or instance profile).
pub(crate) fn is_adopted(tags: &Tags) -> bool {
    is_managed(tags) && tags.get(ADOPTED_KEY).map(String::as_str) == Some("true")
}

/// Who AWS says created a resource that provision tagged before it recorded owners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Creator {
    /// The principal that created it, as an owner value.
    Known(String),
    /// AWS does not say: why (no creation event in CloudTrail's 90 days, the lookup refused…).
    Unknown(String),
}

/// Who holds one of provision's resources, seen from the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Holder {
    /// The caller: its owner tag, or (made before owners) AWS says the caller created it.
    Caller,
    /// Another principal, by its owner tag.
    Other(String),
    /// Made before owners, and AWS does not say the caller created it: why.
    Unknown(String),
}

impl Holder {
    /// The holder as a plan or status line says it.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Caller => "you".to_string(),
            Self::Other(owner) => owner.clone(),
            Self::Unknown(why) => format!("owner unknown: {why}"),
        }
    }
}

/// Whose resources a run may change or remove, and how: the caller's owner value, the flags that
/// widen it, and what AWS said about the creators of resources made before owners.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Claims {
    /// The caller's `provision:owner` value.
    pub(crate) owner: String,
    /// `--adopt`: take a same-named resource provision did not create.
    pub(crate) adopt: bool,
    /// `--take-over`: change a resource another owner holds, making it the caller's.
    pub(crate) take_over: bool,
    /// `--all-owners`: status and teardown include every owner's resources.
    pub(crate) all_owners: bool,
    /// Creators of the resources made before owners, by kind and name.
    pub(crate) creators: BTreeMap<(Kind, String), Creator>,
    /// What the caller's runs on this machine began to create and did not see tagged, as (kind,
    /// name): the local journal's record (see `journal`). Such a resource found untagged is the
    /// caller's half-made one.
    pub(crate) begun: std::collections::BTreeSet<(String, String)>,
}

impl Claims {
    /// The claims of a caller with owner value `owner`, no flags.
    pub(crate) fn of(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            ..Self::default()
        }
    }

    /// The tags a resource gets when provision creates it.
    pub(crate) fn tags(&self) -> Tags {
        Tags::from([
            (MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string()),
            (OWNER_KEY.to_string(), self.owner.clone()),
        ])
    }

    /// The tags an adopted IAM role or instance profile gets.
    pub(crate) fn adopted_tags(&self) -> Tags {
        let mut tags = self.tags();
        tags.insert(ADOPTED_KEY.to_string(), "true".to_string());
        tags
    }

    /// Who holds resource `name` of `kind`, which carries `tags` (one of provision's).
    pub(crate) fn holder(&self, kind: Kind, name: &str, tags: &Tags) -> Holder {
        if let Some(owner) = tags.get(OWNER_KEY) {
            return match *owner == self.owner {
                true => Holder::Caller,
                false => Holder::Other(owner.clone()),
            };
        }
        let made_before = "made before provision recorded owners";
        match self.creators.get(&(kind, name.to_string())) {
            Some(Creator::Known(creator)) if *creator == self.owner => Holder::Caller,
            Some(Creator::Known(creator)) => {
                Holder::Unknown(format!("{made_before}, by {creator}"))
            }
            Some(Creator::Unknown(why)) => Holder::Unknown(format!("{made_before}; {why}")),
            None => Holder::Unknown(made_before.to_string()),
        }
    }

    /// Whether resource `name` of `kind`, carrying `tags`, is the caller's.
    pub(crate) fn is_callers(&self, kind: Kind, name: &str, tags: &Tags) -> bool {
        self.holder(kind, name, tags) == Holder::Caller
    }

    /// Orders resources of `kind` that share a name (another owner's beside the caller's) with
    /// the caller's first; `of` reads an item's name and tags.
    pub(crate) fn callers_first<T>(
        &self,
        kind: Kind,
        items: &mut [T],
        of: impl Fn(&T) -> (&str, &Tags),
    ) {
        items.sort_by_key(|item| {
            let (name, tags) = of(item);
            !self.is_callers(kind, name, tags)
        });
    }

    /// Whether status and teardown consider a resource of provision's: the caller's, one whose
    /// owner is unknown (listed, left alone), or anyone's with `--all-owners`.
    pub(crate) fn considers(&self, kind: Kind, name: &str, tags: &Tags) -> bool {
        self.all_owners
            || !is_managed(tags)
            || !matches!(self.holder(kind, name, tags), Holder::Other(_))
    }

    /// [`Claims::considers`], counting in `left_out` (by owner) what another owner's tag keeps
    /// out: what status and teardown say they left out.
    pub(crate) fn considers_counting(
        &self,
        kind: Kind,
        name: &str,
        tags: &Tags,
        left_out: &mut BTreeMap<String, usize>,
    ) -> bool {
        let considered = self.considers(kind, name, tags);
        if !considered && let Some(owner) = tags.get(OWNER_KEY) {
            *left_out.entry(owner.clone()).or_default() += 1;
        }
        considered
    }

    /// Whether teardown may act on one of provision's resources: the caller's, or anyone's with
    /// `--all-owners`.
    pub(crate) fn acts_on(&self, kind: Kind, name: &str, tags: &Tags) -> bool {
        self.all_owners || self.holder(kind, name, tags) == Holder::Caller
    }

    /// Whether teardown removes a resource: provision created it, and it may act on it — or it is
    /// the caller's own create that was interrupted before its tags ([`Claims::began`]).
    pub(crate) fn removes(&self, kind: Kind, name: &str, tags: &Tags) -> bool {
        (is_created(tags) && self.acts_on(kind, name, tags)) || self.began(kind, name, tags)
    }

    /// Whether an untagged resource is one the caller's run began to create (the journal).
    pub(crate) fn began(&self, kind: Kind, name: &str, tags: &Tags) -> bool {
        !is_managed(tags) && self.begun.contains(&(kind.to_string(), name.to_string()))
    }

    /// Decides whether a set-up command may manage an existing resource: the caller's, adopted
    /// with `--adopt`, taken over with `--take-over`, or refused — with `not_ours` (usually
    /// [`not_ours`]) when provision did not make it, with [`held_elsewhere`] when another owner
    /// holds it.
    pub(crate) fn claim(
        &self,
        kind: Kind,
        name: &str,
        tags: &Tags,
        not_ours: impl FnOnce() -> Error,
    ) -> Result<Claim, Error> {
        if self.began(kind, name, tags) {
            return Ok(Claim::Resume);
        }
        if !is_managed(tags) {
            return match self.adopt {
                true => Ok(Claim::Adopt),
                false => Err(not_ours()),
            };
        }
        match self.holder(kind, name, tags) {
            Holder::Caller if is_adopted(tags) => Ok(Claim::Adopted),
            Holder::Caller => Ok(Claim::Ours),
            holder if self.take_over => Ok(Claim::TakeOver(holder.describe())),
            holder => Err(held_elsewhere(kind, name, &holder)),
        }
    }

    /// The tags that make an existing resource the caller's, with the plan's detail saying why:
    /// all of provision's for one adopted (`adopt_tags`), the owner for one taken over or made
    /// before owners. `None` when it already carries them.
    pub(crate) fn tagging(
        &self,
        claim: &Claim,
        current: &Tags,
        adopt_tags: Tags,
    ) -> Option<(Detail, Tags)> {
        let owner = || Tags::from([(OWNER_KEY.to_string(), self.owner.clone())]);
        match claim {
            Claim::Adopt => Some((Detail::Adopt, adopt_tags)),
            Claim::Resume => Some((Detail::ResumeCreate, self.tags())),
            Claim::TakeOver(from) => Some((Detail::TakeOver(from.clone()), owner())),
            Claim::Ours | Claim::Adopted if current.get(OWNER_KEY) != Some(&self.owner) => {
                Some((Detail::RecordOwner, owner()))
            }
            Claim::Ours | Claim::Adopted => None,
        }
    }

    /// Teardown's rule: a resource that should not exist is removed (`removal`) only when
    /// provision created it and it is the caller's (see [`Claims::removes`]); anything else is
    /// reported and left alone.
    pub(crate) fn remove_if_ours(
        &self,
        tags: &Tags,
        kind: Kind,
        name: &str,
        arn: Option<&str>,
        removal: impl FnOnce() -> Vec<Change>,
    ) -> Vec<Change> {
        if self.removes(kind, name, tags) {
            return self.with_owner(tags, kind, name, removal());
        }
        vec![self.delete_if_ours(tags, kind, name, arn, Vec::new)]
    }

    /// [`Claims::remove_if_ours`] for a resource that one change removes.
    pub(crate) fn delete_if_ours(
        &self,
        tags: &Tags,
        kind: Kind,
        name: &str,
        arn: Option<&str>,
        operations: impl FnOnce() -> Vec<Operation>,
    ) -> Change {
        let mut change = if self.removes(kind, name, tags) {
            let change = Change::new(kind, name, Action::Delete).with_operations(operations());
            self.with_owner(tags, kind, name, vec![change]).remove(0)
        } else if is_adopted(tags) {
            Change::unchanged(kind, name).with_detail(Detail::note(
                "left alone (adopted, not created by provision)",
            ))
        } else if is_managed(tags) {
            let holder = self.holder(kind, name, tags);
            Change::unchanged(kind, name).with_detail(Detail::note(format!(
                "left alone ({}; --all-owners includes it)",
                holder.describe()
            )))
        } else {
            Change::unchanged(kind, name).with_detail(Detail::LeftAlone)
        };
        change.arn = arn.map(str::to_string);
        change
    }

    /// With `--all-owners`, a removal of another owner's resource says whose it is.
    fn with_owner(
        &self,
        tags: &Tags,
        kind: Kind,
        name: &str,
        mut changes: Vec<Change>,
    ) -> Vec<Change> {
        let holder = self.holder(kind, name, tags);
        if holder != Holder::Caller
            && let Some(change) = changes
                .iter_mut()
                .find(|c| c.kind == kind && c.name == name)
        {
            change.details.push(Detail::note(match holder {
                Holder::Other(owner) => format!("owner {owner}"),
                other => other.describe(),
            }));
        }
        changes
    }
}

/// The owner of the tests' caller (`lab::test_target`'s).
#[cfg(test)]
pub(crate) const TEST_OWNER: &str = "arn:aws:iam::123456789012:user/student";

/// The tests' caller's claims; `adopt` as `--adopt`.
#[cfg(test)]
pub(crate) fn test_claims(adopt: bool) -> Claims {
    Claims {
        adopt,
        ..Claims::of(TEST_OWNER)
    }
}

/// The tags of what the tests' caller created.
#[cfg(test)]
pub(crate) fn managed_tags() -> Tags {
    test_claims(false).tags()
}

/// The tags of what the tests' caller adopted.
#[cfg(test)]
pub(crate) fn adopted_tags() -> Tags {
    test_claims(false).adopted_tags()
}

/// How a command may treat an existing resource it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The caller's.
    Ours,
    /// The caller adopted it earlier (`provision:adopted`).
    Adopted,
    /// Someone else's, taken over with `--adopt`: the plan tags it and says so.
    Adopt,
    /// Another owner's (described), taken over with `--take-over`: the plan re-tags its owner.
    TakeOver(String),
    /// The caller's own create, interrupted before its tags: the plan tags it as created.
    Resume,
}

impl Claim {
    /// Someone else's resource provision manages: it adds, and removes only with `--prune`.
    pub(crate) fn is_shared(&self) -> bool {
        matches!(self, Self::Adopted | Self::Adopt)
    }
}

/// The refusal for a same-named resource that provision did not create.
pub(crate) fn not_ours(what: &str, name: &str, arn: &str) -> Error {
    Error::failed(format!(
        "{what} {name} already exists and was not created by provision ({arn} has no \
         managed-by=provision tag)"
    ))
    .with_hint(format!(
        "choose another name, or pass --adopt to let provision manage {name} (it will be tagged and \
         brought to the desired state)"
    ))
}

/// The refusal for one of provision's resources that another owner holds (or whose owner is
/// unknown). Commands add what else the caller can do (their own names, `--parameter-prefix`).
pub(crate) fn held_elsewhere(kind: Kind, name: &str, holder: &Holder) -> Error {
    let whose = match holder {
        Holder::Other(owner) => {
            format!("belongs to {} ({OWNER_KEY}={owner})", owners::short(owner))
        }
        other => format!("has no {OWNER_KEY} tag ({})", other.describe()),
    };
    Error::failed(format!(
        "{kind} {name} {whose}; provision changes only your own"
    ))
    .with_hint(
        "pass --take-over to make it yours (its owner's set-up will refuse it from then on, \
             and your teardown will remove it)",
    )
    .held_by(holder.describe())
}

#[cfg(test)]
mod tests {
    use super::*;

    const THING: Kind = Kind::new("thing");
    const OTHER: &str = "arn:aws:iam::123456789012:user/other";

    fn owned_by(owner: &str) -> Tags {
        let mut tags = managed_tags();
        tags.insert(OWNER_KEY.to_string(), owner.to_string());
        tags
    }

    /// Provision's tags from before owners were recorded.
    fn legacy() -> Tags {
        let mut tags = managed_tags();
        tags.remove(OWNER_KEY);
        tags
    }

    /// Issue 22, finding 9: an untagged resource the caller's journal records as begun is the
    /// caller's half-made create: claimed, tagged as created, and removed by teardown — and
    /// nobody else's journal makes it theirs.
    #[test]
    fn a_create_the_journal_records_is_the_callers_own() {
        let unused = || Error::failed("not provision's");
        let claims = Claims {
            begun: [(THING.to_string(), "half".to_string())].into(),
            ..test_claims(false)
        };
        let claim = claims
            .claim(THING, "half", &Tags::new(), unused)
            .expect("the caller's own");
        assert_eq!(claim, Claim::Resume);
        assert_eq!(
            claims.tagging(&claim, &Tags::new(), Tags::new()),
            Some((Detail::ResumeCreate, managed_tags()))
        );
        assert!(claims.removes(THING, "half", &Tags::new()));
        assert!(
            claims.claim(THING, "other", &Tags::new(), unused).is_err(),
            "not in the journal: someone's"
        );
        assert!(!claims.removes(THING, "other", &Tags::new()));
        assert!(
            !test_claims(false).removes(THING, "half", &Tags::new()),
            "without the journal"
        );
    }

    #[test]
    fn only_the_managed_by_tag_makes_a_resource_provisions() {
        let claims = test_claims(false);
        assert!(is_managed(&claims.tags()));
        assert_eq!(claims.tags()[OWNER_KEY], TEST_OWNER);
        assert!(!is_managed(&Tags::from([(
            MANAGED_BY_KEY.to_string(),
            "terraform".to_string()
        )])));
        let refused = claims
            .claim(THING, "r", &Tags::new(), || {
                not_ours("IAM role", "r", "arn:r")
            })
            .expect_err("someone else's");
        assert!(refused.message().contains("not created by provision"));
        assert!(refused.hints()[0].contains("--adopt"));
        assert_eq!(refused.holder(), None);
        let adopt = test_claims(true);
        let unused = || Error::failed("unused");
        assert_eq!(
            adopt.claim(THING, "r", &Tags::new(), unused).ok(),
            Some(Claim::Adopt)
        );
        assert_eq!(
            claims.claim(THING, "r", &managed_tags(), unused).ok(),
            Some(Claim::Ours)
        );
        assert_eq!(
            claims.claim(THING, "r", &adopted_tags(), unused).ok(),
            Some(Claim::Adopted)
        );
    }

    #[test]
    fn another_owners_resource_is_refused_unless_taken_over() {
        let claims = test_claims(false);
        let unused = || Error::failed("unused");
        let refused = claims
            .claim(THING, "r", &owned_by(OTHER), unused)
            .expect_err("another owner's");
        assert_eq!(
            refused.message(),
            format!(
                "thing r belongs to other ({OWNER_KEY}={OTHER}); provision changes only your own"
            )
        );
        assert!(refused.hints()[0].contains("--take-over"));
        assert_eq!(refused.holder(), Some(OTHER));
        let taking = Claims {
            take_over: true,
            ..test_claims(false)
        };
        let claim = taking
            .claim(THING, "r", &owned_by(OTHER), unused)
            .expect("taken over");
        assert_eq!(claim, Claim::TakeOver(OTHER.to_string()));
        let (detail, tags) = taking
            .tagging(&claim, &owned_by(OTHER), Tags::new())
            .expect("re-tagged");
        assert_eq!(detail, Detail::TakeOver(OTHER.to_string()));
        assert_eq!(
            tags,
            Tags::from([(OWNER_KEY.to_string(), TEST_OWNER.to_string())])
        );
        // The caller's own needs no tags; --adopt brings all of provision's.
        assert_eq!(
            claims.tagging(&Claim::Ours, &managed_tags(), Tags::new()),
            None
        );
        assert_eq!(
            claims.tagging(&Claim::Adopt, &Tags::new(), claims.adopted_tags()),
            Some((Detail::Adopt, adopted_tags()))
        );
    }

    #[test]
    fn a_resource_made_before_owners_is_the_callers_only_when_aws_says_so() {
        let mut claims = test_claims(false);
        let unused = || Error::failed("unused");
        // Nothing known: owner unknown, refused like another owner's.
        assert!(matches!(
            claims.holder(THING, "r", &legacy()),
            Holder::Unknown(_)
        ));
        let refused = claims
            .claim(THING, "r", &legacy(), unused)
            .expect_err("unknown");
        assert!(
            refused.message().contains("has no provision:owner tag"),
            "{refused}"
        );
        claims.creators.insert(
            (THING, "mine".to_string()),
            Creator::Known(TEST_OWNER.to_string()),
        );
        claims.creators.insert(
            (THING, "theirs".to_string()),
            Creator::Known(OTHER.to_string()),
        );
        claims.creators.insert(
            (THING, "old".to_string()),
            Creator::Unknown("no event in 90 days".to_string()),
        );
        assert_eq!(claims.holder(THING, "mine", &legacy()), Holder::Caller);
        // The caller's, so its owner is recorded on the next set-up.
        let claim = claims
            .claim(THING, "mine", &legacy(), unused)
            .expect("the caller's");
        assert_eq!(
            claims.tagging(&claim, &legacy(), Tags::new()).map(|t| t.0),
            Some(Detail::RecordOwner)
        );
        assert_eq!(
            claims.holder(THING, "theirs", &legacy()),
            Holder::Unknown(format!("made before provision recorded owners, by {OTHER}"))
        );
        assert_eq!(
            claims.holder(THING, "old", &legacy()),
            Holder::Unknown(
                "made before provision recorded owners; no event in 90 days".to_string()
            )
        );
        // Status and teardown list what has an unknown owner (and leave it alone), and leave out
        // another owner's unless --all-owners.
        assert!(claims.considers(THING, "old", &legacy()));
        assert!(!claims.removes(THING, "old", &legacy()));
        assert!(!claims.considers(THING, "r", &owned_by(OTHER)));
        let instructor = Claims {
            all_owners: true,
            ..claims.clone()
        };
        assert!(instructor.considers(THING, "r", &owned_by(OTHER)));
        assert!(instructor.removes(THING, "old", &legacy()));
    }

    #[test]
    fn teardown_leaves_what_is_not_ours() {
        let claims = test_claims(false);
        let removed = claims.remove_if_ours(&managed_tags(), THING, "t", None, || {
            vec![Change::new(THING, "t", Action::Delete)]
        });
        assert_eq!(removed[0].action, Action::Delete);
        let left = claims.remove_if_ours(&Tags::new(), THING, "t", Some("arn:t"), || {
            panic!("not ours: nothing to plan")
        });
        assert_eq!(
            left[0].line(),
            "= unchanged thing t (left alone (not created by provision))"
        );
        assert_eq!(left[0].arn.as_deref(), Some("arn:t"));
        let deleted = claims.delete_if_ours(&managed_tags(), THING, "t", Some("arn:t"), Vec::new);
        assert_eq!(
            (deleted.action, deleted.arn.as_deref()),
            (Action::Delete, Some("arn:t"))
        );
        let theirs = claims.delete_if_ours(&owned_by(OTHER), THING, "t", None, || {
            panic!("another owner's: nothing to plan")
        });
        assert_eq!(
            theirs.line(),
            format!("= unchanged thing t (left alone ({OTHER}; --all-owners includes it))")
        );
        let instructor = Claims {
            all_owners: true,
            ..test_claims(false)
        };
        let everyones = instructor.delete_if_ours(&owned_by(OTHER), THING, "t", None, Vec::new);
        assert_eq!(
            everyones.line(),
            format!("- delete    thing t (owner {OTHER})")
        );
    }
}
