//! The course's REST API in API Gateway (`dragons-api`), with what makes it answer: the resource
//! `/dragons` and its `GET` method with a Lambda proxy integration, the function's permission for
//! this API to invoke it, and the stage's deployment. One resource, planned as one line each.
//!
//! - **The API** is created tagged in one request. API Gateway allows many APIs of one name, so a
//!   lost answer retried would make a second one: the create is sent once per attempt (the SDK's
//!   retries off) and, after a failure, the APIs are listed again before another attempt. Other
//!   people's APIs of the name (untagged) are left alone; provision makes its own.
//! - **The method and its integration** are compared field by field (authorization, integration
//!   type, method and URI): one pointed elsewhere by hand is put back (`PutIntegration` replaces
//!   it).
//! - **The permission** is one statement (provision's `Sid`) of the function's resource policy,
//!   allowing `apigateway.amazonaws.com` to invoke it only from this API's ARN (`execute-api:
//!   …:API/*/GET/dragons`, "Grant API Gateway permission to invoke a Lambda function", API
//!   Gateway Developer Guide).
//! - **The deployment.** A stage serves a snapshot of the API taken when it was deployed, so
//!   changes reach it only through a new deployment. Each of provision's deployments records, in
//!   its description, a digest of the wiring it was made from; a new one is made only when the
//!   wiring wanted differs from the stage's (or the stage has none of provision's). A method
//!   changed by hand and put back, never deployed, needs none.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType, IntegrationType};
use serde_json::Value;

use crate::connection::clients::Clients;
use crate::engine::apply::{Executed, Report};
use crate::engine::plan::{Action, Detail, Drift, Kind};
use crate::error::{Error, aws_error, sent, settled};
use crate::resources::lifecycle::{Events, Regional, Tagged, inventory_in_region, retain_by_name};
use crate::resources::ownership::{self, Claims, MANAGED_BY_KEY, MANAGED_BY_VALUE};
use crate::resources::status::Rows;
use crate::resources::tags::Tags;
use crate::resources::{
    Change, CloudFormation, CreatedBy, Discovery, Inventoried, Keep, Lifecycle, ObservedState,
    Part, Resource,
};

pub(crate) const REST_API: Kind = Kind::new("apigateway-rest-api");
pub(crate) const METHOD: Kind = Kind::new("apigateway-method");
pub(crate) const INVOKE_PERMISSION: Kind = Kind::new("lambda-permission");
pub(crate) const DEPLOYMENT: Kind = Kind::new("apigateway-deployment");
pub(crate) const AUTHORIZER: Kind = Kind::new("apigateway-authorizer");

/// A Cognito user pool authorizer on the route (`--auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DesiredAuthorizer {
    /// The authorizer's name (`NAME-users`).
    pub(crate) name: String,
    /// The user pool it trusts, by name.
    pub(crate) pool_name: String,
    /// That pool's ARN, once it exists: the authorizer's provider is compared with it.
    pub(crate) pool_arn: Option<String>,
}

/// An authorizer as API Gateway holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ObservedAuthorizer {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) provider_arns: Vec<String>,
}

/// What the deployments provision makes say first in their description.
const DEPLOYMENT_MARK: &str = "provision wiring";

/// One method of the API and the function it calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// The path below the root, one segment (`dragons`).
    pub(crate) path_part: String,
    pub(crate) http_method: String,
    pub(crate) function_name: String,
    pub(crate) function_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DesiredApi {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) partition: String,
    pub(crate) region: String,
    pub(crate) account: String,
    pub(crate) route: Route,
    pub(crate) stage: String,
    /// `--auth`: the route takes a Cognito user pool's tokens.
    pub(crate) authorizer: Option<DesiredAuthorizer>,
}

impl DesiredApi {
    /// The route's authorization as API Gateway names it.
    fn authorization_type(&self) -> &'static str {
        match self.authorizer {
            Some(_) => "COGNITO_USER_POOLS",
            None => "NONE",
        }
    }

    fn authorization_words(&self) -> String {
        match &self.authorizer {
            Some(authorizer) => format!("COGNITO_USER_POOLS {}", authorizer.name),
            None => "NONE".to_string(),
        }
    }

    /// The integration URI that makes API Gateway invoke the route's function.
    pub(crate) fn integration_uri(&self) -> String {
        format!(
            "arn:{}:apigateway:{}:lambda:path/2015-03-31/functions/{}/invocations",
            self.partition, self.region, self.route.function_arn
        )
    }

    /// The `Sid` of the function's permission statement for this API.
    pub(crate) fn statement_id(&self) -> String {
        statement_id(&self.name, &self.route)
    }

    /// The permission's source: this API's ARN, any stage, this method and path.
    pub(crate) fn source_arn(&self, api_id: &str) -> String {
        format!(
            "arn:{}:execute-api:{}:{}:{api_id}/*/{}/{}",
            self.partition, self.region, self.account, self.route.http_method, self.route.path_part
        )
    }

    /// What a deployment of this wiring says in its description: the route and a digest of it.
    pub(crate) fn deployment_description(&self) -> String {
        use md5::{Digest, Md5};
        let wiring = format!(
            "{} /{} {} AWS_PROXY POST {}",
            self.route.http_method,
            self.route.path_part,
            self.authorization_words(),
            self.integration_uri()
        );
        let digest = hex::encode(Md5::digest(wiring.as_bytes()));
        format!(
            "{DEPLOYMENT_MARK} {} ({} /{} → {})",
            &digest[..12],
            self.route.http_method,
            self.route.path_part,
            self.route.function_name
        )
    }

    fn method_name(&self) -> String {
        format!(
            "{} {} /{}",
            self.name, self.route.http_method, self.route.path_part
        )
    }

    fn deployment_name(&self) -> String {
        format!("{}/{}", self.name, self.stage)
    }
}

/// The statement id of `route`'s permission for API `name`.
pub(crate) fn statement_id(name: &str, route: &Route) -> String {
    format!("provision-{name}-{}-{}", route.http_method, route.path_part)
}

/// A method as API Gateway holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ObservedMethod {
    pub(crate) authorization_type: String,
    pub(crate) authorizer_id: Option<String>,
    /// The integration's type, HTTP method and URI; `None` when it has none.
    pub(crate) integration: Option<(String, String, String)>,
}

