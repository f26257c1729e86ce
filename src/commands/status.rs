//! `provision status`: one line per resource provision manages — discovered by ownership, plus the
//! names the other commands use — saying whether it is present, in sync with what the commands
//! would make it (and what differs), and owned (tagged `managed-by=provision`). It changes nothing.
//!
//! "In sync" is decided by the resource planners themselves, with the desired state the commands
//! build by default; the plan's typed details say what differs and whether the only change would be
//! adoption (ownership, reported on its own).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::commands::Run;
use crate::commands::with_aws;
use crate::connection::aws::Aws;
use crate::connection::clients::RUN_REGION;
use crate::course::lab::{DEFAULT_KEY, Target};
use crate::error::Error;
use crate::fanout::{AccountResult, Done, FanOut, RunEach};
use crate::plans::teardown::{Scope, discover, others_left_out};
use crate::plans::{ObservedState, dragons_api, dragons_lab, ide};
use crate::printer::Printer;
use crate::resources::bucket::{
    Bucket, BucketQuery, KEY_IN_PARAMETER, ObservedBucket, Presence, recorded_data_key,
};
use crate::resources::object::{Object, ObjectQuery};
use crate::resources::ownership::{Claims, is_managed};
pub(crate) use crate::resources::status::StatusLine;
use crate::resources::{self, Expected, Resource};
use crate::settings::{GlobalArgs, Lab, NamesArgs};

impl StatusLine {
    /// The line alone, its columns as wide as its own values; see [`render`].
    #[cfg(test)]
    fn line(&self) -> String {
        render(std::slice::from_ref(self), None).remove(0)
    }

    fn state(&self) -> String {
        if !self.present {
            "missing".to_string()
        } else {
            let sync = match self.in_sync {
                Some(true) => "in sync",
                Some(false) => "drifted",
                None => "present",
            };
            let owned = match (self.owned, self.yours, &self.owner) {
                (Some(true), Some(true), _) => ", yours".to_string(),
                (Some(true), _, Some(owner)) if owner == "unknown" => ", owner unknown".to_string(),
                (Some(true), _, Some(owner)) => {
                    format!(", owner {}", crate::course::owners::short(owner))
                }
                (Some(true), _, None) => ", owned".to_string(),
                (Some(false), _, _) => ", not created by provision".to_string(),
                (None, _, _) => String::new(),
            };
            format!("{sync}{owned}")
        }
    }
}

/// The status lines as a table: the resource and name columns as wide as their widest value, so
/// that no row overflows. With a terminal `width`, a name that would not fit is shortened in the
/// middle (`dragons-lab-12…-us-east-1/dragons.json`), keeping both ends; JSON always has it whole.
fn render(lines: &[StatusLine], width: Option<usize>) -> Vec<String> {
    let kinds = lines
        .iter()
        .map(|l| l.resource.to_string().len())
        .max()
        .unwrap_or(0);
    let names = lines
        .iter()
        .map(|l| l.name.chars().count())
        .max()
        .unwrap_or(0);
    // Two spaces of indent, a space after each column, and room for the state ("in sync, yours").
    const STATE: usize = 16;
    let names = match width {
        Some(width) => names.min(width.saturating_sub(2 + kinds + 2 + STATE).max(12)),
        None => names,
    };
    lines
        .iter()
        .map(|l| {
            let mut line = format!(
                "{:<kinds$} {:<names$} {}",
                l.resource.to_string(),
                middle_truncated(&l.name, names),
                l.state()
            );
            if l.details.is_empty() {
                return line;
            }
            let inline = format!("{line} ({})", l.details.join("; "));
            match width {
                // Too long for the terminal: each detail on lines of its own, below the row.
                Some(width) if inline.chars().count() > width => {
                    for detail in &l.details {
                        for wrapped in wrapped(detail, width.saturating_sub(DETAIL.len()).max(20)) {
                            line.push('\n');
                            line.push_str(DETAIL);
                            line.push_str(&wrapped);
                        }
                    }
                    line
                }
                _ => inline,
            }
        })
        .collect()
}

/// The indent of a row's details on lines of their own.
const DETAIL: &str = "    ";

/// `text` in lines of at most `width` characters, broken at spaces (a longer word stays whole).
fn wrapped(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// `text` in at most `width` characters: its beginning and end around `…`.
fn middle_truncated(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width || width < 3 {
        return text.to_string();
    }
    let keep = width - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start}…{end}")
}

