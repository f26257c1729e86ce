//! `provision whoami`: the account, identity, region and endpoint in use, and which link of the
//! credential chain supplied the credentials — the first thing to check when a lab goes wrong.

use std::time::SystemTime;

use serde::Serialize;

use crate::commands::{Run, with_aws};
use crate::connection::aws::Aws;
use crate::connection::chain::{self, Chain, State};
use crate::connection::sources::CredentialSource;
use crate::error::Error;
use crate::fanout::{AccountResult, Done, FanOut, RunEach};
use crate::plans::restricted::{self, Restricted, RoleCreation};
use crate::printer::Printer;
use crate::settings::{GlobalArgs, Lab, WhoamiArgs};

#[derive(Debug, Serialize)]
struct Whoami<'a> {
    schema_version: u32,
    command: &'static str,
    account: &'a str,
    arn: &'a str,
    /// What provision tags this caller's resources with (`provision:owner`).
    owner: &'a str,
    user_id: &'a str,
    region: &'a str,
    endpoint: Option<&'a str>,
    profile: &'a str,
    credentials: &'a CredentialSource,
    credentials_source: String,
    expires_in_seconds: Option<u64>,
    cloud9_managed_credentials: bool,
    /// Credential sources passed over, and why.
    skipped: &'a [String],
    /// The provider chain in the order it is searched: which link supplied the credentials, and
    /// which were shadowed (absent in a fan-out's per-account documents).
    #[serde(skip_serializing_if = "Option::is_none")]
    chain: Option<&'a Chain>,
    /// The signs of a restricted lab account (read for assumed-role sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    restricted: Option<&'a Restricted>,
}

/// The command, as the registry runs it (`cli::commands!`).
pub(crate) struct Runner;

impl Run for Runner {
    type Args = WhoamiArgs;

    async fn run(global: &GlobalArgs, _: &WhoamiArgs, printer: &Printer) -> Result<(), Error> {
        let explicit = match (
            &global.profile,
            crate::connection::sources::explicit_profile(&global.connection())?,
        ) {
            (Some(name), _) => Some((name.clone(), "--profile")),
            (None, Some(name)) => Some((name, "AWS_PROFILE")),
            (None, None) => None,
        };
        with_aws(global, printer, async |aws| {
            show(aws, &global.lab(), explicit, printer).await
        })
        .await
    }
}

impl RunEach for Runner {
    type Args = WhoamiArgs;
    type Prepared = ();

    fn prepare(_: &GlobalArgs, _: &WhoamiArgs) -> Result<(), Error> {
        Ok(())
    }

    async fn each(
        fan_out: &FanOut<'_>,
        _: &WhoamiArgs,
        _: &(),
    ) -> Result<Vec<AccountResult>, Error> {
        Ok(fan_out
            .each(async |aws, _| {
                let (arn, document) = document(aws, &fan_out.global.lab()).await?;
                Ok(Done {
                    summary: None,
                    detail: arn,
                    document,
                    failure: None,
                })
            })
            .await)
    }
}

/// One account's whoami document, for the fan-out: the identity's ARN and the JSON document.
pub(crate) async fn document(aws: &Aws, lab: &Lab) -> Result<(String, serde_json::Value), Error> {
    let identity = aws.identity().await?;
    let restricted = restricted::look(&aws.clients(lab), identity).await;
    let owner = crate::course::owners::owner_of(&identity.arn);
    let document = whoami(aws, identity, &owner, restricted.as_ref(), None);
    Ok((
        identity.arn.clone(),
        serde_json::to_value(document).unwrap_or_default(),
    ))
}