/// The route's permission statement on the function, as its resource policy holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ObservedPermission {
    pub(crate) principal: String,
    pub(crate) action: String,
    pub(crate) source_arn: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ObservedApi {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) region: String,
    pub(crate) tags: Tags,
    /// The API's resources by path (`/`, `/dragons`) → id.
    pub(crate) resources: BTreeMap<String, String>,
    /// Its methods by (path, HTTP method).
    pub(crate) methods: BTreeMap<(String, String), ObservedMethod>,
    /// Its stages → the description of the deployment each serves.
    pub(crate) stages: BTreeMap<String, String>,
    /// Its authorizers by name.
    pub(crate) authorizers: BTreeMap<String, ObservedAuthorizer>,
    /// The route function's statement for this API; read for the command's route only.
    pub(crate) permission: Option<ObservedPermission>,
}

/// Which API to read: the one of this name with provision's tags (of any owner), and the
/// permission of `route` on its function.
#[derive(Debug, Clone)]
pub(crate) struct ApiQuery {
    pub(crate) name: String,
    pub(crate) route: Option<Route>,
}

/// The API an op acts on: by id once it exists, else the one of this name carrying these tags
/// (made earlier in the same run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiRef {
    Id(String),
    Named { name: String, tags: Tags },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApiOp {
    Create {
        name: String,
        description: String,
        tags: Tags,
    },
    CreateResource {
        api: ApiRef,
        path_part: String,
    },
    /// Puts the method, open or (with the name of an authorizer of the API) behind that
    /// authorizer.
    PutMethod {
        api: ApiRef,
        path_part: String,
        http_method: String,
        authorizer: Option<String>,
    },
    /// Removes the method with its integration (API Gateway changes a method's authorization
    /// only by a patch the local emulator lacks; a method put again is the same change).
    DeleteMethod {
        api: ApiRef,
        path_part: String,
        http_method: String,
    },
    CreateAuthorizer {
        api: ApiRef,
        name: String,
        pool: crate::resources::user_pool::PoolRef,
    },
    DeleteAuthorizer {
        api: ApiRef,
        authorizer_id: String,
    },
    PutIntegration {
        api: ApiRef,
        path_part: String,
        http_method: String,
        uri: String,
    },
    /// Removes provision's statement from the function's policy (before it is added again with
    /// another source).
    RemovePermission {
        function_name: String,
        statement_id: String,
    },
    AddPermission {
        function_name: String,
        statement_id: String,
        api: ApiRef,
        /// The source ARN with `{api}` standing for the API's id.
        source_arn: String,
    },
    Deploy {
        api: ApiRef,
        stage: String,
        description: String,
    },
    Delete {
        id: String,
    },
}

pub(crate) struct RestApi;

/// Every API of the region, with its tags (`GetRestApis` lists them).
async fn listed(clients: &Clients) -> Result<Vec<(String, String, Tags)>, Error> {
    let items = clients
        .apigateway
        .get_rest_apis()
        .limit(500)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("apigateway:GET /restapis", e))?;
    Ok(items
        .iter()
        .filter_map(|api| {
            Some((
                api.id()?.to_string(),
                api.name()?.to_string(),
                crate::resources::tags::from_map(api.tags()),
            ))
        })
        .collect())
}

/// The id of the API `api` stands for; `None` when there is no such API.
async fn resolve(clients: &Clients, api: &ApiRef) -> Result<Option<String>, Error> {
    match api {
        ApiRef::Id(id) => Ok(Some(id.clone())),
        ApiRef::Named { name, tags } => Ok(listed(clients)
            .await?
            .into_iter()
            .find(|(_, n, t)| n == name && tags.iter().all(|(k, v)| t.get(k) == Some(v)))
            .map(|(id, ..)| id)),
    }
}

async fn resolved(clients: &Clients, api: &ApiRef) -> Result<String, Error> {
    resolve(clients, api).await?.ok_or_else(|| {
        Error::failed("the API to change is not there any more")
            .with_hint("re-run the same command: it makes the API again")
    })
}

/// The API's resources (path → id) and methods, every page.
async fn resources(
    clients: &Clients,
    id: &str,
) -> Result<
    (
        BTreeMap<String, String>,
        BTreeMap<(String, String), ObservedMethod>,
    ),
    Error,
> {
    let items = clients
        .apigateway
        .get_resources()
        .rest_api_id(id)
        .embed("methods")
        .limit(500)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("apigateway:GET /restapis/{id}/resources", e))?;
    let mut paths = BTreeMap::new();
    let mut methods = BTreeMap::new();
    for resource in &items {
        let (Some(path), Some(resource_id)) = (resource.path(), resource.id()) else {
            continue;
        };
        paths.insert(path.to_string(), resource_id.to_string());
        for (verb, method) in resource.resource_methods().into_iter().flatten() {
            let integration = method.method_integration().map(|i| {
                (
                    i.r#type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    i.http_method().unwrap_or_default().to_string(),
                    i.uri().unwrap_or_default().to_string(),
                )
            });
            methods.insert(
                (path.to_string(), verb.clone()),
                ObservedMethod {
                    authorization_type: method.authorization_type().unwrap_or("NONE").to_string(),
                    authorizer_id: method.authorizer_id().map(str::to_string),
                    integration,
                },
            );
        }
    }
    Ok((paths, methods))
}

/// The API's authorizers by name.
async fn authorizers(
    clients: &Clients,
    id: &str,
) -> Result<BTreeMap<String, ObservedAuthorizer>, Error> {
    let output = clients
        .apigateway
        .get_authorizers()
        .rest_api_id(id)
        .limit(500)
        .send()
        .await
        .map_err(|e| aws_error("apigateway:GET /restapis/{id}/authorizers", e))?;
    Ok(output
        .items()
        .iter()
        .filter_map(|a| {
            Some((
                a.name()?.to_string(),
                ObservedAuthorizer {
                    id: a.id()?.to_string(),
                    kind: a
                        .r#type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    provider_arns: a.provider_arns().to_vec(),
                },
            ))
        })
        .collect())
}

/// The API's stages, each with the description of the deployment it serves.
async fn stages(clients: &Clients, id: &str) -> Result<BTreeMap<String, String>, Error> {
    let output = clients
        .apigateway
        .get_stages()
        .rest_api_id(id)
        .send()
        .await
        .map_err(|e| aws_error("apigateway:GET /restapis/{id}/stages", e))?;
    let reads = output.item().iter().filter_map(|stage| {
        let name = stage.stage_name()?.to_string();
        let deployment = stage.deployment_id()?.to_string();
        Some(async move {
            let description = clients
                .apigateway
                .get_deployment()
                .rest_api_id(id)
                .deployment_id(&deployment)
                .send()
                .await
                .map(|d| d.description().unwrap_or_default().to_string());
            (name, description)
        })
    });
    let mut found = BTreeMap::new();
    for (name, description) in futures::future::join_all(reads).await {
        match description {
            Ok(description) => {
                found.insert(name, description);
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception()) =>
            {
                found.insert(name, String::new());
            }
            Err(e) => return Err(aws_error("apigateway:GET /restapis/{id}/deployments", e)),
        }
    }
    Ok(found)
}

