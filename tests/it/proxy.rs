//! A fault-injecting HTTP proxy in front of moto, for the faults a real account has and moto does
//! not: 5xx answers and throttling that outlast the SDK's retries, answers lost after the request
//! was applied, requests that hang, random failures.
//!
//! AWS documents all of these as things a client must expect: "Error retries and exponential
//! backoff in AWS" (https://docs.aws.amazon.com/general/latest/gr/api-retries.html) — 5xx and
//! throttling errors are to be retried, and a retried non-idempotent request may find its own
//! earlier effect (the answer, not the request, was lost).
//!
//! It is also the stricter test bed the whole integration suite runs through ([`Emulation`]): what
//! AWS documents and moto lacks, reproduced in front of moto, each behaviour switchable per test
//! and documented below with the AWS documentation it follows.
//!
//! One proxy per test (and one shared, with AWS's defaults, for the tests that need no other), on
//! 127.0.0.1, forwarding only to the loopback moto. Requests are told apart by operation with the
//! harness's own classification. Each connection carries one request (`Connection: close`), which
//! keeps the proxy simple and the SDK's behaviour unchanged.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{assert_loopback, is_mutating, operation_of};

/// What the proxy does to requests of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers with this 5xx status every time, without forwarding.
    Fail(u16),
    /// Forwards the first request (it is applied), then answers 500 instead of the real answer.
    LoseAnswer,
    /// Holds the request: never forwards it nor answers, until the proxy is dropped.
    Hold,
    /// Forwards the request after this many milliseconds (a slow request, not a failure).
    Delay(u64),
    /// Refuses the request as AWS refuses an identity whose policies do not allow the action.
    Deny(Denial),
}

/// Why AWS refuses a request, as its access-denied messages say ("Access denied error messages",
/// IAM User Guide: the message names the policy type that denied, e.g. "with an explicit deny in
/// a service control policy" or "because no identity-based policy allows the … action").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No identity-based policy allows the action (a restricted lab identity).
    Identity,
    /// An organization's service control policy denies it explicitly.
    ServiceControlPolicy,
    /// STS refuses an MFA code that is wrong or already used. moto accepts any code; AWS answers
    /// 403 AccessDenied, "MultiFactorAuthentication failed with invalid MFA one time pass code."
    /// ("GetSessionToken" and "AssumeRole", AWS STS API Reference: TokenCode; "Using
    /// MFA-protected API access", IAM User Guide).
    InvalidMfaCode,
    /// EC2's refusal with an "Encoded authorization failure message", which only
    /// sts:DecodeAuthorizationMessage reads ("DecodeAuthorizationMessage", AWS STS API
    /// Reference: "some AWS operations additionally return an encoded message").
    Encoded,
}

/// The AWS behaviours moto lacks that the test bed reproduces. Each follows the AWS documentation
/// named on its field; [`Emulation::aws`] is what a real account does by default.
#[derive(Debug, Clone)]
pub struct Emulation {
    /// New buckets default to Object Ownership "bucket owner enforced": ACLs are disabled, and a
    /// PUT of an object (or its ACL) with any ACL but `bucket-owner-full-control` is refused with
    /// 400 `AccessControlListNotSupported` until the bucket's ownership is changed ("Controlling
    /// ownership of objects and disabling ACLs for your bucket", Amazon S3 User Guide: "By
    /// default, Object Ownership is set to the Bucket owner enforced setting"; "requests to set
    /// ACLs or update ACLs fail and return the AccessControlListNotSupported error code"; "PUT
    /// requests that specify bucket-owner-full-control ACL or don't specify an ACL succeed").
    pub acls_disabled_by_default: bool,
    /// A request for a bucket signed for another region than the bucket's is answered 301
    /// `PermanentRedirect` with the bucket's region in `x-amz-bucket-region` (Amazon S3 API
    /// Reference, "Error responses": PermanentRedirect, 301; HeadBucket: "x-amz-bucket-region").
    pub region_redirect: bool,
    /// For this long after CreateBucket, requests for the bucket are answered `NoSuchBucket` (404)
    /// and `OperationAborted` (409) in turn: S3 is eventually consistent for bucket creation ("Amazon
    /// S3 data consistency model": bucket configurations have an eventual consistency model;
    /// OperationAborted, 409: "A conflicting conditional operation is currently in progress against
    /// this resource"), as reported against Terraform's S3 bucket resources.
    pub bucket_settling: Duration,
    /// For this long after CreateInstanceProfile, EC2 does not see the profile: associating it, or
    /// launching an instance with it, is answered 400 `InvalidParameterValue` "Invalid IAM
    /// Instance Profile name" (IAM User Guide,
    /// "Troubleshooting IAM and Amazon EC2" and "changes that I make are not always immediately
    /// visible": IAM is eventually consistent, "create an instance profile … wait a few seconds").
    pub profile_invisible: Duration,
    /// For this long after CreateRole, Lambda cannot assume the role: CreateFunction (and
    /// UpdateFunctionConfiguration) naming it is answered 400 `InvalidParameterValueException`,
    /// "The role defined for the function cannot be assumed by Lambda." (Lambda API Reference,
    /// CreateFunction errors; IAM User Guide, "Changes that I make are not always immediately
    /// visible": a new role takes time to reach the other services — a recurring report against
    /// Terraform's AWS provider's aws_lambda_function).
    pub role_unassumable: Duration,
    /// S3 Select answers as for accounts without access: "Amazon S3 Select is no longer available
    /// to new customers" (AWS News Blog, July 2024); such accounts get 405 `MethodNotAllowed`.
    pub s3_select_unavailable: bool,
    /// The account's S3 Block Public Access (`s3control PutPublicAccessBlock`) blocks public
    /// ACLs: a PUT of an object with a public ACL is refused 403 `AccessDenied` whatever the
    /// bucket's own setting ("Blocking public access to your Amazon S3 storage": BlockPublicAcls
    /// "PUT Object calls fail if the request includes a public ACL"; account settings apply to
    /// every bucket).
    pub account_public_access_block: bool,
    /// Who did what, as AWS records it and moto does not: CloudTrail's event history keeps every
    /// account's management events for 90 days with no trail set up ("Working with CloudTrail
    /// event history", CloudTrail User Guide) — `LookupEvents` answers the CreateBucket, CreateRole
    /// and CreateInstanceProfile events made through the test bed, newest first, each with its
    /// caller in `userIdentity.arn`, in the region the event is recorded in (IAM's, a global
    /// service's, in us-east-1); and SSM's `DescribeParameters` names each parameter's
    /// `LastModifiedUser` ("the ARN of the AWS user who last changed the parameter", SSM API
    /// Reference, ParameterMetadata), where moto says "N/A". A caller is known by its access key,
    /// from its GetCallerIdentity answer or [`Proxy::principal`].
    pub event_history: bool,
}

