//! A Lambda function of the course's API (`dragons-api`): its configuration (runtime, handler,
//! role, memory, timeout, environment) and its code, compared by `CodeSha256` — the package is
//! built byte for byte the same every run (`course::function_package`), so an unchanged function
//! uploads nothing.
//!
//! Created tagged in one request. A role made a moment before is often not yet assumable by
//! Lambda: `CreateFunction` answers 400 `InvalidParameterValueException`, "The role defined for the
//! function cannot be assumed by Lambda" (IAM is eventually consistent: "Changes that I make are
//! not always immediately visible", IAM User Guide; the same answer is a recurring report against
//! Terraform's AWS provider). The create retries on that answer only, bounded and shown on its
//! line. A function's configuration and code are changed one update at a time: Lambda refuses an
//! update while the last one is in progress ("Lambda function states", Lambda Developer Guide:
//! `LastUpdateStatus` `InProgress`), so each update waits for the one before (bounded).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, LastUpdateStatus, Runtime, State};

use crate::connection::clients::Clients;
use crate::course::function_package::Package;
use crate::engine::apply::{Executed, Progress, Report};
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

pub(crate) const FUNCTION: Kind = Kind::new("lambda-function");

/// A deployment package in an op: shared, and shown by its digest rather than its bytes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Code(pub(crate) Arc<Package>);

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Code({} bytes, {})",
            self.0.zip.len(),
            self.0.code_sha256
        )
    }
}

/// What a function is configured with, apart from its code: what `UpdateFunctionConfiguration`
/// sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Configuration {
    pub(crate) role_arn: String,
    pub(crate) runtime: String,
    pub(crate) handler: String,
    pub(crate) description: String,
    pub(crate) timeout_seconds: i32,
    pub(crate) memory_mib: i32,
    pub(crate) environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DesiredFunction {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) configuration: Configuration,
    pub(crate) code: Code,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObservedFunction {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) region: String,
    pub(crate) configuration: Configuration,
    pub(crate) code_sha256: String,
    pub(crate) tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FunctionOp {
    Create {
        name: String,
        configuration: Configuration,
        code: Code,
        tags: Tags,
    },
    UpdateConfiguration {
        name: String,
        configuration: Configuration,
    },
    UpdateCode {
        name: String,
        code: Code,
    },
    Tag {
        arn: String,
        tags: Tags,
    },
    Delete {
        name: String,
    },
}

pub(crate) struct Function;

/// The answer of `CreateFunction` (and of `UpdateFunctionConfiguration`) while Lambda cannot
/// assume a role that IAM has just made.
fn is_role_not_assumable<E: aws_smithy_types::error::metadata::ProvideErrorMetadata>(
    error: &E,
) -> bool {
    error.code() == Some("InvalidParameterValueException")
        && error
            .message()
            .is_some_and(|m| m.contains("cannot be assumed by Lambda"))
}

/// How long a create or update retries while Lambda cannot assume a new role (Lambda usually
/// can within seconds; IAM's changes reach every service within a minute or two).
pub(crate) const ROLE_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(120);
/// How long an update waits for the function's last update (or its creation) to finish.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(120);

/// Reads function `name`: its configuration, digest and tags (`GetFunction`).
async fn observe_one(clients: &Clients, name: &str) -> Result<Option<ObservedFunction>, Error> {
    let output = match clients
        .lambda
        .get_function()
        .function_name(name)
        .send()
        .await
    {
        Ok(output) => output,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(aws_error("lambda:GetFunction", e)),
    };
    let Some(configuration) = output.configuration() else {
        return Ok(None);
    };
    let region = clients
        .lambda
        .config()
        .region()
        .map(ToString::to_string)
        .unwrap_or_default();
    let environment = configuration
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(Some(ObservedFunction {
        name: configuration.function_name().unwrap_or(name).to_string(),
        arn: configuration.function_arn().unwrap_or_default().to_string(),
        region,
        configuration: Configuration {
            role_arn: configuration.role().unwrap_or_default().to_string(),
            runtime: configuration
                .runtime()
                .map(|r| r.as_str().to_string())
                .unwrap_or_default(),
            handler: configuration.handler().unwrap_or_default().to_string(),
            description: configuration.description().unwrap_or_default().to_string(),
            timeout_seconds: configuration.timeout().unwrap_or(3),
            memory_mib: configuration.memory_size().unwrap_or(128),
            environment,
        },
        code_sha256: configuration.code_sha256().unwrap_or_default().to_string(),
        tags: crate::resources::tags::from_map(output.tags()),
    }))
}

