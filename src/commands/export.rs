//! `provision export cloudformation`: a CloudFormation template equivalent to what
//! `instance-profile` and `dragons-lab` create — for an organisation that deploys through
//! CloudFormation StackSets, which keeps every account of an OU in line. The account, region and
//! partition are pseudo-parameters (`AWS::AccountId`, …), so one template fits every account.
//! What a template cannot do is listed in the template (`Metadata.provision.completes`, and as
//! comments in YAML) with the `provision` command that completes it.

use serde_json::{Map, Value, json};

use crate::commands::Run;
use crate::course::lab::{
    BUCKET_PARAMETER, DATA_CONTENT_TYPE, DEFAULT_KEY, IAM_PATH, INLINE_POLICY_NAME, KEY_PARAMETER,
    LAB_BUCKET_PREFIX,
};
use crate::course::template::{self, Template};
use crate::error::Error;
use crate::printer::Printer;
use crate::resources::Lifecycle;
use crate::resources::bucket::{Bucket, OWNERSHIP};
use crate::resources::iam_role::Role;
use crate::resources::instance::{Instance, al2023_parameter};
use crate::resources::instance_profile::InstanceProfile;
use crate::resources::ownership::{MANAGED_BY_KEY, MANAGED_BY_VALUE, OWNER_KEY};
use crate::resources::parameter::Parameter;
use crate::resources::security_group::SecurityGroup;
use crate::settings::{
    DEFAULT_IDE_NAME, DEFAULT_IDE_TYPE, DEFAULT_ROLE_NAME, ExportArgs, ExportCommand, ExportFormat,
    GlobalArgs,
};

/// The placeholders of the policy templates, as CloudFormation expressions (the parameter prefix,
/// `--parameter-prefix`, as it is given to the export).
fn tokens(parameter_path: &str) -> Vec<(&'static str, String)> {
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

/// The command, as the registry runs it (`cli::commands!`).
pub(crate) struct Runner;

impl Run for Runner {
    type Args = ExportCommand;

    async fn run(
        global: &GlobalArgs,
        args: &ExportCommand,
        printer: &Printer,
    ) -> Result<(), Error> {
        let ExportCommand::Cloudformation(args) = args;
        let session = match &args.owner_session {
            Some(session) => session.clone(),
            None => owner_session(global).await?,
        };
        let template = cloudformation(args, &session, global)?;
        let text = match args.format {
            ExportFormat::Json => serde_json::to_string_pretty(&template).map_err(|e| {
                Error::failed("cannot write the template").with_cause(e.to_string())
            })?,
            ExportFormat::Yaml => yaml(&template),
        };
        printer.raw(&text);
        Ok(())
    }
}

/// The session name the instructor's fan-out uses in each account (`provision-<caller>`), from
/// the caller's identity: the template tags resources with that owner, so that the instructor's
/// `provision` runs treat them as their own.
async fn owner_session(global: &GlobalArgs) -> Result<String, Error> {
    let aws = crate::connection::aws::Aws::connect(&global.connection())
        .await
        .map_err(|e| {
            e.with_hint(
                "or name the owner's session without credentials: --owner-session provision-<you>",
            )
        })?;
    let identity = aws.identity().await.map_err(|e| {
        e.with_hint(
            "or name the owner's session without credentials: --owner-session provision-<you>",
        )
    })?;
    Ok(crate::fanout::session_name(&identity.arn))
}

/// The CloudFormation type kind `K` declares (`Lifecycle::CLOUDFORMATION`).
fn resource_type<K: Lifecycle>() -> Result<&'static str, Error> {
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
    let every = !args.ide && !args.instance_profile && !args.dragons_lab;
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
    Ok(json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "The cloud course's lab resources, as provision creates them (provision export cloudformation)",
        "Metadata": {"provision": {"completes": assembly.completes}},
        "Parameters": assembly.parameters,
        "Resources": assembly.resources,
        "Outputs": assembly.outputs,
    }))
}