impl Emulation {
    /// What a real account does by default.
    pub fn aws() -> Self {
        Self {
            acls_disabled_by_default: true,
            region_redirect: true,
            bucket_settling: Duration::ZERO,
            profile_invisible: Duration::ZERO,
            role_unassumable: Duration::ZERO,
            s3_select_unavailable: false,
            account_public_access_block: false,
            event_history: true,
        }
    }
}

/// What the test bed knows of a bucket created through it.
#[derive(Debug, Clone)]
struct BucketFacts {
    region: String,
    /// Object Ownership is "bucket owner enforced" (ACLs disabled).
    enforced: bool,
    created: Instant,
    /// Requests answered while the bucket was settling (to alternate the two answers).
    settling_answers: u32,
}

#[derive(Debug, Clone)]
struct Rule {
    operation: String,
    /// Only requests whose body contains this (an account id in an AssumeRole).
    body_contains: Option<String>,
    fault: Fault,
    /// How many more requests the rule applies to.
    remaining: u32,
}

/// Random failures: each request fails with `percent` % probability (500, 503 or throttling),
/// from a fixed seed.
#[derive(Debug, Clone)]
struct Random {
    state: u64,
    percent: u64,
}

impl Random {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic per seed, good enough to spread faults.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    random: Option<Random>,
    /// Operations of the requests seen, in arrival order, and whether a fault was injected.
    seen: Vec<(String, bool)>,
    emulation: Option<Emulation>,
    buckets: HashMap<String, BucketFacts>,
    /// Operations the emulation answered itself, with the error code it sent.
    emulated: Vec<(String, String)>,
    /// Instance profiles created through the test bed, and when.
    profiles: HashMap<String, Instant>,
    /// Roles created through the test bed (by name), and when.
    roles: HashMap<String, Instant>,
    /// RunInstances' answers by client token: EC2 answers a repeated request with the same
    /// `ClientToken` as it answered the first, launching nothing more ("Ensuring idempotency in
    /// Amazon EC2 API requests", Amazon EC2 Developer Guide); moto launches again.
    launches: HashMap<String, Vec<u8>>,
    /// Instances registered with Systems Manager (answered for DescribeInstanceInformation,
    /// which moto lacks).
    ssm_managed: Vec<String>,
    /// Instances shown in another state than moto's (`pending`, `stopping`: moto moves on at
    /// once, AWS takes a while).
    instance_states: HashMap<String, String>,
    /// The principal (ARN) of each access key, as GetCallerIdentity answered it.
    principals: HashMap<String, String>,
    /// CloudTrail's event history of what was created through the test bed, oldest first.
    events: Vec<TrailEvent>,
    /// Each write of an SSM parameter through the test bed: its name and the writer's access key.
    modifiers: Vec<(String, String)>,
    /// REST APIs created through the test bed: id → (the creator's access key, the region), for
    /// calls to their invoke URLs (which AWS routes by host name, and moto by neither).
    apis: HashMap<String, (String, String)>,
    /// Every function package uploaded through the test bed (base64, as Lambda's API takes it),
    /// for the calls that run a function.
    packages: Vec<String>,
}

/// A management event as CloudTrail's event history keeps it.
#[derive(Debug, Clone)]
struct TrailEvent {
    name: &'static str,
    source: &'static str,
    resource: String,
    region: String,
    /// The access key of the caller, resolved to its principal when looked up (AWS knows every
    /// key's principal; the test bed learns them as they are used).
    key: String,
}

struct Shared {
    upstream: String,
    state: Mutex<State>,
    /// Signalled whenever a request arrives (for tests waiting for a held one).
    arrived: Condvar,
    stopped: AtomicBool,
    /// Applies the tags of a CreateBucket request, as S3 does and moto does not.
    create_bucket_tags: AtomicBool,
    /// Held while a conditional PutObject is forwarded. S3 decides conditional writes atomically
    /// ("Add preconditions to S3 operations with conditional requests", Amazon S3 User Guide: "If
    /// multiple conditional writes occur for the same object name, the first write operation to
    /// finish succeeds. Amazon S3 then fails subsequent writes with a 412 Precondition Failed
    /// response"); moto 5.2 compares the ETag and stores the object in two steps, so two writes
    /// at once could both pass. One at a time through the test bed, they cannot.
    conditional_writes: Mutex<()>,
}

pub struct Proxy {
    pub endpoint: String,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy forwarding to `upstream` (a loopback `http://host:port`), emulating what a real
    /// account does by default ([`Emulation::aws`]).
    pub fn start(upstream: &str) -> Self {
        Self::with(upstream, Emulation::aws())
    }

