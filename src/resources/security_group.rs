//! The course IDE's EC2 security group: its own, with **no inbound rule**. Session Manager reaches
//! the instance through the SSM agent's outbound connection ("AWS Systems Manager Session
//! Manager", Systems Manager User Guide: no inbound ports need be open), so nothing on the
//! internet can connect to it. The group's outbound rule is EC2's default (all traffic), which the
//! agent needs to reach Systems Manager's endpoints over HTTPS; provision leaves it as EC2 makes it.
//!
//! Created tagged in one request (`TagSpecifications`), so there is no untagged group of
//! provision's to resume. An inbound rule added by hand is drift: the plan revokes it, naming it.
//! A group's description cannot change after it is made, and its VPC is part of what it is (the
//! name is unique within a VPC), so neither is compared.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, IpPermission, ResourceType, TagSpecification};

use crate::connection::clients::Clients;
use crate::engine::apply::{Executed, Report};
use crate::engine::plan::{Action, Detail, Drift, Kind};
use crate::error::{Error, aws_error, sent, service_code};
use crate::resources::lifecycle::{Events, Regional, Tagged, inventory_in_region, retain_by_name};
use crate::resources::ownership::{Claims, MANAGED_BY_KEY, MANAGED_BY_VALUE};
use crate::resources::status::Rows;
use crate::resources::tags::{self, Tags};
use crate::resources::{
    Change, CloudFormation, CreatedBy, Discovery, Inventoried, Keep, Lifecycle, ObservedState,
    Part, Resource,
};

pub(crate) const SECURITY_GROUP: Kind = Kind::new("ec2-security-group");

/// What is looked for: the group of this name in this VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupQuery {
    pub(crate) name: String,
    pub(crate) vpc_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DesiredGroup {
    pub(crate) name: String,
    /// Set when the group is made; EC2 never changes it.
    pub(crate) description: String,
    /// Its VPC; `None` when not known (status, which compares a group wherever it is), and then
    /// a group is made in the region's default VPC, as EC2 does without `VpcId`.
    pub(crate) vpc_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObservedGroup {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) vpc_id: String,
    pub(crate) region: String,
    /// Its inbound rules, as EC2 lists them.
    pub(crate) ingress: Vec<IpPermission>,
    pub(crate) tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GroupOp {
    Create {
        name: String,
        description: String,
        vpc_id: Option<String>,
        tags: Tags,
    },
    /// Removes these inbound rules, exactly as observed.
    RevokeIngress {
        group_id: String,
        rules: Vec<IpPermission>,
    },
    Tag {
        group_id: String,
        tags: Tags,
    },
    Delete {
        group_id: String,
    },
}

pub(crate) struct SecurityGroup;

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// One inbound rule in words: `tcp 22 from 0.0.0.0/0`, `all traffic from sg-…`.
fn rule_text(rule: &IpPermission) -> String {
    let protocol = match rule.ip_protocol() {
        Some("-1") | None => "all traffic".to_string(),
        Some(protocol) => {
            let ports = match (rule.from_port(), rule.to_port()) {
                (Some(from), Some(to)) if from == to => format!(" {from}"),
                (Some(from), Some(to)) => format!(" {from}-{to}"),
                _ => String::new(),
            };
            format!("{protocol}{ports}")
        }
    };
    let mut sources: Vec<String> = Vec::new();
    sources.extend(
        rule.ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip().map(str::to_string)),
    );
    sources.extend(
        rule.ipv6_ranges()
            .iter()
            .filter_map(|r| r.cidr_ipv6().map(str::to_string)),
    );
    sources.extend(
        rule.user_id_group_pairs()
            .iter()
            .filter_map(|p| p.group_id().map(str::to_string)),
    );
    sources.extend(
        rule.prefix_list_ids()
            .iter()
            .filter_map(|p| p.prefix_list_id().map(str::to_string)),
    );
    match sources.is_empty() {
        true => protocol,
        false => format!("{protocol} from {}", sources.join(", ")),
    }
}

