//! `provision export cloudformation`: a CloudFormation template equivalent to what `ide`,
//! `instance-profile` and `dragons-lab` create — for an organisation that deploys through
//! CloudFormation StackSets, which keeps every account of an OU in line. The template is assembled
//! by the commands' plan modules (`plans::cloudformation`); this prints it. What a template cannot
//! do is listed in the template (`Metadata.provision.completes`, and as comments in YAML) with the
//! `provision` command that completes it.

use serde_json::Value;

use crate::commands::Run;
use crate::error::Error;
use crate::plans::cloudformation::cloudformation;
use crate::printer::Printer;
use crate::settings::{ExportCommand, ExportFormat, GlobalArgs};

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
            .chain(
                crate::plans::dragons_api::CLOUDFORMATION_PARTS
                    .iter()
                    .copied(),
            )
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
                "DragonsApi",
                "DragonsAuthorizer",
                "DragonsDeployment",
                "DragonsFunction",
                "DragonsFunctionRole",
                "DragonsGetMethod",
                "DragonsInvokePermission",
                "DragonsResource",
                "DragonsStage",
                "DragonsUserPool",
                "DragonsUserPoolClient",
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
            Some(4)
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
