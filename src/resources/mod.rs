//! One module per AWS resource `provision` manages: how it is observed, how desired and observed
//! state turn into plan changes (pure), and how each planned request is executed.

pub mod association;
pub mod bucket;
pub mod iam_role;
pub mod instance_profile;
pub mod object;
pub mod parameter;

use std::collections::BTreeMap;

use crate::error::Error;
use crate::plan::{MANAGED_BY_KEY, MANAGED_BY_VALUE, Tag};

/// True when the tags mark a resource as created (or adopted) by provision.
pub fn is_managed(tags: &BTreeMap<String, String>) -> bool {
    tags.get(MANAGED_BY_KEY).map(String::as_str) == Some(MANAGED_BY_VALUE)
}

/// The `managed-by=provision` tag as a one-element list.
pub fn managed_tags() -> Vec<Tag> {
    vec![crate::plan::managed_by_tag()]
}

/// Tags in IAM's request shape.
pub fn iam_tags(tags: &[Tag]) -> Result<Vec<aws_sdk_iam::types::Tag>, Error> {
    tags.iter()
        .map(|(key, value)| {
            aws_sdk_iam::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(|e| Error::failed("invalid tag").with_cause(e.to_string()))
        })
        .collect()
}