/// The groups `filters` match, every page.
async fn described(clients: &Clients, filters: Vec<Filter>) -> Result<Vec<ObservedGroup>, Error> {
    let pages = clients
        .ec2
        .describe_security_groups()
        .set_filters(Some(filters))
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("ec2:DescribeSecurityGroups", e))?;
    let region = clients
        .ec2
        .config()
        .region()
        .map(ToString::to_string)
        .unwrap_or_default();
    Ok(pages
        .iter()
        .flat_map(|page| page.security_groups())
        .filter_map(|group| {
            Some(ObservedGroup {
                id: group.group_id()?.to_string(),
                name: group.group_name()?.to_string(),
                vpc_id: group.vpc_id().unwrap_or_default().to_string(),
                region: region.clone(),
                ingress: group.ip_permissions().to_vec(),
                tags: tags::from_ec2(group.tags()),
            })
        })
        .collect())
}

/// The region's default VPC, if it has one (`DescribeVpcs`, `is-default`).
pub(crate) async fn default_vpc(clients: &Clients) -> Result<Option<String>, Error> {
    let output = clients
        .ec2
        .describe_vpcs()
        .filters(filter("is-default", "true"))
        .send()
        .await
        .map_err(|e| aws_error("ec2:DescribeVpcs", e))?;
    Ok(output
        .vpcs()
        .iter()
        .find_map(|vpc| vpc.vpc_id().map(str::to_string)))
}

/// The VPC of subnet `id` in the clients' region; `None` when there is no such subnet.
pub(crate) async fn subnet_vpc(clients: &Clients, id: &str) -> Result<Option<String>, Error> {
    let output = clients
        .ec2
        .describe_subnets()
        .filters(filter("subnet-id", id))
        .send()
        .await
        .map_err(|e| aws_error("ec2:DescribeSubnets", e))?;
    Ok(output
        .subnets()
        .iter()
        .find_map(|subnet| subnet.vpc_id().map(str::to_string)))
}

impl Resource for SecurityGroup {
    const KINDS: &'static [Kind] = &[SECURITY_GROUP];

    type Query = GroupQuery;
    type Observation = Option<ObservedGroup>;
    type Desired = DesiredGroup;
    type Observed = ObservedGroup;
    type Op = GroupOp;

    async fn observe(
        clients: &Clients,
        query: &GroupQuery,
    ) -> Result<Option<ObservedGroup>, Error> {
        let found = described(
            clients,
            vec![
                filter("group-name", &query.name),
                filter("vpc-id", &query.vpc_id),
            ],
        )
        .await?;
        Ok(found.into_iter().next())
    }