/// What differs between two configurations, setting by setting, as the plan words it.
fn differences(current: &Configuration, desired: &Configuration) -> Vec<Drift> {
    let mut drift = Vec::new();
    let mut setting = |setting: &'static str, current: String, desired: String| {
        if current != desired {
            drift.push(Drift::Setting {
                setting,
                current,
                desired,
            });
        }
    };
    setting("role", current.role_arn.clone(), desired.role_arn.clone());
    setting("runtime", current.runtime.clone(), desired.runtime.clone());
    setting("handler", current.handler.clone(), desired.handler.clone());
    setting(
        "timeout",
        format!("{}s", current.timeout_seconds),
        format!("{}s", desired.timeout_seconds),
    );
    setting(
        "memory",
        format!("{} MB", current.memory_mib),
        format!("{} MB", desired.memory_mib),
    );
    let words = |environment: &BTreeMap<String, String>| match environment.is_empty() {
        true => "none".to_string(),
        false => environment
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
    };
    setting(
        "environment",
        words(&current.environment),
        words(&desired.environment),
    );
    setting(
        "description",
        current.description.clone(),
        desired.description.clone(),
    );
    drift
}

/// A digest as the plan shows it: its first 12 characters.
fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

impl Resource for Function {
    const KINDS: &'static [Kind] = &[FUNCTION];

    /// The function's name.
    type Query = str;
    type Observation = Option<ObservedFunction>;
    type Desired = DesiredFunction;
    type Observed = ObservedFunction;
    type Op = FunctionOp;

    async fn observe(clients: &Clients, name: &str) -> Result<Option<ObservedFunction>, Error> {
        observe_one(clients, name).await
    }

    fn plan(
        desired: Option<&DesiredFunction>,
        observed: Option<&ObservedFunction>,
        claims: &Claims,
    ) -> Result<Vec<Change>, Error> {
        let Some(desired) = desired else {
            return Ok(observed
                .map(|current| {
                    claims.delete_if_ours(
                        &current.tags,
                        FUNCTION,
                        &current.name,
                        Some(&current.arn),
                        || {
                            vec![
                                FunctionOp::Delete {
                                    name: current.name.clone(),
                                }
                                .into(),
                            ]
                        },
                    )
                })
                .into_iter()
                .collect());
        };
        let name = &desired.name;
        let Some(current) = observed else {
            let configuration = &desired.configuration;
            return Ok(vec![
                Change::new(FUNCTION, name, Action::Create)
                    .with_arn(&desired.arn)
                    .with_detail(Detail::note(format!(
                        "{}, {} MB, {}s, package {} bytes ({})",
                        configuration.runtime,
                        configuration.memory_mib,
                        configuration.timeout_seconds,
                        desired.code.0.zip.len(),
                        short(&desired.code.0.code_sha256)
                    )))
                    .with_operations(vec![
                        FunctionOp::Create {
                            name: name.clone(),
                            configuration: configuration.clone(),
                            code: desired.code.clone(),
                            tags: claims.tags(),
                        }
                        .into(),
                    ]),
            ]);
        };
        let claim = claims.claim(FUNCTION, name, &current.tags, || {
            ownership::not_ours("Lambda function", name, &current.arn).with_hint(format!(
                "choose another --name, or pass --adopt to let provision manage it (its code and \
                 configuration are replaced), or remove it with `aws lambda delete-function \
                 --function-name {name}`"
            ))
        })?;
        let mut details: Vec<Detail> = differences(&current.configuration, &desired.configuration)
            .into_iter()
            .map(Detail::Drift)
            .collect();
        let mut operations = Vec::new();
        if !details.is_empty() {
            operations.push(
                FunctionOp::UpdateConfiguration {
                    name: name.clone(),
                    configuration: desired.configuration.clone(),
                }
                .into(),
            );
        }
        if current.code_sha256 != desired.code.0.code_sha256 {
            details.push(Detail::Drift(Drift::Setting {
                setting: "code",
                current: short(&current.code_sha256),
                desired: short(&desired.code.0.code_sha256),
            }));
            operations.push(
                FunctionOp::UpdateCode {
                    name: name.clone(),
                    code: desired.code.clone(),
                }
                .into(),
            );
        }
        if let Some((detail, tags)) = claims.tagging(&claim, &current.tags, claims.tags()) {
            details.push(detail);
            operations.push(
                FunctionOp::Tag {
                    arn: current.arn.clone(),
                    tags,
                }
                .into(),
            );
        }
        Ok(vec![match operations.is_empty() {
            true => Change::unchanged(FUNCTION, name).with_arn(&current.arn),
            false => Change::new(FUNCTION, name, Action::Update)
                .with_arn(&current.arn)
                .with_details(details)
                .with_operations(operations),
        }])
    }

