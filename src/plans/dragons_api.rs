//! `dragons-api`: the course's next lab — `GET /dragons` through API Gateway and Lambda, on the
//! Dragons lab's data. The function's role (trusting Lambda; reading exactly the lab's two
//! parameters and its data object, writing its own log group), the function (the embedded
//! `functions/list_dragons`, packaged reproducibly), and the REST API with its method, the
//! function's permission for it and the stage's deployment.
//!
//! The lab's data must be there first: the function reads the bucket and key from the two
//! parameters `dragons-lab` writes, and the role's policy names that object — so the command
//! reads the parameters and refuses, with the command to run, when they are missing.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::connection::aws::Aws;
use crate::connection::clients::Clients;
use crate::course::function_package;
use crate::course::lab::{FUNCTION_ROLE_PATH, INLINE_POLICY_NAME, Target, parameter_names};
use crate::engine::plan::wait_for;
use crate::error::Error;
use crate::input::{BucketName, ObjectKey};
use crate::plans::ObservedState;
use crate::resources::function::{Code, Configuration, DesiredFunction, FUNCTION, Function};
use crate::resources::iam_role::{DesiredRole, ROLE, Role, RoleQuery};
use crate::resources::ownership::Claims;
use crate::resources::parameter::Parameter;
use crate::resources::rest_api::{ApiQuery, DesiredApi, DesiredAuthorizer, RestApi, Route};
use crate::resources::user_pool::{DesiredPool, PasswordPolicy, USER_POOL, UserPool};
use crate::resources::{Expected, Plan, Resource};
use crate::settings::{DEFAULT_API_NAME, DragonsApiArgs, Lab};

/// The Lambda runtime the functions run on: a current Python ("Lambda runtimes", Lambda
/// Developer Guide).
pub(crate) const RUNTIME: &str = "python3.14";
/// The route the course's page calls.
pub(crate) const PATH_PART: &str = "dragons";

/// The command's input, checked before any AWS call.
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    pub(crate) name: String,
    pub(crate) stage: String,
    pub(crate) package: Arc<function_package::Package>,
    /// `--auth`: a Cognito user pool, its app client and an authorizer on the route.
    pub(crate) auth: bool,
    /// `--existing-role`: the function runs as this role, as it is (a lab account's LabRole).
    pub(crate) existing_role: Option<String>,
    adopt: bool,
    take_over: bool,
}

impl Inputs {
    pub(crate) fn from_args(args: &DragonsApiArgs) -> Result<Self, Error> {
        Ok(Self {
            name: args.name.as_str().to_string(),
            stage: args.stage.as_str().to_string(),
            package: Arc::new(function_package::list_dragons()?),
            auth: args.auth,
            existing_role: args.existing_role.as_ref().map(|r| r.as_str().to_string()),
            adopt: args.adopt.adopt,
            take_over: args.adopt.take_over,
        })
    }

    /// What `dragons-api` makes by default — the state `status` compares with.
    pub(crate) fn defaults() -> Result<Self, Error> {
        Ok(Self {
            name: DEFAULT_API_NAME.to_string(),
            stage: "prod".to_string(),
            package: Arc::new(function_package::list_dragons()?),
            auth: false,
            existing_role: None,
            adopt: true,
            take_over: true,
        })
    }

    /// The function's role: `--existing-role`, else `NAME-function`.
    pub(crate) fn role_name(&self) -> String {
        self.existing_role
            .clone()
            .unwrap_or_else(|| format!("{}-function", self.name))
    }
}

/// Where the lab's data is, as its two parameters say (checked: the names enter a policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LabData {
    pub(crate) bucket: String,
    pub(crate) key: String,
}

/// What the command wants, every name and ARN resolved.
#[derive(Debug, Clone)]
pub(crate) struct DesiredState {
    /// `--auth`: the user pool (with its app client) the authorizer trusts.
    pub(crate) user_pool: Option<DesiredPool>,
    /// The function's role; `None` with `--existing-role`, which is used as it is.
    pub(crate) role: Option<DesiredRole>,
    pub(crate) function: DesiredFunction,
    pub(crate) api: DesiredApi,
    pub(crate) claims: Claims,
}

