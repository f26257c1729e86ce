//! The integration-test harness: one moto server per test binary on a free loopback port, started
//! from the project's `.venv`, recording every request; per-test sessions isolated by their own
//! dummy access key, which also tells each test's requests apart in moto's recording.
//!
//! Nothing here can reach real AWS: every command gets dummy credentials, empty config and
//! credentials files, `AWS_EC2_METADATA_DISABLED=true` and a loopback endpoint, and any endpoint
//! that is not loopback is refused before a command runs.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::SdkConfig;
use aws_types::region::Region;

pub struct Moto {
    pub endpoint: String,
    recording: PathBuf,
    dir: PathBuf,
    // Kept open: moto exits when this pipe closes, i.e. when the test binary exits.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();
static TESTBED: OnceLock<crate::proxy::Proxy> = OnceLock::new();

pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where moto 5.2.5 differs from AWS in a way the test bed cannot fix from outside, moto is
/// corrected in its own process:
/// - CloudFormation's `AWS::SSM::Parameter` takes `Tags` as a JSON map ("Tags: Json",
///   AWS::SSM::Parameter in the CloudFormation User Guide), which moto passes on to PutParameter
///   unchanged where that expects a list of Key/Value pairs (a TypeError: no stack with tagged
///   parameters could be created).
/// - CloudFormation's `AWS::S3::Bucket` applies `OwnershipControls` and
///   `PublicAccessBlockConfiguration` (AWS::S3::Bucket in the CloudFormation User Guide); moto
///   ignores both.
/// - CloudFormation's `AWS::EC2::Instance` applies `MetadataOptions` and
///   `InstanceInitiatedShutdownBehavior` (AWS::EC2::Instance in the CloudFormation Template
///   Reference); moto ignores both, so an instance a template asks for IMDSv2 allows IMDSv1.
const MOTO_FIXES: &str = "from moto.ssm import models as _ssm\n\
    _put = _ssm.SimpleSystemManagerBackend.put_parameter\n\
    def _put_parameter(self, *args, **kwargs):\n\
    \x20   if isinstance(kwargs.get('tags'), dict):\n\
    \x20       kwargs['tags'] = [{'Key': k, 'Value': v} for k, v in kwargs['tags'].items()]\n\
    \x20   return _put(self, *args, **kwargs)\n\
    _ssm.SimpleSystemManagerBackend.put_parameter = _put_parameter\n\
    from moto.s3 import models as _s3\n\
    _create = _s3.FakeBucket.create_from_cloudformation_json.__func__\n\
    def _create_bucket(cls, name, template, account_id, region_name, **kwargs):\n\
    \x20   bucket = _create(cls, name, template, account_id, region_name, **kwargs)\n\
    \x20   properties = template.get('Properties', {})\n\
    \x20   backend = _s3.s3_backends[account_id][_s3.get_partition(region_name)]\n\
    \x20   rules = properties.get('OwnershipControls', {}).get('Rules', [])\n\
    \x20   if rules:\n\
    \x20       backend.put_bucket_ownership_controls(bucket.name, rules[0]['ObjectOwnership'])\n\
    \x20   if 'PublicAccessBlockConfiguration' in properties:\n\
    \x20       backend.put_public_access_block(bucket.name, properties['PublicAccessBlockConfiguration'])\n\
    \x20   return bucket\n\
    _s3.FakeBucket.create_from_cloudformation_json = classmethod(_create_bucket)\n\
    import json as _json\n\
    from moto.iam import models as _iam\n\
    _role_put = _iam.Role.put_policy\n\
    def _put_role_policy(self, name, document):\n\
    \x20   return _role_put(self, name, document if isinstance(document, str) else _json.dumps(document))\n\
    _iam.Role.put_policy = _put_role_policy\n\
    from moto.ec2.models import instances as _instances\n\
    _launch = _instances.Instance.create_from_cloudformation_json.__func__\n\
    def _create_instance(cls, name, template, account_id, region_name, **kwargs):\n\
    \x20   instance = _launch(cls, name, template, account_id, region_name, **kwargs)\n\
    \x20   properties = template.get('Properties', {})\n\
    \x20   if 'MetadataOptions' in properties:\n\
    \x20       instance.metadata_options = _instances.MetadataOptions(dict(properties['MetadataOptions'], State='applied'))\n\
    \x20   if 'InstanceInitiatedShutdownBehavior' in properties:\n\
    \x20       instance.instance_initiated_shutdown_behavior = properties['InstanceInitiatedShutdownBehavior']\n\
    \x20   return instance\n\
    _instances.Instance.create_from_cloudformation_json = classmethod(_create_instance)\n";

/// The binary's moto server, started on first use.
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(start_moto)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn start_moto() -> Moto {
    let dir = std::env::temp_dir().join(format!("provision-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let recording = dir.join("moto-recording.jsonl");
    let (endpoint, child, stdin) = spawn_moto(
        &dir,
        "",
        &[
            ("MOTO_ENABLE_RECORDING", "true".as_ref()),
            ("MOTO_RECORDER_FILEPATH", recording.as_os_str()),
        ],
    );
    Moto {
        endpoint,
        recording,
        dir,
        _stdin: Mutex::new(stdin),
        _child: Mutex::new(child),
    }
}

/// Starts a moto server on a free loopback port, corrected by [`MOTO_FIXES`] and running `setup`
/// (Python) first, with `env` added and AWS's managed policies (AdministratorAccess,
/// ReadOnlyAccess) loaded as in a real account; its log is `dir/moto.log`. Returns its endpoint
/// once it answers, the process, and its stdin: moto runs until that closes, so it never outlives
/// the test binary.
fn spawn_moto(
    dir: &std::path::Path,
    setup: &str,
    env: &[(&str, &std::ffi::OsStr)],
) -> (String, Child, ChildStdin) {
    let python = project_dir().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test, which creates .venv with the pinned moto[server]",
        python.display()
    );
    let port = free_port();
    let log_path = dir.join("moto.log");
    let log = std::fs::File::create(&log_path).expect("moto log");
    let script = format!(
        "import os, sys, threading\n\
         threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n\
         {MOTO_FIXES}\
         {setup}\
         from moto.server import main\n\
         main(['-H', '127.0.0.1', '-p', '{port}'])\n"
    );
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .envs(env.iter().copied())
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .stdin(Stdio::piped())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start moto");
    let stdin = child.stdin.take().expect("moto stdin");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not start; see {}",
            log_path.display()
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("moto exited with {status}; see {}", log_path.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (format!("http://127.0.0.1:{port}"), child, stdin)
}

/// The stricter test bed in front of moto, with a real account's defaults: every session's
/// endpoint unless a test starts its own (`crate::proxy`).
pub fn testbed() -> &'static crate::proxy::Proxy {
    TESTBED.get_or_init(|| crate::proxy::Proxy::start(&moto().endpoint))
}

/// Refuses any endpoint that is not on the loopback interface.
pub fn assert_loopback(url: &str) {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap_or("");
    let host = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or("")
    };
    let loopback = host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    assert!(loopback, "refusing non-loopback endpoint {url} in tests");
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Request {
    pub operation: String,
    pub mutating: bool,
}

/// A test's own view of AWS: its access key, files and SDK clients.
#[derive(Clone)]
pub struct Session {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
    pub region: String,
    pub home: PathBuf,
    pub endpoint: String,
}

impl Session {
    /// A session for one test, in us-east-1.
    pub fn new(test: &str) -> Self {
        Self::in_region(test, "us-east-1")
    }

    pub fn in_region(test: &str, region: &str) -> Self {
        let moto = moto();
        let mut hasher = DefaultHasher::new();
        test.hash(&mut hasher);
        let access_key = format!("AKIAIT{:014X}", hasher.finish() & 0x00FF_FFFF_FFFF_FFFF);
        let home = moto.dir.join(test);
        std::fs::create_dir_all(home.join(".aws")).expect("home");
        std::fs::write(home.join(".aws/config"), "").expect("config");
        std::fs::write(home.join(".aws/credentials"), "").expect("credentials");
        Self {
            access_key,
            secret_key: "dummy-secret".to_string(),
            session_token: None,
            region: region.to_string(),
            home,
            endpoint: testbed().endpoint.clone(),
        }
    }

    /// A session in an account of its own (moto keeps one per STS-issued credentials), for tests
    /// that act on everything in an account, like teardown.
    pub async fn in_account(test: &str, region: &str, account: &str) -> Self {
        Self::in_region(test, region)
            .assuming(
                &format!("arn:aws:iam::{account}:role/{test}"),
                "provision-tests",
            )
            .await
    }

    /// This session as `role_arn`, assumed with session name `session_name` (moto lets any role
    /// be assumed; its credentials act in the role's account).
    pub async fn assuming(self, role_arn: &str, session_name: &str) -> Self {
        let credentials = aws_sdk_sts::Client::new(&self.sdk_config())
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .send()
            .await
            .expect("assume role")
            .credentials
            .expect("credentials");
        Self {
            access_key: credentials.access_key_id().to_string(),
            secret_key: credentials.secret_access_key().to_string(),
            session_token: Some(credentials.session_token().to_string()),
            ..self
        }
    }

    /// This session, with its requests sent through `proxy` instead of the shared test bed.
    pub fn through(mut self, proxy: &crate::proxy::Proxy) -> Self {
        self.endpoint = proxy.endpoint.clone();
        self
    }

    /// An S3 client for buckets in `region` (S3 redirects requests signed for another region).
    pub fn s3_in(&self, region: &str) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk_config_in(region))
                .force_path_style(true)
                .build(),
        )
    }

    /// Runs the course's lab application's read (`tests/it/lab_app.py`, boto3 fixed to us-east-1)
    /// with this session's credentials and endpoint.
    pub fn lab_app(&self, args: &[&str]) -> Output {
        let script = project_dir().join("tests/it/lab_app.py");
        let mut all = vec![script.to_str().expect("path")];
        all.extend(args);
        self.python(&all)
    }

    /// Runs the test environment's Python (with boto3) under this session's credentials and
    /// endpoint, and nothing else from the environment.
    pub fn python(&self, args: &[&str]) -> Output {
        self.python_with(args, &[])
    }

    /// [`Session::python`] with these environment variables set too (a function's own).
    pub fn python_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        assert_loopback(&self.endpoint);
        let mut command = Command::new(project_dir().join(".venv/bin/python"));
        command
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_CONFIG_FILE", self.home.join(".aws/config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.join(".aws/credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true");
        if let Some(token) = &self.session_token {
            command.env("AWS_SESSION_TOKEN", token);
        }
        for (key, value) in env {
            assert!(
                !key.starts_with("AWS_ENDPOINT_URL"),
                "the endpoint is the session's"
            );
            command.env(key, value);
        }
        let output = command.output().expect("run python");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// An SSM client in `region`.
    pub fn ssm_in(&self, region: &str) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.sdk_config_in(region))
    }

    /// This session's SDK settings in another region.
    fn sdk_config_in(&self, region: &str) -> SdkConfig {
        self.sdk_config()
            .into_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    /// The provision binary with this session's hermetic environment.
    pub fn provision(&self) -> Provision {
        let mut command = Command::new(env!("CARGO_BIN_EXE_provision"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_REGION", &self.region)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_CONFIG_FILE", self.home.join(".aws/config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.join(".aws/credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // Tests share moto's default account and isolate by region, so the lab's parameters go
            // to the session's region; tests of the default (us-east-1) remove this and use an
            // account of their own.
            .env("PROVISION_APP_REGION", &self.region)
            .env("NO_COLOR", "1");
        if let Some(token) = &self.session_token {
            command.env("AWS_SESSION_TOKEN", token);
        }
        Provision { command }
    }

    pub fn sdk_config(&self) -> SdkConfig {
        assert_loopback(&self.endpoint);
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                &self.access_key,
                &self.secret_key,
                self.session_token.clone(),
                None,
                "test",
            )))
            .build()
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config())
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk_config())
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk_config())
                .force_path_style(true)
                .build(),
        )
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.sdk_config())
    }

    pub fn apigateway(&self) -> aws_sdk_apigateway::Client {
        aws_sdk_apigateway::Client::new(&self.sdk_config())
    }

    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.sdk_config())
    }

    /// The status of an anonymous (unsigned) GET of `path` on the emulator.
    pub fn anonymous_get(&self, path: &str) -> u16 {
        use std::io::{Read, Write};
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connect to moto");
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("send");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0)
    }

    /// SDK settings for another account (moto keeps one per STS-issued credentials).
    pub async fn other_account(&self, account: &str) -> SdkConfig {
        let credentials = aws_sdk_sts::Client::new(&self.sdk_config())
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/other-student"))
            .role_session_name("other-student")
            .send()
            .await
            .expect("assume role in the other account")
            .credentials
            .expect("credentials");
        self.sdk_config()
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                credentials.access_key_id(),
                credentials.secret_access_key(),
                Some(credentials.session_token().to_string()),
                None,
                "other-account",
            )))
            .build()
    }

    /// Every request moto recorded from this session so far.
    pub fn requests(&self) -> Vec<Request> {
        // moto creates the recording with the first request it receives.
        let Ok(file) = std::fs::File::open(&moto().recording) else {
            return Vec::new();
        };
        let marker = format!("Credential={}/", self.access_key);
        BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            // moto writes an entry and its newline in two calls, so concurrent requests can share
            // a line: read every JSON value on it.
            .flat_map(|line| {
                serde_json::Deserializer::from_str(&line)
                    .into_iter::<serde_json::Value>()
                    .map_while(Result::ok)
                    .collect::<Vec<_>>()
            })
            .filter(|entry| {
                entry["headers"].as_object().is_some_and(|h| {
                    !h.keys()
                        .any(|k| k.eq_ignore_ascii_case(crate::proxy::FOLLOW_UP_HEADER))
                })
            })
            .filter(|entry| {
                entry["headers"]
                    .as_object()
                    .and_then(|h| {
                        h.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                    })
                    .and_then(|(_, v)| v.as_str())
                    .is_some_and(|auth| auth.contains(&marker))
            })
            .map(|entry| classify(&entry))
            .collect()
    }

    /// Requests made by `f`, from this session.
    pub fn requests_during<T>(&self, f: impl FnOnce() -> T) -> (T, Vec<Request>) {
        let before = self.requests().len();
        let value = f();
        let after = self.requests();
        (value, after[before..].to_vec())
    }

    /// Every instance tagged `Name=name`, in any state (terminated ones too, while EC2 lists them).
    pub async fn instances_named(&self, name: &str) -> Vec<aws_sdk_ec2::types::Instance> {
        self.ec2()
            .describe_instances()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag:Name")
                    .values(name)
                    .build(),
            )
            .send()
            .await
            .expect("describe")
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .cloned()
            .collect()
    }

    /// Launches an instance with these tags (and waits for nothing: moto is immediate).
    pub async fn launch_instance(&self, tags: &[(&str, &str)]) -> String {
        use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
        let ec2 = self.ec2();
        let image = ec2
            .describe_images()
            .send()
            .await
            .expect("describe images")
            .images()
            .first()
            .and_then(|i| i.image_id())
            .expect("moto has an image")
            .to_string();
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
        for (key, value) in tags {
            spec = spec.tags(Tag::builder().key(*key).value(*value).build());
        }
        let output = ec2
            .run_instances()
            .image_id(image)
            .min_count(1)
            .max_count(1)
            .tag_specifications(spec.build())
            .send()
            .await
            .expect("run instances");
        output.instances()[0]
            .instance_id()
            .expect("instance id")
            .to_string()
    }

    pub async fn stop_instance(&self, id: &str) {
        self.ec2()
            .stop_instances()
            .instance_ids(id)
            .send()
            .await
            .expect("stop instance");
    }

    /// Associates an instance with an instance profile, as someone else (Cloud9, a colleague) did.
    pub async fn associate(&self, instance: &str, profile: &str) {
        self.ec2()
            .associate_iam_instance_profile()
            .instance_id(instance)
            .iam_instance_profile(
                aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                    .name(profile)
                    .build(),
            )
            .send()
            .await
            .expect("associate the profile");
    }

    /// The names of the managed policies attached to a role.
    pub async fn attached_policies(&self, role: &str) -> Vec<String> {
        self.iam()
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .expect("attachments")
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_name().map(str::to_string))
            .collect()
    }

    /// The value of SSM parameter `name` in `region`, if it exists.
    pub async fn parameter_in(&self, region: &str, name: &str) -> Option<String> {
        self.ssm_in(region)
            .get_parameter()
            .name(name)
            .send()
            .await
            .ok()
            .and_then(|o| o.parameter?.value)
    }

    /// Whether `bucket` exists for this session (HeadBucket in the session's region).
    pub async fn has_bucket(&self, bucket: &str) -> bool {
        self.s3().head_bucket().bucket(bucket).send().await.is_ok()
    }

    /// The profile ARN associated with an instance, if any.
    pub async fn associated_profile(&self, instance: &str) -> Option<String> {
        let output = self
            .ec2()
            .describe_iam_instance_profile_associations()
            .send()
            .await
            .expect("describe associations");
        output
            .iam_instance_profile_associations()
            .iter()
            .filter(|a| a.instance_id() == Some(instance))
            .filter(|a| {
                a.state()
                    .is_some_and(|s| s.as_str() == "associated" || s.as_str() == "associating")
            })
            .find_map(|a| {
                a.iam_instance_profile()
                    .and_then(|p| p.arn())
                    .map(str::to_string)
            })
    }

    /// Writes a file in this session's directory and returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.home.join(name);
        std::fs::write(&path, contents).expect("write file");
        path
    }
}