    /// A proxy with these emulated behaviours.
    pub fn with(upstream: &str, emulation: Emulation) -> Self {
        assert_loopback(upstream);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let shared = Arc::new(Shared {
            upstream: upstream.trim_start_matches("http://").to_string(),
            state: Mutex::new(State {
                emulation: Some(emulation),
                ..State::default()
            }),
            arrived: Condvar::new(),
            stopped: AtomicBool::new(false),
            create_bucket_tags: AtomicBool::new(true),
            conditional_writes: Mutex::new(()),
        });
        let accepting = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accepting);
                std::thread::spawn(move || {
                    let _ = handle(&shared, stream);
                });
            }
        });
        Self { endpoint, shared }
    }

    /// Makes `access_key` known as `arn`'s (which a GetCallerIdentity through the test bed also
    /// teaches it), for the event history and parameters' last modifiers.
    pub fn principal(&self, access_key: &str, arn: &str) {
        self.state()
            .principals
            .insert(access_key.to_string(), arn.to_string());
    }

    /// Applies `fault` to the next `times` requests of `operation`.
    pub fn inject(&self, operation: &str, fault: Fault, times: u32) {
        self.state().rules.push(Rule {
            operation: operation.to_string(),
            body_contains: None,
            fault,
            remaining: times,
        });
    }

    /// Fails `percent` % of all requests at random, from `seed`.
    pub fn random(&self, seed: u64, percent: u64) {
        self.state().random = Some(Random {
            state: seed.max(1),
            percent,
        });
    }

    /// Stops applying CreateBucket's tags: the proxy then behaves like an endpoint that ignores
    /// them (moto as it is).
    pub fn ignore_create_bucket_tags(&self) {
        self.shared
            .create_bucket_tags
            .store(false, Ordering::SeqCst);
    }

    /// Registers an instance with Systems Manager (as its SSM agent would).
    pub fn register_with_ssm(&self, instance_id: &str) {
        self.state().ssm_managed.push(instance_id.to_string());
    }

    /// Shows `instance_id` in `state` (e.g. `pending`) in DescribeInstances answers.
    pub fn instance_state(&self, instance_id: &str, state: &str) {
        self.state()
            .instance_states
            .insert(instance_id.to_string(), state.to_string());
    }

    /// Refuses every request of `operation` from now on, as `denial` says.
    pub fn deny(&self, operation: &str, denial: Denial) {
        self.inject(operation, Fault::Deny(denial), u32::MAX);
    }

    /// Denies the requests of `operation` whose body contains `needle` (one account's
    /// AssumeRole, say), until [`Proxy::clear`].
    pub fn deny_matching(&self, operation: &str, needle: &str, denial: Denial) {
        self.state().rules.push(Rule {
            operation: operation.to_string(),
            body_contains: Some(needle.to_string()),
            fault: Fault::Deny(denial),
            remaining: u32::MAX,
        });
    }

    /// The (operation, error code) answers the emulation gave instead of moto's.
    pub fn emulated(&self) -> Vec<(String, String)> {
        self.state().emulated.clone()
    }

    /// Removes every fault.
    pub fn clear(&self) {
        let mut state = self.state();
        state.rules.clear();
        state.random = None;
    }

    /// Operations seen so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.state().seen.iter().map(|(op, _)| op.clone()).collect()
    }

    /// Mutating operations seen so far, in order of first appearance, without repeats.
    pub fn mutating_operations(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for op in self.operations() {
            if is_mutating(&op) && !out.contains(&op) {
                out.push(op);
            }
        }
        out
    }

    /// How many requests had a fault injected.
    pub fn injected(&self) -> usize {
        self.state().seen.iter().filter(|(_, f)| *f).count()
    }

    /// Waits until a request of `operation` has arrived; false after `timeout`.
    pub fn wait_for(&self, operation: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        loop {
            if state.seen.iter().any(|(op, _)| op == operation) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .shared
                .arrived
                .wait_timeout(state, deadline - now)
                .expect("proxy state")
                .0;
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().expect("proxy state")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees `stopped`.
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

/// One HTTP/1.1 request, as read from the client.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request as sent upstream: the same, on a connection closed after the answer.
    fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        for (key, value) in &self.headers {
            if !key.eq_ignore_ascii_case("connection") {
                out.extend_from_slice(format!("{key}: {value}\r\n").as_bytes());
            }
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((key, value)) = header.split_once(':') {
            headers.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        // Kept chunked, as sent: read through the last chunk and its trailers.
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            request.body.extend_from_slice(size_line.as_bytes());
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if size == 0 {
                loop {
                    let mut trailer = String::new();
                    reader.read_line(&mut trailer)?;
                    request.body.extend_from_slice(trailer.as_bytes());
                    if trailer.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            request.body.extend_from_slice(&chunk);
        }
    } else if let Some(length) = request
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(Some(request))
}

fn handle(shared: &Shared, stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut client = stream;
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    let body_text = String::from_utf8_lossy(&request.body[..request.body.len().min(4096)]);
    let operation = match execute_api_call(&request) {
        Some(_) => EXECUTE_API.to_string(),
        None => operation_of(
            &request.method,
            &request.target,
            request.header("x-amz-target"),
            &body_text,
        ),
    };
    let service = service_of(&request);
    let fault = {
        let mut state = shared.state.lock().expect("proxy state");
        let mut fault = None;
        if let Some(rule) = state.rules.iter_mut().find(|r| {
            r.operation == operation
                && r.remaining > 0
                && r.body_contains
                    .as_ref()
                    .is_none_or(|needle| body_text.contains(needle.as_str()))
        }) {
            rule.remaining -= 1;
            fault = Some(rule.fault);
        } else if let Some(random) = state.random.as_mut() {
            let roll = random.next();
            if roll % 100 < random.percent {
                fault = Some(Fault::Fail(match (roll >> 8) % 3 {
                    0 => 500,
                    1 => 503,
                    _ => 429,
                }));
            }
        }
        state.seen.push((operation.clone(), fault.is_some()));
        shared.arrived.notify_all();
        fault
    };
    let create_bucket_tags =
        operation == "CreateBucket" && shared.create_bucket_tags.load(Ordering::SeqCst);
    let emulated = match fault {
        None => emulate(shared, &request, &operation, &service),
        Some(_) => None,
    };
    match (fault, emulated) {
        (None, Some(answer)) => client.write_all(&answer)?,
        (None, None) => {
            let answer = forward(shared, &request)?;
            if create_bucket_tags && answer.starts_with(b"HTTP/1.1 200") {
                apply_create_bucket_tags(shared, &request)?;
            }
            learn(shared, &request, &operation, &answer)?;
            let history = shared
                .state
                .lock()
                .expect("proxy state")
                .emulation
                .as_ref()
                .is_some_and(|e| e.event_history);
            let answer = match operation.as_str() {
                "DescribeInstances" => with_instance_states(shared, answer),
                "DescribeParameters" if history => with_last_modifiers(shared, &request, answer),
                "DeleteRestApi" => api_not_found(answer),
                _ => aws_shaped_denial(&service, answer),
            };
            client.write_all(&answer)?;
        }
        (Some(Fault::Delay(ms)), _) => {
            std::thread::sleep(Duration::from_millis(ms));
            let answer = forward(shared, &request)?;
            learn(shared, &request, &operation, &answer)?;
            client.write_all(&answer)?;
        }
        (Some(Fault::Deny(denial)), _) => {
            client.write_all(&denied_answer(&service, &operation, denial))?;
        }
        (Some(Fault::Fail(status)), _) => {
            client.write_all(&error_answer(status, &service))?;
        }
        (Some(Fault::LoseAnswer), _) => {
            // Applied upstream; the client sees a server error and retries.
            let answer = forward(shared, &request)?;
            if create_bucket_tags && answer.starts_with(b"HTTP/1.1 200") {
                apply_create_bucket_tags(shared, &request)?;
            }
            learn(shared, &request, &operation, &answer)?;
            client.write_all(&error_answer(500, &service))?;
        }
        (Some(Fault::Hold), _) => {
            while !shared.stopped.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let _ = client.flush();
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// S3 applies the tags of `CreateBucketConfiguration` with the bucket ("Tags: an array of tags
/// that you can apply to the bucket that you're creating", API_CreateBucketConfiguration in the
/// Amazon S3 API Reference); moto 5.2 ignores them. The proxy completes moto: after a successful
/// CreateBucket it sends the same tags as PutBucketTagging, with the request's own credentials.
fn apply_create_bucket_tags(shared: &Shared, request: &Request) -> std::io::Result<()> {
    let body = String::from_utf8_lossy(&request.body);
    let Some(tags) = body
        .split("<Tags>")
        .nth(1)
        .and_then(|t| t.split("</Tags>").next())
    else {
        return Ok(());
    };
    let tagging = format!(
        "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>{tags}</TagSet></Tagging>"
    );
    let bucket = request
        .target
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let mut headers = signed_headers(request);
    headers.push(("Content-Length".to_string(), tagging.len().to_string()));
    let put = Request {
        method: "PUT".to_string(),
        target: format!("/{bucket}?tagging"),
        headers,
        body: tagging.into_bytes(),
    };
    forward(shared, &put).map(|_| ())
}

fn forward(shared: &Shared, request: &Request) -> std::io::Result<Vec<u8>> {
    let conditional = request.method == "PUT"
        && (request.header("if-match").is_some() || request.header("if-none-match").is_some());
    let _one_at_a_time = conditional.then(|| {
        shared
            .conditional_writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    });
    let mut upstream = TcpStream::connect(&shared.upstream)?;
    upstream.set_read_timeout(Some(Duration::from_secs(60)))?;
    upstream.write_all(&request.bytes())?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer)?;
    Ok(answer)
}

/// The service a request is signed for: the credential scope of its SigV4 `Authorization` header
/// (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`).
fn service_of(request: &Request) -> String {
    request
        .header("authorization")
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split('/').nth(3))
        .unwrap_or("s3")
        .to_string()
}

/// An AWS-style error answer in the service's own shape: a server error (500, 503), or — for 429 —
/// the service's throttling error as that service sends it.
fn error_answer(status: u16, service: &str) -> Vec<u8> {
    let throttle = status == 429;
    let (status, code) = match (service, throttle) {
        (_, false) if status == 503 => (503, "ServiceUnavailable"),
        (_, false) => (500, "InternalError"),
        ("s3", true) => (503, "SlowDown"),
        ("ec2", true) => (503, "RequestLimitExceeded"),
        ("ssm", true) => (400, "ThrottlingException"),
        // Lambda's and API Gateway's throttling ("Errors", their API references).
        ("lambda", true) => (429, "TooManyRequestsException"),
        ("apigateway", true) => (429, "TooManyRequestsException"),
        ("cognito-idp", true) => (400, "TooManyRequestsException"),
        (_, true) => (400, "Throttling"),
    };
    let message = "injected by the test proxy";
    let (content_type, body) = match service {
        "ssm" => (
            "application/x-amz-json-1.1",
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        ),
        "cognito-idp" => (
            "application/x-amz-json-1.1",
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        ),
        // REST-JSON services: the code in x-amzn-ErrorType (added below) and the body.
        "lambda" | "apigateway" => (
            "application/json",
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        ),
        "s3" => (
            "application/xml",
            format!(
                "<Error><Code>{code}</Code><Message>{message}</Message><RequestId>proxy</RequestId></Error>"
            ),
        ),
        "ec2" => (
            "text/xml",
            format!(
                "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>\
                 </Errors><RequestID>proxy</RequestID></Response>"
            ),
        ),
        _ => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>{message}\
                 </Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
            ),
        ),
    };
    let error_type = match service {
        "lambda" | "apigateway" => format!("x-amzn-ErrorType: {code}\r\n"),
        _ => String::new(),
    };
    let reason = match status {
        400 => "Bad Request",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         x-amzn-RequestId: proxy\r\n{error_type}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The bucket an S3 request is for (path-style), if any.
fn bucket_of(request: &Request) -> Option<String> {
    let path = request.target.split('?').next().unwrap_or_default();
    let path = path
        .split("://")
        .nth(1)
        .map_or(path, |rest| rest.find('/').map_or("/", |i| &rest[i..]));
    let bucket = path.trim_start_matches('/').split('/').next()?;
    (!bucket.is_empty()).then(|| bucket.to_string())
}

/// The region a request is signed for (its SigV4 credential scope).
fn signing_region(request: &Request) -> Option<String> {
    request
        .header("authorization")
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split('/').nth(2))
        .map(str::to_string)
}

/// The text between `<tag>` and `</tag>` in `body`.
fn xml_value(body: &str, tag: &str) -> Option<String> {
    body.split(&format!("<{tag}>"))
        .nth(1)
        .and_then(|rest| rest.split(&format!("</{tag}>")).next())
        .map(str::to_string)
}

/// The value of `name` in a form-encoded (query protocol) body.
fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .map(|v| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
}

/// The headers a forwarded follow-up request keeps from the client's: moto reads the account from
/// the credentials and does not check signatures.
fn signed_headers(request: &Request) -> Vec<(String, String)> {
    request
        .headers
        .iter()
        .filter(|(k, _)| {
            [
                "host",
                "authorization",
                "x-amz-security-token",
                "x-amz-date",
            ]
            .iter()
            .any(|keep| k.eq_ignore_ascii_case(keep))
        })
        .cloned()
        // Not the client's own request: the harness leaves these out of a session's requests.
        .chain([(FOLLOW_UP_HEADER.to_string(), "1".to_string())])
        .collect()
}

/// Marks the requests the test bed sends on its own.
pub const FOLLOW_UP_HEADER: &str = "x-testbed-follow-up";

/// An S3 error answer; `region` adds `x-amz-bucket-region`. HEAD answers carry no body.
fn s3_error(
    request: &Request,
    status: u16,
    reason: &str,
    code: &str,
    message: &str,
    region: Option<&str>,
) -> Vec<u8> {
    let body = if request.method == "HEAD" {
        String::new()
    } else {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}\
             </Message><RequestId>testbed</RequestId></Error>"
        )
    };
    let region = region
        .map(|r| format!("x-amz-bucket-region: {r}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
         {region}x-amz-request-id: testbed\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The canned ACLs that make an object public.
const PUBLIC_ACLS: &[&str] = &["public-read", "public-read-write", "authenticated-read"];

/// Answers what moto would answer differently from AWS, or `None` to forward the request; records
/// each emulated answer.
fn emulate(shared: &Shared, request: &Request, operation: &str, service: &str) -> Option<Vec<u8>> {
    let answer = match operation {
        EXECUTE_API => Some(execute_api(shared, request)),
        _ => emulated_answer(shared, request, operation, service),
    }?;
    let text = String::from_utf8_lossy(&answer);
    let code = xml_value(&text, "Code")
        .or_else(|| {
            text.split("\"__type\":\"")
                .nth(1)
                .and_then(|t| t.split('"').next())
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.split_whitespace().nth(1).unwrap_or("?").to_string());
    shared
        .state
        .lock()
        .expect("proxy state")
        .emulated
        .push((operation.to_string(), code));
    Some(answer)
}

fn emulated_answer(
    shared: &Shared,
    request: &Request,
    operation: &str,
    service: &str,
) -> Option<Vec<u8>> {
    let mut state = shared.state.lock().expect("proxy state");
    let emulation = state.emulation.clone()?;
    if operation == "RunInstances"
        && let Some(token) = form_value(&String::from_utf8_lossy(&request.body), "ClientToken")
        && let Some(answer) = state.launches.get(&token)
    {
        return Some(answer.clone());
    }
    match service {
        "cloudtrail" if operation == "LookupEvents" && emulation.event_history => {
            Some(lookup_events(&state, request))
        }
        "ssm" if operation == "DescribeInstanceInformation" => {
            let list: Vec<String> = state
                .ssm_managed
                .iter()
                .map(|id| {
                    format!(
                        r#"{{"InstanceId":"{id}","PingStatus":"Online","ResourceType":"EC2Instance"}}"#
                    )
                })
                .collect();
            let body = format!(r#"{{"InstanceInformationList":[{}]}}"#, list.join(","));
            Some(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes(),
            )
        }
        "ec2"
            if matches!(
                operation,
                "AssociateIamInstanceProfile"
                    | "ReplaceIamInstanceProfileAssociation"
                    | "RunInstances"
            ) =>
        {
            let body = String::from_utf8_lossy(&request.body);
            let name = form_value(&body, "IamInstanceProfile.Name").or_else(|| {
                form_value(&body, "IamInstanceProfile.Arn")
                    .and_then(|arn| arn.rsplit('/').next().map(str::to_string))
            })?;
            let created = *state.profiles.get(&name)?;
            (created.elapsed() < emulation.profile_invisible).then(|| {
                let message = format!(
                    "Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM \
                     Instance Profile name"
                );
                format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{}",
                    ec2_error_body("InvalidParameterValue", &message).len(),
                    ec2_error_body("InvalidParameterValue", &message)
                )
                .into_bytes()
            })
        }
        "lambda" if matches!(operation, "CreateFunction" | "UpdateFunctionConfiguration") => {
            let body: serde_json::Value = serde_json::from_slice(&request.body).ok()?;
            let role = body["Role"].as_str()?.rsplit('/').next()?.to_string();
            let created = *state.roles.get(&role)?;
            (created.elapsed() < emulation.role_unassumable).then(|| {
                let body = r#"{"__type":"InvalidParameterValueException","Type":"User","message":"The role defined for the function cannot be assumed by Lambda."}"#;
                format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\
                     x-amzn-ErrorType: InvalidParameterValueException\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            })
        }
        "s3" => {
            if emulation.s3_select_unavailable && operation == "SelectObjectContent" {
                return Some(s3_error(
                    request,
                    405,
                    "Method Not Allowed",
                    "MethodNotAllowed",
                    "The specified method is not allowed against this resource.",
                    None,
                ));
            }
            let acl = request.header("x-amz-acl").map(str::to_ascii_lowercase);
            let public_grant = request.headers.iter().any(|(k, v)| {
                k.to_ascii_lowercase().starts_with("x-amz-grant-")
                    && (v.contains("AllUsers") || v.contains("AuthenticatedUsers"))
            });
            let public = acl.as_deref().is_some_and(|a| PUBLIC_ACLS.contains(&a)) || public_grant;
            // A multipart upload takes its object's ACL when it is created: S3 applies both rules
            // to CreateMultipartUpload as to PutObject ("Blocking public access to your Amazon S3
            // storage" and "Controlling ownership of objects", S3 User Guide, list it among the
            // requests with an ACL that are refused).
            let writes_acl = matches!(
                operation,
                "PutObject" | "PutObjectAcl" | "CreateMultipartUpload"
            );
            if emulation.account_public_access_block && writes_acl && public {
                return Some(s3_error(
                    request,
                    403,
                    "Forbidden",
                    "AccessDenied",
                    "Access Denied",
                    None,
                ));
            }
            let bucket = bucket_of(request)?;
            if matches!(
                operation,
                "CreateBucket" | "ListBuckets" | "GetBucketLocation"
            ) {
                return None;
            }
            let facts = state.buckets.get_mut(&bucket)?;
            if emulation.region_redirect
                && signing_region(request).is_some_and(|signed| signed != facts.region)
            {
                let message = "The bucket you are attempting to access must be addressed using \
                               the specified endpoint. Please send all future requests to this \
                               endpoint.";
                return Some(s3_error(
                    request,
                    301,
                    "Moved Permanently",
                    "PermanentRedirect",
                    message,
                    Some(&facts.region.clone()),
                ));
            }
            if facts.created.elapsed() < emulation.bucket_settling {
                facts.settling_answers += 1;
                return Some(if facts.settling_answers % 2 == 1 {
                    s3_error(
                        request,
                        404,
                        "Not Found",
                        "NoSuchBucket",
                        "The specified bucket does not exist",
                        None,
                    )
                } else {
                    s3_error(
                        request,
                        409,
                        "Conflict",
                        "OperationAborted",
                        "A conflicting conditional operation is currently in progress against \
                         this resource. Please try again.",
                        None,
                    )
                });
            }
            let acl_allowed = acl
                .as_deref()
                .is_none_or(|a| a == "bucket-owner-full-control")
                && !request
                    .headers
                    .iter()
                    .any(|(k, _)| k.to_ascii_lowercase().starts_with("x-amz-grant-"));
            (facts.enforced && writes_acl && !acl_allowed).then(|| {
                s3_error(
                    request,
                    400,
                    "Bad Request",
                    "AccessControlListNotSupported",
                    "The bucket does not allow ACLs",
                    None,
                )
            })
        }
        _ => None,
    }
}

fn ec2_error_body(code: &str, message: &str) -> String {
    format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>\
         </Errors><RequestID>testbed</RequestID></Response>"
    )
}

/// Learns what the emulation needs from a successful answer: a bucket's region and ownership, an
/// instance profile's creation.
fn learn(
    shared: &Shared,
    request: &Request,
    operation: &str,
    answer: &[u8],
) -> std::io::Result<()> {
    // 201: Lambda's CreateFunction and API Gateway's creates answer "Created".
    if ![&b"HTTP/1.1 200"[..], b"HTTP/1.1 201", b"HTTP/1.1 204"]
        .iter()
        .any(|ok| answer.starts_with(ok))
    {
        return Ok(());
    }
    let body = String::from_utf8_lossy(&request.body).into_owned();
    let mut state = shared.state.lock().expect("proxy state");
    let Some(emulation) = state.emulation.clone() else {
        return Ok(());
    };
    if emulation.event_history {
        record_event(&mut state, request, operation, &body, answer);
    }
    match operation {
        "CreateBucket" => {
            let Some(bucket) = bucket_of(request) else {
                return Ok(());
            };
            let region = xml_value(&body, "LocationConstraint")
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "us-east-1".to_string());
            let enforced = emulation.acls_disabled_by_default
                && request
                    .header("x-amz-object-ownership")
                    .is_none_or(|o| o == "BucketOwnerEnforced");
            state.buckets.insert(
                bucket.clone(),
                BucketFacts {
                    region,
                    enforced,
                    created: Instant::now(),
                    settling_answers: 0,
                },
            );
            drop(state);
            if enforced {
                // moto keeps no ownership controls for a new bucket; AWS reports the default.
                let controls = "<OwnershipControls xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                                <Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule>\
                                </OwnershipControls>";
                let mut headers = signed_headers(request);
                headers.push(("Content-Length".into(), controls.len().to_string()));
                forward(
                    shared,
                    &Request {
                        method: "PUT".into(),
                        target: format!("/{bucket}?ownershipControls"),
                        headers,
                        body: controls.as_bytes().to_vec(),
                    },
                )?;
            }
        }
        "PutBucketOwnershipControls" => {
            if let (Some(bucket), Some(ownership)) =
                (bucket_of(request), xml_value(&body, "ObjectOwnership"))
                && let Some(facts) = state.buckets.get_mut(&bucket)
            {
                facts.enforced = ownership == "BucketOwnerEnforced";
            }
        }
        "DeleteBucket" => {
            if let Some(bucket) = bucket_of(request) {
                state.buckets.remove(&bucket);
            }
        }
        "CreateInstanceProfile" => {
            if let Some(name) = form_value(&body, "InstanceProfileName") {
                state.profiles.insert(name, Instant::now());
            }
        }
        "CreateRole" => {
            if let Some(name) = form_value(&body, "RoleName") {
                state.roles.insert(name, Instant::now());
            }
        }
        "RunInstances" => {
            if let Some(token) = form_value(&body, "ClientToken") {
                state.launches.insert(token, answer.to_vec());
            }
        }
        "CreateRestApi" => {
            let created: Option<serde_json::Value> =
                serde_json::from_slice(answer_body(answer)).ok();
            if let (Some(id), Some(key), Some(region)) = (
                created.as_ref().and_then(|c| c["id"].as_str()),
                access_key_of(request),
                signing_region(request),
            ) {
                state.apis.insert(id.to_string(), (key, region));
            }
        }
        "CreateFunction" | "UpdateFunctionCode" => {
            let sent: Option<serde_json::Value> = serde_json::from_str(&body).ok();
            if let Some(zip) = sent.as_ref().and_then(|s| {
                s.pointer("/Code/ZipFile")
                    .or_else(|| s.get("ZipFile"))
                    .and_then(|z| z.as_str())
            }) {
                state.packages.push(zip.to_string());
            }
        }
        _ => {}
    }
    Ok(())
}

/// The body of a raw HTTP answer.
fn answer_body(answer: &[u8]) -> &[u8] {
    answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&[], |at| &answer[at + 4..])
}

/// The operation name a call to a deployed API's invoke URL is known by (for faults and counts).
pub const EXECUTE_API: &str = "ExecuteApi";

/// A call to a deployed REST API, at the emulators' form of its invoke URL
/// (`/restapis/ID/STAGE/_user_request_/PATH?QUERY`): (id, stage, path, query).
fn execute_api_call(request: &Request) -> Option<(String, String, String, String)> {
    let rest = request.target.strip_prefix("/restapis/")?;
    let (api, rest) = rest.split_once('/')?;
    let (stage, rest) = rest.split_once("/_user_request_/")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    Some((
        api.to_string(),
        stage.to_string(),
        path.to_string(),
        query.to_string(),
    ))
}

/// Answers a call to a deployed API as API Gateway would, where moto ignores Lambda proxy
/// integrations and authorizers: `execute_api.py` (its documentation names the AWS behaviours it
/// follows) checks the stage, the authorizer's token and the function's permission, then runs
/// the function's uploaded package as its role with `run_function.py`.
fn execute_api(shared: &Shared, request: &Request) -> Vec<u8> {
    let Some((api, stage, path, query)) = execute_api_call(request) else {
        return gateway_answer(403, r#"{"message":"Missing Authentication Token"}"#, &[]);
    };
    let (known, packages) = {
        let state = shared.state.lock().expect("proxy state");
        (state.apis.get(&api).cloned(), state.packages.clone())
    };
    let Some((access_key, region)) = known else {
        // An API the test bed did not see created: API Gateway knows no such host.
        return gateway_answer(403, r#"{"message":"Forbidden"}"#, &[]);
    };
    let query: serde_json::Map<String, serde_json::Value> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |t: &str| {
                percent_encoding::percent_decode_str(&t.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), serde_json::Value::String(decode(v)))
        })
        .collect();
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), serde_json::Value::String(v.clone())))
        .collect();
    let input = serde_json::json!({
        "endpoint": format!("http://{}", shared.upstream),
        "api": {"id": api, "access_key": access_key, "region": region},
        "stage": stage,
        "path": path,
        "method": request.method,
        "query": query,
        "headers": headers,
        "packages": packages,
        "runner": crate::harness::project_dir().join("tests/it/run_function.py"),
    });
    let ran = run_execute_api(&input);
    let Ok(answer) = ran else {
        let reason = ran.err().unwrap_or_default();
        return gateway_answer(500, r#"{"message":"Internal server error"}"#, &[reason]);
    };
    let status = answer["status"].as_u64().unwrap_or(502) as u16;
    let body = answer["body"].as_str().unwrap_or_default();
    let mut extra: Vec<String> = answer["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
        .collect();
    if let Some(log) = answer["log"].as_array() {
        // What the function (or API Gateway's execution log) said, for a failing test to show.
        extra.extend(
            log.iter()
                .filter_map(|l| l.as_str())
                .map(|l| format!("x-testbed-log: {}", l.replace(['\r', '\n'], " "))),
        );
    }
    gateway_answer(status, body, &extra)
}

fn run_execute_api(input: &serde_json::Value) -> Result<serde_json::Value, String> {
    let mut child =
        std::process::Command::new(crate::harness::project_dir().join(".venv/bin/python"))
            .arg(crate::harness::project_dir().join("tests/it/execute_api.py"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(input.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).replace(['\r', '\n'], " "));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())
}

fn gateway_answer(status: u16, body: &str, headers: &[String]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} Emulated\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("content-type:"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut answer = head.into_bytes();
    answer.extend_from_slice(body.as_bytes());
    answer
}

/// The access key a request is signed with.
fn access_key_of(request: &Request) -> Option<String> {
    request
        .header("authorization")
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split('/').next())
        .map(str::to_string)
}

