//! `ide`: the course IDE for accounts that can no longer create Cloud9 — an EC2 instance reached
//! through Systems Manager Session Manager, holding the lab's instance profile. The lab's role
//! and profile are `instance-profile`'s (the same desired state), with AWS's
//! `AmazonSSMManagedInstanceCore` attached so that Session Manager reaches the instance; a
//! security group of its own with no inbound rule, in the region's default VPC; and the instance
//! itself, launched from the latest Amazon Linux 2023 image with the course's set-up.

use crate::resources::instance::al2023_parameter;
use crate::settings::{DEFAULT_IDE_NAME, DEFAULT_ROLE_NAME};
use serde_json::json;

use crate::connection::aws::Aws;
use crate::connection::clients::Clients;
use crate::course::ide_setup;
use crate::course::lab::Target;
use crate::engine::plan::wait_for;
use crate::error::Error;
use crate::input::InstanceType;
use crate::plans::ObservedState;
use crate::plans::cloudformation::resource_type;
use crate::plans::{instance_profile, restricted};
use crate::resources::instance::{
    DesiredInstance, GroupRef, INSTANCE, Image, Instance, latest_al2023, running_count,
};
use crate::resources::instance_profile::{MEMBERSHIP, PROFILE};
use crate::resources::security_group::{
    DesiredGroup, GroupQuery, SECURITY_GROUP, SecurityGroup, default_vpc, subnet_vpc,
};
use crate::resources::{Expected, Plan, Resource};
use crate::settings::{DEFAULT_IDE_TYPE, IdeArgs, Lab, NamesArgs};

/// The command's input, checked before any AWS call.
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    /// The IDE's name: its instance's `Name` tag and its security group's name.
    pub(crate) name: String,
    /// The lab's role and profile, as `instance-profile` makes them.
    pub(crate) iam: instance_profile::Inputs,
    pub(crate) instance_type: InstanceType,
    pub(crate) volume_gib: i32,
    /// `--subnet`: one of the default VPC's subnets; `None`, EC2's choice.
    pub(crate) subnet: Option<String>,
    /// The set-up script (user data), rendered and checked.
    pub(crate) user_data: String,
    /// `--idle-stop` as the instance's tag records it (`30m`, `off`).
    pub(crate) idle_stop: String,
}

impl Inputs {
    pub(crate) fn from_args(args: &IdeArgs) -> Result<Self, Error> {
        Ok(Self {
            name: args.name.as_str().to_string(),
            iam: instance_profile::Inputs::for_ide(
                &args.names,
                args.bucket.bucket.as_ref().map(|b| b.as_str()),
                &args.adopt,
                args.existing_profile.as_ref().map(|p| p.as_str()),
            ),
            instance_type: args.instance_type.clone(),
            volume_gib: args.volume_size,
            subnet: args.subnet.as_ref().map(|s| s.as_str().to_string()),
            user_data: ide_setup::user_data(args.idle_stop.0)?,
            idle_stop: args.idle_stop.label(),
        })
    }

    /// What `ide` makes by default with these names — the state `status` compares with.
    pub(crate) fn defaults(names: &NamesArgs) -> Result<Self, Error> {
        Ok(Self {
            name: crate::settings::DEFAULT_IDE_NAME.to_string(),
            iam: instance_profile::Inputs::defaults(names),
            instance_type: InstanceType::parse(DEFAULT_IDE_TYPE)?,
            volume_gib: 16,
            subnet: None,
            user_data: String::new(),
            idle_stop: String::new(),
        })
    }
}