/// Names the operation of a recorded request and says whether it changes anything.
fn classify(entry: &serde_json::Value) -> Request {
    let method = entry["method"].as_str().unwrap_or("").to_string();
    let url = entry["url"].as_str().unwrap_or("").to_string();
    let body = match (entry["body"].as_str(), entry["body_encoded"].as_bool()) {
        (Some(body), Some(true)) => decode_base64(body),
        (Some(body), _) => body.to_string(),
        _ => String::new(),
    };
    let target = entry["headers"].as_object().and_then(|h| {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
            .and_then(|(_, v)| v.as_str())
    });
    let operation = operation_of(&method, &url, target, &body);
    Request {
        mutating: is_mutating(&operation),
        operation,
    }
}

/// The operation a request calls: its `X-Amz-Target` (JSON protocols), its `Action=` (query
/// protocols), else the S3 REST operation its method and sub-resource name.
pub fn operation_of(method: &str, url: &str, target: Option<&str>, body: &str) -> String {
    let target = target.map(|t| t.rsplit('.').next().unwrap_or(t).to_string());
    let query_action = body
        .split('&')
        .chain(url.split(['?', '&']))
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_string);
    target
        .or(query_action)
        .or_else(|| rest_json_operation(method, url))
        .unwrap_or_else(|| s3_operation(method, url))
}