/// Records who did what of a successful request: a caller's ARN from its GetCallerIdentity, a
/// creation in the event history, a parameter's last modifier.
fn record_event(state: &mut State, request: &Request, operation: &str, body: &str, answer: &[u8]) {
    let Some(key) = access_key_of(request) else {
        return;
    };
    if operation == "GetCallerIdentity" {
        if let Some(arn) = xml_value(&String::from_utf8_lossy(answer), "Arn") {
            state.principals.insert(key, arn);
        }
        return;
    }
    let iam = |name| form_value(body, name);
    let (name, source, resource, region) = match operation {
        "CreateBucket" => {
            let Some(bucket) = bucket_of(request) else {
                return;
            };
            let region = xml_value(body, "LocationConstraint")
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "us-east-1".to_string());
            ("CreateBucket", "s3.amazonaws.com", bucket, region)
        }
        "CreateRole" => match iam("RoleName") {
            Some(role) => (
                "CreateRole",
                "iam.amazonaws.com",
                role,
                "us-east-1".to_string(),
            ),
            None => return,
        },
        "CreateInstanceProfile" => match iam("InstanceProfileName") {
            Some(profile) => (
                "CreateInstanceProfile",
                "iam.amazonaws.com",
                profile,
                "us-east-1".to_string(),
            ),
            None => return,
        },
        "PutParameter" => {
            let name = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["Name"].as_str().map(str::to_string));
            if let Some(name) = name {
                state.modifiers.push((name, key));
            }
            return;
        }
        _ => return,
    };
    state.events.push(TrailEvent {
        name,
        source,
        resource,
        region,
        key,
    });
}

