//! `provision dragons-api user add NAME` and `provision dragons-api token NAME`: the API's users
//! in its Cognito user pool (`dragons-api --auth`). A password is read from a prompt that does
//! not echo (twice, for a new one) or, when stdin is not a terminal, from stdin's first line —
//! never from the command line or the environment, where other users of the machine and the
//! shell's history would see it — and checked against the pool's policy before any request.

use std::io::{IsTerminal, Read};

use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, MessageActionType};

use crate::commands::with_aws;
use crate::connection::clients::Clients;
use crate::error::{Error, aws_error};
use crate::printer::Printer;
use crate::resources::ownership::Claims;
use crate::resources::user_pool::{ObservedPool, PasswordPolicy, USER_POOL, observe_named};
use crate::settings::{GlobalArgs, TokenArgs};

/// The longest password read from stdin (Cognito allows 256 characters).
const PASSWORD_LIMIT: u64 = 1024;

/// A password, as read: never printed, never in an error.
pub(crate) struct Password(String);

/// Reads a password: from the terminal without echo (`confirm`: asked twice), else stdin's first
/// line.
pub(crate) fn read_password(prompt: &str, confirm: bool) -> Result<Password, Error> {
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let password = if interactive {
        let term = console::Term::stderr();
        let ask = |question: &str| {
            let _ = term.write_str(question);
            term.read_secure_line().map_err(|e| {
                Error::usage("the password could not be read from the terminal")
                    .with_cause(e.to_string())
                    .with_hint("or give it on stdin: printf '%s\\n' \"$PASSWORD\" | provision …")
            })
        };
        let first = ask(&format!("{prompt}: "))?;
        if confirm && ask("Again: ")? != first {
            return Err(Error::usage("the two passwords differ").with_hint("run it again"));
        }
        first
    } else {
        let mut text = String::new();
        std::io::stdin()
            .take(PASSWORD_LIMIT)
            .read_to_string(&mut text)
            .map_err(|e| {
                Error::usage("the password could not be read from stdin")
                    .with_cause(e.to_string())
                    .with_hint("give it as UTF-8 text on stdin's first line")
            })?;
        text.lines().next().unwrap_or_default().to_string()
    };
    if password.is_empty() {
        return Err(Error::usage("no password was given").with_hint(
            "type it at the prompt, or give it on stdin's first line (printf '%s\\n' \
             \"$PASSWORD\" | provision …)",
        ));
    }
    Ok(Password(password))
}

/// The caller's user pool of API `name`, or how to make it.
async fn pool_of(
    clients: &Clients,
    owner: &str,
    name: &str,
    region: &str,
) -> Result<ObservedPool, Error> {
    let claims = Claims::of(owner);
    observe_named(clients, name)
        .await?
        .into_iter()
        .find(|p| claims.is_callers(USER_POOL, &p.name, &p.tags))
        .ok_or_else(|| {
            Error::failed(format!("you have no user pool for API {name} in {region}"))
                .with_hint(format!(
                    "run `provision dragons-api --auth --name {name}` first (with the same --region)"
                ))
        })
}

/// `provision dragons-api user add USER`.
pub(crate) async fn add(
    global: &GlobalArgs,
    args: &TokenArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let user = args.user.as_str();
    let password = read_password(&format!("Password for {user}"), true)?;
    let unmet = PasswordPolicy::COURSE.unmet(&password.0);
    if !unmet.is_empty() {
        return Err(Error::usage(format!(
            "the password does not meet the pool's policy: it needs {}",
            unmet.join(", ")
        ))
        .with_hint("choose a longer one: a few words with a digit and a capital is easy to type"));
    }
    with_aws(global, printer, async |aws| {
        let clients = aws.clients(&global.lab());
        let identity = aws.identity().await?;
        let owner = crate::course::owners::owner_of(&identity.arn);
        let pool = pool_of(&clients, &owner, args.name.as_str(), &aws.region).await?;
        let cognito = &clients.cognito;
        let created = cognito
            .admin_create_user()
            .user_pool_id(&pool.id)
            .username(user)
            .message_action(MessageActionType::Suppress)
            .send()
            .await;
        let existed = match created {
            Ok(_) => false,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_username_exists_exception()) =>
            {
                true
            }
            Err(e) => return Err(aws_error("cognito-idp:AdminCreateUser", e)),
        };
        // A permanent password confirms the user: no first sign-in challenge.
        cognito
            .admin_set_user_password()
            .user_pool_id(&pool.id)
            .username(user)
            .password(&password.0)
            .permanent(true)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_invalid_password_exception() => {
                    Error::usage("Cognito refused the password: it does not meet the pool's policy")
                        .with_hint("choose a longer one")
                }
                _ => aws_error("cognito-idp:AdminSetUserPassword", e),
            })?;
        let what = match existed {
            true => "already existed: its password is set",
            false => "made, confirmed",
        };
        match printer.is_json() {
            true => printer.json(&serde_json::json!({
                "schema_version": crate::printer::SCHEMA_VERSION,
                "command": "dragons-api user add",
                "user": user,
                "user_pool": pool.id,
                "created": !existed,
            })),
            false => {
                printer.data(format!("user {user} of pool {} {what}", pool.id));
                Ok(())
            }
        }
    })
    .await
}

/// The ID token of `user` in API `api`'s pool, signed in with its password (the user-password
/// flow of the pool's app client).
pub(crate) async fn id_token(
    clients: &Clients,
    owner: &str,
    region: &str,
    api: &str,
    user: &str,
    password: &Password,
) -> Result<String, Error> {
    let pool = pool_of(clients, owner, api, region).await?;
    let client = pool.client.ok_or_else(|| {
        Error::failed(format!("user pool {} has no app client {api}", pool.id)).with_hint(format!(
            "run `provision dragons-api --auth --name {api}`: it makes it"
        ))
    })?;
    let answer = clients
        .cognito
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(&client.id)
        .auth_parameters("USERNAME", user)
        .auth_parameters("PASSWORD", &password.0)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(s) if s.is_not_authorized_exception() || s.is_user_not_found_exception() => {
                Error::failed(format!("Cognito refused {user}'s sign-in: wrong user name or password"))
                    .with_hint(format!(
                        "check the password, or set it again with `provision dragons-api user add {user}`"
                    ))
            }
            _ => aws_error("cognito-idp:InitiateAuth", e),
        })?;
    answer
        .authentication_result()
        .and_then(|r| r.id_token())
        .map(str::to_string)
        .ok_or_else(|| {
            Error::failed(format!(
                "Cognito asked {user} for more than a password (a challenge provision does not answer)"
            ))
            .with_hint(format!("set the password again with `provision dragons-api user add {user}`"))
        })
}

/// `provision dragons-api token USER`: the ID token alone on stdout.
pub(crate) async fn token(
    global: &GlobalArgs,
    args: &TokenArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let user = args.user.as_str();
    let password = read_password(&format!("Password for {user}"), false)?;
    with_aws(global, printer, async |aws| {
        let clients = aws.clients(&global.lab());
        let identity = aws.identity().await?;
        let owner = crate::course::owners::owner_of(&identity.arn);
        let token = id_token(
            &clients,
            &owner,
            &aws.region,
            args.name.as_str(),
            user,
            &password,
        )
        .await?;
        match printer.is_json() {
            true => printer.json(&serde_json::json!({
                "schema_version": crate::printer::SCHEMA_VERSION,
                "command": "dragons-api token",
                "user": user,
                "id_token": token,
            })),
            false => {
                printer.data(token);
                Ok(())
            }
        }
    })
    .await
}