/// Names a Lambda or API Gateway request (REST-JSON protocols: the operation is the method and
/// the path) after its operation, as their API references name them; `None` for any other path.
fn rest_json_operation(method: &str, url: &str) -> Option<String> {
    let path = url.split('?').next().unwrap_or(url);
    let path = path
        .split("://")
        .nth(1)
        .map_or(path, |rest| rest.find('/').map_or("/", |i| &rest[i..]));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let name = match (method, segments.as_slice()) {
        // Lambda.
        ("POST", ["2015-03-31", "functions"]) => "CreateFunction",
        ("GET", ["2015-03-31", "functions"]) => "ListFunctions",
        ("GET", ["2015-03-31", "functions", _]) => "GetFunction",
        ("DELETE", ["2015-03-31", "functions", _]) => "DeleteFunction",
        ("GET", ["2015-03-31", "functions", _, "configuration"]) => "GetFunctionConfiguration",
        ("PUT", ["2015-03-31", "functions", _, "configuration"]) => "UpdateFunctionConfiguration",
        ("PUT", ["2015-03-31", "functions", _, "code"]) => "UpdateFunctionCode",
        ("GET", ["2015-03-31", "functions", _, "policy"]) => "GetPolicy",
        ("POST", ["2015-03-31", "functions", _, "policy"]) => "AddPermission",
        ("DELETE", ["2015-03-31", "functions", _, "policy", _]) => "RemovePermission",
        ("POST", ["2017-03-31", "tags", ..]) => "TagResource",
        ("GET", ["2017-03-31", "tags", ..]) => "ListTags",
        ("DELETE", ["2017-03-31", "tags", ..]) => "UntagResource",
        // API Gateway.
        ("POST", ["restapis"]) => "CreateRestApi",
        ("GET", ["restapis"]) => "GetRestApis",
        ("GET", ["restapis", _]) => "GetRestApi",
        ("DELETE", ["restapis", _]) => "DeleteRestApi",
        ("GET", ["restapis", _, "resources"]) => "GetResources",
        ("POST", ["restapis", _, "resources", _]) => "CreateResource",
        ("DELETE", ["restapis", _, "resources", _]) => "DeleteResource",
        ("PUT", ["restapis", _, "resources", _, "methods", _]) => "PutMethod",
        ("GET", ["restapis", _, "resources", _, "methods", _]) => "GetMethod",
        ("PATCH", ["restapis", _, "resources", _, "methods", _]) => "UpdateMethod",
        ("DELETE", ["restapis", _, "resources", _, "methods", _]) => "DeleteMethod",
        ("PUT", ["restapis", _, "resources", _, "methods", _, "integration"]) => "PutIntegration",
        ("GET", ["restapis", _, "resources", _, "methods", _, "integration"]) => "GetIntegration",
        ("PATCH", ["restapis", _, "resources", _, "methods", _, "integration"]) => {
            "UpdateIntegration"
        }
        ("DELETE", ["restapis", _, "resources", _, "methods", _, "integration"]) => {
            "DeleteIntegration"
        }
        ("POST", ["restapis", _, "deployments"]) => "CreateDeployment",
        ("GET", ["restapis", _, "deployments"]) => "GetDeployments",
        ("GET", ["restapis", _, "deployments", _]) => "GetDeployment",
        ("GET", ["restapis", _, "stages"]) => "GetStages",
        ("GET", ["restapis", _, "stages", _]) => "GetStage",
        ("PATCH", ["restapis", _, "stages", _]) => "UpdateStage",
        ("DELETE", ["restapis", _, "stages", _]) => "DeleteStage",
        ("POST", ["restapis", _, "authorizers"]) => "CreateAuthorizer",
        ("GET", ["restapis", _, "authorizers"]) => "GetAuthorizers",
        ("GET", ["restapis", _, "authorizers", _]) => "GetAuthorizer",
        ("PATCH", ["restapis", _, "authorizers", _]) => "UpdateAuthorizer",
        ("DELETE", ["restapis", _, "authorizers", _]) => "DeleteAuthorizer",
        _ => return None,
    };
    Some(name.to_string())
}