/// CloudTrail's `LookupEvents`, by resource name, over the events recorded in the request's region.
fn lookup_events(state: &State, request: &Request) -> Vec<u8> {
    let asked: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let resource = asked["LookupAttributes"][0]["AttributeValue"]
        .as_str()
        .unwrap_or_default();
    let region = signing_region(request).unwrap_or_default();
    // Each account's event history is its own.
    let account = |key: &str| {
        let arn = state.principals.get(key)?;
        Some(arn.split(':').nth(4)?.to_string())
    };
    let asking = access_key_of(request).and_then(|key| account(&key));
    let events: Vec<serde_json::Value> = state
        .events
        .iter()
        .rev()
        .filter(|e| e.resource == resource && e.region == region)
        .filter(|e| asking.is_some() && account(&e.key) == asking)
        .map(|e| {
            let caller = state.principals.get(&e.key).cloned().unwrap_or_default();
            let record = serde_json::json!({
                "eventVersion": "1.09",
                "eventName": e.name,
                "eventSource": e.source,
                "awsRegion": e.region,
                "userIdentity": {"arn": caller},
            });
            serde_json::json!({
                "EventId": format!("testbed-{}", e.resource),
                "EventName": e.name,
                "EventSource": e.source,
                "EventTime": 1.7e9,
                "Resources": [{"ResourceName": e.resource}],
                "CloudTrailEvent": record.to_string(),
            })
        })
        .collect();
    json_answer(&serde_json::json!({ "Events": events }).to_string())
}