/// The template being assembled, command by command.
#[derive(Default)]
struct Assembly {
    /// The owner every resource is tagged with: the instructor's provision session.
    owner: Value,
    /// provision's tags, as CloudFormation lists them.
    tags: Value,
    parameters: Map<String, Value>,
    resources: Map<String, Value>,
    outputs: Map<String, Value>,
    /// What a template cannot do, with the command that does it.
    completes: Vec<Value>,
}

impl Assembly {
    /// What `ide` makes: the IDE's security group, with no inbound rule, in the region's default
    /// VPC, and its instance — the latest Amazon Linux 2023 image (CloudFormation reads the same
    /// public parameter), the lab's instance profile, IMDSv2, an encrypted gp3 root volume, the
    /// same set-up script with a 30-minute idle stop. `with_profile`: the template makes the
    /// profile too, and the instance waits for it.
    fn ide(&mut self, with_profile: bool) -> Result<(), Error> {
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
                "DependsOn": match with_profile {
                    true => json!(["IdeSecurityGroup", "LabInstanceProfile"]),
                    false => json!(["IdeSecurityGroup"]),
                },
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

    /// What `instance-profile` makes: the role with its policies, and the instance profile.
    fn instance_profile(&mut self, global: &GlobalArgs) -> Result<(), Error> {
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

    /// What `dragons-lab` makes that a template can: the bucket, configured, and the parameters.
    fn dragons_lab(&mut self, global: &GlobalArgs) -> Result<(), Error> {
        let prefix = global.parameter_prefix.as_str();
        let bucket =
            json!({"Fn::Sub": format!("{LAB_BUCKET_PREFIX}${{AWS::AccountId}}-${{AWS::Region}}")});
        self.resources.insert(
            "LabBucket".into(),
            json!({
                "Type": resource_type::<Bucket>()?,
                "Properties": {
                    "BucketName": bucket,
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": OWNERSHIP.as_str()}]},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true, "IgnorePublicAcls": true,
                        "BlockPublicPolicy": true, "RestrictPublicBuckets": true,
                    },
                    "Tags": self.tags,
                }
            }),
        );
        let parameter_tags = json!({MANAGED_BY_KEY: MANAGED_BY_VALUE, OWNER_KEY: self.owner});
        for (logical, name, value) in [
            (
                "BucketNameParameter",
                BUCKET_PARAMETER,
                json!({"Ref": "LabBucket"}),
            ),
            ("FileNameParameter", KEY_PARAMETER, json!(DEFAULT_KEY)),
        ] {
            self.resources.insert(
                logical.into(),
                json!({
                    "Type": resource_type::<Parameter>()?,
                    "Properties": {
                        "Name": format!("{prefix}{name}"),
                        "Type": "String",
                        "Value": value,
                        "Tags": parameter_tags,
                    }
                }),
            );
        }
        self.completes.push(json!({
            "what": format!("upload the dragons data ({DEFAULT_KEY}, {DATA_CONTENT_TYPE}) into the \
                     bucket: a template cannot upload an object"),
            "command": "provision dragons-lab --accounts <accounts file>",
        }));
        self.completes.push(json!({
            "what": "the lab application reads its parameters in us-east-1: a stack instance \
                     elsewhere puts them in its own region",
            "command": "deploy the stack instances in us-east-1, or run provision dragons-lab \
                        (it puts the parameters in --app-region)",
        }));
        self.outputs
            .insert("LabBucket".into(), json!({"Value": {"Ref": "LabBucket"}}));
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

/// The template as YAML: block style, every string double-quoted (JSON's escapes are YAML's),
/// with what a template cannot do as comments on top.
fn yaml(template: &Value) -> String {
    let mut out = String::from("# Written by `provision export cloudformation`.\n");
    if let Some(completes) = template
        .pointer("/Metadata/provision/completes")
        .and_then(Value::as_array)
    {
        out.push_str(
            "# What this template cannot do, and the provision command that completes it:\n",
        );
        for item in completes {
            out.push_str(&format!(
                "#   - {}\n#     {}\n",
                item["what"].as_str().unwrap_or_default(),
                item["command"].as_str().unwrap_or_default()
            ));
        }
    }
    emit(template, 0, &mut out);
    out
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(serde_json::to_string(s).unwrap_or_default()),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(o) if o.is_empty() => Some("{}".into()),
        _ => None,
    }
}

fn emit(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                let key = serde_json::to_string(key).unwrap_or_default();
                match scalar(item) {
                    Some(text) => out.push_str(&format!("{pad}{key}: {text}\n")),
                    None => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        emit(item, indent + 2, out);
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match scalar(item) {
                    Some(text) => out.push_str(&format!("{pad}- {text}\n")),
                    None => {
                        out.push_str(&format!("{pad}-\n"));
                        emit(item, indent + 2, out);
                    }
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other).unwrap_or_default())),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::settings::ExportCommand;

    fn export(args: &[&str]) -> Value {
        let cli = Cli::try_parse_from(args).expect("parses");
        let Command::Export(ExportCommand::Cloudformation(export)) = &cli.command else {
            panic!("export");
        };
        cloudformation(export, "provision-ada", &cli.global).expect("template")
    }

    /// The template makes a resource of every type the registry names (`Lifecycle::
    /// CLOUDFORMATION`), and of no other: a kind added with a type is exported, or this fails.
    #[test]
    fn the_template_makes_every_kind_cloudformation_has_a_type_for() {
        let template = export(&["provision", "export", "cloudformation"]);
        let exported: std::collections::BTreeSet<&str> = template["Resources"]
            .as_object()
            .expect("resources")
            .values()
            .filter_map(|r| r["Type"].as_str())
            .collect();
        let registered: std::collections::BTreeSet<&str> = crate::resources::LIFECYCLES
            .iter()
            .filter_map(|l| l.cloudformation.type_name())
            .collect();
        assert_eq!(exported, registered);
    }

    #[test]
    fn the_template_holds_what_the_commands_create_with_pseudo_parameters() {
        let template = export(&["provision", "export", "cloudformation"]);
        let resources = template["Resources"].as_object().expect("resources");
        let mut names: Vec<&String> = resources.keys().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "BucketNameParameter",
                "FileNameParameter",
                "IdeInstance",
                "IdeSecurityGroup",
                "LabBucket",
                "LabInstanceProfile",
                "LabRole"
            ]
        );
        let policy =
            template["Resources"]["LabRole"]["Properties"]["Policies"][0]["PolicyDocument"]
                .to_string();
        assert!(
            policy.contains(
                "arn:${AWS::Partition}:s3:::dragons-lab-${AWS::AccountId}-${AWS::Region}/*"
            ),
            "{policy}"
        );
        assert!(
            policy.contains(
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/dragon_data_bucket_name"
            ),
            "{policy}"
        );
        assert_eq!(
            template["Parameters"]["OwnerSession"]["Default"],
            "provision-ada"
        );
        assert_eq!(
            template["Metadata"]["provision"]["completes"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        let only_lab = export(&["provision", "export", "cloudformation", "--dragons-lab"]);
        assert!(only_lab["Resources"].get("LabRole").is_none());
        assert!(only_lab["Resources"].get("LabBucket").is_some());
    }

    #[test]
    fn yaml_is_the_same_document() {
        let template = export(&["provision", "export", "cloudformation"]);
        let text = yaml(&template);
        assert!(text.starts_with("# Written by `provision export cloudformation`."));
        assert!(text.contains("\"Type\": \"AWS::S3::Bucket\""), "{text}");
        assert!(text.contains("    \"Properties\":\n"), "{text}");
        assert!(
            text.contains("- \"sts:AssumeRole\"")
                || text.contains("\"Action\": \"sts:AssumeRole\"")
        );
    }
}
