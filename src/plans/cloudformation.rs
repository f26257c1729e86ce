//! The CloudFormation template of what the commands create (`export cloudformation`), assembled
//! command by command: each command's plan module adds its part (`impl Assembly` in
//! `plans::ide`, `plans::instance_profile`, `plans::dragons_lab`), beside its desired state, with
//! each resource's type from its kind (`Lifecycle::CLOUDFORMATION`). The account, region and
//! partition are pseudo-parameters, so one template fits every account.

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::resources::Lifecycle;
use crate::resources::ownership::{MANAGED_BY_KEY, MANAGED_BY_VALUE, OWNER_KEY};
use crate::settings::{ExportArgs, GlobalArgs};

/// The placeholders of the policy templates, as CloudFormation expressions (the parameter prefix,
/// `--parameter-prefix`, as it is given to the export).
pub(crate) fn tokens(parameter_path: &str) -> Vec<(&'static str, String)> {
    vec![
        ("account_id", "${AWS::AccountId}".into()),
        ("region", "${AWS::Region}".into()),
        ("partition", "${AWS::Partition}".into()),
        ("bucket", "${LabBucket}".into()),
        ("role_name", "${RoleName}".into()),
        ("app_region", "${AWS::Region}".into()),
        ("parameter_path", parameter_path.replace("${", "${!")),
    ]
}

/// The CloudFormation type kind `K` declares (`Lifecycle::CLOUDFORMATION`).
pub(crate) fn resource_type<K: Lifecycle>() -> Result<&'static str, Error> {
    K::CLOUDFORMATION.type_name().ok_or_else(|| {
        Error::failed(format!(
            "internal: {} has no CloudFormation type of its own",
            K::KIND
        ))
    })
}

/// The template. Pure but for the embedded policy templates it reads.
pub(crate) fn cloudformation(
    args: &ExportArgs,
    owner_session: &str,
    global: &GlobalArgs,
) -> Result<Value, Error> {
    let every = !args.ide && !args.instance_profile && !args.dragons_lab && !args.dragons_api;
    let owner = json!({"Fn::Sub":
        "arn:${AWS::Partition}:sts::${AWS::AccountId}:assumed-role/${OwnerRole}/${OwnerSession}"});
    let mut assembly = Assembly {
        tags: json!([
            {"Key": MANAGED_BY_KEY, "Value": MANAGED_BY_VALUE},
            {"Key": OWNER_KEY, "Value": owner.clone()},
        ]),
        owner,
        ..Assembly::default()
    };
    assembly.parameters.insert(
        "OwnerRole".into(),
        json!({"Type": "String", "Default": global.fan_out.account_role,
               "Description": "The role the instructor's provision runs assume in each account \
                               (the owner of these resources is its provision session)"}),
    );
    assembly.parameters.insert(
        "OwnerSession".into(),
        json!({"Type": "String", "Default": owner_session,
               "Description": "The session name of the instructor's provision runs"}),
    );
    if every || args.ide {
        assembly.ide(every || args.instance_profile)?;
    }
    if every || args.instance_profile {
        assembly.instance_profile(global)?;
    }
    if every || args.dragons_lab {
        assembly.dragons_lab(global)?;
    }
    if every || args.dragons_api {
        assembly.dragons_api(global)?;
    }
    let mut template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "The cloud course's lab resources, as provision creates them (provision export cloudformation)",
        "Metadata": {"provision": {"completes": assembly.completes}},
        "Parameters": assembly.parameters,
        "Resources": assembly.resources,
        "Outputs": assembly.outputs,
    });
    if !assembly.conditions.is_empty() {
        template["Conditions"] = Value::Object(assembly.conditions);
    }
    Ok(template)
}

/// The template being assembled, command by command.
#[derive(Default)]
pub(crate) struct Assembly {
    /// The owner every resource is tagged with: the instructor's provision session.
    pub(crate) owner: Value,
    /// provision's tags, as CloudFormation lists them.
    pub(crate) tags: Value,
    pub(crate) parameters: Map<String, Value>,
    /// The template's conditions (`dragons-api --auth` as a parameter).
    pub(crate) conditions: Map<String, Value>,
    pub(crate) resources: Map<String, Value>,
    pub(crate) outputs: Map<String, Value>,
    /// What a template cannot do, with the command that does it.
    pub(crate) completes: Vec<Value>,
}
