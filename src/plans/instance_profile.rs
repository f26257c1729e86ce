//! `instance-profile`: the EC2 role with its permissions, an instance profile holding it, and the
//! association of the course IDE's instance with that profile.

use crate::course::lab::LAB_BUCKET_PREFIX;
use crate::settings::DEFAULT_ROLE_NAME;
use serde_json::{Value, json};

use crate::plans::cloudformation::{resource_type, tokens};
use crate::settings::GlobalArgs;
use std::collections::BTreeSet;

use futures::future::join_all;

use crate::connection::aws::Aws;
use crate::connection::clients::Clients;
use crate::course::lab::{ADMINISTRATOR_ACCESS, IAM_PATH, INLINE_POLICY_NAME, Target};
use crate::course::template::{self, Template, Values};
use crate::engine::plan::Action;
use crate::engine::plan::wait_for;
use crate::error::Error;
use crate::input::InstanceSelector;
use crate::plans::ObservedState;
use crate::resources::association::{
    ASSOCIATION, Association, CLOUD9_SSM_PROFILE, DesiredAssociation, ObservedInstance,
    PropagationPolicy, is_provision_profile, profile_name_of, select,
};
use crate::resources::iam_role::{
    DesiredRole, ObservedRole, ROLE, Role, RoleQuery, permissions_digest,
};
use crate::resources::instance_profile::{
    DesiredProfile, DesiredRoles, InstanceProfile, MEMBERSHIP, PROFILE, ProfileRoles,
};
use crate::resources::ownership::{Claims, Holder, held_elsewhere, is_managed};
use crate::resources::{Change, Expected, Plan, Resource};
use crate::settings::{AdoptArg, IamNames, InstanceProfileArgs, Lab, NamesArgs};

/// The command's input, checked and read (templates) before any AWS call.
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    pub(crate) role_name: String,
    pub(crate) profile_name: String,
    trust_policy: Template,
    inline_policy: Template,
    policy_arns: Vec<String>,
    pub(crate) selector: Option<InstanceSelector>,
    all_matching: bool,
    bucket: Option<String>,
    adopt: bool,
    take_over: bool,
    prune: bool,
    replace: bool,
    propagation: PropagationPolicy,
    /// `--existing-profile`: associate this profile as it is, with no IAM writes.
    pub(crate) existing: Option<String>,
}

/// The embedded EC2 trust policy.
fn default_trust_policy() -> Template {
    Template::embedded("ec2-trust-policy.json", template::DEFAULT_TRUST_POLICY)
}

/// The embedded inline policy: what the Dragons lab needs.
fn default_inline_policy() -> Template {
    Template::embedded("dragons-lab-policy.json", template::DEFAULT_INLINE_POLICY)
}

impl Inputs {
    pub(crate) fn from_args(args: &InstanceProfileArgs) -> Result<Self, Error> {
        let selector = match (&args.instance_id, args.instance_tag.is_empty()) {
            (Some(id), _) => Some(InstanceSelector::Id(id.clone())),
            (None, false) => Some(InstanceSelector::Tags(args.instance_tag.clone())),
            (None, true) => None,
        };
        let trust_policy = match &args.trust_policy {
            Some(path) => Template::read(path)?,
            None => default_trust_policy(),
        };
        let inline_policy = match &args.policy {
            Some(path) => Template::read(path)?,
            None => default_inline_policy(),
        };
        trust_policy.check()?;
        inline_policy.check()?;
        Ok(Self {
            role_name: args.names.role_name.as_str().to_string(),
            profile_name: args.names.profile_name().to_string(),
            trust_policy,
            inline_policy,
            policy_arns: args
                .policy_arns
                .iter()
                .map(|arn| arn.as_str().to_string())
                .collect(),
            selector,
            all_matching: args.all_matching,
            bucket: args.bucket.bucket.as_ref().map(|b| b.as_str().to_string()),
            adopt: args.adopt.adopt,
            take_over: args.adopt.take_over,
            replace: args.replace,
            prune: args.prune,
            propagation: PropagationPolicy::with_timeout(args.propagation_timeout),
            existing: args
                .existing_profile
                .as_ref()
                .map(|p| p.as_str().to_string()),
        })
    }

    /// What `instance-profile` makes by default with these names — the state `status` compares
    /// with. It describes a same-named resource provision did not create instead of refusing it.
    pub(crate) fn defaults(names: &NamesArgs) -> Self {
        Self {
            role_name: names.iam.role_name.as_str().to_string(),
            profile_name: names.iam.profile_name().to_string(),
            trust_policy: default_trust_policy(),
            inline_policy: default_inline_policy(),
            policy_arns: Vec::new(),
            selector: None,
            all_matching: false,
            bucket: names.bucket.bucket.as_ref().map(|b| b.as_str().to_string()),
            adopt: true,
            take_over: true,
            replace: false,
            prune: false,
            propagation: PropagationPolicy::with_timeout(std::time::Duration::ZERO),
            existing: None,
        }
    }
}

impl Inputs {
    /// The lab bucket given (`--bucket`), which the role's policy names.
    pub(crate) fn bucket(&self) -> Option<&str> {
        self.bucket.as_deref()
    }