/// The ARN of the log group Lambda writes function `name`'s logs to.
fn log_group_arn(target: &Target, name: &str) -> String {
    format!(
        "arn:{}:logs:{}:{}:log-group:/aws/lambda/{name}",
        target.partition, target.region, target.account
    )
}

/// The function's permissions: the lab's two parameters, its data object (GetObject, which S3
/// Select needs too: "SelectObjectContent", S3 API Reference), its own log group.
pub(crate) fn function_policy(target: &Target, name: &str, data: &LabData) -> Value {
    let log_group = log_group_arn(target, name);
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadTheLabParameters",
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": [
                    target.parameter_arn(&target.bucket_parameter()),
                    target.parameter_arn(&target.key_parameter()),
                ],
            },
            {
                "Sid": "ReadTheDragons",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": target.object_arn(&data.bucket, &data.key),
            },
            {
                "Sid": "MakeItsLogGroup",
                "Effect": "Allow",
                "Action": "logs:CreateLogGroup",
                "Resource": log_group,
            },
            {
                "Sid": "WriteItsLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": format!("{log_group}:*"),
            },
        ],
    })
}

/// The trust policy of a function's role: Lambda's service may assume it, for this account's
/// functions only ("Lambda execution role", Lambda Developer Guide: the `aws:SourceAccount`
/// condition guards against the confused deputy).
pub(crate) fn lambda_trust_policy(target: &Target) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": target.account}},
        }],
    })
}

impl DesiredState {
    /// Resolves names, ARNs and policies for the target and the lab's data (and, with `--auth`,
    /// the user pool's ARN once it exists). Pure.
    pub(crate) fn new(
        inputs: &Inputs,
        target: &Target,
        data: &LabData,
        pool_arn: Option<String>,
        existing_role_arn: Option<String>,
    ) -> Self {
        let role_name = inputs.role_name();
        let made_role_arn = format!(
            "arn:{}:iam::{}:role{FUNCTION_ROLE_PATH}{role_name}",
            target.partition, target.account
        );
        let role_arn = match (&inputs.existing_role, existing_role_arn) {
            (Some(_), Some(arn)) => arn,
            _ => made_role_arn.clone(),
        };
        let function_arn = format!(
            "arn:{}:lambda:{}:{}:function:{}",
            target.partition, target.region, target.account, inputs.name
        );
        let mut environment =
            BTreeMap::from([("APP_REGION".to_string(), target.app_region.clone())]);
        if !target.parameter_prefix.as_str().is_empty() {
            environment.insert(
                "PARAMETER_PREFIX".to_string(),
                target.parameter_prefix.as_str().to_string(),
            );
        }
        Self {
            user_pool: inputs.auth.then(|| DesiredPool {
                name: inputs.name.clone(),
                policy: PasswordPolicy::COURSE,
                client_name: inputs.name.clone(),
            }),
            role: inputs.existing_role.is_none().then(|| DesiredRole {
                name: role_name,
                path: FUNCTION_ROLE_PATH.to_string(),
                arn: made_role_arn,
                trust_policy: lambda_trust_policy(target),
                inline_policy_name: INLINE_POLICY_NAME.to_string(),
                inline_policy: function_policy(target, &inputs.name, data),
                managed_policy_arns: Vec::new(),
                prune: true,
                record_permissions: false,
            }),
            function: DesiredFunction {
                name: inputs.name.clone(),
                arn: function_arn.clone(),
                configuration: Configuration {
                    role_arn,
                    runtime: RUNTIME.to_string(),
                    handler: function_package::HANDLER.to_string(),
                    description: "provision dragons-api: GET /dragons from the Dragons lab's data"
                        .to_string(),
                    timeout_seconds: 10,
                    memory_mib: 128,
                    environment,
                },
                code: Code(inputs.package.clone()),
            },
            api: DesiredApi {
                name: inputs.name.clone(),
                description: "provision dragons-api: the course's dragons".to_string(),
                partition: target.partition.clone(),
                region: target.region.clone(),
                account: target.account.clone(),
                route: Route {
                    path_part: PATH_PART.to_string(),
                    http_method: "GET".to_string(),
                    function_name: inputs.name.clone(),
                    function_arn,
                },
                stage: inputs.stage.clone(),
                authorizer: inputs.auth.then(|| DesiredAuthorizer {
                    name: format!("{}-users", inputs.name),
                    pool_name: inputs.name.clone(),
                    pool_arn,
                }),
            },
            claims: Claims {
                adopt: inputs.adopt,
                take_over: inputs.take_over,
                ..Claims::of(&target.owner)
            },
        }
    }

