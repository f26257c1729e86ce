//! `teardown`: everything provision created, in reverse dependency order, and nothing else — every
//! resource planned with no desired state. What provision created is found by discovery, with no
//! state file: each kind declares how it is found and removed (`resources::Lifecycle`: IAM roles
//! and instance profiles under `/provision/` plus the names the commands use, every bucket of the
//! account with its tags and region, the SSM parameters tagged `managed-by=provision` plus the
//! lab's two), and the registry orders them. `status` reads the same inventory.

use clap::ValueEnum;

use crate::connection::aws::Aws;
use crate::connection::clients::Clients;
use crate::course::lab::{Target, parameter_names};
use crate::error::Error;
use crate::plans::{ObservedState, creators};
use crate::resources::ownership::Claims;
use crate::resources::{self, Discovery, Keep, Plan};
use crate::settings::{Lab, NamesArgs, Part};

/// What teardown removes: nothing of what it finds should exist, but for what it is told to keep.
#[derive(Debug, Clone)]
pub(crate) struct DesiredState {
    /// Keep the buckets and their contents (`--keep-data`).
    pub(crate) keep_data: bool,
    /// Whose resources it removes: the caller's, or everyone's with `--all-owners`.
    pub(crate) claims: Claims,
}

/// Where to look.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) role_name: String,
    pub(crate) profile_name: String,
    pub(crate) bucket: Option<String>,
    /// The commands whose resources are looked for: every one, or `--only`'s.
    pub(crate) parts: Vec<Part>,
}

impl Scope {
    pub(crate) fn new(names: &NamesArgs, only: Option<Part>) -> Self {
        Self {
            role_name: names.iam.role_name.as_str().to_string(),
            profile_name: names.iam.profile_name().to_string(),
            bucket: names.bucket.bucket.as_ref().map(|b| b.as_str().to_string()),
            parts: Part::value_variants()
                .iter()
                .copied()
                .filter(|part| only.is_none_or(|only| only == *part))
                .collect(),
        }
    }
}

/// Finds, concurrently, everything provision may have created in the scope: every registered
/// kind's discovery, then who created what was made before owners.
pub(crate) async fn discover(
    aws: &Aws,
    clients: &Clients,
    scope: &Scope,
    lab: &Lab,
) -> Result<(Target, ObservedState), Error> {
    let target = Target::new(aws.identity().await?, aws, lab);
    let lab_bucket = target.lab_bucket(scope.bucket.as_deref());
    let begun = crate::engine::journal::begun(&target.owner);
    let discovery = Discovery {
        clients,
        partition: &target.partition,
        role_name: &scope.role_name,
        profile_name: &scope.profile_name,
        lab_bucket: &lab_bucket,
        parameter_names: parameter_names(&lab.parameter_prefix),
        begun: &begun,
        parts: scope.parts.clone(),
    };
    let mut observed = resources::discover(&discovery).await?;
    creators::look_up(clients, &target.partition, &mut observed).await;
    Ok((target, observed))
}

/// The warning for what other owners hold, which a run without `--all-owners` leaves out.
pub(crate) fn others_left_out(
    others: &std::collections::BTreeMap<String, usize>,
) -> Option<String> {
    if others.is_empty() {
        return None;
    }
    let count: usize = others.values().sum();
    let whose: Vec<String> = others
        .iter()
        .map(|(owner, n)| format!("{} ({n})", crate::course::owners::short(owner)))
        .collect();
    Some(format!(
        "left out {count} resource{} of provision's that other owners hold: {}; --all-owners \
         includes them",
        if count == 1 { "" } else { "s" },
        whose.join(", ")
    ))
}