/// What the command wants, every name and policy resolved.
#[derive(Debug, Clone)]
pub(crate) struct DesiredState {
    /// The IDE's own security group: no inbound rule.
    pub(crate) security_group: DesiredGroup,
    /// The IDE's instance; its image and group are resolved from what a run observes.
    pub(crate) instance: DesiredInstance,
    /// `--existing-profile`: the profile it holds, as it is; no IAM change is planned.
    pub(crate) existing: Option<String>,
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
            instance: DesiredInstance {
                name: inputs.name.clone(),
                instance_type: inputs.instance_type.as_str().to_string(),
                image: None,
                subnet_id: inputs.subnet.clone(),
                group: None,
                group_name: inputs.name.clone(),
                profile_name: inputs.iam.profile_name.clone(),
                volume_gib: inputs.volume_gib,
                user_data: inputs.user_data.clone(),
                idle_stop: inputs.idle_stop.clone(),
                region: target.region.clone(),
            },
            existing: inputs.iam.existing.clone(),
            iam: instance_profile::DesiredState::new(&inputs.iam, target)?,
        })
    }

    /// The role of the existing profile the IDE is to hold, as observed.
    fn existing_role_arn<'a>(&self, observed: &'a ObservedState) -> Option<&'a String> {
        let name = self.existing.as_ref()?;
        observed.profiles.get(name)?.role_arns.first()
    }

    /// Adds what the command makes to what `status` compares with: the lab's role and profile as
    /// `instance-profile` expects them (the SSM agent's policy kept once attached, not asked of
    /// a role `instance-profile` made alone).
    pub(crate) fn expect(&self, observed: &ObservedState, expected: &mut Expected) {
        self.iam.expect(observed, expected);
        expected.security_groups.push(self.security_group.clone());
        expected.ec2_instances.push(self.instance.clone());
    }

    /// The IDE in `found`'s network and from its image: the group by id once it exists (by name
    /// in its VPC until then). A root volume smaller than the image's is refused.
    pub(crate) fn in_network(
        mut self,
        found: &Found,
        observed: &ObservedState,
    ) -> Result<Self, Error> {
        if let Some(snapshot) = found.image.snapshot_gib
            && snapshot > self.instance.volume_gib
        {
            return Err(Error::usage(format!(
                "--volume-size {} is smaller than image {}'s {snapshot} GiB",
                self.instance.volume_gib, found.image.id
            ))
            .with_hint(format!("pass --volume-size {snapshot} or more")));
        }
        self.security_group.vpc_id = Some(found.vpc_id.clone());
        self.instance.group = Some(
            match observed.security_groups.get(&self.security_group.name) {
                Some(group) => GroupRef::Id(group.id.clone()),
                None => GroupRef::Named {
                    name: self.security_group.name.clone(),
                    vpc_id: found.vpc_id.clone(),
                },
            },
        );
        self.instance.image = Some(found.image.clone());
        Ok(self)
    }
}

/// What the IDE is made from: the region's default VPC, and the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) vpc_id: String,
    pub(crate) image: Image,
}

/// Reads the identity, the lab's role and its profile, the default VPC, the latest image and the
/// instances of the IDE's name, all at once; then the IDE's security group in that VPC.
pub(crate) async fn observe(
    aws: &Aws,
    clients: &Clients,
    inputs: &Inputs,
    lab: &Lab,
) -> Result<(Target, ObservedState, Found), Error> {
    let arch = match inputs.instance_type.is_arm64() {
        true => "arm64",
        false => "x86_64",
    };
    let lab_iam = async {
        match &inputs.iam.existing {
            None => instance_profile::observe(aws, clients, &inputs.iam, lab).await,
            Some(name) => {
                let (identity, profile) = tokio::join!(
                    aws.identity(),
                    crate::resources::instance_profile::InstanceProfile::observe(clients, name),
                );
                let mut observed = ObservedState::default();
                observed.add_profile(profile?);
                Ok((Target::new(identity?, aws, lab), observed))
            }
        }
    };
    let subnet_vpc = async {
        match &inputs.subnet {
            Some(subnet) => subnet_vpc(clients, subnet).await.map(Some),
            None => Ok(None),
        }
    };
    let (lab_iam, vpc, subnet_vpc, image, instances) = tokio::join!(
        lab_iam,
        default_vpc(clients),
        subnet_vpc,
        latest_al2023(clients, arch),
        Instance::observe(clients, &inputs.name),
    );
    let (target, mut observed) = lab_iam?;
    let instances = instances?;
    if instances.len() > 1 {
        let ids: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
        return Err(Error::failed(format!(
            "{} instances are named {}: {}",
            instances.len(),
            inputs.name,
            ids.join(", ")
        ))
        .with_hint("give this IDE another --name, or terminate the ones that are not it"));
    }
    for instance in instances {
        observed
            .ec2_instances
            .insert(instance.name.clone(), instance);
    }
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
    if let (Some(subnet), Some(subnet_vpc)) = (&inputs.subnet, subnet_vpc?) {
        wrong_subnet(subnet, subnet_vpc.as_deref(), &vpc_id, &target.region)?;
    }
    let query = GroupQuery {
        name: inputs.name.clone(),
        vpc_id: vpc_id.clone(),
    };
    if let Some(group) = SecurityGroup::observe(clients, &query).await? {
        observed.security_groups.insert(group.name.clone(), group);
    }
    let image = image?;
    Ok((target, observed, Found { vpc_id, image }))
}