/// Statement `sid` of function `name`'s resource policy; `None` when it has no such statement.
async fn permission(
    clients: &Clients,
    name: &str,
    sid: &str,
) -> Result<Option<ObservedPermission>, Error> {
    let output = match clients.lambda.get_policy().function_name(name).send().await {
        Ok(output) => output,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(aws_error("lambda:GetPolicy", e)),
    };
    let policy: Value = serde_json::from_str(output.policy().unwrap_or("{}")).unwrap_or_default();
    let statements = match &policy["Statement"] {
        Value::Array(statements) => statements.clone(),
        statement @ Value::Object(_) => vec![statement.clone()],
        _ => Vec::new(),
    };
    Ok(statements
        .iter()
        .find(|s| s["Sid"] == sid)
        .map(|statement| ObservedPermission {
            principal: match &statement["Principal"] {
                Value::String(p) => p.clone(),
                other => other["Service"].as_str().unwrap_or_default().to_string(),
            },
            action: statement["Action"].as_str().unwrap_or_default().to_string(),
            source_arn: statement["Condition"]["ArnLike"]["AWS:SourceArn"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }))
}

/// Reads API `id` whole: resources, methods, stages, and the route's permission.
async fn observe_api(
    clients: &Clients,
    (id, name, tags): (String, String, Tags),
    route: Option<&Route>,
) -> Result<ObservedApi, Error> {
    let statement = async {
        match route {
            Some(route) => {
                permission(clients, &route.function_name, &statement_id(&name, route)).await
            }
            None => Ok(None),
        }
    };
    let (found, stages, authorizers, permission) = tokio::join!(
        resources(clients, &id),
        stages(clients, &id),
        authorizers(clients, &id),
        statement
    );
    let (resources, methods) = found?;
    Ok(ObservedApi {
        region: clients
            .apigateway
            .config()
            .region()
            .map(ToString::to_string)
            .unwrap_or_default(),
        id,
        name,
        tags,
        resources,
        methods,
        stages: stages?,
        authorizers: authorizers?,
        permission: permission?,
    })
}

/// What the authorizer line does, and what that asks of the method line.
struct AuthorizerPlan {
    change: Option<Change>,
    /// The authorizer is made (again): the method must name the new one.
    remade: bool,
    /// The authorizer line removes the method first (to replace an authorizer in use).
    detaches: bool,
}

/// The authorizer line: made when `--auth` wants one and there is none; made again (the method
/// detached first) when it trusts another pool; removed (after the method no longer uses it)
/// when it is not wanted.
fn authorizer_changes(
    desired: &DesiredApi,
    current: Option<&ObservedApi>,
    api: &ApiRef,
    claims: &Claims,
) -> AuthorizerPlan {
    let route = &desired.route;
    let pool_ref = |name: &str| match &desired.authorizer {
        Some(DesiredAuthorizer {
            pool_arn: Some(arn),
            ..
        }) => crate::resources::user_pool::PoolRef::Id(
            arn.rsplit('/').next().unwrap_or(arn).to_string(),
        ),
        _ => crate::resources::user_pool::PoolRef::Named {
            name: name.to_string(),
            tags: claims.tags(),
        },
    };
    match &desired.authorizer {
        Some(wanted) => {
            let found = current.and_then(|c| c.authorizers.get(&wanted.name));
            let create = ApiOp::CreateAuthorizer {
                api: api.clone(),
                name: wanted.name.clone(),
                pool: pool_ref(&wanted.pool_name),
            };
            let after_pool = crate::resources::user_pool::USER_POOL.id(wanted.pool_name.clone());
            match found {
                None => AuthorizerPlan {
                    change: Some(
                        Change::new(AUTHORIZER, &wanted.name, Action::Create)
                            .with_detail(Detail::note(format!(
                                "Cognito user pool {}'s ID tokens",
                                wanted.pool_name
                            )))
                            .with_operations(vec![create.into()])
                            .after(after_pool),
                    ),
                    remade: true,
                    detaches: false,
                },
                Some(found)
                    if found.kind == "COGNITO_USER_POOLS"
                        && wanted
                            .pool_arn
                            .as_ref()
                            .is_some_and(|arn| found.provider_arns == [arn.clone()]) =>
                {
                    AuthorizerPlan {
                        change: Some(Change::unchanged(AUTHORIZER, &wanted.name)),
                        remade: false,
                        detaches: false,
                    }
                }
                Some(found) => AuthorizerPlan {
                    change: Some(
                        Change::new(AUTHORIZER, &wanted.name, Action::Update)
                            .with_detail(Detail::Drift(Drift::Setting {
                                setting: "trusts",
                                current: format!(
                                    "{} {}",
                                    found.kind,
                                    found.provider_arns.join(" ")
                                ),
                                desired: format!("COGNITO_USER_POOLS {}", wanted.pool_name),
                            }))
                            .with_operations(vec![
                                ApiOp::DeleteMethod {
                                    api: api.clone(),
                                    path_part: route.path_part.clone(),
                                    http_method: route.http_method.clone(),
                                }
                                .into(),
                                ApiOp::DeleteAuthorizer {
                                    api: api.clone(),
                                    authorizer_id: found.id.clone(),
                                }
                                .into(),
                                create.into(),
                            ])
                            .after(after_pool),
                    ),
                    remade: true,
                    detaches: current.is_some_and(|c| {
                        c.methods.contains_key(&(
                            format!("/{}", route.path_part),
                            route.http_method.clone(),
                        ))
                    }),
                },
            }
        }
        None => {
            let name = format!("{}-users", desired.name);
            let found = current.and_then(|c| c.authorizers.get(&name));
            AuthorizerPlan {
                change: found.map(|found| {
                    Change::new(AUTHORIZER, &name, Action::Delete)
                        .with_detail(Detail::note("the API is open without --auth"))
                        .with_operations(vec![
                            ApiOp::DeleteAuthorizer {
                                api: api.clone(),
                                authorizer_id: found.id.clone(),
                            }
                            .into(),
                        ])
                        .after(METHOD.id(desired.method_name()))
                }),
                remade: false,
                detaches: false,
            }
        }
    }
}

/// The method line's changes: the resource, the method (its authorization) and the integration
/// as they should be, after what the authorizer line does (`authorizer`).
fn method_changes(
    desired: &DesiredApi,
    current: Option<&ObservedApi>,
    api: &ApiRef,
    authorizer: &AuthorizerPlan,
) -> Option<(Vec<Detail>, Vec<crate::resources::Operation>)> {
    let route = &desired.route;
    let path = format!("/{}", route.path_part);
    let uri = desired.integration_uri();
    let mut details = Vec::new();
    let mut operations: Vec<crate::resources::Operation> = Vec::new();
    let has_resource = current.is_some_and(|c| c.resources.contains_key(&path));
    if !has_resource {
        operations.push(
            ApiOp::CreateResource {
                api: api.clone(),
                path_part: route.path_part.clone(),
            }
            .into(),
        );
    }
    let put = ApiOp::PutMethod {
        api: api.clone(),
        path_part: route.path_part.clone(),
        http_method: route.http_method.clone(),
        authorizer: desired.authorizer.as_ref().map(|a| a.name.clone()),
    };
    let method = current.and_then(|c| c.methods.get(&(path.clone(), route.http_method.clone())));
    // The authorizer the method should name, as observed (none while it is to be made).
    let wanted_authorizer = desired
        .authorizer
        .as_ref()
        .and_then(|a| current.and_then(|c| c.authorizers.get(&a.name)))
        .map(|a| a.id.clone());
    let authorization_text = |m: &ObservedMethod| {
        let name = m.authorizer_id.as_ref().and_then(|id| {
            current.and_then(|c| {
                c.authorizers
                    .iter()
                    .find(|(_, a)| a.id == *id)
                    .map(|(n, _)| n.clone())
            })
        });
        match (m.authorization_type.as_str(), name) {
            ("NONE", _) => "NONE".to_string(),
            (kind, Some(name)) => format!("{kind} {name}"),
            (kind, None) => match &m.authorizer_id {
                Some(id) => format!("{kind} (authorizer {id}, not there)"),
                None => kind.to_string(),
            },
        }
    };
    let mut put_integration = true;
    match method {
        None => {
            if current.is_some() {
                details.push(Detail::note("the method is missing"));
            }
            operations.push(put.into());
        }
        Some(_) if authorizer.detaches => operations.push(put.into()),
        Some(method)
            if authorizer.remade
                || method.authorization_type != desired.authorization_type()
                || (desired.authorizer.is_some() && method.authorizer_id != wanted_authorizer) =>
        {
            details.push(Detail::Drift(Drift::Setting {
                setting: "authorization",
                current: authorization_text(method),
                desired: desired.authorization_words(),
            }));
            operations.push(
                ApiOp::DeleteMethod {
                    api: api.clone(),
                    path_part: route.path_part.clone(),
                    http_method: route.http_method.clone(),
                }
                .into(),
            );
            operations.push(put.into());
        }
        Some(_) => put_integration = false,
    }
    let wanted = ("AWS_PROXY".to_string(), "POST".to_string(), uri.clone());
    let integration = method.and_then(|m| m.integration.as_ref());
    if put_integration || integration != Some(&wanted) {
        if let Some((kind, verb, current_uri)) = integration
            && integration != Some(&wanted)
        {
            details.push(Detail::Drift(Drift::Setting {
                setting: "integration",
                current: format!("{kind} {verb} {current_uri}"),
                desired: format!("AWS_PROXY POST {uri}"),
            }));
        }
        operations.push(
            ApiOp::PutIntegration {
                api: api.clone(),
                path_part: route.path_part.clone(),
                http_method: route.http_method.clone(),
                uri,
            }
            .into(),
        );
    }
    (!operations.is_empty()).then_some((details, operations))
}

impl Resource for RestApi {
    const KINDS: &'static [Kind] = &[REST_API, AUTHORIZER, METHOD, INVOKE_PERMISSION, DEPLOYMENT];

    type Query = ApiQuery;
    /// Every API of the name that carries provision's tags (of any owner).
    type Observation = Vec<ObservedApi>;
    type Desired = DesiredApi;
    type Observed = ObservedApi;
    type Op = ApiOp;

    async fn observe(clients: &Clients, query: &ApiQuery) -> Result<Vec<ObservedApi>, Error> {
        let ours = listed(clients)
            .await?
            .into_iter()
            .filter(|(_, name, tags)| *name == query.name && ownership::is_managed(tags));
        futures::future::join_all(ours.map(|api| observe_api(clients, api, query.route.as_ref())))
            .await
            .into_iter()
            .collect()
    }

    /// The API, then its method and integration, the permission and the deployment, each
    /// waiting for what it needs.
    fn plan(
        desired: Option<&DesiredApi>,
        observed: Option<&ObservedApi>,
        claims: &Claims,
    ) -> Result<Vec<Change>, Error> {
        let Some(desired) = desired else {
            return Ok(observed
                .map(|current| {
                    claims
                        .delete_if_ours(&current.tags, REST_API, &current.name, None, || {
                            vec![
                                ApiOp::Delete {
                                    id: current.id.clone(),
                                }
                                .into(),
                            ]
                        })
                        .with_detail(Detail::note(format!(
                            "{}, with its methods and stages",
                            current.id
                        )))
                })
                .into_iter()
                .collect());
        };
        let name = &desired.name;
        let api_line = REST_API.id(name.clone());
        let mut changes = Vec::new();
        let api = match observed {
            None => {
                changes.push(
                    Change::new(REST_API, name, Action::Create)
                        .with_detail(Detail::note("regional"))
                        .with_operations(vec![
                            ApiOp::Create {
                                name: name.clone(),
                                description: desired.description.clone(),
                                tags: claims.tags(),
                            }
                            .into(),
                        ]),
                );
                ApiRef::Named {
                    name: name.clone(),
                    tags: claims.tags(),
                }
            }
            Some(current) => {
                claims.claim(REST_API, name, &current.tags, || {
                    ownership::not_ours("REST API", name, &current.id)
                })?;
                changes.push(
                    Change::unchanged(REST_API, name).with_detail(Detail::note(current.id.clone())),
                );
                ApiRef::Id(current.id.clone())
            }
        };
        let creating = observed.is_none();
        let after_api = |change: Change| match creating {
            true => vec![change.after(api_line.clone())],
            false => vec![change],
        };

        let authorizer = authorizer_changes(desired, observed, &api, claims);
        let method_line = desired.method_name();
        let mut authorizer_line = None;
        if let Some(change) = &authorizer.change {
            // A new or remade authorizer comes before the method that names it; one removed,
            // after the method no longer does.
            if change.action != Action::Delete {
                authorizer_line = Some(change.id());
                changes.extend(after_api(change.clone()));
            }
        }
        let method = match method_changes(desired, observed, &api, &authorizer) {
            Some((details, operations)) => Change::new(
                METHOD,
                &method_line,
                match observed.is_some_and(|c| {
                    c.methods.contains_key(&(
                        format!("/{}", desired.route.path_part),
                        desired.route.http_method.clone(),
                    ))
                }) {
                    true => Action::Update,
                    false => Action::Create,
                },
            )
            .with_details(details)
            .with_operations(operations)
            .after(crate::resources::function::FUNCTION.id(desired.route.function_name.clone())),
            None => Change::unchanged(METHOD, &method_line),
        };
        let method = match (&authorizer_line, method.operations.is_empty()) {
            (Some(line), false) => method.after(line.clone()),
            _ => method,
        };
        let method_changed = !method.operations.is_empty();
        changes.extend(after_api(method));
        if let Some(change) = authorizer.change
            && change.action == Action::Delete
        {
            changes.extend(after_api(change));
        }

        let statement_id = desired.statement_id();
        let function = &desired.route.function_name;
        let source = |id: &str| desired.source_arn(id);
        let wanted = observed.map(|c| ObservedPermission {
            principal: "apigateway.amazonaws.com".into(),
            action: "lambda:InvokeFunction".into(),
            source_arn: source(&c.id),
        });
        let current_permission = observed.and_then(|c| c.permission.as_ref());
        let permission_line = format!("{function} from {name}");
        let permission = match (current_permission, &wanted) {
            (Some(current), Some(wanted)) if current == wanted => {
                Change::unchanged(INVOKE_PERMISSION, &permission_line)
            }
            (current, _) => {
                let mut operations: Vec<crate::resources::Operation> = Vec::new();
                let mut details = Vec::new();
                if let Some(current) = current {
                    details.push(Detail::Drift(Drift::Setting {
                        setting: "allows",
                        current: format!("{} from {}", current.principal, current.source_arn),
                        desired: format!(
                            "apigateway.amazonaws.com from {}",
                            wanted
                                .as_ref()
                                .map_or_else(|| source("API"), |w| w.source_arn.clone())
                        ),
                    }));
                    operations.push(
                        ApiOp::RemovePermission {
                            function_name: function.clone(),
                            statement_id: statement_id.clone(),
                        }
                        .into(),
                    );
                } else {
                    details.push(Detail::note(format!(
                        "API Gateway may invoke it from {}",
                        source(observed.map_or("API", |c| c.id.as_str()))
                    )));
                }
                operations.push(
                    ApiOp::AddPermission {
                        function_name: function.clone(),
                        statement_id: statement_id.clone(),
                        api: api.clone(),
                        source_arn: source("{api}"),
                    }
                    .into(),
                );
                Change::new(
                    INVOKE_PERMISSION,
                    &permission_line,
                    match current.is_some() {
                        true => Action::Update,
                        false => Action::Create,
                    },
                )
                .with_details(details)
                .with_operations(operations)
                .after(crate::resources::function::FUNCTION.id(function.clone()))
            }
        };
        changes.extend(after_api(permission));

        let description = desired.deployment_description();
        let deployed = observed.and_then(|c| c.stages.get(&desired.stage));
        let deployment_line = desired.deployment_name();
        let deployment = match deployed {
            Some(current) if *current == description && !method_changed => {
                Change::unchanged(DEPLOYMENT, &deployment_line)
            }
            current => {
                let detail = match current {
                    None => Detail::note(format!("stage {} made with it", desired.stage)),
                    Some(current) if current.starts_with(DEPLOYMENT_MARK) => {
                        Detail::note("the wiring changed since the last deployment")
                    }
                    Some(_) => Detail::note("the stage serves a deployment provision did not make"),
                };
                let mut change = Change::new(
                    DEPLOYMENT,
                    &deployment_line,
                    match current.is_some() {
                        true => Action::Update,
                        false => Action::Create,
                    },
                )
                .with_detail(detail)
                .with_operations(vec![
                    ApiOp::Deploy {
                        api: api.clone(),
                        stage: desired.stage.clone(),
                        description,
                    }
                    .into(),
                ]);
                if method_changed {
                    change = change.after(METHOD.id(method_line.clone()));
                }
                change
            }
        };
        changes.extend(after_api(deployment));
        Ok(changes)
    }

    async fn execute(clients: &Clients, op: &ApiOp, report: Report<'_>) -> Result<Executed, Error> {
        let gateway = &clients.apigateway;
        match op {
            ApiOp::Create {
                name,
                description,
                tags,
            } => return create(clients, name, description, tags, report).await,
            ApiOp::CreateResource { api, path_part } => {
                let id = resolved(clients, api).await?;
                let (paths, _) = resources(clients, &id).await?;
                if paths.contains_key(&format!("/{path_part}")) {
                    return Ok(Executed::default());
                }
                let root = paths
                    .get("/")
                    .ok_or_else(|| Error::failed(format!("API {id} has no root resource")))?;
                // A conflict is the resource made meanwhile (a lost answer retried): done.
                settled(
                    "apigateway:CreateResource",
                    gateway
                        .create_resource()
                        .rest_api_id(&id)
                        .parent_id(root)
                        .path_part(path_part)
                        .send()
                        .await,
                    |s| s.is_conflict_exception(),
                )?
            }
            ApiOp::PutMethod {
                api,
                path_part,
                http_method,
                authorizer,
            } => {
                let (id, resource) = resource_of(clients, api, path_part).await?;
                let authorizer_id = match authorizer {
                    Some(name) => Some(
                        authorizers(clients, &id)
                            .await?
                            .remove(name)
                            .map(|a| a.id)
                            .ok_or_else(|| {
                                Error::failed(format!("API {id} has no authorizer {name}"))
                                    .with_hint("re-run the same command: it makes the authorizer")
                            })?,
                    ),
                    None => None,
                };
                let kind = match authorizer_id {
                    Some(_) => "COGNITO_USER_POOLS",
                    None => "NONE",
                };
                // A conflict is the method put already (a lost answer retried): done.
                settled(
                    "apigateway:PutMethod",
                    gateway
                        .put_method()
                        .rest_api_id(&id)
                        .resource_id(resource)
                        .http_method(http_method)
                        .authorization_type(kind)
                        .set_authorizer_id(authorizer_id)
                        .send()
                        .await,
                    |s| s.is_conflict_exception(),
                )?
            }
            ApiOp::DeleteMethod {
                api,
                path_part,
                http_method,
            } => {
                let id = resolved(clients, api).await?;
                let (paths, _) = resources(clients, &id).await?;
                let Some(resource) = paths.get(&format!("/{path_part}")) else {
                    return Ok(Executed::default());
                };
                settled(
                    "apigateway:DeleteMethod",
                    gateway
                        .delete_method()
                        .rest_api_id(&id)
                        .resource_id(resource)
                        .http_method(http_method)
                        .send()
                        .await,
                    |s| s.is_not_found_exception(),
                )?
            }
            ApiOp::CreateAuthorizer { api, name, pool } => {
                let id = resolved(clients, api).await?;
                if authorizers(clients, &id).await?.contains_key(name) {
                    return Ok(Executed::default());
                }
                let Some((_, pool_arn)) =
                    crate::resources::user_pool::resolve(clients, pool).await?
                else {
                    return Err(Error::failed(format!(
                        "the user pool of authorizer {name} is not there any more"
                    ))
                    .with_hint("re-run the same command: it makes the pool again"));
                };
                return crate::resources::lifecycle::create_once(
                    "apigateway:CreateAuthorizer",
                    &format!("authorizer {name}"),
                    Duration::from_secs(1),
                    report,
                    || async {
                        gateway
                            .create_authorizer()
                            .rest_api_id(&id)
                            .name(name)
                            .r#type(aws_sdk_apigateway::types::AuthorizerType::CognitoUserPools)
                            .provider_arns(&pool_arn)
                            .identity_source("method.request.header.Authorization")
                            .customize()
                            .config_override(once())
                            .send()
                            .await
                            .map(|created| Executed {
                                resource_id: created.id().map(str::to_string),
                            })
                    },
                    || async {
                        Ok(authorizers(clients, &id)
                            .await?
                            .remove(name)
                            .map(|a| Executed {
                                resource_id: Some(a.id),
                            }))
                    },
                )
                .await;
            }
            ApiOp::DeleteAuthorizer { api, authorizer_id } => {
                let id = resolved(clients, api).await?;
                settled(
                    "apigateway:DeleteAuthorizer",
                    gateway
                        .delete_authorizer()
                        .rest_api_id(&id)
                        .authorizer_id(authorizer_id)
                        .send()
                        .await,
                    |s| s.is_not_found_exception(),
                )?
            }
            ApiOp::PutIntegration {
                api,
                path_part,
                http_method,
                uri,
            } => {
                let (id, resource) = resource_of(clients, api, path_part).await?;
                sent(
                    "apigateway:PutIntegration",
                    gateway
                        .put_integration()
                        .rest_api_id(&id)
                        .resource_id(resource)
                        .http_method(http_method)
                        .r#type(IntegrationType::AwsProxy)
                        .integration_http_method("POST")
                        .uri(uri)
                        .send()
                        .await,
                )?;
            }
            ApiOp::RemovePermission {
                function_name,
                statement_id,
            } => settled(
                "lambda:RemovePermission",
                clients
                    .lambda
                    .remove_permission()
                    .function_name(function_name)
                    .statement_id(statement_id)
                    .send()
                    .await,
                |s| s.is_resource_not_found_exception(),
            )?,
            ApiOp::AddPermission {
                function_name,
                statement_id,
                api,
                source_arn,
            } => {
                let id = resolved(clients, api).await?;
                let source_arn = source_arn.replace("{api}", &id);
                match clients
                    .lambda
                    .add_permission()
                    .function_name(function_name)
                    .statement_id(statement_id)
                    .action("lambda:InvokeFunction")
                    .principal("apigateway.amazonaws.com")
                    .source_arn(&source_arn)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    // The statement is there already (a lost answer retried): done if it is this
                    // one.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_conflict_exception()) =>
                    {
                        let found = permission(clients, function_name, statement_id).await?;
                        if found.is_none_or(|p| p.source_arn != source_arn) {
                            return Err(aws_error("lambda:AddPermission", e));
                        }
                    }
                    Err(e) => return Err(aws_error("lambda:AddPermission", e)),
                }
            }
            ApiOp::Deploy {
                api,
                stage,
                description,
            } => {
                let id = resolved(clients, api).await?;
                let output = gateway
                    .create_deployment()
                    .rest_api_id(&id)
                    .stage_name(stage)
                    .description(description)
                    .send()
                    .await
                    .map_err(|e| aws_error("apigateway:CreateDeployment", e))?;
                return Ok(Executed {
                    resource_id: output.id().map(str::to_string),
                });
            }
            ApiOp::Delete { id } => settled(
                "apigateway:DeleteRestApi",
                gateway.delete_rest_api().rest_api_id(id).send().await,
                |s| s.is_not_found_exception(),
            )?,
        }
        Ok(Executed::default())
    }
}