fn json_answer(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Names each parameter's last modifier in a DescribeParameters answer, where moto says "N/A".
fn with_last_modifiers(shared: &Shared, request: &Request, answer: Vec<u8>) -> Vec<u8> {
    // The last write of each name in the asking account (each account's parameters are its own).
    let modifiers: HashMap<String, String> = {
        let state = shared.state.lock().expect("proxy state");
        let account = |key: &str| {
            let arn = state.principals.get(key)?;
            Some(arn.split(':').nth(4)?.to_string())
        };
        let asking = access_key_of(request).and_then(|key| account(&key));
        state
            .modifiers
            .iter()
            .filter(|(_, key)| asking.is_some() && account(key) == asking)
            .filter_map(|(name, key)| Some((name.clone(), state.principals.get(key)?.clone())))
            .collect()
    };
    let text = String::from_utf8_lossy(&answer).into_owned();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return answer;
    };
    if !head.starts_with("HTTP/1.1 200") {
        return answer;
    }
    let Ok(mut document) = serde_json::from_str::<serde_json::Value>(body) else {
        return answer;
    };
    if let Some(parameters) = document["Parameters"].as_array_mut() {
        for parameter in parameters {
            let name = parameter["Name"].as_str().unwrap_or_default().to_string();
            if let Some(arn) = modifiers.get(&name) {
                parameter["LastModifiedUser"] = serde_json::Value::from(arn.clone());
            }
        }
    }
    json_answer(&document.to_string())
}

