//! Discovery by ownership, with no state file: everything `provision` may have created, found the
//! way teardown and status need it — IAM roles and instance profiles under `/provision/` plus the
//! names the commands use, every bucket of the account with its tags and region, and the SSM
//! parameters tagged `managed-by=provision` plus the two the lab uses. All reads run concurrently.

use std::collections::BTreeMap;

use futures::future::join_all;

use crate::apply::Clients;
use crate::cli::{NamesArgs, Part};
use crate::commands::instance_profile::{IAM_PATH, INLINE_POLICY_NAME, default_bucket_name};
use crate::error::{Error, aws_error, service_code};
use crate::resources::association::{self, ObservedAssociation};
use crate::resources::iam_role::{self, ObservedRole};
use crate::resources::instance_profile::{self, ObservedProfile};
use crate::resources::parameter::{self, BUCKET_PARAMETER, KEY_PARAMETER};

/// The prefix of the lab buckets' default names.
pub const LAB_BUCKET_PREFIX: &str = "dragons-lab-";

#[derive(Debug, Clone)]
pub struct ObservedBucketEntry {
    pub name: String,
    pub region: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub roles: Vec<(String, ObservedRole)>,
    pub profiles: Vec<(String, ObservedProfile)>,
    /// Instance id → its association.
    pub associations: BTreeMap<String, ObservedAssociation>,
    pub buckets: Vec<ObservedBucketEntry>,
    /// Parameter name → its tags.
    pub parameters: BTreeMap<String, BTreeMap<String, String>>,
}

/// Which parts to look at.
pub fn includes(only: Option<Part>, part: Part) -> bool {
    only.is_none_or(|only| only == part)
}

pub fn default_bucket(names: &NamesArgs, account: &str, region: &str) -> String {
    names
        .bucket
        .clone()
        .unwrap_or_else(|| default_bucket_name(account, region))
}

pub async fn discover(
    clients: &Clients,
    names: &NamesArgs,
    only: Option<Part>,
    account: &str,
    region: &str,
) -> Result<Inventory, Error> {
    let iam = async {
        if includes(only, Part::InstanceProfile) {
            discover_iam(clients, names).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let lab = async {
        if includes(only, Part::DragonsLab) {
            let bucket = default_bucket(names, account, region);
            let (buckets, parameters) = tokio::join!(
                discover_buckets(clients, &bucket),
                discover_parameters(clients)
            );
            Ok::<_, Error>(Some((buckets?, parameters?)))
        } else {
            Ok(None)
        }
    };
    let (iam, lab) = tokio::join!(iam, lab);
    let mut inventory = Inventory::default();
    if let Some((roles, profiles, associations)) = iam? {
        inventory.roles = roles;
        inventory.profiles = profiles;
        inventory.associations = associations;
    }
    if let Some((buckets, parameters)) = lab? {
        inventory.buckets = buckets;
        inventory.parameters = parameters;
    }
    Ok(inventory)
}

type IamInventory = (
    Vec<(String, ObservedRole)>,
    Vec<(String, ObservedProfile)>,
    BTreeMap<String, ObservedAssociation>,
);

async fn discover_iam(clients: &Clients, names: &NamesArgs) -> Result<IamInventory, Error> {
    let iam = &clients.iam;
    let roles = iam
        .list_roles()
        .path_prefix(IAM_PATH)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>();
    let profiles = iam
        .list_instance_profiles()
        .path_prefix(IAM_PATH)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>();
    let associations = association::list_associations(&clients.ec2);
    let (roles, profiles, associations) = tokio::join!(roles, profiles, associations);
    let mut role_names: Vec<String> = roles
        .map_err(|e| aws_error("iam:ListRoles", e))?
        .iter()
        .map(|r| r.role_name().to_string())
        .collect();
    let mut profile_names: Vec<String> = profiles
        .map_err(|e| aws_error("iam:ListInstanceProfiles", e))?
        .iter()
        .map(|p| p.instance_profile_name().to_string())
        .collect();
    role_names.push(names.role_name.clone());
    profile_names.push(
        names
            .instance_profile_name
            .clone()
            .unwrap_or_else(|| names.role_name.clone()),
    );
    role_names.sort();
    role_names.dedup();
    profile_names.sort();
    profile_names.dedup();

    let roles = join_all(
        role_names
            .iter()
            .map(|name| iam_role::observe(iam, name, INLINE_POLICY_NAME, true)),
    );
    let profiles = join_all(
        profile_names
            .iter()
            .map(|name| instance_profile::observe(iam, name)),
    );
    let (roles, profiles) = tokio::join!(roles, profiles);
    let mut found_roles = Vec::new();
    for (name, role) in role_names.into_iter().zip(roles) {
        if let Some(role) = role? {
            found_roles.push((name, role));
        }
    }
    let mut found_profiles = Vec::new();
    for (name, profile) in profile_names.into_iter().zip(profiles) {
        if let Some(profile) = profile? {
            found_profiles.push((name, profile));
        }
    }
    Ok((found_roles, found_profiles, associations?))
}

/// Every bucket of the account with its tags and region, read concurrently; kept are the ones
/// provision manages and, to report them as left alone, those named like the lab's.
async fn discover_buckets(
    clients: &Clients,
    lab_bucket: &str,
) -> Result<Vec<ObservedBucketEntry>, Error> {
    let s3 = &clients.s3;
    let names = crate::resources::bucket::owned_buckets(s3).await?;
    let entries = join_all(names.into_iter().map(|(name, region)| async move {
        let tags = s3.get_bucket_tagging().bucket(&name).send();
        let location = async {
            match &region {
                Some(region) => Ok(region.clone()),
                None => s3
                    .get_bucket_location()
                    .bucket(&name)
                    .send()
                    .await
                    .map(|l| {
                        l.location_constraint()
                            .map(|c| c.as_str().to_string())
                            .filter(|c| !c.is_empty())
                            // No constraint is us-east-1.
                            .unwrap_or_else(|| "us-east-1".to_string())
                    })
                    .map_err(|e| aws_error("s3:GetBucketLocation", e)),
            }
        };
        let (tags, region) = tokio::join!(tags, location);
        let tags: BTreeMap<String, String> = match tags {
            Ok(output) => output
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            Err(e) if matches!(service_code(&e), Some("NoSuchTagSet" | "NoSuchBucket")) => {
                BTreeMap::new()
            }
            Err(e) => return Err(aws_error("s3:GetBucketTagging", e)),
        };
        Ok(ObservedBucketEntry {
            name,
            region: region?,
            tags,
        })
    }))
    .await;
    let mut buckets = Vec::new();
    for entry in entries {
        let entry = entry?;
        let named_like_ours = entry.name == lab_bucket || entry.name.starts_with(LAB_BUCKET_PREFIX);
        if crate::resources::is_managed(&entry.tags) || named_like_ours {
            buckets.push(entry);
        }
    }
    Ok(buckets)
}

/// Tagged parameters plus the lab's two, with their tags.
async fn discover_parameters(
    clients: &Clients,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, Error> {
    let mut names = parameter::discover(&clients.ssm).await?;
    names.push(BUCKET_PARAMETER.to_string());
    names.push(KEY_PARAMETER.to_string());
    names.sort();
    names.dedup();
    let mut found = BTreeMap::new();
    // GetParameters takes at most ten names.
    for chunk in names.chunks(10) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for (name, observed) in parameter::observe(&clients.ssm, &chunk).await? {
            found.insert(name, observed.tags);
        }
    }
    Ok(found)
}