/// Whether an operation changes anything (by its name: reads are Get, List, Describe, …).
pub fn is_mutating(operation: &str) -> bool {
    let read_prefixes = ["Get", "List", "Describe", "Head", "Decode", "Select"];
    !read_prefixes.iter().any(|p| operation.starts_with(p))
}

/// Names an S3 REST request after its operation (the SDK adds `x-id=` to most; the rest are told
/// apart by their sub-resource).
fn s3_operation(method: &str, url: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = path
        .split("://")
        .nth(1)
        .map_or(path, |rest| rest.find('/').map_or("/", |i| &rest[i..]));
    if let Some(id) = query.split('&').find_map(|p| p.strip_prefix("x-id=")) {
        return id.to_string();
    }
    let has = |name: &str| {
        query
            .split('&')
            .any(|p| p == name || p.starts_with(&format!("{name}=")))
    };
    let on_object = path.trim_matches('/').contains('/');
    let sub = |get: &str, put: &str, delete: &str| match method {
        "GET" => get.to_string(),
        "PUT" => put.to_string(),
        "DELETE" => delete.to_string(),
        _ => format!("{method} {path}"),
    };
    if has("tagging") {
        sub(
            "GetBucketTagging",
            "PutBucketTagging",
            "DeleteBucketTagging",
        )
    } else if has("ownershipControls") {
        sub(
            "GetBucketOwnershipControls",
            "PutBucketOwnershipControls",
            "DeleteBucketOwnershipControls",
        )
    } else if has("publicAccessBlock") {
        sub(
            "GetPublicAccessBlock",
            "PutPublicAccessBlock",
            "DeletePublicAccessBlock",
        )
    } else if has("versioning") {
        sub(
            "GetBucketVersioning",
            "PutBucketVersioning",
            "DeleteBucketVersioning",
        )
    } else if has("location") && method == "GET" {
        "GetBucketLocation".to_string()
    } else if has("acl") {
        match on_object {
            true => sub("GetObjectAcl", "PutObjectAcl", "DELETE acl"),
            false => sub("GetBucketAcl", "PutBucketAcl", "DELETE acl"),
        }
    } else if has("select") {
        "SelectObjectContent".to_string()
    } else if has("delete") && method == "POST" {
        "DeleteObjects".to_string()
    } else if has("versions") {
        "ListObjectVersions".to_string()
    } else if has("list-type") {
        "ListObjectsV2".to_string()
    } else if path == "/" || path.is_empty() {
        sub("ListBuckets", "PUT /", "DELETE /")
    } else if on_object {
        match method {
            "HEAD" => "HeadObject".to_string(),
            _ => sub("GetObject", "PutObject", "DeleteObject"),
        }
    } else {
        match method {
            "HEAD" => "HeadBucket".to_string(),
            _ => sub("ListObjects", "CreateBucket", "DeleteBucket"),
        }
    }
}