/// `--subnet` is one of the default VPC's, where the IDE's security group is: a subnet of another
/// VPC, or none of that id, is refused before any change.
fn wrong_subnet(
    subnet: &str,
    subnet_vpc: Option<&str>,
    default_vpc: &str,
    region: &str,
) -> Result<(), Error> {
    let listed = format!(
        "choose one of the default VPC's subnets (`aws ec2 describe-subnets --region {region} \
         --filters Name=vpc-id,Values={default_vpc}`), or leave --subnet out"
    );
    match subnet_vpc {
        Some(vpc) if vpc == default_vpc => Ok(()),
        Some(vpc) => Err(Error::usage(format!(
            "subnet {subnet} is in {vpc}, not in the default VPC {default_vpc}, where the IDE and \
             its security group are made"
        ))
        .with_hint(listed)),
        None => {
            Err(Error::usage(format!("there is no subnet {subnet} in {region}")).with_hint(listed))
        }
    }
}

/// Observes and plans in one account.
pub(crate) async fn prepare(
    aws: &Aws,
    clients: &Clients,
    inputs: &Inputs,
    lab: &Lab,
) -> Result<(Target, Plan), Error> {
    let (target, observed, found) = observe(aws, clients, inputs, lab).await?;
    // AWS Academy's Learner Lab: its limits are checked before a launch is planned.
    if restricted::is_learner_lab(&aws.identity().await?.arn)
        && !observed.ec2_instances.contains_key(&inputs.name)
    {
        let running = running_count(clients).await?;
        restricted::within_learner_lab_limits(&target.region, &inputs.instance_type, running)?;
    }
    let desired = DesiredState::new(inputs, &target)?.in_network(&found, &observed)?;
    let plan = plan(&desired, &observed)?;
    // An existing profile's role is checked as instance-profile checks it: the lab's reads.
    let warning = match (&inputs.iam.existing, &desired.existing_role_arn(&observed)) {
        (Some(_), Some(role_arn)) => {
            let bucket = target.lab_bucket(inputs.iam.bucket());
            instance_profile::check_lab_reads(clients, &target, &bucket, role_arn).await
        }
        _ => None,
    };
    let mut warnings = plan.warnings().to_vec();
    warnings.extend(warning);
    Ok((target, Plan::new(plan.changes().to_vec(), warnings)?))
}

/// The lab's role — with `AmazonSSMManagedInstanceCore`, which Session Manager needs on the
/// instance — its policies and its profile, planned as `instance-profile` plans them; beside
/// them, the IDE's security group; the instance after the profile holds the role and the group
/// exists. Pure.
pub(crate) fn plan(desired: &DesiredState, observed: &ObservedState) -> Result<Plan, Error> {
    let (mut changes, warnings) = match &desired.existing {
        None => {
            let mut iam = desired.iam.clone();
            iam.role = iam.role_keeping_ssm_core(observed.roles.get(&iam.role.name), true);
            iam.instances = None;
            let lab = instance_profile::plan(&iam, observed)?;
            (lab.changes().to_vec(), lab.warnings().to_vec())
        }
        Some(name) => (Vec::new(), vec![existing_profile_checked(name, observed)?]),
    };
    let claims = observed.knowing_creators(&desired.iam.claims);
    let group = &desired.security_group;
    changes.extend(SecurityGroup::plan(
        Some(group),
        observed.security_groups.get(&group.name),
        &claims,
    )?);
    let instance = Instance::plan(
        Some(&desired.instance),
        observed.ec2_instances.get(&desired.instance.name),
        &claims,
    )?;
    let profile = &desired.iam.profile.name;
    let instance = match desired.existing {
        None => {
            let instance = wait_for(instance, INSTANCE, &MEMBERSHIP.id(profile.clone()));
            wait_for(instance, INSTANCE, &PROFILE.id(profile.clone()))
        }
        Some(_) => instance,
    };
    changes.extend(wait_for(
        instance,
        INSTANCE,
        &SECURITY_GROUP.id(group.name.clone()),
    ));
    Plan::new(changes, warnings)
}

