//! Tags as `provision` holds them (a sorted map), and the one conversion each way between that map
//! and the SDK's tag types of IAM, S3, SSM and EC2.

use std::collections::{BTreeMap, HashMap};

use aws_smithy_types::error::operation::BuildError;

use crate::error::Error;

/// A resource's tags, key → value.
pub(crate) type Tags = BTreeMap<String, String>;

/// An SDK's tag type.
pub(crate) trait SdkTag: Sized {
    fn build(key: &str, value: &str) -> Result<Self, BuildError>;
    fn key(&self) -> &str;
    fn value(&self) -> &str;
}

macro_rules! sdk_tag {
    ($($tag:ty),+) => {$(
        impl SdkTag for $tag {
            fn build(key: &str, value: &str) -> Result<Self, BuildError> {
                <$tag>::builder().key(key).value(value).build()
            }
            fn key(&self) -> &str {
                <$tag>::key(self)
            }
            fn value(&self) -> &str {
                <$tag>::value(self)
            }
        }
    )+};
}

sdk_tag!(
    aws_sdk_iam::types::Tag,
    aws_sdk_s3::types::Tag,
    aws_sdk_ssm::types::Tag
);

/// Tags as Lambda, API Gateway and Cognito return them (a map; none when absent).
pub(crate) fn from_map(map: Option<&HashMap<String, String>>) -> Tags {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Tags as Lambda, API Gateway and Cognito take them.
pub(crate) fn to_map(tags: &Tags) -> HashMap<String, String> {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Tags in an SDK's request shape.
pub(crate) fn to_sdk<T: SdkTag>(tags: &Tags) -> Result<Vec<T>, Error> {
    tags.iter()
        .map(|(key, value)| {
            T::build(key, value).map_err(|e| Error::failed("invalid tag").with_cause(e.to_string()))
        })
        .collect()
}

/// Tags in EC2's request shape (its tag type has optional keys and values, so it is not an
/// [`SdkTag`]).
pub(crate) fn to_ec2(tags: &Tags) -> Vec<aws_sdk_ec2::types::Tag> {
    tags.iter()
        .map(|(key, value)| {
            aws_sdk_ec2::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
        })
        .collect()
}

/// Tags from EC2's answer; a tag without a key or value is left out.
pub(crate) fn from_ec2(tags: &[aws_sdk_ec2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

/// Tags from an SDK's answer.
pub(crate) fn from_sdk<T: SdkTag>(tags: &[T]) -> Tags {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_through_each_sdk_shape() {
        let tags = Tags::from([
            ("course".to_string(), "cloud".to_string()),
            ("managed-by".to_string(), "provision".to_string()),
        ]);
        let iam: Vec<aws_sdk_iam::types::Tag> = to_sdk(&tags).expect("iam");
        let s3: Vec<aws_sdk_s3::types::Tag> = to_sdk(&tags).expect("s3");
        let ssm: Vec<aws_sdk_ssm::types::Tag> = to_sdk(&tags).expect("ssm");
        assert_eq!(from_sdk(&iam), tags);
        assert_eq!(from_sdk(&s3), tags);
        assert_eq!(from_sdk(&ssm), tags);
    }
}