fn decode_base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes() {
        let Some(value) = ALPHABET.iter().position(|&c| c == byte) else {
            continue;
        };
        bits = (bits << 6) | value as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A provision invocation being built.
pub struct Provision {
    command: Command,
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    #[track_caller]
    pub fn assert_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "exit code {} (expected {expected})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        self.assert_code(0)
    }

    /// stdout as the one JSON document it must be; a document of provision's (it names its
    /// `command`) must also be valid against `schema/provision.schema.json`.
    pub fn json(&self) -> serde_json::Value {
        let document: serde_json::Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout));
        if document.get("command").is_some() {
            assert_valid(&self.stdout);
        }
        document
    }
}

/// Validates a document against the JSON Schema with the test environment's `jsonschema`
/// (installed with moto), as a consumer of the schema would.
pub fn assert_valid(document: &str) {
    use std::io::Write as _;
    let mut child = Command::new(project_dir().join(".venv/bin/python"))
        .arg("-c")
        .arg(
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             jsonschema.Draft202012Validator.check_schema(schema)\n\
             errors = list(jsonschema.Draft202012Validator(schema).iter_errors(json.load(sys.stdin)))\n\
             for e in errors: print(f'{list(e.absolute_path)}: {e.message}')\n\
             sys.exit(1 if errors else 0)\n",
        )
        .arg(project_dir().join("schema/provision.schema.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run jsonschema");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(document.as_bytes())
        .expect("write the document");
    let output = child.wait_with_output().expect("jsonschema");
    assert!(
        output.status.success(),
        "the document does not match schema/provision.schema.json:\n{}{}\n{document}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Provision {
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        if key.starts_with("AWS_ENDPOINT_URL") {
            assert_loopback(&value.as_ref().to_string_lossy());
        }
        self.command.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Self {
        self.command.env_remove(key);
        self
    }

    /// Starts the command without waiting for it (stdout and stderr piped), for tests that
    /// signal it.
    pub fn spawn(mut self, args: &[&str]) -> Child {
        for pair in args.windows(2) {
            if pair[0] == "--endpoint-url" {
                assert_loopback(pair[1]);
            }
        }
        self.command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start provision")
    }

    /// Runs the command on a pseudo-terminal (`tests/it/pty_run.py`), typing `answer` when
    /// `prompt` appears. Its stdout holds everything the terminal showed.
    pub fn run_on_terminal(self, args: &[&str], prompt: &str, answer: &str) -> Output {
        let mut python = Command::new(project_dir().join(".venv/bin/python"));
        python.env_clear();
        for (key, value) in self.command.get_envs() {
            if let Some(value) = value {
                python.env(key, value);
            }
        }
        python
            .arg(project_dir().join("tests/it/pty_run.py"))
            .args([prompt, answer])
            .arg(self.command.get_program())
            .args(args);
        let output = python.output().expect("run provision on a terminal");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs the command with `input` on its stdin (not a terminal).
    pub fn run_with_stdin(mut self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run provision");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        let output = child.wait_with_output().expect("provision's output");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn run(mut self, args: &[&str]) -> Output {
        for pair in args.windows(2) {
            if pair[0] == "--endpoint-url" {
                assert_loopback(pair[1]);
            }
        }
        let output = self
            .command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run provision");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Output {
    /// The output of a finished child started with [`Provision::spawn`].
    pub fn of(child: Child) -> Self {
        let output = child.wait_with_output().expect("wait for provision");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A policy document as IAM returns it: URL-encoded JSON (or plain JSON, as moto may answer).
pub fn policy_document(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| {
        let decoded = percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .expect("a UTF-8 policy document")
            .replace('+', " ");
        serde_json::from_str(&decoded).expect("a JSON policy document")
    })
}

/// Mutating requests among `requests`, by operation name.
pub fn mutating(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.mutating)
        .map(|r| r.operation.clone())
        .collect()
}

/// A moto server of a test's own that, once told to, authorises every request against the
/// caller's IAM policies (moto's `INITIAL_NO_AUTH_ACTION_COUNT`, switched at run time): the
/// fixture is made unauthenticated, then the test acts as an identity whose policies AWS would
/// enforce. Stopped when dropped.
pub struct EnforcingMoto {
    pub endpoint: String,
    flag: PathBuf,
    child: Child,
    _stdin: ChildStdin,
}

impl EnforcingMoto {
    pub fn start(test: &str) -> Self {
        let dir = moto().dir.join(format!("enforcing-{test}"));
        std::fs::create_dir_all(&dir).expect("dir");
        let flag = dir.join("enforce");
        let _ = std::fs::remove_file(&flag);
        // Unauthenticated until `flag` exists; then every request is authorised (count 0).
        // moto recomputes SigV4 signatures from the form it re-encodes, which differs from the
        // SDK's encoding of bodies such as a policy document (SignatureDoesNotMatch where AWS
        // accepts the request): its signature check is turned off, its policy check kept.
        let setup = format!(
            "import time\n\
             from moto.iam.access_control import IAMRequestBase\n\
             IAMRequestBase.check_signature = lambda self: None\n\
             from moto import settings\n\
             from moto.core.authorization import ActionAuthenticatorMixin\n\
             def watch():\n\
             \x20   while not os.path.exists({flag:?}):\n\
             \x20       time.sleep(0.02)\n\
             \x20   ActionAuthenticatorMixin.request_count = 0\n\
             \x20   settings.INITIAL_NO_AUTH_ACTION_COUNT = 0\n\
             \x20   open({flag:?} + '.on', 'w').close()\n\
             threading.Thread(target=watch, daemon=True).start()\n",
            flag = flag.display().to_string(),
        );
        let (endpoint, child, stdin) = spawn_moto(&dir, &setup, &[]);
        Self {
            endpoint,
            flag,
            child,
            _stdin: stdin,
        }
    }

    /// From now on every request is authorised against its caller's IAM policies.
    pub fn enforce(&self) {
        std::fs::write(&self.flag, "").expect("flag");
        let on = self.flag.with_extension("on");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !on.exists() {
            assert!(
                Instant::now() < deadline,
                "moto did not switch enforcement on"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// An IAM user created through `admin` with `policy` as its inline policy, and its access key
    /// pair: (ARN, access key id, secret access key).
    pub async fn user(
        admin: &Session,
        name: &str,
        policy: &serde_json::Value,
    ) -> (String, String, String) {
        let iam = admin.iam();
        let user = iam
            .create_user()
            .user_name(name)
            .send()
            .await
            .expect("the user");
        let arn = user.user().expect("user").arn().to_string();
        iam.put_user_policy()
            .user_name(name)
            .policy_name(format!("{name}-policy"))
            .policy_document(policy.to_string())
            .send()
            .await
            .expect("the user's policy");
        let key = iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .expect("access key");
        let key = key.access_key().expect("key");
        (
            arn,
            key.access_key_id().to_string(),
            key.secret_access_key().to_string(),
        )
    }

    /// A session on this server with the access key of an IAM user created here.
    pub fn session(&self, test: &str, region: &str, access_key: &str, secret_key: &str) -> Session {
        Session {
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            endpoint: self.endpoint.clone(),
            ..Session::in_region(test, region)
        }
    }
}

impl Drop for EnforcingMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