#[derive(Debug, Serialize)]
pub(crate) struct StatusReport {
    schema_version: u32,
    command: &'static str,
    account: String,
    region: String,
    /// The caller's owner value: what "yours" means.
    owner: String,
    resources: Vec<StatusLine>,
    /// Provision's resources left out because other owners hold them: count by owner.
    left_out: BTreeMap<String, usize>,
    #[serde(skip)]
    app_region: String,
}

impl StatusReport {
    /// "6 in sync, 1 drifted, 1 missing": the fan-out's summary of one account.
    pub(crate) fn counts(&self) -> String {
        let count =
            |f: &dyn Fn(&StatusLine) -> bool| self.resources.iter().filter(|l| f(l)).count();
        format!(
            "{} in sync, {} drifted, {} missing",
            count(&|l| l.in_sync == Some(true)),
            count(&|l| l.in_sync == Some(false)),
            count(&|l| !l.present)
        )
    }
}

/// The command, as the registry runs it (`cli::commands!`).
pub(crate) struct Runner;

impl Run for Runner {
    type Args = NamesArgs;

    async fn run(global: &GlobalArgs, names: &NamesArgs, printer: &Printer) -> Result<(), Error> {
        with_aws(global, printer, async |aws| {
            let step = printer.step("observing what provision manages");
            let report = gather(aws, names, &global.lab()).await?;
            step.finish("observed what provision manages");
            if printer.is_json() {
                return printer.json(&report);
            }
            let app = match report.app_region != report.region {
                true => format!(
                    " (parameters in {}, the lab application's region)",
                    report.app_region
                ),
                false => String::new(),
            };
            printer.data(format!(
                "Status of account {} in {}{app}:",
                report.account, report.region
            ));
            for line in render(&report.resources, printer.terminal_width()) {
                printer.data(format!("  {line}"));
            }
            if let Some(note) = others_left_out(&report.left_out) {
                printer.data(format!("Note: {note}"));
            }
            Ok(())
        })
        .await
    }
}

impl RunEach for Runner {
    type Args = NamesArgs;
    type Prepared = ();

    fn prepare(_: &GlobalArgs, _: &NamesArgs) -> Result<(), Error> {
        Ok(())
    }

    async fn each(
        fan_out: &FanOut<'_>,
        names: &NamesArgs,
        _: &(),
    ) -> Result<Vec<AccountResult>, Error> {
        Ok(fan_out
            .each(async |aws, _| {
                let report = gather(aws, names, &fan_out.global.lab()).await?;
                Ok(Done {
                    summary: None,
                    detail: report.counts(),
                    document: serde_json::to_value(&report).unwrap_or_default(),
                    failure: None,
                })
            })
            .await)
    }
}