/// AWS's access-denied answer in the service's own shape.
fn denied_answer(service: &str, operation: &str, denial: Denial) -> Vec<u8> {
    let action = format!("{service}:{operation}");
    let refused = |why: &str| {
        format!(
            "User: arn:aws:sts::123456789012:assumed-role/voclabs/student is not authorized to \
             perform: {action} {why}"
        )
    };
    let message = match denial {
        Denial::Identity => refused(&format!(
            "because no identity-based policy allows the {action} action"
        )),
        Denial::ServiceControlPolicy => {
            refused("with an explicit deny in a service control policy")
        }
        Denial::InvalidMfaCode => {
            "MultiFactorAuthentication failed with invalid MFA one time pass code. ".to_string()
        }
        Denial::Encoded => "You are not authorized to perform this operation. Encoded \
                            authorization failure message: ENCODEDtestbed0123456789"
            .to_string(),
    };
    access_denied(service, &message)
}

/// moto's policy enforcement answers every service's refusal in one XML shape
/// (`ErrorResponse/Errors/Error`, served as text/html); AWS answers in each service's own
/// ("Error responses" of each API reference: IAM and STS `ErrorResponse/Error`, EC2
/// `UnauthorizedOperation`, S3 `Error`, SSM `AccessDeniedException`). The test bed reshapes it.
fn aws_shaped_denial(service: &str, answer: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&answer);
    if text.split_whitespace().nth(1) != Some("403") {
        return answer;
    }
    if !text.contains("<Errors>") || !text.contains("<Code>AccessDenied</Code>") {
        return answer;
    }
    let message = xml_value(&text, "Message").unwrap_or_else(|| "Access Denied".into());
    access_denied(service, &message)
}