    /// A group of provision's with an inbound rule gets it revoked; one of the same name that
    /// provision did not make is refused unless adopted (its rules are then revoked too: the
    /// IDE's group admits nothing).
    fn plan(
        desired: Option<&DesiredGroup>,
        observed: Option<&ObservedGroup>,
        claims: &Claims,
    ) -> Result<Vec<Change>, Error> {
        let Some(desired) = desired else {
            return Ok(observed
                .map(|current| {
                    claims.delete_if_ours(
                        &current.tags,
                        SECURITY_GROUP,
                        &current.name,
                        None,
                        || {
                            vec![
                                GroupOp::Delete {
                                    group_id: current.id.clone(),
                                }
                                .into(),
                            ]
                        },
                    )
                })
                .into_iter()
                .collect());
        };
        let name = &desired.name;
        let Some(current) = observed else {
            return Ok(vec![
                Change::new(SECURITY_GROUP, name, Action::Create)
                    .with_detail(Detail::note("no inbound rule"))
                    .with_operations(vec![
                        GroupOp::Create {
                            name: name.clone(),
                            description: desired.description.clone(),
                            vpc_id: desired.vpc_id.clone(),
                            tags: claims.tags(),
                        }
                        .into(),
                    ]),
            ]);
        };
        let claim = claims.claim(SECURITY_GROUP, name, &current.tags, || {
            Error::failed(format!(
                "security group {name} ({}) already exists in {} and was not created by provision",
                current.id, current.vpc_id
            ))
            .with_hint(format!(
                "pass --adopt to let provision manage it (its inbound rules are revoked), choose \
                 another --name, or remove it with `aws ec2 delete-security-group --group-id {}`",
                current.id
            ))
        })?;
        let mut details = Vec::new();
        let mut operations = Vec::new();
        if !current.ingress.is_empty() {
            details.push(Detail::Drift(Drift::Setting {
                setting: "inbound rules",
                current: current
                    .ingress
                    .iter()
                    .map(rule_text)
                    .collect::<Vec<_>>()
                    .join(", "),
                desired: "none".to_string(),
            }));
            operations.push(
                GroupOp::RevokeIngress {
                    group_id: current.id.clone(),
                    rules: current.ingress.clone(),
                }
                .into(),
            );
        }
        if let Some((detail, tags)) = claims.tagging(&claim, &current.tags, claims.tags()) {
            details.push(detail);
            operations.push(
                GroupOp::Tag {
                    group_id: current.id.clone(),
                    tags,
                }
                .into(),
            );
        }
        Ok(vec![match operations.is_empty() {
            true => Change::unchanged(SECURITY_GROUP, name),
            false => Change::new(SECURITY_GROUP, name, Action::Update)
                .with_details(details)
                .with_operations(operations),
        }])
    }

    async fn execute(clients: &Clients, op: &GroupOp, _: Report<'_>) -> Result<Executed, Error> {
        let ec2 = &clients.ec2;
        match op {
            GroupOp::Create {
                name,
                description,
                vpc_id,
                tags,
            } => {
                let created = ec2
                    .create_security_group()
                    .group_name(name)
                    .description(description)
                    .set_vpc_id(vpc_id.clone())
                    .tag_specifications(
                        TagSpecification::builder()
                            .resource_type(ResourceType::SecurityGroup)
                            .set_tags(Some(tags::to_ec2(tags)))
                            .build(),
                    )
                    .send()
                    .await;
                match created {
                    Ok(output) => {
                        return Ok(Executed {
                            resource_id: output.group_id().map(str::to_string),
                        });
                    }
                    // A create whose answer was lost, retried by the SDK, meets its own group:
                    // tagged as asked, it is the change applied.
                    Err(e) if service_code(&e) == Some("InvalidGroup.Duplicate") => {
                        let vpc_id = match vpc_id {
                            Some(vpc) => Some(vpc.clone()),
                            None => default_vpc(clients).await?,
                        };
                        let mut filters = vec![filter("group-name", name)];
                        filters.extend(vpc_id.map(|vpc| filter("vpc-id", &vpc)));
                        let found = described(clients, filters).await?;
                        match found.first() {
                            Some(group)
                                if tags.iter().all(|(k, v)| group.tags.get(k) == Some(v)) =>
                            {
                                return Ok(Executed {
                                    resource_id: Some(group.id.clone()),
                                });
                            }
                            _ => return Err(aws_error("ec2:CreateSecurityGroup", e)),
                        }
                    }
                    Err(e) => return Err(aws_error("ec2:CreateSecurityGroup", e)),
                }
            }
            GroupOp::RevokeIngress { group_id, rules } => {
                match ec2
                    .revoke_security_group_ingress()
                    .group_id(group_id)
                    .set_ip_permissions(Some(rules.clone()))
                    .send()
                    .await
                {
                    Ok(_) => {}
                    // Revoked already (a retried request, or by hand).
                    Err(e) if service_code(&e) == Some("InvalidPermission.NotFound") => {}
                    Err(e) => return Err(aws_error("ec2:RevokeSecurityGroupIngress", e)),
                }
            }
            GroupOp::Tag { group_id, tags } => sent(
                "ec2:CreateTags",
                ec2.create_tags()
                    .resources(group_id)
                    .set_tags(Some(tags::to_ec2(tags)))
                    .send()
                    .await,
            )?,
            GroupOp::Delete { group_id } => {
                match ec2.delete_security_group().group_id(group_id).send().await {
                    Ok(_) => {}
                    Err(e) if service_code(&e) == Some("InvalidGroup.NotFound") => {}
                    Err(e) => return Err(aws_error("ec2:DeleteSecurityGroup", e)),
                }
            }
        }
        Ok(Executed::default())
    }
}