/// Observes everything provision manages in one account and compares it with what the commands
/// would make.
pub(crate) async fn gather(
    aws: &Aws,
    names: &NamesArgs,
    settings: &Lab,
) -> Result<StatusReport, Error> {
    let scope = Scope::new(names, None);
    let clients = aws.clients(settings);
    let lab_bucket =
        Target::new(aws.identity().await?, aws, settings).lab_bucket(scope.bucket.as_deref());
    // Discovery reads every bucket's tags; the lab's bucket is read whole, to compare it.
    let lab_query = BucketQuery::Name(lab_bucket.clone());
    let (discovered, lab) = tokio::join!(
        discover(aws, &clients, &scope, settings),
        Bucket::observe(&clients, &lab_query),
    );
    let (target, mut observed) = discovered?;
    // The whole reading replaces discovery's (keeping the ARN discovery knew).
    let arn = observed.buckets.remove(&lab_bucket).and_then(|b| b.arn);
    observed.add_bucket(lab?.map(|bucket| ObservedBucket { arn, ..bucket }));
    let key = lab_key(&observed, &target, &lab_bucket);
    let region = match observed.buckets.get(&lab_bucket).map(|b| &b.presence) {
        Some(Presence::Owned { region }) => region.clone(),
        _ => RUN_REGION.to_string(),
    };
    let query = ObjectQuery {
        bucket: lab_bucket.clone(),
        region,
        key: key.clone(),
    };
    if let Some(object) = Object::observe(&clients, &query).await? {
        observed
            .objects
            .insert(format!("{lab_bucket}/{key}"), object);
    }
    let ide = ide::DesiredState::new(&ide::Inputs::defaults(names)?, &target)?;
    let lab = dragons_lab::DesiredState::new(
        &dragons_lab::Inputs::defaults(Some(lab_bucket), key),
        &target,
    );
    let data = dragons_api::LabData {
        bucket: lab.bucket.name.clone(),
        key: lab.object.key.clone(),
    };
    // With --auth when a pool of the default name was found: the API's authorizer is expected.
    let pool = observed
        .user_pools
        .get(crate::settings::DEFAULT_API_NAME)
        .map(|p| p.arn.clone());
    let mut api_inputs = dragons_api::Inputs::defaults()?;
    api_inputs.auth = pool.is_some();
    let api = dragons_api::DesiredState::new(&api_inputs, &target, &data, pool, None);
    // A later lab not begun is not missing: dragons-api's defaults are compared once something
    // of it is found.
    let begun = !observed.functions.is_empty()
        || !observed.apis.is_empty()
        || !observed.user_pools.is_empty()
        || observed
            .roles
            .values()
            .any(|r| r.path.starts_with(crate::course::lab::FUNCTION_ROLE_PATH));
    let api = begun.then_some(&api);
    let (resources, left_out) = lines(&ide, &lab, api, &observed, names.all_owners)?;
    Ok(StatusReport {
        schema_version: crate::printer::SCHEMA_VERSION,
        command: "status",
        account: target.account.clone(),
        region: target.region.clone(),
        owner: target.owner.clone(),
        resources,
        left_out,
        app_region: target.app_region,
    })
}

/// The lab's object key: the one its bucket records (`dragons-lab --key`, see
/// `bucket::DATA_KEY_KEY`), or else what its parameter says, as the lab application reads it.
fn lab_key(observed: &ObservedState, target: &Target, bucket: &str) -> String {
    let parameter = || {
        observed
            .parameters
            .get(&target.key_parameter())
            .map(|p| p.value.clone())
    };
    match observed.buckets.get(bucket) {
        // A bucket provision made records a key other than the default.
        Some(b) if is_managed(&b.tags) => match recorded_data_key(&b.tags) {
            None => Some(DEFAULT_KEY.to_string()),
            Some(KEY_IN_PARAMETER) => parameter(),
            Some(key) => Some(key.to_string()),
        },
        _ => parameter(),
    }
    .unwrap_or_else(|| DEFAULT_KEY.to_string())
}