    /// Adds what the command makes to what `status` compares with.
    pub(crate) fn expect(&self, expected: &mut Expected) {
        expected.user_pools.extend(self.user_pool.clone());
        expected.roles.extend(self.role.clone());
        expected.functions.push(self.function.clone());
        expected.apis.push(self.api.clone());
    }
}

/// The lab's data as its parameters name it, or why the lab is not there.
pub(crate) fn lab_data(observed: &ObservedState, target: &Target) -> Result<LabData, Error> {
    let value = |name: &str| observed.parameters.get(name).map(|p| p.value.clone());
    let (Some(bucket), Some(key)) = (
        value(&target.bucket_parameter()),
        value(&target.key_parameter()),
    ) else {
        return Err(Error::failed(format!(
            "the Dragons lab is not set up in account {}: parameters {} and {} are not both in {}",
            target.account,
            target.bucket_parameter(),
            target.key_parameter(),
            target.app_region
        ))
        .with_hint(
            "run `provision dragons-lab` first (with the same --region, --app-region and \
             --parameter-prefix): the API's function reads the lab's data through them",
        ));
    };
    // The two values name the object in the function's policy: a wildcard or a malformed name
    // would grant more than the one object.
    let checked = BucketName::parse(&bucket)
        .map(|_| ())
        .and_then(|()| ObjectKey::parse(&key).map(|_| ()))
        .and_then(|()| match key.contains(['*', '?']) {
            true => Err(Error::failed(format!(
                "the lab's data key `{key}` contains a wildcard"
            ))),
            false => Ok(()),
        });
    checked.map_err(|e| {
        Error::failed(format!(
            "the lab's parameters name `{bucket}` / `{key}`, which is not an S3 object the \
             function may be granted: {}",
            e.message()
        ))
        .with_hint("run `provision dragons-lab` to set the parameters back")
    })?;
    Ok(LabData { bucket, key })
}

/// Reads the identity, the lab's parameters, the function's role, the function and the API, all
/// at once.
pub(crate) async fn observe(
    aws: &Aws,
    clients: &Clients,
    inputs: &Inputs,
    lab: &Lab,
) -> Result<(Target, ObservedState), Error> {
    let names = parameter_names(&lab.parameter_prefix);
    let role_query = RoleQuery {
        name: inputs.role_name(),
        inline_policy_name: INLINE_POLICY_NAME.to_string(),
        with_profiles: false,
    };
    let api_query = ApiQuery {
        name: inputs.name.clone(),
        route: Some(Route {
            path_part: PATH_PART.to_string(),
            http_method: "GET".to_string(),
            function_name: inputs.name.clone(),
            function_arn: String::new(),
        }),
    };
    let pools = async {
        match inputs.auth {
            true => UserPool::observe(clients, &inputs.name).await,
            false => Ok(Vec::new()),
        }
    };
    let (identity, parameters, role, function, apis, pools) = tokio::join!(
        aws.identity(),
        Parameter::observe(clients, &names),
        Role::observe(clients, &role_query),
        Function::observe(clients, &inputs.name),
        RestApi::observe(clients, &api_query),
        pools,
    );
    let target = Target::new(identity?, aws, lab);
    let mut observed = ObservedState {
        parameters: parameters?,
        ..ObservedState::default()
    };
    observed.add_role(role?);
    if let Some(function) = function? {
        observed.functions.insert(function.name.clone(), function);
    }
    // Several of provision's APIs of the name (another owner's beside the caller's): the
    // caller's is the one planned; another's is refused by the plan.
    let claims = Claims::of(&target.owner);
    let mut apis = apis?;
    claims.callers_first(crate::resources::rest_api::REST_API, &mut apis, |api| {
        (&api.name, &api.tags)
    });
    if let Some(api) = apis.into_iter().next() {
        observed.apis.insert(api.name.clone(), api);
    }
    let mut pools = pools?;
    claims.callers_first(USER_POOL, &mut pools, |pool| (&pool.name, &pool.tags));
    if let Some(pool) = pools.into_iter().next() {
        observed.user_pools.insert(pool.name.clone(), pool);
    }
    observed.begun = crate::engine::journal::begun(&target.owner);
    crate::plans::creators::look_up(clients, &target.partition, &mut observed).await;
    Ok((target, observed))
}

