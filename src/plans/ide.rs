//! `ide`: the course IDE for accounts that can no longer create Cloud9 — an EC2 instance reached
//! through Systems Manager Session Manager, holding the lab's instance profile. The lab's role
//! and profile are `instance-profile`'s (the same desired state), with AWS's
//! `AmazonSSMManagedInstanceCore` attached so that Session Manager reaches the instance; a
//! security group of its own with no inbound rule, in the region's default VPC.

use crate::connection::aws::Aws;
use crate::connection::clients::Clients;
use crate::course::lab::Target;
use crate::error::Error;
use crate::plans::ObservedState;
use crate::plans::instance_profile;
use crate::resources::security_group::{DesiredGroup, GroupQuery, SecurityGroup, default_vpc};
use crate::resources::{Expected, Plan, Resource};
use crate::settings::{IdeArgs, Lab, NamesArgs};

/// The command's input, checked before any AWS call.
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    /// The IDE's name: its instance's `Name` tag and its security group's name.
    pub(crate) name: String,
    /// The lab's role and profile, as `instance-profile` makes them.
    pub(crate) iam: instance_profile::Inputs,
}

impl Inputs {
    pub(crate) fn from_args(args: &IdeArgs) -> Result<Self, Error> {
        Ok(Self {
            name: args.name.as_str().to_string(),
            iam: instance_profile::Inputs::for_ide(
                &args.names,
                args.bucket.bucket.as_ref().map(|b| b.as_str()),
                &args.adopt,
            ),
        })
    }

    /// What `ide` makes by default with these names — the state `status` compares with.
    pub(crate) fn defaults(names: &NamesArgs) -> Self {
        Self {
            name: crate::settings::DEFAULT_IDE_NAME.to_string(),
            iam: instance_profile::Inputs::defaults(names),
        }
    }
}

/// What the command wants, every name and policy resolved.
#[derive(Debug, Clone)]
pub(crate) struct DesiredState {
    /// The IDE's own security group: no inbound rule.
    pub(crate) security_group: DesiredGroup,
    /// The lab's role and profile as `instance-profile` wants them; the plan adds the SSM
    /// agent's policy to the role.
    pub(crate) iam: instance_profile::DesiredState,
}

impl DesiredState {
    /// Renders the lab's policies for the target; the IDE's network is not known yet (`status`
    /// compares its group wherever it is; a run sets it from what it observed). Pure.
    pub(crate) fn new(inputs: &Inputs, target: &Target) -> Result<Self, Error> {
        Ok(Self {
            security_group: DesiredGroup {
                name: inputs.name.clone(),
                description: format!(
                    "provision: the course IDE {}, reached through Session Manager (no inbound \
                     rule)",
                    inputs.name
                ),
                vpc_id: None,
            },
            iam: instance_profile::DesiredState::new(&inputs.iam, target)?,
        })
    }

    /// Adds what the command makes to what `status` compares with: the lab's role and profile as
    /// `instance-profile` expects them (the SSM agent's policy kept once attached, not asked of
    /// a role `instance-profile` made alone).
    pub(crate) fn expect(&self, observed: &ObservedState, expected: &mut Expected) {
        self.iam.expect(observed, expected);
        expected.security_groups.push(self.security_group.clone());
    }
}

/// Where the IDE is made: the region's default VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Network {
    pub(crate) vpc_id: String,
}

/// Reads the identity, the lab's role and its profile, and the default VPC, all at once; then the
/// IDE's security group in that VPC.
pub(crate) async fn observe(
    aws: &Aws,
    clients: &Clients,
    inputs: &Inputs,
    lab: &Lab,
) -> Result<(Target, ObservedState, Network), Error> {
    let (lab_iam, vpc) = tokio::join!(
        instance_profile::observe(aws, clients, &inputs.iam, lab),
        default_vpc(clients),
    );
    let (target, mut observed) = lab_iam?;
    let Some(vpc_id) = vpc? else {
        return Err(Error::failed(format!(
            "region {} has no default VPC, where the IDE is made",
            target.region
        ))
        .with_hint(
            "make one with `aws ec2 create-default-vpc` (it has a public subnet in every \
             Availability Zone), or run in a region that has one (--region)",
        ));
    };
    let query = GroupQuery {
        name: inputs.name.clone(),
        vpc_id: vpc_id.clone(),
    };
    if let Some(group) = SecurityGroup::observe(clients, &query).await? {
        observed.security_groups.insert(group.name.clone(), group);
    }
    Ok((target, observed, Network { vpc_id }))
}