impl Lifecycle for SecurityGroup {
    const KIND: Kind = SECURITY_GROUP;
    const MADE_BY: &'static [Part] = &[Part::Ide];
    const NEEDS: &'static [Kind] = &[];
    const CREATED_BY: CreatedBy = CreatedBy::Event {
        name: "CreateSecurityGroup",
        recorded: Events::InItsRegion,
    };
    const CLOUDFORMATION: CloudFormation = CloudFormation::Type("AWS::EC2::SecurityGroup");

    /// By name (a group's name is unique within its VPC; provision's are in one region's VPCs).
    type Found = BTreeMap<String, ObservedGroup>;

    /// The region's groups tagged `managed-by=provision` (every one provision made is: it is
    /// created tagged).
    async fn discover(discovery: &Discovery<'_>) -> Result<Self::Found, Error> {
        let tagged = described(
            discovery.clients,
            vec![filter(&format!("tag:{MANAGED_BY_KEY}"), MANAGED_BY_VALUE)],
        )
        .await?;
        Ok(tagged.into_iter().map(|g| (g.name.clone(), g)).collect())
    }

    async fn complete(_: &Discovery<'_>, _: &mut ObservedState) -> Result<(), Error> {
        Ok(())
    }

    fn inventory(found: &Self::Found) -> Vec<Inventoried<'_>> {
        inventory_in_region(found)
    }

    fn retain(found: &mut Self::Found, keep: &mut dyn FnMut(&str, &Tags) -> bool) {
        retain_by_name(found, keep);
    }

    fn removal(observed: &ObservedState, _: Keep, claims: &Claims) -> Result<Vec<Change>, Error> {
        crate::resources::lifecycle::remove_each::<SecurityGroup>(
            observed.security_groups.values(),
            claims,
        )
    }

    fn rows(rows: &mut Rows<'_>) -> Result<(), Error> {
        rows.planned::<SecurityGroup>(
            SECURITY_GROUP,
            &rows.expected.security_groups,
            |g| g.name.as_str(),
            &rows.observed.security_groups,
            |group| vec![format!("{} in {}", group.id, group.vpc_id)],
        )
    }
}

