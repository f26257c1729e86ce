//! The Cognito user pool that signs in the course API's users (`dragons-api --auth`), with its
//! app client: one resource, planned as two lines.
//!
//! - **The pool**: a password policy a course would use (12 characters or more, upper and lower
//!   case and a digit; "Adding user pool password requirements", Amazon Cognito Developer Guide),
//!   users made by the instructor only (no self sign-up). Cognito allows many pools of one name, so
//!   the create is sent once per attempt (the SDK's retries off) and the pools are listed again
//!   after a failure, as the REST API's is.
//! - **The app client**: no secret (the course's web page and `provision dragons-api token` are
//!   public clients, which cannot keep one), the user-password and SRP flows and refresh tokens. A
//!   client with a secret cannot lose it: it is replaced.
//!
//! `UpdateUserPool` resets every setting it is not given to its default ("UpdateUserPool",
//! Cognito API Reference), so a drifted policy is put back with everything provision sets.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cognitoidentityprovider::types::{
    AdminCreateUserConfigType, ExplicitAuthFlowsType, PasswordPolicyType, UserPoolPolicyType,
};

use crate::connection::clients::Clients;
use crate::engine::apply::{Executed, Report};
use crate::engine::plan::{Action, Detail, Drift, Kind};
use crate::error::{Error, aws_error, sent, settled};
use crate::resources::lifecycle::{Events, Regional, Tagged, inventory_in_region, retain_by_name};
use crate::resources::ownership::{self, Claims};
use crate::resources::status::Rows;
use crate::resources::tags::Tags;
use crate::resources::{
    Change, CloudFormation, CreatedBy, Discovery, Inventoried, Keep, Lifecycle, ObservedState,
    Part, Resource,
};

pub(crate) const USER_POOL: Kind = Kind::new("cognito-user-pool");
pub(crate) const USER_POOL_CLIENT: Kind = Kind::new("cognito-user-pool-client");

/// What a pool's passwords must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PasswordPolicy {
    pub(crate) minimum_length: i32,
    pub(crate) uppercase: bool,
    pub(crate) lowercase: bool,
    pub(crate) numbers: bool,
    pub(crate) symbols: bool,
}

impl PasswordPolicy {
    /// The course's: 12 characters or more, upper and lower case, a digit.
    pub(crate) const COURSE: Self = Self {
        minimum_length: 12,
        uppercase: true,
        lowercase: true,
        numbers: true,
        symbols: false,
    };

    /// What `password` lacks of the policy, in words; empty when it complies.
    pub(crate) fn unmet(&self, password: &str) -> Vec<String> {
        let mut unmet = Vec::new();
        let length = password.chars().count();
        if length < self.minimum_length as usize {
            unmet.push(format!(
                "at least {} characters (it has {length})",
                self.minimum_length
            ));
        }
        let needs = [
            (
                self.uppercase,
                "an upper-case letter",
                password.chars().any(|c| c.is_uppercase()),
            ),
            (
                self.lowercase,
                "a lower-case letter",
                password.chars().any(|c| c.is_lowercase()),
            ),
            (
                self.numbers,
                "a digit",
                password.chars().any(|c| c.is_ascii_digit()),
            ),
            (
                self.symbols,
                "a symbol",
                password.chars().any(|c| c.is_ascii_punctuation()),
            ),
        ];
        for (required, what, has) in needs {
            if required && !has {
                unmet.push(what.to_string());
            }
        }
        unmet
    }

    fn words(&self) -> String {
        let mut words = vec![format!("{}+ characters", self.minimum_length)];
        for (required, what) in [
            (self.uppercase, "upper"),
            (self.lowercase, "lower"),
            (self.numbers, "digit"),
            (self.symbols, "symbol"),
        ] {
            if required {
                words.push(what.to_string());
            }
        }
        words.join(", ")
    }