/// An access-denied answer carrying `message`, in the service's own shape.
fn access_denied(service: &str, message: &str) -> Vec<u8> {
    let (status, content_type, body) = match service {
        "s3" => (
            403,
            "application/xml",
            format!("<Error><Code>AccessDenied</Code><Message>{message}</Message></Error>"),
        ),
        "ssm" => (
            400,
            "application/x-amz-json-1.1",
            format!(r#"{{"__type":"AccessDeniedException","message":"{message}"}}"#),
        ),
        "ec2" => (
            403,
            "text/xml",
            ec2_error_body("UnauthorizedOperation", message),
        ),
        _ => (
            403,
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>\
                 {message}</Message></Error><RequestId>testbed</RequestId></ErrorResponse>"
            ),
        ),
    };
    let reason = if status == 400 {
        "Bad Request"
    } else {
        "Forbidden"
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// EC2's instance state codes ("InstanceState", Amazon EC2 API Reference).
fn state_code(state: &str) -> u16 {
    match state {
        "pending" => 0,
        "running" => 16,
        "shutting-down" => 32,
        "terminated" => 48,
        "stopping" => 64,
        _ => 80,
    }
}

/// Rewrites the states of the instances a test chose in a DescribeInstances answer.
fn with_instance_states(shared: &Shared, answer: Vec<u8>) -> Vec<u8> {
    let states = shared
        .state
        .lock()
        .expect("proxy state")
        .instance_states
        .clone();
    if states.is_empty() {
        return answer;
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return answer;
    };
    let mut body = body.to_string();
    for (id, state) in &states {
        let Some(at) = body.find(&format!("<instanceId>{id}</instanceId>")) else {
            continue;
        };
        let (Some(start), Some(end)) = (
            body[at..].find("<instanceState>").map(|i| at + i),
            body[at..].find("</instanceState>").map(|i| at + i),
        ) else {
            continue;
        };
        body.replace_range(
            start..end,
            &format!(
                "<instanceState><code>{}</code><name>{state}</name>",
                state_code(state)
            ),
        );
    }
    let head: Vec<String> = head
        .split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else {
                line.to_string()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}

/// moto answers DeleteRestApi for an API that is not there (a delete retried after its answer
/// was lost) with a bare 500; AWS answers 404 `NotFoundException` ("DeleteRestApi", API Gateway
/// API Reference: Errors), which is what a retried delete meets.
fn api_not_found(answer: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&answer);
    if !(text.starts_with("HTTP/1.1 500") && text.contains("<!doctype html>")) {
        return answer;
    }
    let body = r#"{"message":"Invalid API identifier specified"}"#;
    format!(
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
         x-amzn-ErrorType: NotFoundException\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
