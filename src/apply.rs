//! The executor: makes one attempt to carry out a plan. Each change starts as soon as the changes it
//! depends on are done, so independent changes (the role and the instance profile, say) run
//! concurrently and dependent ones in order. After a failure nothing new starts; what is in flight
//! finishes, and the error is returned — re-running the command resumes from the observed state.

use std::collections::{BTreeMap, HashSet};

use futures::stream::{FuturesUnordered, StreamExt};

use crate::error::Error;
use crate::plan::{Action, Change, Operation, Plan, ResourceId};
use crate::printer::Printer;
use crate::resources::association::{self, PropagationPolicy};
use crate::resources::{bucket, iam_role, instance_profile, object, parameter};

/// The clients a plan's operations need.
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub s3: aws_sdk_s3::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl Clients {
    /// The S3 client for a bucket in `region` (buckets are regional; teardown finds them anywhere).
    pub fn s3_in(&self, region: &str) -> aws_sdk_s3::Client {
        if self.s3.config().region().map(|r| r.as_ref()) == Some(region) || region.is_empty() {
            return self.s3.clone();
        }
        aws_sdk_s3::Client::from_conf(
            self.s3
                .config()
                .to_builder()
                .region(aws_types::region::Region::new(region.to_string()))
                .build(),
        )
    }

    pub fn new(aws: &crate::aws::Aws) -> Self {
        Self {
            iam: aws.iam(),
            ec2: aws.ec2(),
            s3: aws.s3(),
            ssm: aws.ssm(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    pub propagation: PropagationPolicy,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            propagation: PropagationPolicy::with_timeout(std::time::Duration::from_secs(120)),
        }
    }
}

/// What execution learned that the plan could not know.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Instance id → the id of its new association.
    pub association_ids: BTreeMap<String, String>,
}

pub async fn apply(
    plan: &Plan,
    clients: &Clients,
    options: ApplyOptions,
    printer: &Printer,
) -> Result<Applied, Error> {
    let with_work: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| !c.operations.is_empty())
        .collect();
    let work_ids: HashSet<ResourceId> = with_work.iter().map(|c| c.id()).collect();
    let mut done: HashSet<ResourceId> = HashSet::new();
    let mut started = vec![false; with_work.len()];
    let mut running = FuturesUnordered::new();
    let mut applied = Applied::default();
    let mut first_error: Option<Error> = None;

    loop {
        if first_error.is_none() {
            for (index, change) in with_work.iter().enumerate() {
                let ready = change
                    .depends_on
                    .iter()
                    .all(|d| !work_ids.contains(d) || done.contains(d));
                if !started[index] && ready {
                    started[index] = true;
                    running.push(async move {
                        (index, run_change(change, clients, options, printer).await)
                    });
                }
            }
        }
        let Some((index, result)) = running.next().await else {
            break;
        };
        match result {
            Ok(association) => {
                done.insert(with_work[index].id());
                if let Some((instance, id)) = association {
                    applied.association_ids.insert(instance, id);
                }
            }
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    if started.iter().any(|s| !s) {
        return Err(Error::failed(
            "internal: the plan has changes whose dependencies never complete",
        ));
    }
    Ok(applied)
}

fn progressive(action: Action) -> &'static str {
    match action {
        Action::Create => "creating",
        Action::Update => "updating",
        Action::Delete => "deleting",
        Action::Unchanged => "checking",
    }
}

async fn run_change(
    change: &Change,
    clients: &Clients,
    options: ApplyOptions,
    printer: &Printer,
) -> Result<Option<(String, String)>, Error> {
    let title = format!("{} {}", change.resource, change.name);
    let mut step = printer.step(format!("{} {title}", progressive(change.action)));
    let mut association = None;
    for operation in &change.operations {
        let result = match operation {
            Operation::AssociateInstanceProfile { instance_id, .. }
            | Operation::ReplaceInstanceProfileAssociation { instance_id, .. } => {
                let base = format!("{} {title}", progressive(change.action));
                association::execute(&clients.ec2, operation, options.propagation, |attempt, wait| {
                    step.set_message(format!(
                        "{base}: EC2 does not see the new instance profile yet, retry {attempt} in {}s",
                        wait.as_secs_f32().ceil()
                    ));
                })
                .await
                .map(|id| association = Some((instance_id.clone(), id)))
            }
            Operation::EmptyBucket {
                bucket: name,
                region,
            } => {
                let counter = printer.counter(format!("deleting the objects of {name}"));
                let result = bucket::empty(&clients.s3_in(region), name, &counter).await;
                counter.finish();
                result
            }
            Operation::DeleteBucket { region, .. } => {
                bucket::execute(&clients.s3_in(region), operation).await
            }
            Operation::DisassociateInstanceProfile { association_id, .. } => {
                association::disassociate(&clients.ec2, association_id).await
            }
            Operation::DeleteParameter { .. } => parameter::execute(&clients.ssm, operation).await,
            Operation::DeleteInstanceProfile { .. } => {
                instance_profile::execute(&clients.iam, operation).await
            }
            Operation::CreateBucket { .. }
            | Operation::PutBucketTagging { .. }
            | Operation::PutOwnershipControls { .. }
            | Operation::PutPublicAccessBlock { .. } => {
                bucket::execute(&clients.s3, operation).await
            }
            Operation::PutObject { .. } | Operation::UploadSiteFiles { .. } => {
                object::execute(&clients.s3, operation, printer).await
            }
            Operation::PutParameter { .. } | Operation::TagParameter { .. } => {
                parameter::execute(&clients.ssm, operation).await
            }
            Operation::CreateInstanceProfile { .. }
            | Operation::TagInstanceProfile { .. }
            | Operation::AddRoleToInstanceProfile { .. }
            | Operation::RemoveRoleFromInstanceProfile { .. } => {
                instance_profile::execute(&clients.iam, operation).await
            }
            _ => iam_role::execute(&clients.iam, operation).await,
        };
        if let Err(error) = result {
            step.fail();
            return Err(error);
        }
    }
    step.finish(format!("{} {title}", past(change.action)));
    Ok(association)
}

fn past(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Delete => "deleted",
        Action::Unchanged => "unchanged",
    }
}