/// Plans the removal of everything observed. Pure.
///
/// Each kind plans the removal of what it found (`Lifecycle::removal`); the registry joins them in
/// reverse dependency order: a profile's associations with instances, then its roles leave it,
/// then it is deleted; a role's membership of every profile goes before the role. A role
/// provision deletes also leaves a profile that provision leaves alone.
///
/// Only the caller's resources are considered (everyone's with `--all-owners`); what other owners
/// hold is left out, and a warning says whose.
pub(crate) fn plan(desired: &DesiredState, observed: &ObservedState) -> Result<Plan, Error> {
    let claims = &observed.knowing_creators(&desired.claims);
    let mut observed = observed.clone();
    let others = observed.retain_considered(claims);
    let keep = Keep {
        data: desired.keep_data,
    };
    let changes = resources::removal(&observed, keep, claims)?;
    Plan::new(changes, others_left_out(&others).into_iter().collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aws_sdk_ec2::types::IamInstanceProfileAssociationState;
    use aws_sdk_ssm::types::ParameterType;

    use super::*;

    use crate::engine::plan::{Action, Detail};
    use crate::plans::{dragons_lab, fake, instance_profile};
    use crate::resources::Operation;
    use crate::resources::association::{
        ASSOCIATION, AssociationOp, ObservedAssociation, Recorded,
    };
    use crate::resources::bucket::{BUCKET, ObservedBucket};
    use crate::resources::bucket::{BucketOp, Presence};
    use crate::resources::iam_role::ROLE;
    use crate::resources::iam_role::{ObservedRole, ROLE_POLICY};
    use crate::resources::instance_profile::{MEMBERSHIP, PROFILE};
    use crate::resources::instance_profile::{MembershipOp, ObservedProfile};
    use crate::resources::ownership::{OWNER_KEY, TEST_OWNER};
    #[allow(unused_imports)]
    use crate::resources::ownership::{adopted_tags, managed_tags, test_claims};
    use crate::resources::parameter::ObservedParameter;
    use crate::resources::tags::Tags;

    fn observed() -> ObservedState {
        let profile_arn = "arn:aws:iam::1:instance-profile/provision/lab".to_string();
        let mut observed = ObservedState::default();
        observed.add_role(Some(ObservedRole {
            name: "lab".into(),
            arn: "arn:aws:iam::1:role/provision/lab".into(),
            tags: managed_tags(),
            inline_policy_names: vec!["provision-policy".into()],
            instance_profiles: vec!["lab".into(), "someone-elses".into()],
            ..Default::default()
        }));
        observed.add_profile(Some(ObservedProfile {
            role_arns: Vec::new(),
            name: "lab".into(),
            arn: profile_arn.clone(),
            roles: vec!["lab".into()],
            tags: managed_tags(),
        }));
        observed.add_profile(Some(ObservedProfile {
            role_arns: Vec::new(),
            name: "someone-elses".into(),
            arn: "arn:aws:iam::1:instance-profile/someone-elses".into(),
            roles: vec!["lab".into()],
            tags: Tags::new(),
        }));
        observed.instances.associations = BTreeMap::from([(
            "i-1".to_string(),
            ObservedAssociation {
                instance_id: "i-1".into(),
                id: "iip-assoc-1".into(),
                profile_arn,
                state: IamInstanceProfileAssociationState::Associated,
            },
        )]);
        observed.parameters.insert(
            "dragon_data_file_name".into(),
            ObservedParameter {
                name: "dragon_data_file_name".into(),
                arn: None,
                value: "dragons.json".into(),
                kind: ParameterType::String,
                tags: Tags::new(),
            },
        );
        observed
    }

    fn remove_all() -> DesiredState {
        DesiredState {
            keep_data: false,
            claims: test_claims(false),
        }
    }

    #[tokio::test]
    async fn a_students_teardown_leaves_a_classmates_resources_out() {
        let mut observed = provisioned().await;
        // A classmate's lab in the same account, and a parameter made before owners.
        let mut classmates = observed.buckets.values().next().expect("a bucket").clone();
        classmates.name = "bob-dragons".into();
        classmates.tags.insert(
            OWNER_KEY.into(),
            "arn:aws:iam::123456789012:user/bob".into(),
        );
        observed.add_bucket(Some(classmates));
        let mut old = observed.parameters["dragon_data_file_name"].clone();
        old.name = "old_parameter".into();
        old.tags.remove(OWNER_KEY);
        observed.parameters.insert(old.name.clone(), old);

        let mine = plan(&remove_all(), &observed).expect("plans");
        assert!(
            mine.find(BUCKET, "bob-dragons").is_none(),
            "not even listed"
        );
        assert_eq!(
            mine.warnings(),
            [
                "left out 1 resource of provision's that other owners hold: bob (1); --all-owners \
              includes them"
            ]
        );
        let old = mine
            .find(crate::resources::parameter::PARAMETER, "old_parameter")
            .expect("listed");
        assert_eq!(old.action, Action::Unchanged);
        assert!(old.line().contains("owner unknown"), "{}", old.line());
        assert_eq!(mine.summary().deleted, 8, "the caller's own lab, whole");

        let instructor = DesiredState {
            claims: Claims {
                all_owners: true,
                ..test_claims(false)
            },
            ..remove_all()
        };
        let everyones = plan(&instructor, &observed).expect("plans");
        assert!(everyones.warnings().is_empty());
        let theirs = everyones.find(BUCKET, "bob-dragons").expect("included");
        assert_eq!(theirs.action, Action::Delete);
        assert!(
            theirs
                .line()
                .contains("owner arn:aws:iam::123456789012:user/bob")
        );
        assert_eq!(everyones.summary().deleted, 10);
    }

    #[test]
    fn teardown_runs_in_reverse_dependency_order_and_spares_what_is_not_ours() {
        let plan = plan(&remove_all(), &observed()).expect("plans");
        crate::resources::follows_the_registry(&plan, true).expect("the registry's order");
        let find = |kind, name: &str| {
            plan.find(kind, name)
                .unwrap_or_else(|| panic!("{kind} {name}"))
        };
        let membership = find(MEMBERSHIP, "lab");
        assert!(membership.depends_on.contains(&ASSOCIATION.id("i-1")));
        let profile = find(PROFILE, "lab");
        assert!(profile.depends_on.contains(&membership.id()));
        let role = find(ROLE, "lab");
        assert!(
            role.depends_on
                .contains(&ROLE_POLICY.id("lab/provision-policy"))
        );
        assert!(role.depends_on.contains(&membership.id()));
        // The role leaves the profile that is not provision's; that profile itself stays.
        let foreign = find(MEMBERSHIP, "someone-elses");
        assert_eq!(
            foreign.operations,
            vec![Operation::ProfileRoles(MembershipOp::Remove {
                profile: "someone-elses".into(),
                role: "lab".into()
            })]
        );
        assert!(role.depends_on.contains(&foreign.id()));
        assert_eq!(
            find(PROFILE, "someone-elses").details,
            vec![Detail::LeftAlone]
        );
        let parameter = find(
            crate::resources::parameter::PARAMETER,
            "dragon_data_file_name",
        );
        assert_eq!(parameter.action, Action::Unchanged, "untagged: left alone");
        assert!(parameter.operations.is_empty());
    }

    #[test]
    fn keep_data_keeps_the_bucket() {
        let mut observed = observed();
        observed.add_bucket(Some(ObservedBucket {
            name: "dragons-lab-1-us-east-1".into(),
            arn: Some("arn:aws:s3:::dragons-lab-1-us-east-1".into()),
            presence: Presence::Owned {
                region: "us-east-1".into(),
            },
            ownership: None,
            public_access: None,
            tags: managed_tags(),
        }));
        let kept = plan(
            &DesiredState {
                keep_data: true,
                claims: test_claims(false),
            },
            &observed,
        )
        .expect("plans");
        let bucket = kept
            .find(BUCKET, "dragons-lab-1-us-east-1")
            .expect("bucket");
        assert!(bucket.operations.is_empty());
        assert_eq!(
            bucket.line(),
            "= unchanged s3-bucket dragons-lab-1-us-east-1 (kept (--keep-data))"
        );
        let deleted = plan(&remove_all(), &observed).expect("plans");
        let bucket = deleted
            .find(BUCKET, "dragons-lab-1-us-east-1")
            .expect("bucket");
        assert!(matches!(
            bucket.operations[0],
            Operation::Bucket(BucketOp::Empty { .. })
        ));
    }

    /// Both commands' resources, as a full run of each leaves them.
    async fn provisioned() -> ObservedState {
        let target = crate::course::lab::test_target("us-east-1");
        let mut ip_inputs = instance_profile::Inputs::defaults(&fake::names());
        ip_inputs.selector = Some(crate::input::InstanceSelector::Tags(vec![
            crate::input::TagFilter {
                key: "Name".into(),
                value: "ide".into(),
            },
        ]));
        let ip = instance_profile::DesiredState::new(&ip_inputs, &target).expect("renders");
        let lab = dragons_lab::DesiredState::new(
            &dragons_lab::Inputs::defaults(None, "dragons.json".into()),
            &target,
        );
        let mut start = ObservedState::default();
        start.instances.matched = vec![fake::instance("i-0123456789abcdef0")];
        let observed = fake::converge(&start, |o| instance_profile::plan(&ip, o)).await;
        let mut observed = fake::converge(&observed, |o| dragons_lab::plan(&lab, o)).await;
        // What discovery reads of a bucket: its tags and region, with the ARN.
        for bucket in observed.buckets.values_mut() {
            bucket.arn = Some(target.bucket_arn(&bucket.name));
        }
        observed
    }

    #[tokio::test]
    async fn a_full_teardown_leaves_nothing_and_a_second_finds_nothing_to_do() {
        let provisioned = provisioned().await;
        let before = plan(&remove_all(), &provisioned).expect("plans");
        assert_eq!(before.summary().deleted, 8, "{:#?}", before.changes());
        let after = fake::converge(&provisioned, |o| plan(&remove_all(), o)).await;
        assert!(after.roles.is_empty() && after.profiles.is_empty());
        assert!(after.buckets.is_empty() && after.parameters.is_empty());
        assert!(after.instances.associations.is_empty());
    }

    #[tokio::test]
    async fn every_half_done_teardown_resumes_with_only_what_is_left() {
        let report = fake::every_prefix(&provisioned().await, |o| plan(&remove_all(), o)).await;
        assert_eq!(
            report.operations, 9,
            "disassociate … empty and delete the bucket, the parameters"
        );
        assert!(report.refused.is_empty(), "{:?}", report.refused);
    }

    #[test]
    fn only_the_association_provision_recorded_goes_with_an_existing_profile() {
        let lab = "arn:aws:iam::1:instance-profile/LabInstanceProfile";
        let mut observed = ObservedState::default();
        for instance in ["i-mine", "i-theirs", "i-changed", "i-classmate", "i-old"] {
            observed.instances.associations.insert(
                instance.into(),
                ObservedAssociation {
                    instance_id: instance.into(),
                    id: format!("iip-assoc-{instance}"),
                    profile_arn: lab.into(),
                    state: IamInstanceProfileAssociationState::Associated,
                },
            );
        }
        let recorded = |profile: &str, owner: Option<&str>| Recorded {
            profile: profile.to_string(),
            owner: owner.map(str::to_string),
        };
        observed.instances.recorded = BTreeMap::from([
            (
                "i-mine".to_string(),
                recorded("LabInstanceProfile", Some(TEST_OWNER)),
            ),
            // Recorded, but someone has since associated another profile: not provision's.
            (
                "i-changed".to_string(),
                recorded("OtherProfile", Some(TEST_OWNER)),
            ),
            // Another student's association: not even listed.
            (
                "i-classmate".to_string(),
                recorded(
                    "LabInstanceProfile",
                    Some("arn:aws:iam::123456789012:user/other"),
                ),
            ),
            // Recorded before owners: listed, left alone.
            ("i-old".to_string(), recorded("LabInstanceProfile", None)),
        ]);
        let plan = plan(&remove_all(), &observed).expect("plans");
        let lines: Vec<String> = plan.changes().iter().map(|c| c.line()).collect();
        assert_eq!(
            lines,
            [
                "- delete    ec2-instance-profile-association i-mine (disassociate iip-assoc-i-mine \
              (made by provision with LabInstanceProfile))",
                "= unchanged ec2-instance-profile-association i-old (left alone (owner unknown: made \
              before provision recorded owners; --all-owners includes it))"
            ]
        );
        assert!(matches!(
            plan.changes()[0].operations[..],
            [
                Operation::Association(AssociationOp::Disassociate { .. }),
                Operation::Association(AssociationOp::Forget { .. })
            ]
        ));
    }

    #[test]
    fn an_empty_account_plans_nothing() {
        let plan = plan(&remove_all(), &ObservedState::default()).expect("plans");
        assert!(plan.changes().is_empty());
    }
}
