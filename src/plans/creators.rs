//! Who created the resources provision tagged before it recorded owners (`managed-by` only), as
//! far as AWS can tell — so that they count as the caller's only when the caller made them. What
//! AWS knows is each kind's to declare (`Lifecycle::CREATED_BY`):
//!
//! - An SSM parameter: `DescribeParameters` gives `LastModifiedUser`, "the ARN of the AWS user who
//!   last changed the parameter" (SSM API reference, `ParameterMetadata`).
//! - An IAM role or instance profile, or a bucket: CloudTrail's event history (`LookupEvents`)
//!   keeps every account's management events for 90 days, with no trail needed ("Working with
//!   CloudTrail event history", CloudTrail User Guide); the latest `CreateRole`,
//!   `CreateInstanceProfile` or `CreateBucket` of the name says who (`userIdentity.arn`). IAM's
//!   events, a global service's, are in us-east-1 (the partition's first region); a bucket's in
//!   its region.
//!
//! Nothing is asked when there is no such resource, which is every run once the caller's
//! resources carry owners. An answer that cannot be had (no permission, older than 90 days,
//! throttled: LookupEvents allows two requests a second) leaves the owner unknown, with why.

use std::collections::BTreeMap;

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_ssm::types::ParameterStringFilter;
use futures::future::join_all;

use crate::connection::clients::Clients;
use crate::course::owners;
use crate::engine::plan::Kind;
use crate::plans::ObservedState;
use crate::resources::CreatedBy;
use crate::resources::lifecycle::Events;
use crate::resources::ownership::{Creator, OWNER_KEY, is_managed};
use crate::resources::parameter;
use crate::resources::tags::Tags;

/// DescribeParameters' `Name` filter takes at most 50 values.
const NAMES_PER_FILTER: usize = 50;

/// One of provision's resources made before owners: its kind, name, the event that created it
/// and where that event is.
struct Legacy {
    kind: Kind,
    name: String,
    event: &'static str,
    /// The region of its CloudTrail events.
    region: String,
}

fn is_legacy(tags: &Tags) -> bool {
    is_managed(tags) && !tags.contains_key(OWNER_KEY)
}

/// The region where IAM's events of `partition` are recorded.
fn iam_events_region(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        _ => "us-east-1",
    }
}

/// Looks up the creators of `observed`'s resources made before owners, concurrently, each as its
/// kind says AWS knows it (`Lifecycle::CREATED_BY`), and records them in `observed.creators`.
pub(crate) async fn look_up(clients: &Clients, partition: &str, observed: &mut ObservedState) {
    let mut events = Vec::new();
    let mut parameters = Vec::new();
    for (life, found) in observed.inventory() {
        if !is_legacy(found.tags) {
            continue;
        }
        match life.created_by {
            CreatedBy::Event { name, recorded } => {
                let region = match recorded {
                    Events::Global => Some(iam_events_region(partition).to_string()),
                    Events::InItsRegion => found.region.clone(),
                };
                // A resource in no region of the caller's (another account's bucket) has none.
                if let Some(region) = region {
                    events.push(Legacy {
                        kind: life.kind,
                        name: found.name.to_string(),
                        event: name,
                        region,
                    });
                }
            }
            CreatedBy::LastModifiedUser => parameters.push((life.kind, found.name.to_string())),
            // Recorded from the start, or found with the resource it belongs to.
            CreatedBy::Recorded | CreatedBy::PartOf(_) => {}
        }
    }
    if events.is_empty() && parameters.is_empty() {
        return;
    }
    let names: Vec<String> = parameters.iter().map(|(_, name)| name.clone()).collect();
    let (created, modified) = tokio::join!(
        join_all(events.iter().map(|legacy| creation(clients, legacy))),
        last_modifiers(clients, &names),
    );
    for (legacy, creator) in events.into_iter().zip(created) {
        observed
            .creators
            .insert((legacy.kind, legacy.name), creator);
    }
    for (kind, name) in parameters {
        let creator = modified.get(&name).cloned().unwrap_or_else(|| {
            Creator::Unknown("SSM does not say who last changed it".to_string())
        });
        observed.creators.insert((kind, name), creator);
    }
}

/// The event that created `legacy`, as CloudTrail's event history has it.
async fn creation(clients: &Clients, legacy: &Legacy) -> Creator {
    let event_name = legacy.event;
    let attribute = LookupAttribute::builder()
        .attribute_key(LookupAttributeKey::ResourceName)
        .attribute_value(&legacy.name)
        .build();
    let attribute = match attribute {
        Ok(attribute) => attribute,
        Err(e) => return Creator::Unknown(format!("CloudTrail could not be asked ({e})")),
    };
    let answer = clients
        .cloudtrail_in(&legacy.region)
        .lookup_events()
        .lookup_attributes(attribute)
        .max_results(50)
        .send()
        .await;
    let output = match answer {
        Ok(output) => output,
        Err(e) => {
            return Creator::Unknown(format!(
                "CloudTrail's event history could not be read ({})",
                crate::plans::restricted::reason("cloudtrail:LookupEvents", e)
            ));
        }
    };
    // Newest first: the latest creation of the name is the resource that exists.
    output
        .events()
        .iter()
        .filter(|event| event.event_name() == Some(event_name))
        .find_map(|event| creator_of(event.cloud_trail_event()?))
        .map_or_else(
            || {
                Creator::Unknown(format!(
                    "CloudTrail's event history (90 days) in {} has no {event_name} of it",
                    legacy.region
                ))
            },
            Creator::Known,
        )
}

/// The owner value of the principal an event's `userIdentity` names.
fn creator_of(event: &str) -> Option<String> {
    let event: serde_json::Value = serde_json::from_str(event).ok()?;
    let arn = event.pointer("/userIdentity/arn")?.as_str()?;
    Some(owners::owner_of(arn))
}

/// The last modifier of each parameter, by name (the ones SSM names an ARN for).
async fn last_modifiers(clients: &Clients, names: &[String]) -> BTreeMap<String, Creator> {
    let mut modifiers = BTreeMap::new();
    for chunk in names.chunks(NAMES_PER_FILTER) {
        let filter = ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .set_values(Some(chunk.to_vec()))
            .build();
        let Ok(filter) = filter else {
            continue;
        };
        let described = match parameter::describe(clients, filter).await {
            Ok(described) => described,
            Err(e) => {
                let why = format!(
                    "SSM could not say who last changed it ({})",
                    crate::plans::restricted::reason("ssm:DescribeParameters", e)
                );
                for name in chunk {
                    modifiers.insert(name.clone(), Creator::Unknown(why.clone()));
                }
                continue;
            }
        };
        for parameter in &described {
            let (Some(name), Some(user)) = (parameter.name(), parameter.last_modified_user())
            else {
                continue;
            };
            if user.starts_with("arn:") {
                modifiers.insert(name.to_string(), Creator::Known(owners::owner_of(user)));
            }
        }
    }
    modifiers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_creator_is_the_events_user_identity() {
        let event = r#"{"eventName":"CreateBucket","userIdentity":{"type":"AssumedRole",
            "arn":"arn:aws:sts::123456789012:assumed-role/LabRole/botocore-session-1700000000"}}"#;
        assert_eq!(
            creator_of(event).as_deref(),
            Some("arn:aws:iam::123456789012:role/LabRole")
        );
        assert_eq!(creator_of(r#"{"userIdentity":{}}"#), None);
        assert_eq!(creator_of("not json"), None);
        assert_eq!(iam_events_region("aws-cn"), "cn-north-1");
    }
}