/// The role first; the function once the role (and its policy) is as wanted; the API's lines
/// after the function. Pure.
pub(crate) fn plan(desired: &DesiredState, observed: &ObservedState) -> Result<Plan, Error> {
    let claims = &observed.knowing_creators(&desired.claims);
    let mut changes = match &desired.user_pool {
        Some(pool) => UserPool::plan(Some(pool), observed.user_pools.get(&pool.name), claims)?,
        None => Vec::new(),
    };
    let function = Function::plan(
        Some(&desired.function),
        observed.functions.get(&desired.function.name),
        claims,
    )?;
    match &desired.role {
        Some(role) => {
            changes.extend(Role::plan(
                Some(role),
                observed.roles.get(&role.name),
                claims,
            )?);
            changes.extend(wait_for(function, FUNCTION, &ROLE.id(role.name.clone())));
        }
        None => changes.extend(function),
    }
    changes.extend(RestApi::plan(
        Some(&desired.api),
        observed.apis.get(&desired.api.name),
        claims,
    )?);
    Plan::new(changes, Vec::new())
}

/// Observes and plans the API in one account.
pub(crate) async fn prepare(
    aws: &Aws,
    clients: &Clients,
    inputs: &Inputs,
    lab: &Lab,
) -> Result<(Target, Plan), Error> {
    if inputs.auth && crate::plans::restricted::is_learner_lab(&aws.identity().await?.arn) {
        return Err(learner_lab_refuses_cognito());
    }
    let (target, observed) = observe(aws, clients, inputs, lab).await?;
    let data = lab_data(&observed, &target)?;
    let pool_arn = observed.user_pools.get(&inputs.name).map(|p| p.arn.clone());
    let mut warnings = Vec::new();
    let existing_role_arn = match &inputs.existing_role {
        Some(name) => {
            let role = observed.roles.get(name).ok_or_else(|| {
                Error::failed(format!("role {name} (--existing-role) does not exist in account {}", target.account))
                    .with_hint("list the account's roles with `aws iam list-roles --query 'Roles[].RoleName'`, or leave out --existing-role to let provision make one")
            })?;
            if !role
                .trust_policy
                .as_ref()
                .is_some_and(|t| t.to_string().contains("lambda.amazonaws.com"))
            {
                warnings.push(format!(
                    "role {name} does not trust lambda.amazonaws.com: Lambda will refuse to run the \
                     function as it"
                ));
            }
            warnings.extend(
                crate::plans::instance_profile::check_lab_reads(
                    clients,
                    &target,
                    &data.bucket,
                    &role.arn,
                )
                .await,
            );
            Some(role.arn.clone())
        }
        None => None,
    };
    let desired = DesiredState::new(inputs, &target, &data, pool_arn, existing_role_arn);
    let plan = plan(&desired, &observed)?;
    let mut all = plan.warnings().to_vec();
    all.extend(warnings);
    Ok((target, Plan::new(plan.changes().to_vec(), all)?))
}

/// The role restricted lab accounts provide for their services (AWS Academy's LabRole).
pub(crate) const LAB_ROLE: &str = "LabRole";

/// A refused IAM write in an account that has a LabRole gets the command that uses it instead.
pub(crate) async fn explained<T>(
    result: Result<T, Error>,
    inputs: &Inputs,
    clients: &Clients,
) -> Result<T, Error> {
    match result {
        Err(error)
            if inputs.existing_role.is_none()
                && crate::plans::restricted::is_denied_iam_write(&error) =>
        {
            let query = RoleQuery {
                name: LAB_ROLE.to_string(),
                inline_policy_name: INLINE_POLICY_NAME.to_string(),
                with_profiles: false,
            };
            match Role::observe(clients, &query).await {
                Ok(Some(_)) => Err(error.with_hint(format!(
                    "this account provides role {LAB_ROLE} (a restricted lab account): run the \
                     function as it, with no IAM writes: provision dragons-api --existing-role \
                     {LAB_ROLE}"
                ))),
                _ => Err(error),
            }
        }
        other => other,
    }
}

