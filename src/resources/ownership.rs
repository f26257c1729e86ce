//! Who a resource belongs to, decided in one place for every kind.
//!
//! Everything `provision` creates carries the tag `managed-by=provision`. A same-named resource
//! without it belongs to someone else: a command that wants it refuses unless `--adopt` (which tags
//! it), and teardown leaves it alone. An adopted IAM role or instance profile (a lab account's
//! shared `LabRole`) also carries `provision:adopted=true`: provision only adds to it (unless
//! `--prune`), and teardown removes what provision added, never the resource itself.

use crate::error::Error;
use crate::plan::{Action, Detail, Kind};
use crate::resources::tags::Tags;
use crate::resources::{Change, Operation};

pub(crate) const MANAGED_BY_KEY: &str = "managed-by";
pub(crate) const MANAGED_BY_VALUE: &str = "provision";
/// Marks a resource provision adopted rather than created.
pub(crate) const ADOPTED_KEY: &str = "provision:adopted";

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

/// The tags a resource gets when provision creates or adopts it.
pub(crate) fn managed_tags() -> Tags {
    Tags::from([(MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string())])
}

/// The tags an adopted IAM role or instance profile gets.
pub(crate) fn adopted_tags() -> Tags {
    let mut tags = managed_tags();
    tags.insert(ADOPTED_KEY.to_string(), "true".to_string());
    tags
}

/// How a command may treat an existing resource it wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Provision created it.
    Ours,
    /// Provision adopted it earlier (`provision:adopted`).
    Adopted,
    /// Someone else's, taken over with `--adopt`: the plan tags it and says so.
    Adopt,
}

impl Claim {
    /// Someone else's resource provision manages: it adds, and removes only with `--prune`.
    pub(crate) fn is_shared(self) -> bool {
        matches!(self, Self::Adopted | Self::Adopt)
    }
}

/// Decides whether a command may manage an existing resource: ours, adopted with `--adopt`, or
/// refused with `refusal` (usually [`not_ours`]).
pub(crate) fn claim(
    tags: &Tags,
    adopt: bool,
    refusal: impl FnOnce() -> Error,
) -> Result<Claim, Error> {
    match (is_managed(tags), adopt) {
        (true, _) if is_adopted(tags) => Ok(Claim::Adopted),
        (true, _) => Ok(Claim::Ours),
        (false, true) => Ok(Claim::Adopt),
        (false, false) => Err(refusal()),
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

/// Teardown's rule: a resource that should not exist is removed (`removal`) only when provision
/// created it; anything else (adopted ones included) is reported and left alone.
pub(crate) fn remove_if_ours(
    tags: &Tags,
    kind: Kind,
    name: &str,
    arn: Option<&str>,
    removal: impl FnOnce() -> Vec<Change>,
) -> Vec<Change> {
    if is_created(tags) {
        return removal();
    }
    vec![delete_if_ours(tags, kind, name, arn, Vec::new)]
}

/// [`remove_if_ours`] for a resource that one change removes: deleted by `operations` when
/// provision created it, left alone otherwise.
pub(crate) fn delete_if_ours(
    tags: &Tags,
    kind: Kind,
    name: &str,
    arn: Option<&str>,
    operations: impl FnOnce() -> Vec<Operation>,
) -> Change {
    let mut change = if is_created(tags) {
        Change::new(kind, name, Action::Delete).with_operations(operations())
    } else if is_adopted(tags) {
        Change::unchanged(kind, name).with_detail(Detail::note(
            "left alone (adopted, not created by provision)",
        ))
    } else {
        Change::unchanged(kind, name).with_detail(Detail::LeftAlone)
    };
    change.arn = arn.map(str::to_string);
    change
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_managed_by_tag_makes_a_resource_ours() {
        assert!(is_managed(&managed_tags()));
        assert!(!is_managed(&Tags::from([(
            MANAGED_BY_KEY.to_string(),
            "terraform".to_string()
        )])));
        let refused = claim(&Tags::new(), false, || not_ours("IAM role", "r", "arn:r"))
            .expect_err("someone else's");
        assert!(refused.message().contains("not created by provision"));
        assert!(refused.hints()[0].contains("--adopt"));
        assert_eq!(
            claim(&Tags::new(), true, || Error::failed("unused")).expect("adopted"),
            Claim::Adopt
        );
        assert_eq!(
            claim(&managed_tags(), false, || Error::failed("unused")).expect("ours"),
            Claim::Ours
        );
    }

    #[test]
    fn teardown_leaves_what_is_not_ours() {
        const THING: Kind = Kind::new("thing");
        let removed = remove_if_ours(&managed_tags(), THING, "t", None, || {
            vec![Change::new(THING, "t", Action::Delete)]
        });
        assert_eq!(removed[0].action, Action::Delete);
        let left = remove_if_ours(&Tags::new(), THING, "t", Some("arn:t"), || {
            panic!("not ours: nothing to plan")
        });
        assert_eq!(
            left[0].line(),
            "= unchanged thing t (left alone (not created by provision))"
        );
        assert_eq!(left[0].arn.as_deref(), Some("arn:t"));
        let deleted = delete_if_ours(&managed_tags(), THING, "t", Some("arn:t"), Vec::new);
        assert_eq!(
            (deleted.action, deleted.arn.as_deref()),
            (Action::Delete, Some("arn:t"))
        );
    }
}