/// `--existing-profile NAME`: the profile must exist and hold a role (an instance launched with
/// an empty one gets no credentials). The warning says what the IDE then relies on. Pure.
fn existing_profile_checked(name: &str, observed: &ObservedState) -> Result<String, Error> {
    let Some(profile) = observed.profiles.get(name) else {
        return Err(
            Error::failed(format!("instance profile {name} does not exist")).with_hint(
                "check the name with `aws iam list-instance-profiles --query \
                 'InstanceProfiles[].InstanceProfileName'` (a lab account's is usually \
                 LabInstanceProfile)",
            ),
        );
    };
    let Some(role) = profile.roles.first() else {
        return Err(Error::failed(format!(
            "instance profile {name} holds no role: the IDE would get no credentials"
        ))
        .with_hint("let provision make the lab's profile (without --existing-profile)"));
    };
    Ok(format!(
        "the IDE holds {name} as it is (role {role}): Session Manager reaches it only if that \
         role allows the SSM agent (AmazonSSMManagedInstanceCore, which Learner Lab's LabRole has)"
    ))
}

impl crate::plans::cloudformation::Assembly {
    /// What `ide` makes: the IDE's security group, with no inbound rule, in the region's default
    /// VPC, and its instance — the latest Amazon Linux 2023 image (CloudFormation reads the same
    /// public parameter), the lab's instance profile, IMDSv2, an encrypted gp3 root volume, the
    /// same set-up script with a 30-minute idle stop. `with_profile`: the template makes the
    /// profile too, and the instance waits for it.
    pub(crate) fn ide(&mut self, with_profile: bool) -> Result<(), Error> {
        self.parameters.insert(
            "RoleName".into(),
            json!({"Type": "String", "Default": DEFAULT_ROLE_NAME}),
        );
        self.parameters.insert(
            "IdeImage".into(),
            json!({"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
                   "Default": al2023_parameter("x86_64"),
                   "Description": "The IDE's image: the latest Amazon Linux 2023"}),
        );
        self.parameters.insert(
            "IdeInstanceType".into(),
            json!({"Type": "String", "Default": DEFAULT_IDE_TYPE}),
        );
        let mut tags = self.tags.as_array().cloned().unwrap_or_default();
        tags.push(json!({"Key": "Name", "Value": {"Ref": "IdeName"}}));
        let user_data =
            crate::course::ide_setup::user_data(Some(std::time::Duration::from_secs(30 * 60)))?;
        self.resources.insert(
            "IdeInstance".into(),
            json!({
                "Type": resource_type::<Instance>()?,
                "Properties": {
                    "ImageId": {"Ref": "IdeImage"},
                    "InstanceType": {"Ref": "IdeInstanceType"},
                    "IamInstanceProfile": {"Ref": "RoleName"},
                    "SecurityGroupIds": [{"Fn::GetAtt": ["IdeSecurityGroup", "GroupId"]}],
                    "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1,
                                        "HttpEndpoint": "enabled"},
                    "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {
                        "VolumeSize": 16, "VolumeType": "gp3", "Encrypted": true,
                        "DeleteOnTermination": true}}],
                    "InstanceInitiatedShutdownBehavior": "stop",
                    "UserData": {"Fn::Base64": user_data},
                    "Tags": tags,
                }
            }),
        );
        // The group is waited for through its GetAtt; the profile, named by parameter, is not.
        if with_profile && let Some(instance) = self.resources.get_mut("IdeInstance") {
            instance["DependsOn"] = json!(["LabInstanceProfile"]);
        }
        self.parameters.insert(
            "IdeName".into(),
            json!({"Type": "String", "Default": DEFAULT_IDE_NAME,
                   "Description": "The course IDE's name (its security group's)"}),
        );
        self.resources.insert(
            "IdeSecurityGroup".into(),
            json!({
                "Type": resource_type::<SecurityGroup>()?,
                "Properties": {
                    "GroupName": {"Ref": "IdeName"},
                    "GroupDescription": {"Fn::Sub": "provision: the course IDE ${IdeName}, \
                        reached through Session Manager (no inbound rule)"},
                    "Tags": self.tags,
                }
            }),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::lab::test_target;
    use crate::plans::fake;
    use crate::resources::iam_role::ROLE_POLICY_ATTACHMENT;

    fn image() -> Image {
        Image {
            id: "ami-1".into(),
            name: "al2023-ami-2023.12-kernel-6.1-x86_64".into(),
            root_device: "/dev/xvda".into(),
            snapshot_gib: Some(8),
            source: "SSM parameter".into(),
        }
    }

    fn found() -> Found {
        Found {
            vpc_id: "vpc-1".into(),
            image: image(),
        }
    }

    fn desired() -> DesiredState {
        DesiredState::new(
            &Inputs::defaults(&fake::names()).expect("inputs"),
            &test_target("us-east-1"),
        )
        .expect("renders")
    }

    /// Plans as `prepare` does: the IDE placed in what is observed.
    fn planned(observed: &ObservedState) -> Result<Plan, Error> {
        plan(&desired().in_network(&found(), observed)?, observed)
    }

    fn ssm_core(target: &Target) -> String {
        target.aws_managed_policy("AmazonSSMManagedInstanceCore")
    }

    #[tokio::test]
    async fn the_ide_s_role_gets_session_manager_s_policy_and_a_second_run_changes_nothing() {
        let end = fake::converge(&ObservedState::default(), planned).await;
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
        let instance = end
            .ec2_instances
            .get("dragons-lab-ide")
            .expect("the instance");
        assert_eq!(instance.group_ids, std::slice::from_ref(&group.id));
        assert_eq!(instance.instance_type, "t3.small");
        let lines: Vec<String> = planned(&ObservedState::default())
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
        let after_ide = fake::converge(&ObservedState::default(), planned).await;
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
        let ide = planned(&after_lab).expect("plans");
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
                "+ create    ec2-security-group dragons-lab-ide (no inbound rule)",
                "+ create    ec2-instance dragons-lab-ide (t3.small, \
                 al2023-ami-2023.12-kernel-6.1-x86_64 (ami-1, SSM parameter), 16 GiB gp3 \
                 encrypted, IMDSv2, in dragons-lab-ide, no key pair; $0.0208 an hour running \
                 (us-east-1 on-demand, prices of 2026-12), its volume $1.28 a month running or \
                 stopped)"
            ]
        );
    }

    /// `--existing-profile LabInstanceProfile`: no IAM change; the IDE is launched holding it; a
    /// profile that is not there, or holds no role, is refused.
    #[tokio::test]
    async fn an_existing_profile_is_held_as_it_is_with_no_iam_change() {
        let mut lab = desired();
        lab.existing = Some("LabInstanceProfile".into());
        lab.instance.profile_name = "LabInstanceProfile".into();
        let plan_lab = |o: &ObservedState| plan(&lab.clone().in_network(&found(), o)?, o);
        let missing = plan_lab(&ObservedState::default()).expect_err("refused");
        assert!(missing.message().contains("does not exist"), "{missing}");
        let mut start = ObservedState::default();
        start.add_profile(Some(crate::resources::instance_profile::ObservedProfile {
            name: "LabInstanceProfile".into(),
            arn: "arn:aws:iam::123456789012:instance-profile/LabInstanceProfile".into(),
            roles: vec!["LabRole".into()],
            role_arns: vec!["arn:aws:iam::123456789012:role/LabRole".into()],
            tags: Default::default(),
        }));
        let first = plan_lab(&start).expect("plans");
        let kinds: Vec<String> = first.changes().iter().map(|c| c.kind.to_string()).collect();
        assert_eq!(kinds, ["ec2-security-group", "ec2-instance"]);
        assert!(
            first.warnings()[0].contains("role LabRole"),
            "{:?}",
            first.warnings()
        );
        let end = fake::converge(&start, plan_lab).await;
        let instance = end.ec2_instances.get("dragons-lab-ide").expect("launched");
        assert_eq!(
            instance.profile_arn.as_deref(),
            Some("instance-profile/LabInstanceProfile")
        );
    }

    /// The image's root snapshot is the smallest root volume.
    #[test]
    fn a_root_volume_smaller_than_the_image_is_refused() {
        let mut small = desired();
        small.instance.volume_gib = 4;
        let error = small
            .in_network(&found(), &ObservedState::default())
            .expect_err("refused");
        assert!(
            error.message().contains("smaller than image ami-1's 8 GiB"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_interrupted_ide_run_resumes_from_every_point() {
        let prefixes = fake::every_prefix(&ObservedState::default(), planned).await;
        assert!(prefixes.operations >= 4, "{prefixes:?}");
        assert!(prefixes.refused.is_empty(), "{:?}", prefixes.refused);
    }
}