    /// What `ide` asks of the lab's role and profile: the defaults, with its names, the lab
    /// bucket its policy names and its adoption flags; no instance to associate (the IDE is
    /// launched holding the profile).
    /// `existing`: the profile to launch with, as it is (`--existing-profile`).
    pub(crate) fn for_ide(
        names: &IamNames,
        bucket: Option<&str>,
        adopt: &AdoptArg,
        existing: Option<&str>,
    ) -> Self {
        Self {
            role_name: names.role_name.as_str().to_string(),
            profile_name: existing.unwrap_or(names.profile_name()).to_string(),
            existing: existing.map(str::to_string),
            bucket: bucket.map(str::to_string),
            adopt: adopt.adopt,
            take_over: adopt.take_over,
            ..Self::defaults(&NamesArgs {
                iam: names.clone(),
                bucket: crate::settings::BucketArg { bucket: None },
                all_owners: false,
            })
        }
    }
}

/// Which instances get the profile.
#[derive(Debug, Clone)]
pub(crate) struct Instances {
    pub(crate) selector: InstanceSelector,
    pub(crate) all_matching: bool,
}

/// What the command wants, every name, ARN and policy resolved.
#[derive(Debug, Clone)]
pub(crate) struct DesiredState {
    pub(crate) role: DesiredRole,
    pub(crate) profile: DesiredProfile,
    pub(crate) membership: DesiredRoles,
    pub(crate) instances: Option<Instances>,
    pub(crate) propagation: PropagationPolicy,
    /// Whose resources the command may change (the caller's, and what the flags add).
    pub(crate) claims: Claims,
    pub(crate) replace: bool,
    /// AWS's managed policy a Systems Manager-connected instance needs
    /// (`AmazonSSMManagedInstanceCore` in the target's partition).
    pub(crate) ssm_core_policy: String,
    pub(crate) warnings: Vec<String>,
}

impl DesiredState {
    /// Renders the templates for the target. Pure.
    pub(crate) fn new(inputs: &Inputs, target: &Target) -> Result<Self, Error> {
        let bucket = target.lab_bucket(inputs.bucket.as_deref());
        let values = Values {
            account_id: &target.account,
            region: &target.region,
            app_region: &target.app_region,
            parameter_path: target.parameter_prefix.arn_path(),
            partition: &target.partition,
            bucket: &bucket,
            role_name: &inputs.role_name,
        };
        let mut warnings = Vec::new();
        let administrator = target.aws_managed_policy(ADMINISTRATOR_ACCESS);
        if inputs.policy_arns.contains(&administrator) {
            warnings.push(format!(
                "attaching AdministratorAccess gives every process on the instance full control of \
                 account {}; the default inline policy grants only what the Dragons lab needs",
                target.account
            ));
        }
        let trust_policy = inputs.trust_policy.render(&values)?;
        let inline_policy = inputs.inline_policy.render(&values)?;
        // Other permissions than the defaults are recorded on the role, for `status`.
        let defaults = permissions_digest(
            Some(&default_trust_policy().render(&values)?),
            Some(&default_inline_policy().render(&values)?),
            &[],
        );
        let asked = permissions_digest(
            Some(&trust_policy),
            Some(&inline_policy),
            &inputs.policy_arns,
        );
        Ok(Self {
            role: DesiredRole {
                name: inputs.role_name.clone(),
                path: IAM_PATH.to_string(),
                arn: target.role_arn(&inputs.role_name),
                trust_policy,
                inline_policy_name: INLINE_POLICY_NAME.to_string(),
                inline_policy,
                managed_policy_arns: inputs.policy_arns.clone(),
                prune: inputs.prune,
                record_permissions: asked != defaults,
            },
            profile: DesiredProfile {
                name: inputs.profile_name.clone(),
                path: IAM_PATH.to_string(),
                arn: target.instance_profile_arn(&inputs.profile_name),
            },
            membership: DesiredRoles {
                profile: inputs.profile_name.clone(),
                roles: vec![inputs.role_name.clone()],
            },
            instances: inputs.selector.clone().map(|selector| Instances {
                selector,
                all_matching: inputs.all_matching,
            }),
            propagation: inputs.propagation,
            claims: Claims {
                adopt: inputs.adopt,
                take_over: inputs.take_over,
                ..Claims::of(&target.owner)
            },
            replace: inputs.replace,
            ssm_core_policy: target.aws_managed_policy(SSM_CORE_POLICY),
            warnings,
        })
    }
}

impl DesiredState {
    /// Adds what the command makes to what `status` compares with: the role (with the SSM
    /// agent's policy it keeps once attached), the profile and the role it holds.
    pub(crate) fn expect(&self, observed: &ObservedState, expected: &mut Expected) {
        let current = observed.roles.get(&self.role.name);
        expected
            .roles
            .push(self.role_keeping_ssm_core(current, false));
        expected.profiles.push(self.profile.clone());
        expected.memberships.push(self.membership.clone());
    }