/// `--auth` in AWS Academy's Learner Lab, which does not list Amazon Cognito among its services:
/// refused before any change; the open API works there.
pub(crate) fn learner_lab_refuses_cognito() -> Error {
    Error::failed(
        "--auth needs Amazon Cognito, which AWS Academy's Learner Lab does not allow (it is not \
         among the lab's services)",
    )
    .with_hint(
        "run `provision dragons-api` without --auth: the API works open, and the rest of the lab \
         is the same; --auth works in a full AWS account",
    )
}

/// The invoke URL of `GET /dragons` on API `api_id`'s stage, as API Gateway serves it in the
/// partition's domain ("Invoking a REST API", API Gateway Developer Guide).
///
/// With an endpoint override (`--endpoint-url`: a local emulator such as moto or LocalStack) the
/// API is served by that endpoint at `/restapis/ID/STAGE/_user_request_/PATH`, the emulators'
/// form of an invoke URL; a real account's is `https://ID.execute-api.REGION.amazonaws.com/…`.
pub(crate) fn invoke_url(
    partition: &str,
    region: &str,
    api_id: &str,
    stage: &str,
    endpoint: Option<&str>,
) -> String {
    if let Some(endpoint) = endpoint {
        let endpoint = endpoint.trim_end_matches('/');
        return format!("{endpoint}/restapis/{api_id}/{stage}/_user_request_/{PATH_PART}");
    }
    let domain = match partition {
        "aws-cn" => "amazonaws.com.cn",
        "aws-iso" => "c2s.ic.gov",
        "aws-iso-b" => "sc2s.sgov.gov",
        _ => "amazonaws.com",
    };
    format!("https://{api_id}.execute-api.{region}.{domain}/{stage}/{PATH_PART}")
}

/// The CloudFormation resource types of the API's parts (`rest_api`'s lines), which the template
/// makes beside the kinds' own types.
pub(crate) const CLOUDFORMATION_PARTS: &[&str] = &[
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::Lambda::Permission",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Stage",
    "AWS::Cognito::UserPoolClient",
    "AWS::ApiGateway::Authorizer",
];

/// The key the template's function package is read from: named after its digest, so that a
/// changed function is a new object.
pub(crate) fn package_key(package: &function_package::Package) -> String {
    let digest: String = package
        .code_sha256
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    format!("provision/functions/list_dragons-{digest}.zip")
}