    fn sdk(&self) -> UserPoolPolicyType {
        UserPoolPolicyType::builder()
            .password_policy(
                PasswordPolicyType::builder()
                    .minimum_length(self.minimum_length)
                    .require_uppercase(self.uppercase)
                    .require_lowercase(self.lowercase)
                    .require_numbers(self.numbers)
                    .require_symbols(self.symbols)
                    .temporary_password_validity_days(7)
                    .build(),
            )
            .build()
    }
}

/// The flows the app client allows: user and password, SRP, refresh tokens.
pub(crate) const AUTH_FLOWS: &[&str] = &[
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DesiredPool {
    pub(crate) name: String,
    pub(crate) policy: PasswordPolicy,
    /// The app client's name (the pool's).
    pub(crate) client_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObservedClient {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Its flows, sorted.
    pub(crate) flows: Vec<String>,
    pub(crate) has_secret: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObservedPool {
    pub(crate) id: String,
    pub(crate) arn: String,
    pub(crate) name: String,
    pub(crate) region: String,
    pub(crate) policy: Option<PasswordPolicy>,
    pub(crate) admin_only: bool,
    pub(crate) tags: Tags,
    /// Its app client of the pool's name, if any.
    pub(crate) client: Option<ObservedClient>,
}

/// The pool an op acts on: by id once it exists, else the one of this name with these tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PoolRef {
    Id(String),
    Named { name: String, tags: Tags },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PoolOp {
    Create {
        name: String,
        policy: PasswordPolicy,
        tags: Tags,
    },
    UpdatePolicy {
        pool_id: String,
        policy: PasswordPolicy,
    },
    CreateClient {
        pool: PoolRef,
        name: String,
    },
    DeleteClient {
        pool_id: String,
        client_id: String,
    },
    UpdateClient {
        pool_id: String,
        client_id: String,
        name: String,
    },
    Delete {
        pool_id: String,
    },
}

pub(crate) struct UserPool;

/// Every pool of the region: (id, name).
async fn listed(clients: &Clients) -> Result<Vec<(String, String)>, Error> {
    let pages = clients
        .cognito
        .list_user_pools()
        .max_results(60)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("cognito-idp:ListUserPools", e))?;
    Ok(pages
        .iter()
        .flat_map(|page| page.user_pools())
        .filter_map(|pool| Some((pool.id()?.to_string(), pool.name()?.to_string())))
        .collect())
}

/// Reads pool `id` with its app client named `client_name` (when given).
async fn observe_pool(
    clients: &Clients,
    id: &str,
    client_name: Option<&str>,
) -> Result<Option<ObservedPool>, Error> {
    let cognito = &clients.cognito;
    let described = match cognito.describe_user_pool().user_pool_id(id).send().await {
        Ok(output) => output,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(aws_error("cognito-idp:DescribeUserPool", e)),
    };
    let Some(pool) = described.user_pool() else {
        return Ok(None);
    };
    let policy = pool
        .policies()
        .and_then(|p| p.password_policy())
        .map(|p| PasswordPolicy {
            minimum_length: p.minimum_length().unwrap_or(8),
            uppercase: p.require_uppercase(),
            lowercase: p.require_lowercase(),
            numbers: p.require_numbers(),
            symbols: p.require_symbols(),
        });
    let name = pool.name().unwrap_or_default().to_string();
    let client = match client_name {
        Some(client_name) => observe_client(clients, id, client_name).await?,
        None => None,
    };
    Ok(Some(ObservedPool {
        id: id.to_string(),
        arn: pool.arn().unwrap_or_default().to_string(),
        name,
        region: cognito
            .config()
            .region()
            .map(ToString::to_string)
            .unwrap_or_default(),
        policy,
        admin_only: pool
            .admin_create_user_config()
            .is_some_and(|c| c.allow_admin_create_user_only()),
        tags: crate::resources::tags::from_map(pool.user_pool_tags()),
        client,
    }))
}

/// The pool's app client named `name`.
async fn observe_client(
    clients: &Clients,
    pool_id: &str,
    name: &str,
) -> Result<Option<ObservedClient>, Error> {
    let cognito = &clients.cognito;
    let pages = cognito
        .list_user_pool_clients()
        .user_pool_id(pool_id)
        .max_results(60)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("cognito-idp:ListUserPoolClients", e))?;
    let Some(id) = pages
        .iter()
        .flat_map(|p| p.user_pool_clients())
        .find(|c| c.client_name() == Some(name))
        .and_then(|c| c.client_id().map(str::to_string))
    else {
        return Ok(None);
    };
    let described = cognito
        .describe_user_pool_client()
        .user_pool_id(pool_id)
        .client_id(&id)
        .send()
        .await
        .map_err(|e| aws_error("cognito-idp:DescribeUserPoolClient", e))?;
    let Some(client) = described.user_pool_client() else {
        return Ok(None);
    };
    let mut flows: Vec<String> = client
        .explicit_auth_flows()
        .iter()
        .map(|f| f.as_str().to_string())
        .collect();
    flows.sort();
    Ok(Some(ObservedClient {
        id,
        name: name.to_string(),
        flows,
        has_secret: client.client_secret().is_some_and(|s| !s.is_empty()),
    }))
}

/// The caller's pools of `name` carrying provision's tags (of any owner), each with its client.
pub(crate) async fn observe_named(
    clients: &Clients,
    name: &str,
) -> Result<Vec<ObservedPool>, Error> {
    let ids: Vec<String> = listed(clients)
        .await?
        .into_iter()
        .filter(|(_, n)| n == name)
        .map(|(id, _)| id)
        .collect();
    let found =
        futures::future::join_all(ids.iter().map(|id| observe_pool(clients, id, Some(name)))).await;
    let mut pools = Vec::new();
    for pool in found {
        if let Some(pool) = pool?
            && ownership::is_managed(&pool.tags)
        {
            pools.push(pool);
        }
    }
    Ok(pools)
}

/// The pool `pool` stands for: (id, ARN); `None` when there is none.
pub(crate) async fn resolve(
    clients: &Clients,
    pool: &PoolRef,
) -> Result<Option<(String, String)>, Error> {
    match pool {
        PoolRef::Id(id) => Ok(observe_pool(clients, id, None)
            .await?
            .map(|p| (p.id, p.arn))),
        PoolRef::Named { name, tags } => Ok(observe_named(clients, name)
            .await?
            .into_iter()
            .find(|p| tags.iter().all(|(k, v)| p.tags.get(k) == Some(v)))
            .map(|p| (p.id, p.arn))),
    }
}

impl Resource for UserPool {
    const KINDS: &'static [Kind] = &[USER_POOL, USER_POOL_CLIENT];

    /// The pool's name (its client's too).
    type Query = str;
    type Observation = Vec<ObservedPool>;
    type Desired = DesiredPool;
    type Observed = ObservedPool;
    type Op = PoolOp;

    async fn observe(clients: &Clients, name: &str) -> Result<Vec<ObservedPool>, Error> {
        observe_named(clients, name).await
    }

    fn plan(
        desired: Option<&DesiredPool>,
        observed: Option<&ObservedPool>,
        claims: &Claims,
    ) -> Result<Vec<Change>, Error> {
        let Some(desired) = desired else {
            return Ok(observed
                .map(|current| {
                    claims
                        .delete_if_ours(
                            &current.tags,
                            USER_POOL,
                            &current.name,
                            Some(&current.arn),
                            || {
                                vec![
                                    PoolOp::Delete {
                                        pool_id: current.id.clone(),
                                    }
                                    .into(),
                                ]
                            },
                        )
                        .with_detail(Detail::note(format!(
                            "{}, with its users and app client",
                            current.id
                        )))
                })
                .into_iter()
                .collect());
        };
        let name = &desired.name;
        let pool_line = USER_POOL.id(name.clone());
        let client_ops = |pool: PoolRef| -> Vec<crate::resources::Operation> {
            vec![
                PoolOp::CreateClient {
                    pool,
                    name: desired.client_name.clone(),
                }
                .into(),
            ]
        };
        let Some(current) = observed else {
            return Ok(vec![
                Change::new(USER_POOL, name, Action::Create)
                    .with_detail(Detail::note(format!(
                        "passwords {}; users made by the instructor only",
                        desired.policy.words()
                    )))
                    .with_operations(vec![
                        PoolOp::Create {
                            name: name.clone(),
                            policy: desired.policy,
                            tags: claims.tags(),
                        }
                        .into(),
                    ]),
                Change::new(USER_POOL_CLIENT, &desired.client_name, Action::Create)
                    .with_detail(Detail::note(
                        "no secret; user-password and SRP sign-in, refresh tokens",
                    ))
                    .with_operations(client_ops(PoolRef::Named {
                        name: name.clone(),
                        tags: claims.tags(),
                    }))
                    .after(pool_line),
            ]);
        };
        claims.claim(USER_POOL, name, &current.tags, || {
            ownership::not_ours("user pool", name, &current.arn)
        })?;
        let mut changes = Vec::new();
        changes.push(
            match (current.policy == Some(desired.policy)) && current.admin_only {
                true => Change::unchanged(USER_POOL, name).with_arn(&current.arn),
                false => Change::new(USER_POOL, name, Action::Update)
                    .with_arn(&current.arn)
                    .with_detail(Detail::Drift(Drift::Setting {
                        setting: "passwords",
                        current: current
                            .policy
                            .map_or_else(|| "no policy".to_string(), |p| p.words())
                            + if current.admin_only {
                                ""
                            } else {
                                ", anyone may sign up"
                            },
                        desired: desired.policy.words(),
                    }))
                    .with_operations(vec![
                        PoolOp::UpdatePolicy {
                            pool_id: current.id.clone(),
                            policy: desired.policy,
                        }
                        .into(),
                    ]),
            },
        );
        let client_name = &desired.client_name;
        let wanted: Vec<String> = AUTH_FLOWS.iter().map(|f| f.to_string()).collect();
        changes.push(match &current.client {
            None => Change::new(USER_POOL_CLIENT, client_name, Action::Create)
                .with_detail(Detail::note("the app client is missing"))
                .with_operations(client_ops(PoolRef::Id(current.id.clone()))),
            Some(client) if client.has_secret => {
                let mut operations: Vec<crate::resources::Operation> = vec![
                    PoolOp::DeleteClient {
                        pool_id: current.id.clone(),
                        client_id: client.id.clone(),
                    }
                    .into(),
                ];
                operations.extend(client_ops(PoolRef::Id(current.id.clone())));
                Change::new(USER_POOL_CLIENT, client_name, Action::Update)
                    .with_detail(Detail::Drift(Drift::Setting {
                        setting: "secret",
                        current: "a client secret (a web page cannot keep one)".into(),
                        desired: "none: the client is replaced".into(),
                    }))
                    .with_operations(operations)
            }
            Some(client) if client.flows != wanted => {
                Change::new(USER_POOL_CLIENT, client_name, Action::Update)
                    .with_detail(Detail::Drift(Drift::Setting {
                        setting: "sign-in flows",
                        current: client.flows.join(" "),
                        desired: wanted.join(" "),
                    }))
                    .with_operations(vec![
                        PoolOp::UpdateClient {
                            pool_id: current.id.clone(),
                            client_id: client.id.clone(),
                            name: client_name.clone(),
                        }
                        .into(),
                    ])
            }
            Some(_) => Change::unchanged(USER_POOL_CLIENT, client_name),
        });
        Ok(changes)
    }

    async fn execute(
        clients: &Clients,
        op: &PoolOp,
        report: Report<'_>,
    ) -> Result<Executed, Error> {
        let cognito = &clients.cognito;
        match op {
            PoolOp::Create { name, policy, tags } => {
                return create(clients, name, *policy, tags, report).await;
            }
            PoolOp::UpdatePolicy { pool_id, policy } => sent(
                "cognito-idp:UpdateUserPool",
                cognito
                    .update_user_pool()
                    .user_pool_id(pool_id)
                    .policies(policy.sdk())
                    .admin_create_user_config(admin_only())
                    .send()
                    .await,
            )?,
            PoolOp::CreateClient { pool, name } => {
                let Some((pool_id, _)) = resolve(clients, pool).await? else {
                    return Err(
                        Error::failed(format!("user pool {name} is not there any more"))
                            .with_hint("re-run the same command: it makes the pool again"),
                    );
                };
                let found = |client: Option<ObservedClient>| {
                    client.map(|c| Executed {
                        resource_id: Some(c.id),
                    })
                };
                // Made already (by an interrupted run): done.
                if let Some(made) = found(observe_client(clients, &pool_id, name).await?) {
                    return Ok(made);
                }
                return crate::resources::lifecycle::create_once(
                    "cognito-idp:CreateUserPoolClient",
                    &format!("app client {name}"),
                    Duration::from_secs(1),
                    report,
                    || async {
                        cognito
                            .create_user_pool_client()
                            .user_pool_id(&pool_id)
                            .client_name(name)
                            .generate_secret(false)
                            .set_explicit_auth_flows(Some(flows()))
                            .customize()
                            .config_override(once())
                            .send()
                            .await
                            .map(|created| Executed {
                                resource_id: created
                                    .user_pool_client()
                                    .and_then(|c| c.client_id().map(str::to_string)),
                            })
                    },
                    || async { Ok(found(observe_client(clients, &pool_id, name).await?)) },
                )
                .await;
            }
            PoolOp::DeleteClient { pool_id, client_id } => settled(
                "cognito-idp:DeleteUserPoolClient",
                cognito
                    .delete_user_pool_client()
                    .user_pool_id(pool_id)
                    .client_id(client_id)
                    .send()
                    .await,
                |s| s.is_resource_not_found_exception(),
            )?,
            PoolOp::UpdateClient {
                pool_id,
                client_id,
                name,
            } => sent(
                "cognito-idp:UpdateUserPoolClient",
                cognito
                    .update_user_pool_client()
                    .user_pool_id(pool_id)
                    .client_id(client_id)
                    .client_name(name)
                    .set_explicit_auth_flows(Some(flows()))
                    .send()
                    .await,
            )?,
            PoolOp::Delete { pool_id } => settled(
                "cognito-idp:DeleteUserPool",
                cognito
                    .delete_user_pool()
                    .user_pool_id(pool_id)
                    .send()
                    .await,
                |s| s.is_resource_not_found_exception(),
            )?,
        }
        Ok(Executed::default())
    }
}

fn flows() -> Vec<ExplicitAuthFlowsType> {
    AUTH_FLOWS
        .iter()
        .map(|f| ExplicitAuthFlowsType::from(*f))
        .collect()
}

fn admin_only() -> AdminCreateUserConfigType {
    AdminCreateUserConfigType::builder()
        .allow_admin_create_user_only(true)
        .build()
}

/// Creates the pool once (see `create_once`: Cognito allows many pools of one name).
async fn create(
    clients: &Clients,
    name: &str,
    policy: PasswordPolicy,
    tags: &Tags,
    report: Report<'_>,
) -> Result<Executed, Error> {
    let pool = PoolRef::Named {
        name: name.to_string(),
        tags: tags.clone(),
    };
    crate::resources::lifecycle::create_once(
        "cognito-idp:CreateUserPool",
        &format!("user pool {name}"),
        Duration::from_secs(1),
        report,
        || async {
            clients
                .cognito
                .create_user_pool()
                .pool_name(name)
                .policies(policy.sdk())
                .admin_create_user_config(admin_only())
                .set_user_pool_tags(Some(crate::resources::tags::to_map(tags)))
                .customize()
                .config_override(once())
                .send()
                .await
                .map(|output| Executed {
                    resource_id: output.user_pool().and_then(|p| p.arn().map(str::to_string)),
                })
        },
        || async {
            Ok(resolve(clients, &pool).await?.map(|(_, arn)| Executed {
                resource_id: Some(arn),
            }))
        },
    )
    .await
}

/// One attempt: for the creates `create_once` repeats itself.
fn once() -> aws_sdk_cognitoidentityprovider::config::Builder {
    aws_sdk_cognitoidentityprovider::config::Builder::default()
        .retry_config(crate::connection::clients::single_attempt())
}

impl Lifecycle for UserPool {
    const KIND: Kind = USER_POOL;
    const MADE_BY: &'static [Part] = &[Part::DragonsApi];
    const NEEDS: &'static [Kind] = &[];
    const CREATED_BY: CreatedBy = CreatedBy::Event {
        name: "CreateUserPool",
        recorded: Events::InItsRegion,
    };
    const CLOUDFORMATION: CloudFormation = CloudFormation::Type("AWS::Cognito::UserPool");

    type Found = BTreeMap<String, ObservedPool>;

    /// The region's pools tagged `managed-by=provision` (each is created tagged), with their
    /// clients of the pool's name.
    async fn discover(discovery: &Discovery<'_>) -> Result<Self::Found, Error> {
        let pools = listed(discovery.clients).await?;
        let found = futures::future::join_all(
            pools
                .iter()
                .map(|(id, name)| observe_pool(discovery.clients, id, Some(name))),
        )
        .await;
        let mut ours = BTreeMap::new();
        for pool in found {
            if let Some(pool) = pool?
                && ownership::is_managed(&pool.tags)
            {
                ours.insert(pool.name.clone(), pool);
            }
        }
        Ok(ours)
    }

    async fn complete(_: &Discovery<'_>, _: &mut ObservedState) -> Result<(), Error> {
        Ok(())
    }

    fn inventory(found: &Self::Found) -> Vec<Inventoried<'_>> {
        inventory_in_region(found)
    }

    fn retain(found: &mut Self::Found, keep: &mut dyn FnMut(&str, &Tags) -> bool) {
        retain_by_name(found, keep);
    }

    fn removal(observed: &ObservedState, _: Keep, claims: &Claims) -> Result<Vec<Change>, Error> {
        crate::resources::lifecycle::remove_each::<UserPool>(observed.user_pools.values(), claims)
    }

    fn rows(rows: &mut Rows<'_>) -> Result<(), Error> {
        rows.planned::<UserPool>(
            USER_POOL,
            &rows.expected.user_pools,
            |p| p.name.as_str(),
            &rows.observed.user_pools,
            |pool| vec![pool.id.clone()],
        )
    }
}