/// Every status line, from the commands' default desired states and what was observed, kind by
/// kind in the registry (each kind's `Lifecycle::rows`), with the owners of provision's resources
/// that were left out (another owner's, without `--all-owners`). The resources the commands would
/// make by default are always listed: another owner's is shown as theirs, not compared. Pure.
fn lines(
    ide: &ide::DesiredState,
    lab: &dragons_lab::DesiredState,
    api: Option<&dragons_api::DesiredState>,
    observed: &ObservedState,
    all_owners: bool,
) -> Result<(Vec<StatusLine>, BTreeMap<String, usize>), Error> {
    let claims = &observed.knowing_creators(&Claims {
        all_owners,
        ..ide.iam.claims.clone()
    });
    let mut expected = Expected::default();
    // The IDE's expectation includes the lab's role and profile, as instance-profile's.
    ide.expect(observed, &mut expected);
    lab.expect(&mut expected);
    if let Some(api) = api {
        api.expect(&mut expected);
    }
    resources::rows(&expected, observed, claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::lab::KEY_PARAMETER;
    use crate::course::lab::test_target;
    use crate::engine::plan::Kind;
    use crate::engine::plan::PublicAccess;
    use crate::plans::fake;
    use crate::plans::instance_profile;
    use crate::resources::bucket::BUCKET;
    use crate::resources::bucket::{SITE_KEY, SITE_VALUE};
    use crate::resources::iam_role::ROLE;
    use crate::resources::object::OBJECT;
    use crate::resources::ownership::MANAGED_BY_KEY;
    use crate::resources::parameter::PARAMETER;

    fn desired() -> (ide::DesiredState, dragons_lab::DesiredState) {
        let target = test_target("us-east-1");
        let ide = ide::DesiredState::new(
            &ide::Inputs::defaults(&fake::names()).expect("inputs"),
            &target,
        )
        .expect("renders");
        let lab = dragons_lab::DesiredState::new(
            &dragons_lab::Inputs::defaults(None, DEFAULT_KEY.into()),
            &target,
        );
        (ide, lab)
    }

    /// An account after `ide`, `instance-profile` and `dragons-lab` with their defaults.
    async fn provisioned() -> ObservedState {
        let (ide, lab) = desired();
        let found = ide::Found {
            vpc_id: "vpc-1".into(),
            image: crate::resources::instance::Image {
                id: "ami-1".into(),
                name: "al2023-ami".into(),
                root_device: "/dev/xvda".into(),
                snapshot_gib: Some(8),
                source: "SSM parameter".into(),
            },
        };
        let observed = fake::converge(&ObservedState::default(), |o| {
            ide::plan(&ide.clone().in_network(&found, o)?, o)
        })
        .await;
        let observed = fake::converge(&observed, |o| instance_profile::plan(&ide.iam, o)).await;
        fake::converge(&observed, |o| dragons_lab::plan(&lab, o)).await
    }

    #[tokio::test]
    async fn columns_fit_their_values_and_narrow_terminals_shorten_names_in_the_middle() {
        let (ide, lab) = desired();
        let lines = lines(&ide, &lab, None, &provisioned().await, false)
            .expect("lines")
            .0;
        let full = render(&lines, None);
        let object = full
            .iter()
            .find(|l| l.starts_with("s3-object"))
            .expect("the object row");
        // The name column is as wide as the object's name: every state starts in one column.
        let column = |l: &String| l.find(" in sync").or_else(|| l.find(" missing"));
        let states: Vec<usize> = full.iter().filter_map(column).collect();
        assert!(states.iter().all(|c| *c == states[0]), "{full:#?}");
        assert!(object.contains("dragons-lab-123456789012-us-east-1/dragons.json in sync"));
        let narrow = render(&lines, Some(80));
        assert!(
            narrow
                .iter()
                .flat_map(|l| l.lines())
                .all(|l| l.chars().count() <= 80),
            "{narrow:#?}"
        );
        // The IDE's details, too long for the row, are below it.
        let instance = narrow
            .iter()
            .find(|l| l.starts_with("ec2-instance"))
            .expect("the IDE's row");
        assert!(
            instance.contains("in sync, yours\n    i-00000000000000001, pending, t3.small"),
            "{instance}"
        );
        let object = narrow
            .iter()
            .find(|l| l.starts_with("s3-object"))
            .expect("the object row");
        assert!(
            object.contains('…') && object.contains("dragons.json"),
            "{object}"
        );
        assert_eq!(middle_truncated("abcdefghij", 5), "ab…ij");
        assert_eq!(middle_truncated("abc", 5), "abc");
    }

    fn line<'a>(lines: &'a [StatusLine], resource: Kind, name: &str) -> &'a StatusLine {
        lines
            .iter()
            .find(|l| l.resource == resource && l.name == name)
            .unwrap_or_else(|| panic!("{resource} {name} in {lines:#?}"))
    }

    const BUCKET_NAME: &str = "dragons-lab-123456789012-us-east-1";

    #[tokio::test]
    async fn a_provisioned_account_is_in_sync_and_owned() {
        let (ide, lab) = desired();
        let lines = lines(&ide, &lab, None, &provisioned().await, false)
            .expect("lines")
            .0;
        assert_eq!(lines.len(), 8, "{lines:#?}");
        for line in &lines {
            assert!(line.present, "{}", line.line());
            assert_eq!(line.in_sync, Some(true), "{}", line.line());
        }
        assert_eq!(line(&lines, ROLE, "dragons-lab-ec2-role").owned, Some(true));
        assert_eq!(
            line(&lines, OBJECT, &format!("{BUCKET_NAME}/dragons.json")).owned,
            None
        );
    }

    #[tokio::test]
    async fn public_access_turned_off_by_hand_is_drift_and_a_recorded_site_s_settings_are_not() {
        let (ide, lab) = desired();
        let mut observed = provisioned().await;
        // Issue 23: a private lab whose ACL settings were opened by hand is drifted, as
        // `dragons-lab --dry-run` plans to close them; a bucket that records `--site` is not.
        let bucket = observed.buckets.get_mut(BUCKET_NAME).expect("bucket");
        bucket.public_access = Some(PublicAccess::PUBLIC_READ_ACLS);
        let private = lines(&ide, &lab, None, &observed, false).expect("lines").0;
        let drifted = line(&private, BUCKET, BUCKET_NAME);
        assert_eq!(drifted.in_sync, Some(false));
        assert_eq!(
            drifted.details,
            [
                "BlockPublicAcls false → true",
                "IgnorePublicAcls false → true"
            ]
        );
        let bucket = observed.buckets.get_mut(BUCKET_NAME).expect("bucket");
        bucket.tags.insert(SITE_KEY.into(), SITE_VALUE.into());
        let lines_site = lines(&ide, &lab, None, &observed, false).expect("lines").0;
        assert_eq!(line(&lines_site, BUCKET, BUCKET_NAME).in_sync, Some(true));
        let bucket = observed.buckets.get_mut(BUCKET_NAME).expect("bucket");
        bucket.tags.remove(SITE_KEY);

        let bucket = observed.buckets.get_mut(BUCKET_NAME).expect("bucket");
        bucket.public_access = Some(PublicAccess {
            block_public_acls: false,
            ignore_public_acls: false,
            block_public_policy: false,
            restrict_public_buckets: false,
        });
        let lines = lines(&ide, &lab, None, &observed, false).expect("lines").0;
        let drifted = line(&lines, BUCKET, BUCKET_NAME);
        assert_eq!(drifted.in_sync, Some(false));
        assert!(
            drifted
                .details
                .contains(&"BlockPublicPolicy false → true".to_string()),
            "{drifted:?}"
        );
    }

    #[tokio::test]
    async fn data_provision_recorded_is_in_sync_and_said_to_be_not_the_embedded_one() {
        let (ide, lab) = desired();
        let mut observed = provisioned().await;
        let object = observed
            .objects
            .get_mut(&format!("{BUCKET_NAME}/dragons.json"))
            .expect("object");
        // What `dragons-lab --data FILE` leaves: another body, its MD5 recorded in the metadata.
        object.etag = "\"0123456789abcdef0123456789abcdef\"".into();
        object.md5_metadata = Some("0123456789abcdef0123456789abcdef".into());
        let lines = lines(&ide, &lab, None, &observed, false).expect("lines").0;
        let data = line(&lines, OBJECT, &format!("{BUCKET_NAME}/dragons.json"));
        assert_eq!(data.in_sync, Some(true), "{}", data.line());
        assert_eq!(
            data.details,
            ["the data given with --data, not the embedded dragons"]
        );
    }

    #[tokio::test]
    async fn adoption_alone_is_ownership_not_drift() {
        let (ide, lab) = desired();
        let mut observed = provisioned().await;
        observed
            .roles
            .get_mut("dragons-lab-ec2-role")
            .expect("role")
            .tags
            .remove(MANAGED_BY_KEY);
        let lines = lines(&ide, &lab, None, &observed, false).expect("lines").0;
        let role = line(&lines, ROLE, "dragons-lab-ec2-role");
        assert_eq!((role.in_sync, role.owned), (Some(true), Some(false)));
        assert!(role.line().ends_with("in sync, not created by provision"));
    }

    #[tokio::test]
    async fn other_data_and_missing_parts_are_named() {
        let (ide, lab) = desired();
        let mut observed = provisioned().await;
        let object = observed
            .objects
            .get_mut(&format!("{BUCKET_NAME}/dragons.json"))
            .expect("object");
        object.etag = "\"0\"".into();
        object.md5_metadata = None;
        observed
            .roles
            .get_mut("dragons-lab-ec2-role")
            .expect("role")
            .managed_inline_policy = None;
        observed.parameters.clear();
        let lines = lines(&ide, &lab, None, &observed, false).expect("lines").0;
        let data = line(&lines, OBJECT, &format!("{BUCKET_NAME}/dragons.json"));
        assert_eq!(
            data.details,
            [format!(
                "content differs ({} bytes)",
                crate::course::lab_data::DEFAULT_DRAGONS.len()
            )]
        );
        assert_eq!(data.in_sync, Some(false));
        assert_eq!(
            line(&lines, ROLE, "dragons-lab-ec2-role").details,
            ["iam-role-policy dragons-lab-ec2-role/provision-policy would be created"]
        );
        assert!(!line(&lines, PARAMETER, KEY_PARAMETER).present);
    }
}