fn whoami<'a>(
    aws: &'a Aws,
    identity: &'a crate::connection::sources::Identity,
    owner: &'a str,
    restricted: Option<&'a Restricted>,
    chain: Option<&'a Chain>,
) -> Whoami<'a> {
    Whoami {
        schema_version: crate::printer::SCHEMA_VERSION,
        command: "whoami",
        account: &identity.account,
        arn: &identity.arn,
        owner,
        user_id: &identity.user_id,
        region: &aws.region,
        endpoint: aws.endpoint.as_deref(),
        profile: &aws.profile,
        credentials: &aws.source,
        credentials_source: aws.source.to_string(),
        expires_in_seconds: aws
            .expiry
            .and_then(|e| e.duration_since(SystemTime::now()).ok())
            .map(|d| d.as_secs()),
        cloud9_managed_credentials: aws.cloud9_managed_credentials(),
        skipped: &aws.skipped,
        chain,
        restricted,
    }
}

async fn show(
    aws: &Aws,
    lab: &Lab,
    explicit: Option<(String, &'static str)>,
    printer: &Printer,
) -> Result<(), Error> {
    let identity = aws.identity().await?;
    let chain = chain::observe(aws, explicit).await;
    let expires_in = aws
        .expiry
        .and_then(|e| e.duration_since(SystemTime::now()).ok())
        .map(|d| d.as_secs());
    let cloud9 = aws.cloud9_managed_credentials();
    let restricted = restricted::look(&aws.clients(lab), identity).await;
    let owner = crate::course::owners::owner_of(&identity.arn);
    if printer.is_json() {
        return printer.json(&whoami(
            aws,
            identity,
            &owner,
            restricted.as_ref(),
            Some(&chain),
        ));
    }
    printer.data(format!("account      {}", identity.account));
    printer.data(format!("arn          {}", identity.arn));
    printer.data(format!(
        "owner        {owner} (provision:owner of what you create)"
    ));
    printer.data(format!("user id      {}", identity.user_id));
    printer.data(format!("region       {}", aws.region));
    printer.data(format!(
        "endpoint     {}",
        aws.endpoint
            .as_deref()
            .unwrap_or("AWS (the SDK's default endpoints)")
    ));
    printer.data(format!("credentials  {}", aws.source));
    if let Some(seconds) = expires_in {
        printer.data(format!(
            "expires in   {}h {}m {}s",
            seconds / 3600,
            seconds % 3600 / 60,
            seconds % 60
        ));
    }
    printer.data("chain        searched in this order:");
    let width = chain.links.iter().map(|l| l.label.len()).max().unwrap_or(0);
    for (at, link) in chain.links.iter().enumerate() {
        let state = match link.state {
            State::Supplied => "supplied",
            State::Shadowed => "shadowed",
            State::Present => "present",
            State::Source => "source",
            State::Absent => "-",
        };
        printer.data(format!(
            "  {}. {:width$}  {state:8}  {}",
            at + 1,
            link.label,
            link.detail
        ));
    }
    if let Some(hint) = &chain.hint {
        printer.warn(hint);
    }
    if let Some(restricted) = &restricted
        && (restricted.likely || !restricted.commands.is_empty())
    {
        printer.data(format!(
            "restricted   {}",
            if restricted.likely {
                "likely a restricted lab account"
            } else {
                "some signs of a restricted lab account"
            }
        ));
        for sign in &restricted.signs {
            printer.data(format!("  sign: {sign}"));
        }
        if let RoleCreation::Unknown(why) = &restricted.role_creation {
            printer.data(format!(
                "  could not check whether this identity may create roles ({why})"
            ));
        }
        for command in &restricted.commands {
            printer.data(format!("  {command}"));
        }
    }
    if cloud9 {
        printer.warn(
            "these are Cloud9 \"AWS managed temporary credentials\" (the credentials file is the one \
             Cloud9 writes): AWS allows them only some IAM actions, so creating the lab's role may \
             be refused. Use --profile NAME for a profile with IAM rights if it is; once the \
             IDE's instance has an instance profile, turn managed credentials off in the IDE \
             (Preferences → AWS Settings → Credentials), or this file keeps shadowing it.",
        );
    }
    Ok(())
}