    /// The role to plan: the desired one, plus the SSM agent's policy when an instance needs it
    /// (`ssm_needed`) or the role already has it — attached once for an SSM-connected IDE, it
    /// stays, so that a later run (or `status`) does not take the IDE's connection away.
    pub(crate) fn role_keeping_ssm_core(
        &self,
        current: Option<&ObservedRole>,
        ssm_needed: bool,
    ) -> DesiredRole {
        let mut role = self.role.clone();
        let already =
            current.is_some_and(|r| r.attached_policy_arns.contains(&self.ssm_core_policy));
        if (ssm_needed || already) && !role.managed_policy_arns.contains(&self.ssm_core_policy) {
            role.managed_policy_arns.push(self.ssm_core_policy.clone());
        }
        role
    }
}

/// Reads the identity, the role, the profile and — with a selector — the instances, all at once.
pub(crate) async fn observe(
    aws: &Aws,
    clients: &Clients,
    inputs: &Inputs,
    lab: &Lab,
) -> Result<(Target, ObservedState), Error> {
    let role_query = RoleQuery {
        name: inputs.role_name.clone(),
        inline_policy_name: INLINE_POLICY_NAME.to_string(),
        with_profiles: false,
    };
    let instances = async {
        match &inputs.selector {
            Some(_) => Association::observe(clients, &inputs.selector)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let (identity, role, profile, instances) = tokio::join!(
        aws.identity(),
        Role::observe(clients, &role_query),
        InstanceProfile::observe(clients, &inputs.profile_name),
        instances,
    );
    let mut observed = ObservedState::default();
    observed.add_role(role?);
    observed.add_profile(profile?);
    observed.instances = instances?.unwrap_or_default();
    // Another of provision's profiles a chosen instance holds (rarely any): whose it is decides
    // whether the association may be replaced.
    let held: BTreeSet<String> = observed
        .instances
        .matched
        .iter()
        .filter_map(|i| observed.instances.associations.get(&i.id))
        .filter(|a| is_provision_profile(&a.profile_arn))
        .map(|a| profile_name_of(&a.profile_arn).to_string())
        .filter(|name| *name != inputs.profile_name)
        .collect();
    for profile in join_all(
        held.iter()
            .map(|name| InstanceProfile::observe(clients, name)),
    )
    .await
    {
        observed.add_profile(profile?);
    }
    let target = Target::new(identity?, aws, lab);
    crate::plans::creators::look_up(clients, &target.partition, &mut observed).await;
    Ok((target, observed))
}

/// The role (with its policies) and the profile are planned side by side; the membership waits
/// for both, and each association for the membership. Pure.
pub(crate) fn plan(desired: &DesiredState, observed: &ObservedState) -> Result<Plan, Error> {
    let role_name = &desired.role.name;
    let profile_name = &desired.profile.name;
    let current_profile = observed.profiles.get(profile_name);
    let mut warnings = desired.warnings.clone();
    let mut reminders = Vec::new();
    let chosen = match &desired.instances {
        Some(instances) => select(
            &instances.selector,
            &observed.instances,
            instances.all_matching,
        )?,
        None => Vec::new(),
    };
    // An instance Systems Manager connects (a no-ingress Cloud9 IDE) keeps its connection: the
    // lab role also gets the SSM agent's permissions.
    let ssm_connected: Vec<&ObservedInstance> = chosen
        .iter()
        .filter(|i| {
            i.ssm_managed
                || observed
                    .instances
                    .associations
                    .get(&i.id)
                    .is_some_and(|a| profile_name_of(&a.profile_arn) == CLOUD9_SSM_PROFILE)
        })
        .collect();
    let role =
        desired.role_keeping_ssm_core(observed.roles.get(role_name), !ssm_connected.is_empty());
    if let Some(instance) = ssm_connected.first()
        && !desired
            .role
            .managed_policy_arns
            .contains(&desired.ssm_core_policy)
    {
        warnings.push(format!(
            "instance {} is connected through Systems Manager (a no-ingress Cloud9 IDE): the role \
             also gets {SSM_CORE_POLICY}, so that the IDE stays reachable once it holds the lab's \
             profile",
            instance.id
        ));
    }
    let claims = observed.knowing_creators(&desired.claims);
    let mut changes =
        Role::plan(Some(&role), observed.roles.get(role_name), &claims).map_err(held_iam)?;
    changes.extend(
        InstanceProfile::plan(Some(&desired.profile), current_profile, &claims)
            .map_err(held_iam)?,
    );
    let membership = ProfileRoles::plan(Some(&desired.membership), current_profile, &claims)?;
    let membership = wait_for(membership, MEMBERSHIP, &ROLE.id(role_name.clone()));
    changes.extend(wait_for(
        membership,
        MEMBERSHIP,
        &PROFILE.id(profile_name.clone()),
    ));
    // Instances are compared with the profile as IAM has it (an adopted one keeps its ARN).
    let profile_arn = current_profile.map_or(&desired.profile.arn, |p| &p.arn);
    for instance in chosen {
        let association = DesiredAssociation {
            profile_name: profile_name.clone(),
            profile_arn: profile_arn.clone(),
            propagation: desired.propagation,
            replace: desired.replace,
            record: None,
            instance,
        };
        check_held_association(&association, observed, &claims)?;
        let planned = plan_association(&association, observed, &claims, &mut reminders)?;
        changes.extend(wait_for(
            planned,
            ASSOCIATION,
            &MEMBERSHIP.id(profile_name.clone()),
        ));
    }
    Ok(Plan::new(changes, warnings)?.with_reminders(reminders))
}

/// `--existing-profile NAME`: the instance profile as it is (a lab account's LabInstanceProfile,
/// which students may not change) and the instances. Nothing of IAM is written.
pub(crate) async fn observe_existing(
    aws: &Aws,
    clients: &Clients,
    inputs: &Inputs,
    lab: &Lab,
    name: &str,
) -> Result<(Target, ObservedState), Error> {
    let (identity, profile, instances) = tokio::join!(
        aws.identity(),
        InstanceProfile::observe(clients, name),
        Association::observe(clients, &inputs.selector),
    );
    let mut observed = ObservedState::default();
    observed.add_profile(profile?);
    observed.instances = instances?;
    Ok((Target::new(identity?, aws, lab), observed))
}

/// The plan of `--existing-profile`: only the associations. The profile must exist and hold a
/// role (an instance given an empty profile gets no credentials). Pure.
pub(crate) fn plan_existing(
    inputs: &Inputs,
    target: &Target,
    name: &str,
    observed: &ObservedState,
    permissions_warning: Option<String>,
) -> Result<Plan, Error> {
    let Some(profile) = observed.profiles.get(name) else {
        return Err(
            Error::failed(format!("instance profile {name} does not exist")).with_hint(
                "check the name with `aws iam list-instance-profiles --query \
                 'InstanceProfiles[].InstanceProfileName'` (a lab account's is usually \
                 LabInstanceProfile)",
            ),
        );
    };
    if profile.roles.is_empty() {
        return Err(Error::failed(format!(
            "instance profile {name} holds no role: an instance given it would get no credentials"
        ))
        .with_hint(format!(
            "ask whoever manages the account to add a role to {name}, or let provision create \
             its own (without --existing-profile)"
        )));
    }
    let Some(selector) = &inputs.selector else {
        return Err(Error::usage(
            "--existing-profile associates a profile with an instance: name the instance",
        )
        .with_hint("add --instance-tag KEY=VALUE (e.g. Name=*ide*) or --instance-id ID"));
    };
    let mut changes = Vec::new();
    let mut reminders = Vec::new();
    for instance in select(selector, &observed.instances, inputs.all_matching)? {
        let association = DesiredAssociation {
            profile_name: name.to_string(),
            profile_arn: profile.arn.clone(),
            propagation: inputs.propagation,
            replace: inputs.replace,
            record: Some(target.owner.clone()),
            instance,
        };
        changes.extend(plan_association(
            &association,
            observed,
            &Claims::of(&target.owner),
            &mut reminders,
        )?);
    }
    let warnings = permissions_warning.into_iter().collect();
    Ok(Plan::new(changes, warnings)?.with_reminders(reminders))
}

/// What the lab application does with the instance's credentials: each action, on its resources.
fn lab_reads(target: &Target, bucket: &str) -> Vec<(&'static str, Vec<String>)> {
    vec![
        (
            "ssm:GetParameter",
            vec![
                target.parameter_arn(&target.bucket_parameter()),
                target.parameter_arn(&target.key_parameter()),
            ],
        ),
        (
            "s3:GetObject",
            vec![target.object_arn(bucket, crate::course::lab::DEFAULT_KEY)],
        ),
        ("s3:ListBucket", vec![target.bucket_arn(bucket)]),
    ]
}

/// Whether the existing profile's role allows the lab application's reads, asked of IAM's policy
/// simulator (`iam:SimulatePrincipalPolicy`, one attempt per action, concurrently). `None` when it
/// does; otherwise the warning to print: what it denies, or that it could not be checked and why.
pub(crate) async fn check_lab_reads(
    clients: &Clients,
    target: &Target,
    bucket: &str,
    role_arn: &str,
) -> Option<String> {
    let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let asks = lab_reads(target, bucket);
    let answers = futures::future::join_all(asks.iter().map(|(action, resources)| {
        clients
            .iam
            .simulate_principal_policy()
            .policy_source_arn(role_arn)
            .action_names(*action)
            .set_resource_arns(Some(resources.clone()))
            .customize()
            .config_override(
                aws_sdk_iam::config::Builder::default()
                    .retry_config(crate::connection::clients::single_attempt()),
            )
            .send()
    }))
    .await;
    let mut denied = Vec::new();
    for ((action, resources), answer) in asks.iter().zip(answers) {
        let output = match answer {
            Ok(output) => output,
            Err(e) => {
                return Some(format!(
                    "could not check whether role {role} allows the lab application's reads \
                     ({}): if the lab cannot read its parameters or the data, the role is why",
                    crate::plans::restricted::reason("iam:SimulatePrincipalPolicy", e)
                ));
            }
        };
        for result in output.evaluation_results() {
            let allowed = |d: &aws_sdk_iam::types::PolicyEvaluationDecisionType| {
                *d == aws_sdk_iam::types::PolicyEvaluationDecisionType::Allowed
            };
            if result.resource_specific_results().is_empty() {
                if !allowed(result.eval_decision()) {
                    let on = result
                        .eval_resource_name()
                        .map_or_else(|| resources.join(", "), str::to_string);
                    denied.push(format!("{action} on {on}"));
                }
            } else {
                for specific in result.resource_specific_results() {
                    if !allowed(specific.eval_resource_decision()) {
                        denied.push(format!("{action} on {}", specific.eval_resource_name()));
                    }
                }
            }
        }
    }
    (!denied.is_empty()).then(|| {
        format!(
            "role {role} (in the existing profile) does not allow what the lab application \
             reads: {} — the lab will get AccessDenied until whoever manages the account \
             allows it",
            denied.join("; ")
        )
    })
}

/// One instance's association, against what it holds now; a Cloud9 IDE whose association changes
/// gets the reminder to turn its managed credentials off. Pure.
fn plan_association(
    association: &DesiredAssociation,
    observed: &ObservedState,
    claims: &Claims,
    reminders: &mut Vec<String>,
) -> Result<Vec<Change>, Error> {
    let current = observed
        .instances
        .associations
        .get(&association.instance.id);
    let planned = Association::plan(Some(association), current, claims)?;
    if association.instance.cloud9 && planned.iter().any(|c| c.action != Action::Unchanged) {
        reminders.push(cloud9_reminder(&association.instance.id));
    }
    Ok(planned)
}

/// An instance that holds another owner's profile of provision's (a classmate's IDE) keeps it,
/// unless `--take-over`. Pure.
fn check_held_association(
    association: &DesiredAssociation,
    observed: &ObservedState,
    claims: &Claims,
) -> Result<(), Error> {
    let instance = &association.instance;
    let Some(current) = observed.instances.associations.get(&instance.id) else {
        return Ok(());
    };
    let Some(held) = observed
        .profiles
        .values()
        .find(|p| p.arn == current.profile_arn && p.name != association.profile_name)
        .filter(|p| is_managed(&p.tags))
    else {
        return Ok(());
    };
    match claims.holder(PROFILE, &held.name, &held.tags) {
        Holder::Caller => Ok(()),
        _ if claims.take_over => Ok(()),
        holder => Err(
            held_elsewhere(ASSOCIATION, &instance.id, &holder).with_cause(format!(
                "instance {} holds instance profile {}, which provision made for its owner",
                instance.describe(),
                held.name
            )),
        ),
    }
}

/// Another owner's role or profile: the caller can use names of their own.
fn held_iam(error: Error) -> Error {
    match error.holder().is_some() {
        true => error.with_hint(
            "or use names of your own: --role-name NAME --instance-profile-name NAME (students \
             sharing an account each need their own)",
        ),
        false => error,
    }
}

fn cloud9_reminder(instance: &str) -> String {
    format!(
        "{instance} is a Cloud9 IDE: now that it holds the profile, turn off \"AWS managed \
         temporary credentials\" (Preferences → AWS Settings → Credentials) — the credentials \
         file Cloud9 writes comes before the instance profile in every SDK's provider chain, so \
         the lab would not use the profile"
    )
}

/// AWS's managed policy with the Systems Manager agent's permissions.
pub(crate) const SSM_CORE_POLICY: &str = "AmazonSSMManagedInstanceCore";

impl crate::plans::cloudformation::Assembly {
    /// What `instance-profile` makes: the role with its policies, and the instance profile.
    pub(crate) fn instance_profile(&mut self, global: &GlobalArgs) -> Result<(), Error> {
        let tokens = tokens(global.parameter_prefix.arn_path());
        let tokens: Vec<(&str, &str)> = tokens.iter().map(|(n, t)| (*n, t.as_str())).collect();
        self.parameters.insert(
            "RoleName".into(),
            json!({"Type": "String", "Default": DEFAULT_ROLE_NAME}),
        );
        let trust = Template::embedded("ec2-trust-policy.json", template::DEFAULT_TRUST_POLICY);
        let inline = Template::embedded("dragons-lab-policy.json", template::DEFAULT_INLINE_POLICY);
        let mut inline_document = inline.cloudformation(&tokens)?;
        // The bucket's name inside the policy: the same default name, substituted.
        substitute_bucket(&mut inline_document);
        self.resources.insert(
            "LabRole".into(),
            json!({
                "Type": resource_type::<Role>()?,
                "Properties": {
                    "RoleName": {"Ref": "RoleName"},
                    "Path": IAM_PATH,
                    "AssumeRolePolicyDocument": trust.cloudformation(&tokens)?,
                    "Policies": [{"PolicyName": INLINE_POLICY_NAME, "PolicyDocument": inline_document}],
                    "Tags": self.tags,
                }
            }),
        );
        self.resources.insert(
            "LabInstanceProfile".into(),
            json!({
                "Type": resource_type::<InstanceProfile>()?,
                "Properties": {
                    "InstanceProfileName": {"Ref": "RoleName"},
                    "Path": IAM_PATH,
                    "Roles": [{"Ref": "LabRole"}],
                }
            }),
        );
        self.completes.push(json!({
            "what": "associate the instance profile with the course IDE's instance (a template \
                     cannot change an instance it did not create); CloudFormation cannot tag an \
                     instance profile, so provision sees it as not its own and associates it as it is",
            "command": format!("provision instance-profile --instance-tag Name=<the IDE's name> \
                        --existing-profile {DEFAULT_ROLE_NAME} --accounts <accounts file>"),
        }));
        self.outputs.insert(
            "LabRoleArn".into(),
            json!({"Value": {"Fn::GetAtt": ["LabRole", "Arn"]}}),
        );
        Ok(())
    }
}

/// `${LabBucket}` in the inline policy names the bucket by its default name.
fn substitute_bucket(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(text)) = map.get_mut("Fn::Sub") {
                *text = text.replace(
                    "${LabBucket}",
                    &format!("{LAB_BUCKET_PREFIX}${{AWS::AccountId}}-${{AWS::Region}}"),
                );
            }
            map.values_mut().for_each(substitute_bucket);
        }
        Value::Array(items) => items.iter_mut().for_each(substitute_bucket),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::InstanceStateName;
    use serde_json::json;

    use super::*;

    use crate::course::lab::test_target;
    use crate::engine::plan::{Action, Detail, Drift};
    use crate::input::TagFilter;
    use crate::plans::fake;
    use crate::resources::association::ObservedInstance;
    use crate::resources::iam_role::{PERMISSIONS_KEY, ROLE_POLICY};
    use crate::resources::ownership::MANAGED_BY_KEY;
    #[allow(unused_imports)]
    use crate::resources::ownership::{adopted_tags, managed_tags, test_claims};

    fn inputs() -> Inputs {
        Inputs {
            selector: Some(InstanceSelector::Tags(vec![TagFilter {
                key: "Name".into(),
                value: "ide".into(),
            }])),
            adopt: false,
            ..Inputs::defaults(&fake::names())
        }
    }

    fn desired() -> DesiredState {
        DesiredState::new(&inputs(), &test_target("us-east-1")).expect("renders")
    }

    /// An account with the course IDE's instance and nothing else.
    fn fresh() -> ObservedState {
        let mut observed = ObservedState::default();
        observed.instances.matched = vec![ObservedInstance {
            id: "i-0123456789abcdef0".into(),
            name: Some("ide".into()),
            state: Some(InstanceStateName::Running),
            ..Default::default()
        }];
        observed
    }

    /// The account after a complete run.
    async fn converged() -> ObservedState {
        fake::converge(&fresh(), |o| plan(&desired(), o)).await
    }

    fn lines(plan: &Plan) -> Vec<String> {
        plan.changes().iter().map(|c| c.line()).collect()
    }

    /// The default state's status rows of `observed` (what `provision status` shows).
    fn status_of(observed: &ObservedState) -> Vec<crate::resources::status::StatusLine> {
        let defaults =
            DesiredState::new(&Inputs::defaults(&fake::names()), &test_target("us-east-1"))
                .expect("renders");
        let mut expected = crate::resources::Expected::default();
        defaults.expect(observed, &mut expected);
        crate::resources::rows(&expected, observed, &defaults.claims)
            .expect("rows")
            .0
    }

    /// Issue 23, item 2: a role made with other permissions than the defaults (`--policy`) records
    /// them, so that status — which knows only the defaults — shows it in sync while it is as it
    /// was made, and drifted (as the command's `--dry-run` plans to change it) once it is not;
    /// back to the defaults, the record follows.
    #[tokio::test]
    async fn other_permissions_than_the_defaults_are_recorded_for_status() {
        const CUSTOM: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}"#;
        let custom = DesiredState::new(
            &Inputs {
                inline_policy: Template::embedded("custom.json", CUSTOM),
                ..inputs()
            },
            &test_target("us-east-1"),
        )
        .expect("renders");
        assert!(custom.role.record_permissions);
        assert!(
            !desired().role.record_permissions,
            "the defaults are not recorded"
        );
        let made = fake::converge(&fresh(), |o| plan(&custom, o)).await;
        let role = &made.roles["dragons-lab-ec2-role"];
        assert_eq!(
            role.tags.get(PERMISSIONS_KEY),
            Some(&custom.role.permissions())
        );
        let row = |observed: &ObservedState| {
            status_of(observed)
                .into_iter()
                .find(|l| l.resource == ROLE)
                .expect("the role's row")
        };
        assert_eq!(row(&made).in_sync, Some(true), "{:?}", row(&made));

        // Changed by hand: status and the command's dry run both see it.
        let mut drifted = made.clone();
        drifted
            .roles
            .get_mut("dragons-lab-ec2-role")
            .expect("role")
            .managed_inline_policy = Some(json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}));
        let status = row(&drifted);
        assert_eq!(status.in_sync, Some(false));
        assert_eq!(
            status.details,
            ["permissions differ from the ones instance-profile recorded (provision:permissions)"]
        );
        let dry_run = plan(&custom, &drifted).expect("plans");
        assert_eq!(
            dry_run
                .find(ROLE_POLICY, "dragons-lab-ec2-role/provision-policy")
                .expect("policy line")
                .action,
            Action::Update
        );

        // Back to the defaults: the record is brought up to date with the policy.
        let back = plan(&desired(), &made).expect("plans");
        let role_line = back.find(ROLE, "dragons-lab-ec2-role").expect("role line");
        assert_eq!(role_line.action, Action::Update);
        assert!(
            role_line
                .details
                .iter()
                .any(|d| d.to_string().contains("record the permissions asked for")),
            "{role_line:?}"
        );
        let reset = fake::converge(&made, |o| plan(&desired(), o)).await;
        assert_eq!(
            reset.roles["dragons-lab-ec2-role"]
                .tags
                .get(PERMISSIONS_KEY),
            Some(&desired().role.permissions())
        );
        assert_eq!(row(&reset).in_sync, Some(true));
        assert_eq!(row(&reset).details, Vec::<String>::new());
    }

    #[test]
    fn a_fresh_account_gets_everything_in_dependency_order() {
        let plan = plan(&desired(), &fresh()).expect("plans");
        crate::resources::follows_the_registry(&plan, false).expect("the registry's order");
        assert_eq!(
            lines(&plan),
            [
                "+ create    iam-role dragons-lab-ec2-role",
                "+ create    iam-role-policy dragons-lab-ec2-role/provision-policy",
                "+ create    iam-instance-profile dragons-lab-ec2-role",
                "+ create    iam-instance-profile-role dragons-lab-ec2-role",
                "+ create    ec2-instance-profile-association i-0123456789abcdef0 (Name=ide, running)",
            ]
        );
        let membership = plan
            .find(MEMBERSHIP, "dragons-lab-ec2-role")
            .expect("membership");
        assert!(
            membership
                .depends_on
                .contains(&ROLE.id("dragons-lab-ec2-role"))
        );
        assert!(
            membership
                .depends_on
                .contains(&PROFILE.id("dragons-lab-ec2-role"))
        );
        let profile = plan.find(PROFILE, "dragons-lab-ec2-role").expect("profile");
        assert!(profile.depends_on.is_empty(), "created beside the role");
        let association = plan
            .find(ASSOCIATION, "i-0123456789abcdef0")
            .expect("association");
        assert_eq!(
            association.depends_on,
            vec![MEMBERSHIP.id("dragons-lab-ec2-role")]
        );
        assert_eq!(
            association.arn.as_deref(),
            Some("arn:aws:iam::123456789012:instance-profile/provision/dragons-lab-ec2-role")
        );
    }

    #[tokio::test]
    async fn a_converged_account_is_left_as_it_is() {
        let plan = plan(&desired(), &converged().await).expect("plans");
        assert!(plan.is_noop(), "{:?}", lines(&plan));
        assert_eq!(plan.summary().unchanged, 5);
    }

    #[tokio::test]
    async fn drift_is_corrected_and_named() {
        type Drifted = fn(&mut ObservedState);
        let role = "dragons-lab-ec2-role";
        let cases: Vec<(&str, Drifted, &str)> = vec![
            (
                "trust policy",
                |o| {
                    o.roles
                        .get_mut("dragons-lab-ec2-role")
                        .expect("role")
                        .trust_policy = Some(
                        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
                    )
                },
                "~ update    iam-role dragons-lab-ec2-role (trust policy: ",
            ),
            (
                "inline policy",
                |o| {
                    o.roles
                        .get_mut("dragons-lab-ec2-role")
                        .expect("role")
                        .managed_inline_policy = Some(json!({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
                },
                "~ update    iam-role-policy dragons-lab-ec2-role/provision-policy (adds statement",
            ),
            (
                "the profile's role",
                |o| {
                    o.profiles
                        .get_mut("dragons-lab-ec2-role")
                        .expect("profile")
                        .roles = vec!["intruder".into()]
                },
                "~ update    iam-instance-profile-role dragons-lab-ec2-role (replace role intruder)",
            ),
            (
                "the instance's profile",
                |o| {
                    let association = o
                        .instances
                        .associations
                        .get_mut("i-0123456789abcdef0")
                        .expect("association");
                    association.profile_arn =
                        "arn:aws:iam::123456789012:instance-profile/provision/other".into();
                },
                "~ update    ec2-instance-profile-association i-0123456789abcdef0 (Name=ide, running; replaces arn:aws:iam::123456789012:instance-profile/provision/other)",
            ),
        ];
        for (what, drift, expected) in cases {
            let mut observed = converged().await;
            drift(&mut observed);
            let drifted = plan(&desired(), &observed).expect("plans");
            let updates: Vec<String> = lines(&drifted)
                .into_iter()
                .filter(|l| !l.starts_with('='))
                .collect();
            assert_eq!(updates.len(), 1, "{what}: {updates:?}");
            assert!(updates[0].starts_with(expected), "{what}: {updates:?}");
            // Applying the correction converges (`converge` checks that a next plan is empty).
            fake::converge(&observed, |o| plan(&desired(), o)).await;
        }
        let observed = converged().await;
        let inline = plan(&desired(), &{
            let mut o = observed.clone();
            o.roles.get_mut(role).expect("role").managed_inline_policy = Some(json!({}));
            o
        })
        .expect("plans");
        let change = inline
            .find(ROLE_POLICY, "dragons-lab-ec2-role/provision-policy")
            .expect("policy");
        assert!(
            change
                .drift()
                .all(|d| matches!(d, Drift::PolicyStatement(_))),
            "typed reasons"
        );
    }

    #[tokio::test]
    async fn someone_elses_role_or_profile_is_refused_unless_adopted() {
        for kind in ["role", "profile"] {
            let mut observed = converged().await;
            match kind {
                "role" => observed
                    .roles
                    .get_mut("dragons-lab-ec2-role")
                    .expect("role")
                    .tags
                    .remove(MANAGED_BY_KEY),
                _ => observed
                    .profiles
                    .get_mut("dragons-lab-ec2-role")
                    .expect("profile")
                    .tags
                    .remove(MANAGED_BY_KEY),
            };
            let error = plan(&desired(), &observed).expect_err("not ours");
            assert!(
                error.message().contains("not created by provision"),
                "{error}"
            );
            assert!(error.hints()[0].contains("--adopt"));
            let adopting = DesiredState {
                claims: test_claims(true),
                ..desired()
            };
            let adopted = plan(&adopting, &observed).expect("adopted");
            let adopt_lines: Vec<_> = adopted
                .changes()
                .iter()
                .filter(|c| c.details.contains(&Detail::Adopt))
                .collect();
            assert_eq!(adopt_lines.len(), 1, "{kind}");
            assert_eq!(adopt_lines[0].action, Action::Update);
        }
    }

    #[tokio::test]
    async fn every_half_made_state_resumes_with_only_what_is_left() {
        let report = fake::every_prefix(&fresh(), |o| plan(&desired(), o)).await;
        assert_eq!(
            report.operations, 5,
            "role, policy, profile, membership, association"
        );
        assert!(report.refused.is_empty(), "{:?}", report.refused);
    }

    #[test]
    fn no_match_and_several_matches_are_errors() {
        let mut none = fresh();
        none.instances.matched.clear();
        let error = plan(&desired(), &none).expect_err("no instance");
        assert!(
            error
                .message()
                .contains("no pending/running/stopping/stopped instance")
        );
        let mut two = fresh();
        two.instances.matched.push(ObservedInstance {
            id: "i-0123456789abcdef1".into(),
            name: Some("ide".into()),
            state: Some(InstanceStateName::Stopped),
            ..Default::default()
        });
        assert!(plan(&desired(), &two).is_err());
        let all = DesiredState {
            instances: Some(Instances {
                all_matching: true,
                ..desired().instances.expect("instances")
            }),
            ..desired()
        };
        assert_eq!(plan(&all, &two).expect("plans").summary().created, 6);
    }

    #[tokio::test]
    async fn an_ssm_connected_ide_keeps_its_connection_and_a_cloud9_ide_is_reminded() {
        let mut observed = fresh();
        observed.instances.matched[0].cloud9 = true;
        observed.instances.associations.insert(
            "i-0123456789abcdef0".into(),
            crate::resources::association::ObservedAssociation {
                instance_id: "i-0123456789abcdef0".into(),
                id: "iip-assoc-1".into(),
                profile_arn:
                    "arn:aws:iam::123456789012:instance-profile/cloud9/AWSCloud9SSMInstanceProfile"
                        .into(),
                state: aws_sdk_ec2::types::IamInstanceProfileAssociationState::Associated,
            },
        );
        let error = plan(&desired(), &observed).expect_err("not replaced unasked");
        assert!(error.hints()[0].contains("--replace"), "{error}");
        let replacing = DesiredState {
            replace: true,
            ..desired()
        };
        let planned = plan(&replacing, &observed).expect("plans");
        assert!(
            lines(&planned).contains(
                &"+ create    iam-role-policy-attachment dragons-lab-ec2-role/AmazonSSMManagedInstanceCore"
                    .to_string()
            ),
            "{:?}",
            lines(&planned)
        );
        assert!(
            planned
                .warnings()
                .iter()
                .any(|w| w.contains("stays reachable")),
            "{:?}",
            planned.warnings()
        );
        assert!(
            planned
                .reminders()
                .iter()
                .any(|w| w.contains("turn off \"AWS managed temporary credentials\"")),
            "{:?}",
            planned.reminders()
        );
        // Once associated, later runs keep the policy (the profile is no longer Cloud9's).
        let converged = fake::converge(&observed, |o| plan(&replacing, o)).await;
        let again = plan(&desired(), &converged).expect("plans");
        assert!(again.is_noop(), "{:?}", lines(&again));
    }

    #[test]
    fn administrator_access_is_allowed_with_a_warning() {
        let mut inputs = inputs();
        inputs.policy_arns = vec!["arn:aws:iam::aws:policy/AdministratorAccess".into()];
        let desired = DesiredState::new(&inputs, &test_target("us-east-1")).expect("renders");
        let plan = plan(&desired, &fresh()).expect("plans");
        assert!(plan.warnings()[0].contains("full control of account 123456789012"));
        // In another partition, its own ARN is recognised.
        let china = Target {
            partition: "aws-cn".into(),
            ..test_target("cn-north-1")
        };
        inputs.policy_arns = vec!["arn:aws-cn:iam::aws:policy/AdministratorAccess".into()];
        let desired = DesiredState::new(&inputs, &china).expect("renders");
        assert!(
            desired.warnings[0].contains("full control"),
            "{:?}",
            desired.warnings
        );
        assert!(
            lines(&plan).contains(
                &"+ create    iam-role-policy-attachment dragons-lab-ec2-role/AdministratorAccess"
                    .to_string()
            )
        );
    }
}