    async fn execute(
        clients: &Clients,
        op: &FunctionOp,
        report: Report<'_>,
    ) -> Result<Executed, Error> {
        let lambda = &clients.lambda;
        match op {
            FunctionOp::Create {
                name,
                configuration,
                code,
                tags,
            } => return create(clients, name, configuration, code, tags, report).await,
            FunctionOp::UpdateConfiguration {
                name,
                configuration,
            } => {
                let deadline = Instant::now() + ROLE_PROPAGATION_TIMEOUT;
                let mut attempt = 1;
                loop {
                    settle(clients, name, report).await?;
                    let updated = lambda
                        .update_function_configuration()
                        .function_name(name)
                        .role(&configuration.role_arn)
                        .runtime(Runtime::from(configuration.runtime.as_str()))
                        .handler(&configuration.handler)
                        .description(&configuration.description)
                        .timeout(configuration.timeout_seconds)
                        .memory_size(configuration.memory_mib)
                        .environment(environment(configuration))
                        .send()
                        .await;
                    match updated {
                        Ok(_) => break,
                        Err(e)
                            if e.as_service_error().is_some_and(is_role_not_assumable)
                                && Instant::now() < deadline =>
                        {
                            waiting_for_role(report, &configuration.role_arn, attempt).await;
                            attempt += 1;
                        }
                        Err(e) => return Err(aws_error("lambda:UpdateFunctionConfiguration", e)),
                    }
                }
            }
            FunctionOp::UpdateCode { name, code } => {
                settle(clients, name, report).await?;
                sent(
                    "lambda:UpdateFunctionCode",
                    lambda
                        .update_function_code()
                        .function_name(name)
                        .zip_file(Blob::new(code.0.zip.clone()))
                        .send()
                        .await,
                )?;
            }
            FunctionOp::Tag { arn, tags } => sent(
                "lambda:TagResource",
                lambda
                    .tag_resource()
                    .resource(arn)
                    .set_tags(Some(crate::resources::tags::to_map(tags)))
                    .send()
                    .await,
            )?,
            FunctionOp::Delete { name } => settled(
                "lambda:DeleteFunction",
                lambda.delete_function().function_name(name).send().await,
                |s| s.is_resource_not_found_exception(),
            )?,
        }
        Ok(Executed::default())
    }
}

