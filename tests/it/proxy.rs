//! A fault-injecting HTTP proxy in front of moto, for the faults a real account has and moto does
//! not: 5xx answers and throttling that outlast the SDK's retries, answers lost after the request
//! was applied, requests that hang, random failures.
//!
//! AWS documents all of these as things a client must expect: "Error retries and exponential
//! backoff in AWS" (https://docs.aws.amazon.com/general/latest/gr/api-retries.html) — 5xx and
//! throttling errors are to be retried, and a retried non-idempotent request may find its own
//! earlier effect (the answer, not the request, was lost).
//!
//! One proxy per test, on 127.0.0.1, forwarding only to the loopback moto. Requests are told apart
//! by operation with the harness's own classification. Each connection carries one request
//! (`Connection: close`), which keeps the proxy simple and the SDK's behaviour unchanged.

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
}

#[derive(Debug, Clone)]
struct Rule {
    operation: String,
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
}

struct Shared {
    upstream: String,
    state: Mutex<State>,
    /// Signalled whenever a request arrives (for tests waiting for a held one).
    arrived: Condvar,
    stopped: AtomicBool,
    /// Applies the tags of a CreateBucket request, as S3 does and moto does not.
    create_bucket_tags: AtomicBool,
}

pub struct Proxy {
    pub endpoint: String,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy forwarding to `upstream` (a loopback `http://host:port`).
    pub fn start(upstream: &str) -> Self {
        assert_loopback(upstream);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let shared = Arc::new(Shared {
            upstream: upstream.trim_start_matches("http://").to_string(),
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            stopped: AtomicBool::new(false),
            create_bucket_tags: AtomicBool::new(true),
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

    /// Applies `fault` to the next `times` requests of `operation`.
    pub fn inject(&self, operation: &str, fault: Fault, times: u32) {
        self.state().rules.push(Rule {
            operation: operation.to_string(),
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
    let operation = operation_of(
        &request.method,
        &request.target,
        request.header("x-amz-target"),
        &body_text,
    );
    let service = service_of(&request);
    let fault = {
        let mut state = shared.state.lock().expect("proxy state");
        let mut fault = None;
        if let Some(rule) = state
            .rules
            .iter_mut()
            .find(|r| r.operation == operation && r.remaining > 0)
        {
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
    match fault {
        None => {
            let answer = forward(shared, &request)?;
            if create_bucket_tags && answer.starts_with(b"HTTP/1.1 200") {
                apply_create_bucket_tags(shared, &request)?;
            }
            client.write_all(&answer)?;
        }
        Some(Fault::Fail(status)) => {
            client.write_all(&error_answer(status, &service))?;
        }
        Some(Fault::LoseAnswer) => {
            // Applied upstream; the client sees a server error and retries.
            let answer = forward(shared, &request)?;
            if create_bucket_tags && answer.starts_with(b"HTTP/1.1 200") {
                apply_create_bucket_tags(shared, &request)?;
            }
            client.write_all(&error_answer(500, &service))?;
        }
        Some(Fault::Hold) => {
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
    let headers = request
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
        .chain([("Content-Length".to_string(), tagging.len().to_string())])
        .collect();
    let put = Request {
        method: "PUT".to_string(),
        target: format!("/{bucket}?tagging"),
        headers,
        body: tagging.into_bytes(),
    };
    forward(shared, &put).map(|_| ())
}

fn forward(shared: &Shared, request: &Request) -> std::io::Result<Vec<u8>> {
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
        (_, true) => (400, "Throttling"),
    };
    let message = "injected by the test proxy";
    let (content_type, body) = match service {
        "ssm" => (
            "application/x-amz-json-1.1",
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
    let reason = match status {
        400 => "Bad Request",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         x-amzn-RequestId: proxy\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