impl Tagged for ObservedGroup {
    fn name(&self) -> &str {
        &self.name
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

impl Regional for ObservedGroup {
    fn region(&self) -> &str {
        &self.region
    }
}

#[cfg(test)]
impl crate::resources::simulated::Simulated for SecurityGroup {
    fn simulate(
        op: &GroupOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        let serial = world.next_serial();
        let groups = &mut world.observed.security_groups;
        match op {
            GroupOp::Create {
                name, vpc_id, tags, ..
            } => {
                let group = groups.entry(name.clone()).or_insert_with(|| ObservedGroup {
                    id: format!("sg-{serial:017x}"),
                    name: name.clone(),
                    vpc_id: vpc_id.clone().unwrap_or_else(|| "vpc-default".into()),
                    region: "us-east-1".into(),
                    ingress: Vec::new(),
                    tags: tags.clone(),
                });
                return Ok(Executed {
                    resource_id: Some(group.id.clone()),
                });
            }
            GroupOp::RevokeIngress { group_id, rules } => {
                let group = groups
                    .values_mut()
                    .find(|g| g.id == *group_id)
                    .ok_or("InvalidGroup.NotFound")?;
                group.ingress.retain(|rule| !rules.contains(rule));
            }
            GroupOp::Tag { group_id, tags } => {
                let group = groups
                    .values_mut()
                    .find(|g| g.id == *group_id)
                    .ok_or("InvalidGroup.NotFound")?;
                group.tags.extend(tags.clone());
            }
            GroupOp::Delete { group_id } => {
                groups.retain(|_, g| g.id != *group_id);
            }
        }
        Ok(Executed::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Operation;
    use crate::resources::ownership::{managed_tags, test_claims};

    fn ssh_from_anywhere() -> IpPermission {
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .ip_ranges(
                aws_sdk_ec2::types::IpRange::builder()
                    .cidr_ip("0.0.0.0/0")
                    .build(),
            )
            .build()
    }

    fn desired() -> DesiredGroup {
        DesiredGroup {
            name: "ide".into(),
            description: "the IDE".into(),
            vpc_id: Some("vpc-1".into()),
        }
    }

    fn observed(ingress: Vec<IpPermission>, tags: Tags) -> ObservedGroup {
        ObservedGroup {
            id: "sg-1".into(),
            name: "ide".into(),
            vpc_id: "vpc-1".into(),
            region: "us-east-1".into(),
            ingress,
            tags,
        }
    }

    #[test]
    fn a_group_is_made_tagged_and_an_inbound_rule_added_by_hand_is_revoked_by_name() {
        let claims = test_claims(false);
        let created = SecurityGroup::plan(Some(&desired()), None, &claims).expect("plans");
        assert_eq!(
            created[0].line(),
            "+ create    ec2-security-group ide (no inbound rule)"
        );
        assert!(matches!(
            &created[0].operations[..],
            [Operation::SecurityGroup(GroupOp::Create { tags, vpc_id: Some(_), .. })] if !tags.is_empty()
        ));
        let clean = observed(vec![], managed_tags());
        let same = SecurityGroup::plan(Some(&desired()), Some(&clean), &claims).expect("plans");
        assert!(same[0].operations.is_empty(), "{}", same[0].line());
        let opened = observed(vec![ssh_from_anywhere()], managed_tags());
        let revoked = SecurityGroup::plan(Some(&desired()), Some(&opened), &claims).expect("plans");
        assert_eq!(
            revoked[0].line(),
            "~ update    ec2-security-group ide (inbound rules tcp 22 from 0.0.0.0/0 → none)"
        );
        assert!(matches!(
            &revoked[0].operations[..],
            [Operation::SecurityGroup(GroupOp::RevokeIngress { rules, .. })] if rules.len() == 1
        ));
    }

    #[test]
    fn someone_else_s_group_of_the_name_is_refused_unless_adopted_and_left_by_teardown() {
        let theirs = observed(vec![ssh_from_anywhere()], Tags::new());
        let error = SecurityGroup::plan(Some(&desired()), Some(&theirs), &test_claims(false))
            .expect_err("refused");
        assert!(
            error.message().contains("was not created by provision"),
            "{error}"
        );
        let adopted = SecurityGroup::plan(Some(&desired()), Some(&theirs), &test_claims(true))
            .expect("adopted");
        assert!(matches!(
            &adopted[0].operations[..],
            [
                Operation::SecurityGroup(GroupOp::RevokeIngress { .. }),
                Operation::SecurityGroup(GroupOp::Tag { .. })
            ]
        ));
        let left = SecurityGroup::plan(None, Some(&theirs), &test_claims(false)).expect("plans");
        assert_eq!(left[0].details, vec![Detail::LeftAlone]);
        let ours = observed(vec![], managed_tags());
        let deleted = SecurityGroup::plan(None, Some(&ours), &test_claims(false)).expect("plans");
        assert_eq!(deleted[0].action, Action::Delete);
    }

    #[test]
    fn rules_are_worded_with_their_protocol_ports_and_sources() {
        assert_eq!(rule_text(&ssh_from_anywhere()), "tcp 22 from 0.0.0.0/0");
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .user_id_group_pairs(
                aws_sdk_ec2::types::UserIdGroupPair::builder()
                    .group_id("sg-2")
                    .build(),
            )
            .build();
        assert_eq!(rule_text(&all), "all traffic from sg-2");
    }
}