/// The API's id and the id of its resource `/path_part`.
async fn resource_of(
    clients: &Clients,
    api: &ApiRef,
    path_part: &str,
) -> Result<(String, String), Error> {
    let id = resolved(clients, api).await?;
    let (paths, _) = resources(clients, &id).await?;
    let resource = paths
        .get(&format!("/{path_part}"))
        .cloned()
        .ok_or_else(|| {
            Error::failed(format!("API {id} has no resource /{path_part}"))
                .with_hint("re-run the same command: it makes the resource again")
        })?;
    Ok((id, resource))
}

/// Creates the API once (see `create_once`: API Gateway allows many APIs of one name).
async fn create(
    clients: &Clients,
    name: &str,
    description: &str,
    tags: &Tags,
    report: Report<'_>,
) -> Result<Executed, Error> {
    let api = ApiRef::Named {
        name: name.to_string(),
        tags: tags.clone(),
    };
    // CreateRestApi is limited to one request every 3 seconds per account ("Amazon API Gateway
    // quotas", API Gateway Developer Guide).
    crate::resources::lifecycle::create_once(
        "apigateway:CreateRestApi",
        &format!("API {name}"),
        Duration::from_secs(3),
        report,
        || async {
            clients
                .apigateway
                .create_rest_api()
                .name(name)
                .description(description)
                .endpoint_configuration(
                    EndpointConfiguration::builder()
                        .types(EndpointType::Regional)
                        .build(),
                )
                .set_tags(Some(crate::resources::tags::to_map(tags)))
                .customize()
                .config_override(once())
                .send()
                .await
                .map(|output| Executed {
                    resource_id: output.id().map(str::to_string),
                })
        },
        || async {
            Ok(resolve(clients, &api).await?.map(|id| Executed {
                resource_id: Some(id),
            }))
        },
    )
    .await
}