impl crate::plans::cloudformation::Assembly {
    /// What `dragons-api` makes: the function's role, the function (its package read from S3,
    /// where `provision dragons-api package` puts it), the REST API with `GET /dragons`, the
    /// function's permission for it, a deployment and its stage.
    pub(crate) fn dragons_api(
        &mut self,
        global: &crate::settings::GlobalArgs,
    ) -> Result<(), Error> {
        use crate::plans::cloudformation::resource_type;
        let package = function_package::list_dragons()?;
        let prefix = global.parameter_prefix.arn_path().replace("${", "${!");
        let parameter = |name: &str| {
            json!({"Fn::Sub": format!(
                "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/{prefix}{name}"
            )})
        };
        let log_group = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${ApiName}";
        self.parameters.insert(
            "ApiName".into(),
            json!({"Type": "String", "Default": DEFAULT_API_NAME,
                   "Description": "The API's name, its function's, and (NAME-function) its role's"}),
        );
        self.parameters.insert(
            "ApiStage".into(),
            json!({"Type": "String", "Default": "prod"}),
        );
        self.parameters.insert(
            "FunctionCodeBucket".into(),
            json!({"Type": "String",
                   "Description": "The bucket holding the function's package \
                                   (provision dragons-api package)"}),
        );
        self.parameters.insert(
            "FunctionCodeKey".into(),
            json!({"Type": "String", "Default": package_key(&package)}),
        );
        self.resources.insert(
            "DragonsFunctionRole".into(),
            json!({
                "Type": resource_type::<Role>()?,
                "Properties": {
                    "RoleName": {"Fn::Sub": "${ApiName}-function"},
                    "Path": FUNCTION_ROLE_PATH,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                        }],
                    },
                    "Policies": [{"PolicyName": INLINE_POLICY_NAME, "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Sid": "ReadTheLabParameters", "Effect": "Allow",
                             "Action": "ssm:GetParameter",
                             "Resource": [parameter(crate::course::lab::BUCKET_PARAMETER),
                                          parameter(crate::course::lab::KEY_PARAMETER)]},
                            {"Sid": "ReadTheDragons", "Effect": "Allow", "Action": "s3:GetObject",
                             "Resource": {"Fn::Sub": format!(
                                 "arn:${{AWS::Partition}}:s3:::{}${{AWS::AccountId}}-${{AWS::Region}}/{}",
                                 crate::course::lab::LAB_BUCKET_PREFIX,
                                 crate::course::lab::DEFAULT_KEY
                             )}},
                            {"Sid": "MakeItsLogGroup", "Effect": "Allow",
                             "Action": "logs:CreateLogGroup", "Resource": {"Fn::Sub": log_group}},
                            {"Sid": "WriteItsLogs", "Effect": "Allow",
                             "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                             "Resource": {"Fn::Sub": format!("{log_group}:*")}},
                        ],
                    }}],
                    "Tags": self.tags,
                }
            }),
        );
        let mut environment = serde_json::Map::new();
        environment.insert("APP_REGION".into(), json!({"Ref": "AWS::Region"}));
        if !global.parameter_prefix.as_str().is_empty() {
            environment.insert(
                "PARAMETER_PREFIX".into(),
                json!(global.parameter_prefix.as_str()),
            );
        }
        self.resources.insert(
            "DragonsFunction".into(),
            json!({
                "Type": resource_type::<Function>()?,
                "Properties": {
                    "FunctionName": {"Ref": "ApiName"},
                    "Runtime": RUNTIME,
                    "Handler": function_package::HANDLER,
                    "Role": {"Fn::GetAtt": ["DragonsFunctionRole", "Arn"]},
                    "Timeout": 10,
                    "MemorySize": 128,
                    "Environment": {"Variables": environment},
                    "Code": {"S3Bucket": {"Ref": "FunctionCodeBucket"},
                             "S3Key": {"Ref": "FunctionCodeKey"}},
                    "Tags": self.tags,
                }
            }),
        );
        self.resources.insert(
            "DragonsApi".into(),
            json!({
                "Type": resource_type::<RestApi>()?,
                "Properties": {
                    "Name": {"Ref": "ApiName"},
                    "Description": "provision dragons-api: the course's dragons",
                    "EndpointConfiguration": {"Types": ["REGIONAL"]},
                    "Tags": self.tags,
                }
            }),
        );
        self.resources.insert(
            "DragonsResource".into(),
            json!({
                "Type": CLOUDFORMATION_PARTS[0],
                "Properties": {
                    "RestApiId": {"Ref": "DragonsApi"},
                    "ParentId": {"Fn::GetAtt": ["DragonsApi", "RootResourceId"]},
                    "PathPart": PATH_PART,
                }
            }),
        );
        self.resources.insert(
            "DragonsGetMethod".into(),
            json!({
                "Type": CLOUDFORMATION_PARTS[1],
                "Properties": {
                    "RestApiId": {"Ref": "DragonsApi"},
                    "ResourceId": {"Ref": "DragonsResource"},
                    "HttpMethod": "GET",
                    "AuthorizationType": {"Fn::If": ["ApiAuth", "COGNITO_USER_POOLS", "NONE"]},
                    "AuthorizerId": {"Fn::If": ["ApiAuth", {"Ref": "DragonsAuthorizer"},
                                                {"Ref": "AWS::NoValue"}]},
                    "Integration": {
                        "Type": "AWS_PROXY",
                        "IntegrationHttpMethod": "POST",
                        "Uri": {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${DragonsFunction.Arn}/invocations"},
                    },
                }
            }),
        );
        // --auth, as a parameter: the pool, its app client and the authorizer, made only when it
        // is "true".
        self.parameters.insert(
            "ApiAuth".into(),
            json!({"Type": "String", "Default": "false", "AllowedValues": ["true", "false"],
                   "Description": "Sign GET /dragons in with a Cognito user pool (dragons-api --auth)"}),
        );
        self.conditions.insert(
            "ApiAuth".into(),
            json!({"Fn::Equals": [{"Ref": "ApiAuth"}, "true"]}),
        );
        let pool_tags: serde_json::Map<String, Value> = self
            .tags
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| Some((t["Key"].as_str()?.to_string(), t["Value"].clone())))
            .collect();
        self.resources.insert(
            "DragonsUserPool".into(),
            json!({
                "Type": resource_type::<UserPool>()?,
                "Condition": "ApiAuth",
                "Properties": {
                    "UserPoolName": {"Ref": "ApiName"},
                    "Policies": {"PasswordPolicy": {
                        "MinimumLength": PasswordPolicy::COURSE.minimum_length,
                        "RequireUppercase": PasswordPolicy::COURSE.uppercase,
                        "RequireLowercase": PasswordPolicy::COURSE.lowercase,
                        "RequireNumbers": PasswordPolicy::COURSE.numbers,
                        "RequireSymbols": PasswordPolicy::COURSE.symbols,
                        "TemporaryPasswordValidityDays": 7,
                    }},
                    "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": true},
                    "UserPoolTags": pool_tags,
                }
            }),
        );
        self.resources.insert(
            "DragonsUserPoolClient".into(),
            json!({
                "Type": CLOUDFORMATION_PARTS[5],
                "Condition": "ApiAuth",
                "Properties": {
                    "UserPoolId": {"Ref": "DragonsUserPool"},
                    "ClientName": {"Ref": "ApiName"},
                    "GenerateSecret": false,
                    "ExplicitAuthFlows": crate::resources::user_pool::AUTH_FLOWS,
                }
            }),
        );
        self.resources.insert(
            "DragonsAuthorizer".into(),
            json!({
                "Type": CLOUDFORMATION_PARTS[6],
                "Condition": "ApiAuth",
                "Properties": {
                    "RestApiId": {"Ref": "DragonsApi"},
                    "Name": {"Fn::Sub": "${ApiName}-users"},
                    "Type": "COGNITO_USER_POOLS",
                    "ProviderARNs": [{"Fn::GetAtt": ["DragonsUserPool", "Arn"]}],
                    "IdentitySource": "method.request.header.Authorization",
                }
            }),
        );
        self.resources.insert(
            "DragonsInvokePermission".into(),
            json!({
                "Type": CLOUDFORMATION_PARTS[2],
                "Properties": {
                    "FunctionName": {"Ref": "DragonsFunction"},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": {"Fn::Sub": format!(
                        "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{DragonsApi}}/*/GET/{PATH_PART}"
                    )},
                }
            }),
        );
        self.resources.insert(
            "DragonsDeployment".into(),
            json!({
                "Type": CLOUDFORMATION_PARTS[3],
                "DependsOn": ["DragonsGetMethod"],
                "Properties": {
                    "RestApiId": {"Ref": "DragonsApi"},
                    "Description": "provision dragons-api",
                }
            }),
        );
        self.resources.insert(
            "DragonsStage".into(),
            json!({
                "Type": CLOUDFORMATION_PARTS[4],
                "Properties": {
                    "RestApiId": {"Ref": "DragonsApi"},
                    "DeploymentId": {"Ref": "DragonsDeployment"},
                    "StageName": {"Ref": "ApiStage"},
                    "Tags": self.tags,
                }
            }),
        );
        self.completes.push(json!({
            "what": "the function's deployment package: a template reads it from S3; write it with \
                     provision and upload it to FunctionCodeBucket under FunctionCodeKey",
            "command": format!(
                "provision dragons-api package --out list_dragons.zip && aws s3 cp \
                 list_dragons.zip s3://<FunctionCodeBucket>/{}",
                package_key(&package)
            ),
        }));
        self.outputs.insert(
            "DragonsUrl".into(),
            json!({"Value": {"Fn::Sub": format!(
                "https://${{DragonsApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/${{ApiStage}}/{PATH_PART}"
            )}}),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::lab::test_target;
    use crate::resources::parameter::ObservedParameter;
    use crate::resources::simulated::World;

    fn inputs() -> Inputs {
        Inputs {
            name: "dragons-api".into(),
            stage: "prod".into(),
            package: Arc::new(function_package::list_dragons().expect("package")),
            auth: false,
            existing_role: None,
            adopt: false,
            take_over: false,
        }
    }

    fn with_lab(target: &Target) -> ObservedState {
        let mut observed = ObservedState::default();
        for (name, value) in [
            (target.bucket_parameter(), "lab-bucket".to_string()),
            (target.key_parameter(), "dragons.json".to_string()),
        ] {
            observed.parameters.insert(
                name.clone(),
                ObservedParameter {
                    name,
                    arn: None,
                    value,
                    kind: aws_sdk_ssm::types::ParameterType::String,
                    tags: crate::resources::ownership::managed_tags(),
                },
            );
        }
        observed
    }

    #[test]
    fn the_function_may_read_exactly_the_lab_s_parameters_and_object_and_write_its_logs() {
        let target = test_target("us-east-1");
        let data = lab_data(&with_lab(&target), &target).expect("lab");
        let policy = function_policy(&target, "dragons-api", &data);
        let text = policy.to_string();
        assert!(
            text.contains("arn:aws:s3:::lab-bucket/dragons.json"),
            "{text}"
        );
        assert!(
            text.contains(":parameter/dragon_data_bucket_name"),
            "{text}"
        );
        assert!(
            text.contains("log-group:/aws/lambda/dragons-api:*"),
            "{text}"
        );
        assert!(
            !text.contains("\"*\""),
            "no action or resource is a bare wildcard: {text}"
        );
        let trust = lambda_trust_policy(&target).to_string();
        assert!(trust.contains("lambda.amazonaws.com") && trust.contains("aws:SourceAccount"));
    }

    #[test]
    fn without_the_lab_s_parameters_the_command_says_to_run_dragons_lab() {
        let target = test_target("us-east-1");
        let error = lab_data(&ObservedState::default(), &target).expect_err("no lab");
        assert!(
            error
                .hints()
                .iter()
                .any(|h| h.contains("provision dragons-lab")),
            "{error}"
        );
        let mut observed = with_lab(&target);
        if let Some(key) = observed.parameters.get_mut(&target.key_parameter()) {
            key.value = "*".into();
        }
        let error = lab_data(&observed, &target).expect_err("a wildcard");
        assert!(error.message().contains("wildcard"), "{error}");
    }

    #[test]
    fn a_cold_plan_converges_in_one_apply_and_orders_role_function_api() {
        let target = test_target("us-east-1");
        let observed = with_lab(&target);
        let data = lab_data(&observed, &target).expect("lab");
        let desired = DesiredState::new(&inputs(), &target, &data, None, None);
        let plan = plan(&desired, &observed).expect("plans");
        crate::resources::follows_the_registry(&plan, false).expect("along the registry");
        let function = plan
            .find(FUNCTION, "dragons-api")
            .expect("the function's line");
        assert!(
            function
                .depends_on
                .contains(&ROLE.id("dragons-api-function"))
        );
        let mut world = World::new(observed);
        for change in plan.changes() {
            for operation in &change.operations {
                crate::resources::simulate(operation, &mut world).expect("applies");
            }
        }
        let again = super::plan(&desired, &world.observed).expect("plans");
        assert!(
            again.is_noop(),
            "{:?}",
            again.changes().iter().map(|c| c.line()).collect::<Vec<_>>()
        );
        assert_eq!(
            invoke_url("aws-cn", "cn-north-1", "abc123", "prod", None),
            "https://abc123.execute-api.cn-north-1.amazonaws.com.cn/prod/dragons"
        );
        assert_eq!(
            invoke_url(
                "aws",
                "us-east-1",
                "abc123",
                "dev",
                Some("http://127.0.0.1:5000/")
            ),
            "http://127.0.0.1:5000/restapis/abc123/dev/_user_request_/dragons"
        );
    }
}