impl Tagged for ObservedPool {
    fn name(&self) -> &str {
        &self.name
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

impl Regional for ObservedPool {
    fn region(&self) -> &str {
        &self.region
    }
}

#[cfg(test)]
impl crate::resources::simulated::Simulated for UserPool {
    fn simulate(
        op: &PoolOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        let serial = world.next_serial();
        let pools = &mut world.observed.user_pools;
        match op {
            PoolOp::Create { name, policy, tags } => {
                let id = format!("us-east-1_pool{serial}");
                let arn = format!("arn:aws:cognito-idp:us-east-1:123456789012:userpool/{id}");
                pools.entry(name.clone()).or_insert_with(|| ObservedPool {
                    id,
                    arn: arn.clone(),
                    name: name.clone(),
                    region: "us-east-1".into(),
                    policy: Some(*policy),
                    admin_only: true,
                    tags: tags.clone(),
                    client: None,
                });
                return Ok(Executed {
                    resource_id: Some(arn),
                });
            }
            PoolOp::UpdatePolicy { pool_id, policy } => {
                let pool = pools
                    .values_mut()
                    .find(|p| p.id == *pool_id)
                    .ok_or("ResourceNotFoundException")?;
                pool.policy = Some(*policy);
                pool.admin_only = true;
            }
            PoolOp::CreateClient { pool, name } => {
                let pool = pools
                    .values_mut()
                    .find(|p| match pool {
                        PoolRef::Id(id) => p.id == *id,
                        PoolRef::Named { name, .. } => p.name == *name,
                    })
                    .ok_or("ResourceNotFoundException")?;
                pool.client = Some(ObservedClient {
                    id: format!("client{serial}"),
                    name: name.clone(),
                    flows: AUTH_FLOWS.iter().map(|f| f.to_string()).collect(),
                    has_secret: false,
                });
            }
            PoolOp::DeleteClient { pool_id, .. } => {
                if let Some(pool) = pools.values_mut().find(|p| p.id == *pool_id) {
                    pool.client = None;
                }
            }
            PoolOp::UpdateClient { pool_id, .. } => {
                let pool = pools
                    .values_mut()
                    .find(|p| p.id == *pool_id)
                    .ok_or("ResourceNotFoundException")?;
                if let Some(client) = pool.client.as_mut() {
                    client.flows = AUTH_FLOWS.iter().map(|f| f.to_string()).collect();
                }
            }
            PoolOp::Delete { pool_id } => pools.retain(|_, p| p.id != *pool_id),
        }
        Ok(Executed::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Operation;
    use crate::resources::ownership::test_claims;
    use crate::resources::simulated::World;

    fn desired() -> DesiredPool {
        DesiredPool {
            name: "dragons-api".into(),
            policy: PasswordPolicy::COURSE,
            client_name: "dragons-api".into(),
        }
    }

    #[test]
    fn a_pool_and_its_client_are_made_then_left_alone_and_a_secret_client_is_replaced() {
        let claims = test_claims(false);
        let mut world = World::new(ObservedState::default());
        let created = UserPool::plan(Some(&desired()), None, &claims).expect("plans");
        assert_eq!(
            created.iter().map(Change::line).collect::<Vec<_>>(),
            [
                "+ create    cognito-user-pool dragons-api (passwords 12+ characters, upper, \
                 lower, digit; users made by the instructor only)",
                "+ create    cognito-user-pool-client dragons-api (no secret; user-password and \
                 SRP sign-in, refresh tokens)"
            ]
        );
        for change in &created {
            for operation in &change.operations {
                crate::resources::simulate(operation, &mut world).expect("applies");
            }
        }
        let current = world.observed.user_pools.get("dragons-api").cloned();
        let same = UserPool::plan(Some(&desired()), current.as_ref(), &claims).expect("plans");
        assert!(same.iter().all(|c| c.operations.is_empty()), "{same:?}");
        let mut secret = current.expect("pool");
        if let Some(client) = secret.client.as_mut() {
            client.has_secret = true;
        }
        secret.policy = Some(PasswordPolicy {
            minimum_length: 6,
            ..PasswordPolicy::COURSE
        });
        let changes = UserPool::plan(Some(&desired()), Some(&secret), &claims).expect("plans");
        assert!(
            changes[0].line().contains("passwords 6+ characters"),
            "{}",
            changes[0].line()
        );
        assert!(matches!(
            &changes[1].operations[..],
            [
                Operation::UserPool(PoolOp::DeleteClient { .. }),
                Operation::UserPool(PoolOp::CreateClient { .. })
            ]
        ));
    }

    #[test]
    fn a_password_is_checked_against_the_policy_before_any_request() {
        let policy = PasswordPolicy::COURSE;
        assert!(policy.unmet("Dragons-Atlas-2026").is_empty());
        assert_eq!(
            policy.unmet("short1A"),
            ["at least 12 characters (it has 7)"]
        );
        assert_eq!(
            policy.unmet("alllowercaseletters"),
            ["an upper-case letter", "a digit"]
        );
    }
}