impl Lifecycle for RestApi {
    const KIND: Kind = REST_API;
    const MADE_BY: &'static [Part] = &[Part::DragonsApi];
    const NEEDS: &'static [Kind] = &[
        crate::resources::function::FUNCTION,
        crate::resources::user_pool::USER_POOL,
    ];
    const CREATED_BY: CreatedBy = CreatedBy::Event {
        name: "CreateRestApi",
        recorded: Events::InItsRegion,
    };
    const CLOUDFORMATION: CloudFormation = CloudFormation::Type("AWS::ApiGateway::RestApi");

    /// By name; provision's APIs carry its tags.
    type Found = BTreeMap<String, ObservedApi>;

    async fn discover(discovery: &Discovery<'_>) -> Result<Self::Found, Error> {
        let ours = listed(discovery.clients)
            .await?
            .into_iter()
            .filter(|(_, _, tags)| {
                tags.get(MANAGED_BY_KEY).map(String::as_str) == Some(MANAGED_BY_VALUE)
            });
        let found =
            futures::future::join_all(ours.map(|api| observe_api(discovery.clients, api, None)))
                .await;
        let mut apis = BTreeMap::new();
        for api in found {
            let api = api?;
            apis.insert(api.name.clone(), api);
        }
        Ok(apis)
    }

    /// Each API's permission on the function it calls (the first route's, from its URI).
    async fn complete(
        discovery: &Discovery<'_>,
        observed: &mut ObservedState,
    ) -> Result<(), Error> {
        for api in observed.apis.values_mut() {
            let Some(((path, verb), function)) = api.methods.iter().find_map(|(key, method)| {
                let (_, _, uri) = method.integration.as_ref()?;
                let function = uri.split(":function:").nth(1)?.split('/').next()?;
                Some((key.clone(), function.to_string()))
            }) else {
                continue;
            };
            let route = Route {
                path_part: path.trim_start_matches('/').to_string(),
                http_method: verb,
                function_name: function.clone(),
                function_arn: String::new(),
            };
            api.permission = permission(
                discovery.clients,
                &function,
                &statement_id(&api.name, &route),
            )
            .await?;
        }
        Ok(())
    }

    fn inventory(found: &Self::Found) -> Vec<Inventoried<'_>> {
        inventory_in_region(found)
    }

    fn retain(found: &mut Self::Found, keep: &mut dyn FnMut(&str, &Tags) -> bool) {
        retain_by_name(found, keep);
    }

    fn removal(observed: &ObservedState, _: Keep, claims: &Claims) -> Result<Vec<Change>, Error> {
        crate::resources::lifecycle::remove_each::<RestApi>(observed.apis.values(), claims)
    }

    fn rows(rows: &mut Rows<'_>) -> Result<(), Error> {
        rows.planned::<RestApi>(
            REST_API,
            &rows.expected.apis,
            |a| a.name.as_str(),
            &rows.observed.apis,
            |api| {
                vec![format!(
                    "{}, stages {}",
                    api.id,
                    api.stages.keys().cloned().collect::<Vec<_>>().join(", ")
                )]
            },
        )
    }
}