fn environment(configuration: &Configuration) -> Environment {
    Environment::builder()
        .set_variables(Some(
            configuration
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
        .build()
}

async fn waiting_for_role(report: Report<'_>, role_arn: &str, attempt: u32) {
    report.progress(Progress::Waiting(format!(
        "Lambda cannot assume role {} yet (attempt {attempt})",
        role_arn.rsplit('/').next().unwrap_or(role_arn)
    )));
    // Soon and often at first, then every 2 s: a new role usually works within seconds.
    let delay = match attempt {
        1 => Duration::from_millis(500),
        2..=3 => Duration::from_secs(1),
        _ => Duration::from_secs(2),
    };
    tokio::time::sleep(delay).await;
}

/// Creates the function, retrying (bounded) while Lambda cannot assume its new role. A create that
/// meets a function of its name (its own, whose answer was lost and which the SDK retried) counts
/// as done when that function carries the tags it was created with.
async fn create(
    clients: &Clients,
    name: &str,
    configuration: &Configuration,
    code: &Code,
    tags: &Tags,
    report: Report<'_>,
) -> Result<Executed, Error> {
    let deadline = Instant::now() + ROLE_PROPAGATION_TIMEOUT;
    let mut attempt = 1;
    loop {
        let created = clients
            .lambda
            .create_function()
            .function_name(name)
            .role(&configuration.role_arn)
            .runtime(Runtime::from(configuration.runtime.as_str()))
            .handler(&configuration.handler)
            .description(&configuration.description)
            .timeout(configuration.timeout_seconds)
            .memory_size(configuration.memory_mib)
            .environment(environment(configuration))
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(code.0.zip.clone()))
                    .build(),
            )
            .set_tags(Some(crate::resources::tags::to_map(tags)))
            .send()
            .await;
        match created {
            Ok(output) => {
                return Ok(Executed {
                    resource_id: output.function_arn().map(str::to_string),
                });
            }
            Err(e)
                if e.as_service_error().is_some_and(is_role_not_assumable)
                    && Instant::now() < deadline =>
            {
                waiting_for_role(report, &configuration.role_arn, attempt).await;
                attempt += 1;
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_conflict_exception()) =>
            {
                match observe_one(clients, name).await? {
                    Some(found) if tags.iter().all(|(k, v)| found.tags.get(k) == Some(v)) => {
                        return Ok(Executed {
                            resource_id: Some(found.arn),
                        });
                    }
                    _ => return Err(aws_error("lambda:CreateFunction", e)),
                }
            }
            Err(e) if e.as_service_error().is_some_and(is_role_not_assumable) => {
                return Err(Error::failed(format!(
                    "Lambda still cannot assume role {} after {} seconds",
                    configuration.role_arn,
                    ROLE_PROPAGATION_TIMEOUT.as_secs()
                ))
                .with_cause(crate::error::error_chain(&e))
                .with_hint(
                    "check that the role trusts lambda.amazonaws.com (`aws iam get-role \
                     --role-name NAME`), then re-run the same command: it picks up where it \
                     stopped",
                ));
            }
            Err(e) => return Err(aws_error("lambda:CreateFunction", e)),
        }
    }
}

