//! The course lab's names — where provision puts its IAM resources, what its policy and parameters
//! are called, the default bucket — and the account, partition and region a run targets, with the
//! ARNs that follow from them. Every command's desired state is built from these.

use crate::connection::sources::Identity;
use crate::input::ParameterPrefix;

/// Every resource provision creates in IAM lives under this path, so teardown can find them.
pub(crate) const IAM_PATH: &str = "/provision/";
/// Where the roles of provision's Lambda functions are: below [`IAM_PATH`], so that teardown finds
/// them with the rest, and apart, so that `teardown --only` tells them from the lab's.
pub(crate) const FUNCTION_ROLE_PATH: &str = "/provision/functions/";
/// The name of the inline policy provision manages on the role.
pub(crate) const INLINE_POLICY_NAME: &str = "provision-policy";
/// The SSM parameter naming the lab bucket (the lab application reads it).
pub(crate) const BUCKET_PARAMETER: &str = "dragon_data_bucket_name";
/// The SSM parameter naming the data object's key (the lab application reads it).
pub(crate) const KEY_PARAMETER: &str = "dragon_data_file_name";
/// The data object's key unless `--key` says otherwise.
pub(crate) const DEFAULT_KEY: &str = "dragons.json";
/// The Content-Type of the data object.
pub(crate) const DATA_CONTENT_TYPE: &str = "application/json";
/// The prefix of the lab buckets' default names (teardown lists look-alikes it leaves alone).
pub(crate) const LAB_BUCKET_PREFIX: &str = "dragons-lab-";
/// The managed policy the course's demo attaches, and provision warns about (its ARN is the
/// partition's: [`Target::aws_managed_policy`]).
pub(crate) const ADMINISTRATOR_ACCESS: &str = "AdministratorAccess";

/// The lab's two parameter names, after `prefix` (`--parameter-prefix`).
pub(crate) fn parameter_names(prefix: &ParameterPrefix) -> Vec<String> {
    [BUCKET_PARAMETER, KEY_PARAMETER]
        .map(|name| format!("{}{name}", prefix.as_str()))
        .to_vec()
}

/// The account, partition and regions a run acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) account: String,
    pub(crate) partition: String,
    /// Where the bucket is made (`--region`).
    pub(crate) region: String,
    /// Where the lab application reads its parameters (`--app-region`).
    pub(crate) app_region: String,
    /// The caller's `provision:owner` value (see `owners`).
    pub(crate) owner: String,
    /// Before the lab's parameter names (`--parameter-prefix`).
    pub(crate) parameter_prefix: ParameterPrefix,
}

impl Target {
    /// The caller's target: its account and partition, the run's region, the lab's settings.
    pub(crate) fn new(
        identity: &Identity,
        aws: &crate::connection::aws::Aws,
        lab: &crate::settings::Lab,
    ) -> Self {
        Self {
            account: identity.account.clone(),
            partition: identity.partition.clone(),
            region: aws.region.clone(),
            app_region: lab.app_region.clone(),
            owner: crate::course::owners::owner_of(&identity.arn),
            parameter_prefix: lab.parameter_prefix.clone(),
        }
    }

    /// The managed policy `name` of AWS in this partition.
    pub(crate) fn aws_managed_policy(&self, name: &str) -> String {
        format!("arn:{}:iam::aws:policy/{name}", self.partition)
    }

    /// The lab bucket unless `--bucket` says otherwise: unique to the account and region.
    pub(crate) fn default_bucket(&self) -> String {
        format!("{LAB_BUCKET_PREFIX}{}-{}", self.account, self.region)
    }

    /// The lab bucket: the one `--bucket` names, else the default.
    pub(crate) fn lab_bucket(&self, given: Option<&str>) -> String {
        given.map_or_else(|| self.default_bucket(), str::to_string)
    }

    pub(crate) fn role_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:iam::{}:role{IAM_PATH}{name}",
            self.partition, self.account
        )
    }

    pub(crate) fn instance_profile_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:iam::{}:instance-profile{IAM_PATH}{name}",
            self.partition, self.account
        )
    }

    /// The parameter naming the lab bucket, after the prefix.
    pub(crate) fn bucket_parameter(&self) -> String {
        format!("{}{BUCKET_PARAMETER}", self.parameter_prefix.as_str())
    }

    /// The parameter naming the data object's key, after the prefix.
    pub(crate) fn key_parameter(&self) -> String {
        format!("{}{KEY_PARAMETER}", self.parameter_prefix.as_str())
    }

    pub(crate) fn parameter_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:ssm:{}:{}:parameter/{}",
            self.partition,
            self.app_region,
            self.account,
            name.trim_start_matches('/')
        )
    }

    pub(crate) fn bucket_arn(&self, bucket: &str) -> String {
        bucket_arn(&self.partition, bucket)
    }

    pub(crate) fn object_arn(&self, bucket: &str, key: &str) -> String {
        format!("{}/{key}", self.bucket_arn(bucket))
    }
}

/// The ARN of a bucket in an account of `partition` (S3 ARNs carry neither region nor account).
pub(crate) fn bucket_arn(partition: &str, name: &str) -> String {
    format!("arn:{partition}:s3:::{name}")
}

#[cfg(test)]
pub(crate) fn test_target(region: &str) -> Target {
    Target {
        account: "123456789012".into(),
        partition: "aws".into(),
        region: region.into(),
        app_region: "us-east-1".into(),
        owner: "arn:aws:iam::123456789012:user/student".into(),
        parameter_prefix: ParameterPrefix::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arns_follow_the_target() {
        let target = Target {
            account: "123456789012".into(),
            partition: "aws-cn".into(),
            region: "cn-north-1".into(),
            app_region: "cn-northwest-1".into(),
            owner: String::new(),
            parameter_prefix: ParameterPrefix::parse("/cs101/ada/").expect("a prefix"),
        };
        assert_eq!(
            target.default_bucket(),
            "dragons-lab-123456789012-cn-north-1"
        );
        assert_eq!(
            target.role_arn("lab"),
            "arn:aws-cn:iam::123456789012:role/provision/lab"
        );
        assert_eq!(
            target.bucket_parameter(),
            "/cs101/ada/dragon_data_bucket_name"
        );
        assert_eq!(
            target.parameter_arn(&target.bucket_parameter()),
            "arn:aws-cn:ssm:cn-northwest-1:123456789012:parameter/cs101/ada/dragon_data_bucket_name"
        );
        assert_eq!(
            target.object_arn("b", "dragons.json"),
            "arn:aws-cn:s3:::b/dragons.json"
        );
    }
}