/// Observes and plans in one account.
pub(crate) async fn prepare(
    aws: &Aws,
    clients: &Clients,
    inputs: &Inputs,
    lab: &Lab,
) -> Result<(Target, Plan), Error> {
    let (target, observed, network) = observe(aws, clients, inputs, lab).await?;
    let mut desired = DesiredState::new(inputs, &target)?;
    desired.security_group.vpc_id = Some(network.vpc_id);
    Ok((target, plan(&desired, &observed)?))
}

/// The lab's role — with `AmazonSSMManagedInstanceCore`, which Session Manager needs on the
/// instance — its policies and its profile, planned as `instance-profile` plans them; beside
/// them, the IDE's security group. Pure.
pub(crate) fn plan(desired: &DesiredState, observed: &ObservedState) -> Result<Plan, Error> {
    let mut iam = desired.iam.clone();
    iam.role = iam.role_keeping_ssm_core(observed.roles.get(&iam.role.name), true);
    iam.instances = None;
    let lab = instance_profile::plan(&iam, observed)?;
    let mut changes = lab.changes().to_vec();
    let claims = observed.knowing_creators(&desired.iam.claims);
    let group = &desired.security_group;
    changes.extend(SecurityGroup::plan(
        Some(group),
        observed.security_groups.get(&group.name),
        &claims,
    )?);
    let warnings = lab.warnings().to_vec();
    Plan::new(changes, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::lab::test_target;
    use crate::plans::fake;
    use crate::resources::iam_role::ROLE_POLICY_ATTACHMENT;

    fn desired() -> DesiredState {
        let mut desired =
            DesiredState::new(&Inputs::defaults(&fake::names()), &test_target("us-east-1"))
                .expect("renders");
        desired.security_group.vpc_id = Some("vpc-1".into());
        desired
    }

    fn ssm_core(target: &Target) -> String {
        target.aws_managed_policy("AmazonSSMManagedInstanceCore")
    }

    #[tokio::test]
    async fn the_ide_s_role_gets_session_manager_s_policy_and_a_second_run_changes_nothing() {
        let desired = desired();
        let end = fake::converge(&ObservedState::default(), |o| plan(&desired, o)).await;
        let role = end.roles.get("dragons-lab-ec2-role").expect("the role");
        assert!(
            role.attached_policy_arns
                .contains(&ssm_core(&test_target("us-east-1"))),
            "{role:?}"
        );
        assert!(end.profiles.contains_key("dragons-lab-ec2-role"));
        let group = end
            .security_groups
            .get("dragons-lab-ide")
            .expect("the group");
        assert!(group.ingress.is_empty());
        assert_eq!(group.vpc_id, "vpc-1");
        let lines: Vec<String> = plan(&desired, &ObservedState::default())
            .expect("plans")
            .changes()
            .iter()
            .filter(|c| c.kind == ROLE_POLICY_ATTACHMENT)
            .map(|c| c.line())
            .collect();
        assert_eq!(
            lines,
            ["+ create    iam-role-policy-attachment \
              dragons-lab-ec2-role/AmazonSSMManagedInstanceCore"],
        );
    }

    /// `instance-profile` run after `ide` keeps the SSM agent's policy (the IDE stays reachable);
    /// `ide` after `instance-profile` adds it to the same role, changing nothing else.
    #[tokio::test]
    async fn ide_and_instance_profile_share_the_lab_s_role_without_undoing_each_other() {
        let desired = desired();
        let after_ide = fake::converge(&ObservedState::default(), |o| plan(&desired, o)).await;
        let again = instance_profile::plan(&desired.iam, &after_ide).expect("plans");
        assert!(
            again.changes().iter().all(|c| c.operations.is_empty()),
            "{:?}",
            again.changes().iter().map(|c| c.line()).collect::<Vec<_>>()
        );
        let after_lab = fake::converge(&ObservedState::default(), |o| {
            instance_profile::plan(&desired.iam, o)
        })
        .await;
        let ide = plan(&desired, &after_lab).expect("plans");
        let changing: Vec<String> = ide
            .changes()
            .iter()
            .filter(|c| !c.operations.is_empty())
            .map(|c| c.line())
            .collect();
        assert_eq!(
            changing,
            [
                "+ create    iam-role-policy-attachment \
                 dragons-lab-ec2-role/AmazonSSMManagedInstanceCore",
                "+ create    ec2-security-group dragons-lab-ide (no inbound rule)"
            ]
        );
    }

    #[tokio::test]
    async fn an_interrupted_ide_run_resumes_from_every_point() {
        let desired = desired();
        let prefixes = fake::every_prefix(&ObservedState::default(), |o| plan(&desired, o)).await;
        assert!(prefixes.operations >= 4, "{prefixes:?}");
        assert!(prefixes.refused.is_empty(), "{:?}", prefixes.refused);
    }
}