/// Waits (bounded) until the function is neither being created nor updated: Lambda refuses an
/// update meanwhile (409 `ResourceConflictException`).
async fn settle(clients: &Clients, name: &str, report: Report<'_>) -> Result<(), Error> {
    let deadline = Instant::now() + UPDATE_TIMEOUT;
    loop {
        let configuration = clients
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| aws_error("lambda:GetFunctionConfiguration", e))?;
        let busy = matches!(configuration.state(), Some(State::Pending))
            || matches!(
                configuration.last_update_status(),
                Some(LastUpdateStatus::InProgress)
            );
        if !busy {
            return Ok(());
        }
        if report.halted() {
            return Err(Error::halted(format!(
                "function {name} is being updated: the run stopped before it was done"
            )));
        }
        if Instant::now() >= deadline {
            return Err(Error::failed(format!(
                "function {name} is still being updated after {} seconds",
                UPDATE_TIMEOUT.as_secs()
            ))
            .with_hint("re-run the same command: it waits for the function again"));
        }
        report.progress(Progress::Waiting(format!(
            "function {name}'s last update is in progress"
        )));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl Lifecycle for Function {
    const KIND: Kind = FUNCTION;
    const MADE_BY: &'static [Part] = &[Part::DragonsApi];
    const NEEDS: &'static [Kind] = &[crate::resources::iam_role::ROLE];
    const CREATED_BY: CreatedBy = CreatedBy::Event {
        name: "CreateFunction20150331",
        recorded: Events::InItsRegion,
    };
    const CLOUDFORMATION: CloudFormation = CloudFormation::Type("AWS::Lambda::Function");

    type Found = BTreeMap<String, ObservedFunction>;

    /// The region's functions tagged `managed-by=provision` (each is created tagged):
    /// `ListFunctions` names them, `GetFunction` reads each one's tags.
    async fn discover(discovery: &Discovery<'_>) -> Result<Self::Found, Error> {
        let listed = discovery
            .clients
            .lambda
            .list_functions()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("lambda:ListFunctions", e))?;
        let names = listed
            .iter()
            .filter_map(|f| f.function_name().map(str::to_string))
            .collect();
        let found = crate::resources::lifecycle::observe_by_name(names, |name| async move {
            observe_one(discovery.clients, &name).await
        })
        .await?;
        Ok(found
            .into_iter()
            .filter(|(_, f)| ownership::is_managed(&f.tags))
            .collect())
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
        crate::resources::lifecycle::remove_each::<Function>(observed.functions.values(), claims)
    }

    fn rows(rows: &mut Rows<'_>) -> Result<(), Error> {
        rows.planned::<Function>(
            FUNCTION,
            &rows.expected.functions,
            |f| f.name.as_str(),
            &rows.observed.functions,
            |function| {
                vec![format!(
                    "{}, code {}",
                    function.configuration.runtime,
                    short(&function.code_sha256)
                )]
            },
        )
    }
}

impl Tagged for ObservedFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

impl Regional for ObservedFunction {
    fn region(&self) -> &str {
        &self.region
    }
}