/// One attempt: for the creates `create_once` repeats itself (as `user_pool::once`).
fn once() -> aws_sdk_apigateway::config::Builder {
    aws_sdk_apigateway::config::Builder::default()
        .retry_config(crate::connection::clients::single_attempt())
}

impl Tagged for ObservedApi {
    fn name(&self) -> &str {
        &self.name
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

impl Regional for ObservedApi {
    fn region(&self) -> &str {
        &self.region
    }
}

#[cfg(test)]
impl crate::resources::simulated::Simulated for RestApi {
    fn simulate(
        op: &ApiOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        let serial = world.next_serial();
        let apis = &mut world.observed.apis;
        let find = |apis: &mut BTreeMap<String, ObservedApi>, api: &ApiRef| -> Option<String> {
            apis.values()
                .find(|a| match api {
                    ApiRef::Id(id) => a.id == *id,
                    ApiRef::Named { name, .. } => a.name == *name,
                })
                .map(|a| a.name.clone())
        };
        match op {
            ApiOp::Create { name, tags, .. } => {
                let id = format!("api{serial:07}");
                apis.entry(name.clone()).or_insert_with(|| ObservedApi {
                    id: id.clone(),
                    name: name.clone(),
                    region: "us-east-1".into(),
                    tags: tags.clone(),
                    resources: BTreeMap::from([("/".to_string(), format!("root{serial}"))]),
                    ..ObservedApi::default()
                });
                return Ok(Executed {
                    resource_id: Some(id),
                });
            }
            ApiOp::CreateResource { api, path_part } => {
                let name = find(apis, api).ok_or("NotFoundException")?;
                let current = apis.get_mut(&name).ok_or("NotFoundException")?;
                current
                    .resources
                    .insert(format!("/{path_part}"), format!("res{serial}"));
            }
            ApiOp::PutMethod {
                api,
                path_part,
                http_method,
                authorizer,
            } => {
                let name = find(apis, api).ok_or("NotFoundException")?;
                let current = apis.get_mut(&name).ok_or("NotFoundException")?;
                let authorizer_id = match authorizer {
                    Some(a) => Some(
                        current
                            .authorizers
                            .get(a)
                            .map(|a| a.id.clone())
                            .ok_or("NotFoundException")?,
                    ),
                    None => None,
                };
                current
                    .methods
                    .entry((format!("/{path_part}"), http_method.clone()))
                    .or_insert(ObservedMethod {
                        authorization_type: match authorizer_id {
                            Some(_) => "COGNITO_USER_POOLS".into(),
                            None => "NONE".into(),
                        },
                        authorizer_id,
                        integration: None,
                    });
            }
            ApiOp::DeleteMethod {
                api,
                path_part,
                http_method,
            } => {
                let name = find(apis, api).ok_or("NotFoundException")?;
                let current = apis.get_mut(&name).ok_or("NotFoundException")?;
                current
                    .methods
                    .remove(&(format!("/{path_part}"), http_method.clone()));
            }
            ApiOp::CreateAuthorizer { api, name, pool } => {
                let api_name = find(apis, api).ok_or("NotFoundException")?;
                let pool_arn = match pool {
                    crate::resources::user_pool::PoolRef::Id(id) => {
                        format!("arn:aws:cognito-idp:us-east-1:123456789012:userpool/{id}")
                    }
                    crate::resources::user_pool::PoolRef::Named { name, .. } => world
                        .observed
                        .user_pools
                        .get(name)
                        .map(|p| p.arn.clone())
                        .ok_or("ResourceNotFoundException")?,
                };
                let current = world
                    .observed
                    .apis
                    .get_mut(&api_name)
                    .ok_or("NotFoundException")?;
                current.authorizers.insert(
                    name.clone(),
                    ObservedAuthorizer {
                        id: format!("auth{serial}"),
                        kind: "COGNITO_USER_POOLS".into(),
                        provider_arns: vec![pool_arn],
                    },
                );
            }
            ApiOp::DeleteAuthorizer { api, authorizer_id } => {
                let name = find(apis, api).ok_or("NotFoundException")?;
                let current = apis.get_mut(&name).ok_or("NotFoundException")?;
                current.authorizers.retain(|_, a| a.id != *authorizer_id);
            }
            ApiOp::PutIntegration {
                api,
                path_part,
                http_method,
                uri,
            } => {
                let name = find(apis, api).ok_or("NotFoundException")?;
                let current = apis.get_mut(&name).ok_or("NotFoundException")?;
                let method = current
                    .methods
                    .get_mut(&(format!("/{path_part}"), http_method.clone()))
                    .ok_or("NotFoundException")?;
                method.integration = Some(("AWS_PROXY".into(), "POST".into(), uri.clone()));
            }
            ApiOp::RemovePermission { .. } => {
                for api in apis.values_mut() {
                    api.permission = None;
                }
            }
            ApiOp::AddPermission {
                api, source_arn, ..
            } => {
                let name = find(apis, api).ok_or("NotFoundException")?;
                let current = apis.get_mut(&name).ok_or("NotFoundException")?;
                current.permission = Some(ObservedPermission {
                    principal: "apigateway.amazonaws.com".into(),
                    action: "lambda:InvokeFunction".into(),
                    source_arn: source_arn.replace("{api}", &current.id),
                });
            }
            ApiOp::Deploy {
                api,
                stage,
                description,
            } => {
                let name = find(apis, api).ok_or("NotFoundException")?;
                let current = apis.get_mut(&name).ok_or("NotFoundException")?;
                current.stages.insert(stage.clone(), description.clone());
            }
            ApiOp::Delete { id } => apis.retain(|_, a| a.id != *id),
        }
        Ok(Executed::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ownership::{managed_tags, test_claims};
    use crate::resources::simulated::World;

    fn desired() -> DesiredApi {
        DesiredApi {
            name: "dragons-api".into(),
            description: "the dragons".into(),
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            route: Route {
                path_part: "dragons".into(),
                http_method: "GET".into(),
                function_name: "dragons-api".into(),
                function_arn: "arn:aws:lambda:us-east-1:123456789012:function:dragons-api".into(),
            },
            stage: "prod".into(),
            authorizer: None,
        }
    }

    /// Plans, applies in the account in memory, and plans again: `rounds` times at most, until
    /// nothing is left to do. Returns the lines of the first plan.
    fn converge(world: &mut World, desired: &DesiredApi) -> Vec<String> {
        let claims = test_claims(false);
        let mut first = None;
        for _ in 0..3 {
            let current = world.observed.apis.get(&desired.name).cloned();
            let changes = RestApi::plan(Some(desired), current.as_ref(), &claims).expect("plans");
            first.get_or_insert_with(|| changes.iter().map(Change::line).collect::<Vec<_>>());
            let operations: Vec<_> = changes.iter().flat_map(|c| c.operations.clone()).collect();
            if operations.is_empty() {
                return first.unwrap_or_default();
            }
            for operation in &operations {
                crate::resources::simulate(operation, world).expect("applies");
            }
        }
        panic!("the API did not converge");
    }

    #[test]
    fn a_new_api_gets_its_method_integration_permission_and_stage_then_nothing_more() {
        let mut world = World::new(ObservedState::default());
        let desired = desired();
        let lines = converge(&mut world, &desired);
        assert_eq!(
            lines,
            vec![
                "+ create    apigateway-rest-api dragons-api (regional)",
                "+ create    apigateway-method dragons-api GET /dragons",
                "+ create    lambda-permission dragons-api from dragons-api (API Gateway may \
                 invoke it from arn:aws:execute-api:us-east-1:123456789012:API/*/GET/dragons)",
                "+ create    apigateway-deployment dragons-api/prod (stage prod made with it)",
            ]
        );
        let api = &world.observed.apis["dragons-api"];
        assert_eq!(
            api.permission.as_ref().map(|p| p.source_arn.clone()),
            Some(desired.source_arn(&api.id))
        );
        assert_eq!(api.stages["prod"], desired.deployment_description());
    }

    #[test]
    fn an_integration_pointed_elsewhere_is_put_back_without_a_new_deployment() {
        let mut world = World::new(ObservedState::default());
        let desired = desired();
        converge(&mut world, &desired);
        let api = world.observed.apis.get_mut("dragons-api").expect("api");
        let method = api
            .methods
            .get_mut(&("/dragons".to_string(), "GET".to_string()))
            .expect("method");
        method.integration = Some(("HTTP".into(), "GET".into(), "https://example.com".into()));
        let current = world.observed.apis.get("dragons-api").cloned();
        let changes =
            RestApi::plan(Some(&desired), current.as_ref(), &test_claims(false)).expect("plans");
        let method = changes
            .iter()
            .find(|c| c.kind == METHOD)
            .expect("method line");
        assert!(
            method.line().contains(
                "integration HTTP GET https://example.com → AWS_PROXY POST arn:aws:apigateway"
            ),
            "{}",
            method.line()
        );
        // The method changed: the stage is deployed again, after it.
        let deployment = changes.iter().find(|c| c.kind == DEPLOYMENT).expect("line");
        assert_eq!(deployment.action, Action::Update);
    }

    #[test]
    fn a_permission_from_another_source_is_replaced_and_another_owner_s_api_refused() {
        let mut world = World::new(ObservedState::default());
        let desired = desired();
        converge(&mut world, &desired);
        let api = world.observed.apis.get_mut("dragons-api").expect("api");
        if let Some(permission) = api.permission.as_mut() {
            permission.source_arn = "arn:aws:execute-api:us-east-1:123456789012:*".into();
        }
        let current = world.observed.apis.get("dragons-api").cloned();
        let changes =
            RestApi::plan(Some(&desired), current.as_ref(), &test_claims(false)).expect("plans");
        let permission = changes
            .iter()
            .find(|c| c.kind == INVOKE_PERMISSION)
            .expect("line");
        assert!(matches!(
            &permission.operations[..],
            [
                crate::resources::Operation::RestApi(ApiOp::RemovePermission { .. }),
                crate::resources::Operation::RestApi(ApiOp::AddPermission { .. })
            ]
        ));
        let mut theirs = current.clone().expect("api");
        theirs.tags = managed_tags();
        theirs
            .tags
            .insert(ownership::OWNER_KEY.to_string(), "someone-else".into());
        let error =
            RestApi::plan(Some(&desired), Some(&theirs), &test_claims(false)).expect_err("theirs");
        assert!(error.message().contains("someone-else"), "{error}");
    }
}