#[cfg(test)]
impl crate::resources::simulated::Simulated for Function {
    fn simulate(
        op: &FunctionOp,
        world: &mut crate::resources::simulated::World,
    ) -> Result<Executed, String> {
        let functions = &mut world.observed.functions;
        match op {
            FunctionOp::Create {
                name,
                configuration,
                code,
                tags,
            } => {
                let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{name}");
                functions
                    .entry(name.clone())
                    .or_insert_with(|| ObservedFunction {
                        name: name.clone(),
                        arn: arn.clone(),
                        region: "us-east-1".into(),
                        configuration: configuration.clone(),
                        code_sha256: code.0.code_sha256.clone(),
                        tags: tags.clone(),
                    });
                return Ok(Executed {
                    resource_id: Some(arn),
                });
            }
            FunctionOp::UpdateConfiguration {
                name,
                configuration,
            } => {
                let function = functions.get_mut(name).ok_or("ResourceNotFoundException")?;
                function.configuration = configuration.clone();
            }
            FunctionOp::UpdateCode { name, code } => {
                let function = functions.get_mut(name).ok_or("ResourceNotFoundException")?;
                function.code_sha256 = code.0.code_sha256.clone();
            }
            FunctionOp::Tag { arn, tags } => {
                let function = functions
                    .values_mut()
                    .find(|f| f.arn == *arn)
                    .ok_or("ResourceNotFoundException")?;
                function.tags.extend(tags.clone());
            }
            FunctionOp::Delete { name } => {
                functions.remove(name);
            }
        }
        Ok(Executed::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Operation;
    use crate::resources::ownership::{managed_tags, test_claims};

    fn desired() -> DesiredFunction {
        let package = crate::course::function_package::list_dragons().expect("package");
        DesiredFunction {
            name: "dragons-api".into(),
            arn: "arn:aws:lambda:us-east-1:123456789012:function:dragons-api".into(),
            configuration: Configuration {
                role_arn: "arn:aws:iam::123456789012:role/provision/dragons-api-function".into(),
                runtime: "python3.14".into(),
                handler: "lambda_function.lambda_handler".into(),
                description: "GET /dragons".into(),
                timeout_seconds: 10,
                memory_mib: 128,
                environment: BTreeMap::from([("APP_REGION".into(), "us-east-1".into())]),
            },
            code: Code(Arc::new(package)),
        }
    }

    fn observed(desired: &DesiredFunction) -> ObservedFunction {
        ObservedFunction {
            name: desired.name.clone(),
            arn: desired.arn.clone(),
            region: "us-east-1".into(),
            configuration: desired.configuration.clone(),
            code_sha256: desired.code.0.code_sha256.clone(),
            tags: managed_tags(),
        }
    }

    #[test]
    fn a_function_is_created_tagged_and_left_alone_when_its_code_and_settings_match() {
        let claims = test_claims(false);
        let desired = desired();
        let created = Function::plan(Some(&desired), None, &claims).expect("plans");
        assert!(
            created[0]
                .line()
                .starts_with("+ create    lambda-function dragons-api (python3.14, 128 MB, 10s"),
            "{}",
            created[0].line()
        );
        assert!(matches!(
            &created[0].operations[..],
            [Operation::Function(FunctionOp::Create { tags, .. })] if !tags.is_empty()
        ));
        let same =
            Function::plan(Some(&desired), Some(&observed(&desired)), &claims).expect("plans");
        assert!(same[0].operations.is_empty(), "{}", same[0].line());
    }

    #[test]
    fn changed_code_and_settings_are_named_and_updated_one_request_each() {
        let claims = test_claims(false);
        let desired = desired();
        let mut drifted = observed(&desired);
        drifted.code_sha256 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
        drifted.configuration.memory_mib = 512;
        drifted.configuration.environment.clear();
        let changes = Function::plan(Some(&desired), Some(&drifted), &claims).expect("plans");
        let line = changes[0].line();
        assert!(line.contains("memory 512 MB → 128 MB"), "{line}");
        assert!(
            line.contains("environment none → APP_REGION=us-east-1"),
            "{line}"
        );
        assert!(line.contains("code AAAAAAAAAAAA → "), "{line}");
        assert!(matches!(
            &changes[0].operations[..],
            [
                Operation::Function(FunctionOp::UpdateConfiguration { .. }),
                Operation::Function(FunctionOp::UpdateCode { .. })
            ]
        ));
    }

    #[test]
    fn someone_else_s_function_of_the_name_is_refused_and_left_by_teardown() {
        let desired = desired();
        let mut theirs = observed(&desired);
        theirs.tags = Tags::new();
        let error = Function::plan(Some(&desired), Some(&theirs), &test_claims(false))
            .expect_err("refused");
        assert!(
            error.hints().iter().any(|h| h.contains("another --name")),
            "{error}"
        );
        let left = Function::plan(None, Some(&theirs), &test_claims(false)).expect("plans");
        assert_eq!(left[0].details, vec![Detail::LeftAlone]);
        let ours = observed(&desired);
        let deleted = Function::plan(None, Some(&ours), &test_claims(false)).expect("plans");
        assert_eq!(deleted[0].action, Action::Delete);
    }

    #[test]
    fn only_lambda_s_answer_about_the_role_is_retried() {
        use aws_sdk_lambda::operation::create_function::CreateFunctionError;
        use aws_sdk_lambda::types::error::InvalidParameterValueException;
        let error = |message: &str| {
            CreateFunctionError::InvalidParameterValueException(
                InvalidParameterValueException::builder()
                    .message(message)
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("InvalidParameterValueException")
                            .message(message)
                            .build(),
                    )
                    .build(),
            )
        };
        assert!(is_role_not_assumable(&error(
            "The role defined for the function cannot be assumed by Lambda."
        )));
        assert!(!is_role_not_assumable(&error(
            "Unzipped size must be smaller"
        )));
    }
}
