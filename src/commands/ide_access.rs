//! `provision ide stop | start | connect | ssh-config | forward`: what a student does with the IDE
//! once it exists. Each finds the caller's IDE by its name (`--name`) among provision's instances
//! of the region, and refuses another owner's or someone else's instance of the name.
//!
//! Reaching the IDE goes through Session Manager, whose client is the AWS CLI with its Session
//! Manager plugin (neither is provision's to ship): `connect` and `forward` run
//! `aws ssm start-session`; `ssh-config` writes a `Host` block whose `ProxyCommand` does, for
//! VS Code Remote-SSH and `ssh`. That block is the kind of configuration the AWS Toolkit for
//! VS Code writes for "Connect VS Code to EC2 Instance": user `ec2-user` (Amazon Linux), a key of
//! the local machine's whose public half is appended to the instance's `authorized_keys` through
//! SSM Run Command (`AWS-RunShellScript`, marked with a comment so that a re-run replaces it), and
//! an `AWS-StartSSHSession` proxy. The instance needs no inbound port and no key pair.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::InstanceStateName;
use serde::Serialize;

use crate::commands::with_aws;
use crate::connection::aws::Aws;
use crate::connection::clients::Clients;
use crate::connection::profiles::{home_dir, write_atomically};
use crate::course::lab::Target;
use crate::error::{Error, aws_error, seconds};
use crate::printer::Printer;
use crate::resources::Resource;
use crate::resources::instance::{FoundInstance, INSTANCE, Instance, state_of};
use crate::resources::ownership::{Claims, is_managed};
use crate::settings::{ForwardArgs, GlobalArgs, IdeAction, IdeWaitArgs, SshConfigArgs};

/// How often a wait for the instance's state asks.
const STATE_POLL: Duration = Duration::from_secs(5);
/// How long `ssh-config` waits for the command that puts the key on the instance.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest SSH configuration file read (it is rewritten whole).
const SSH_CONFIG_LIMIT: u64 = 1024 * 1024;
/// The IDE's user: Amazon Linux's.
const REMOTE_USER: &str = "ec2-user";

/// Runs an action on the caller's IDE.
pub(crate) async fn run(
    global: &GlobalArgs,
    action: &IdeAction,
    printer: &Printer,
) -> Result<(), Error> {
    // Local checks first: the programs a step needs, before any request.
    match action {
        IdeAction::Connect(_) | IdeAction::Forward(_) => session_programs()?,
        IdeAction::SshConfig(ssh) => {
            session_programs()?;
            ssh_config_path(&ssh.config)?;
            program("ssh-keygen")?;
        }
        IdeAction::Stop(_) | IdeAction::Start(_) => {}
    }
    let name = action.name().as_str();
    with_aws(global, printer, async |aws| {
        let lab = global.lab();
        let clients = aws.clients(&lab);
        let target = Target::new(aws.identity().await?, aws, &lab);
        let ide = located(&clients, &target, name).await?;
        match action {
            IdeAction::Stop(wait) => {
                transition(aws, &clients, &target, ide, Transition::Stop, wait, printer).await
            }
            IdeAction::Start(wait) => {
                transition(
                    aws,
                    &clients,
                    &target,
                    ide,
                    Transition::Start,
                    wait,
                    printer,
                )
                .await
            }
            IdeAction::Connect(_) => {
                running(&ide)?;
                session(global, aws, &ide, &[], printer).await
            }
            IdeAction::Forward(forward) => {
                running(&ide)?;
                forwarding(global, aws, &ide, forward, printer).await
            }
            IdeAction::SshConfig(ssh) => {
                running(&ide)?;
                ssh_config(global, aws, &clients, &target, &ide, ssh, printer).await
            }
        }
    })
    .await
}

/// The caller's IDE named `name` in the region: provision's, the caller's, present.
pub(crate) async fn located(
    clients: &Clients,
    target: &Target,
    name: &str,
) -> Result<FoundInstance, Error> {
    let found = Instance::observe(clients, name).await?;
    let claims = Claims::of(&target.owner);
    let (ours, others): (Vec<_>, Vec<_>) = found.into_iter().partition(|instance| {
        is_managed(&instance.tags) && claims.is_callers(INSTANCE, &instance.name, &instance.tags)
    });
    if let Some(instance) = ours.into_iter().next() {
        return Ok(instance);
    }
    let region = &target.region;
    Err(match others.first() {
        Some(other) if is_managed(&other.tags) => Error::failed(format!(
            "the IDE {name} in {region} ({}) is not yours: it belongs to {}",
            other.id,
            claims.holder(INSTANCE, &other.name, &other.tags).describe()
        ))
        .with_hint("pass the --name of your own IDE; `provision status --all-owners` lists them"),
        Some(other) => Error::failed(format!(
            "instance {} is named {name} in {region} and was not made by provision",
            other.id
        ))
        .with_hint("pass the --name of the IDE provision made (`provision status` lists it)"),
        None => {
            Error::failed(format!("there is no IDE named {name} in {region}")).with_hint(format!(
                "make it with `provision ide{}` (or pass the --region where it is)",
                name_flag(name)
            ))
        }
    })
}

fn running(ide: &FoundInstance) -> Result<(), Error> {
    match ide.state {
        InstanceStateName::Running => Ok(()),
        ref state => Err(Error::failed(format!(
            "the IDE {} ({}) is {}, not running",
            ide.name,
            ide.id,
            state.as_str()
        ))
        .with_hint(format!(
            "start it with `provision ide start{}`",
            name_flag(&ide.name)
        ))),
    }
}

fn name_flag(name: &str) -> String {
    match name == crate::settings::DEFAULT_IDE_NAME {
        true => String::new(),
        false => format!(" --name {name}"),
    }
}

/// The JSON document of `ide stop`, `ide start` and `ide ssh-config`.
#[derive(Debug, Serialize)]
struct ActionReport<'a> {
    schema_version: u32,
    command: &'a str,
    account: &'a str,
    region: &'a str,
    name: &'a str,
    instance_id: &'a str,
    state: &'a str,
    changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity_file: Option<String>,
}

impl<'a> ActionReport<'a> {
    fn new(command: &'a str, target: &'a Target, ide: &'a FoundInstance, state: &'a str) -> Self {
        Self {
            schema_version: 1,
            command,
            account: &target.account,
            region: &target.region,
            name: &ide.name,
            instance_id: &ide.id,
            state,
            changed: false,
            host: None,
            config: None,
            identity_file: None,
        }
    }
}

/// `ide stop` or `ide start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transition {
    Stop,
    Start,
}

impl Transition {
    /// The state it ends in, and the state on the way there.
    fn states(self) -> (InstanceStateName, InstanceStateName) {
        match self {
            Self::Stop => (InstanceStateName::Stopped, InstanceStateName::Stopping),
            Self::Start => (InstanceStateName::Running, InstanceStateName::Pending),
        }
    }

    fn command(self) -> &'static str {
        match self {
            Self::Stop => "ide stop",
            Self::Start => "ide start",
        }
    }
}

/// Stops or starts the IDE and waits until it is in its state; one in that state already is left
/// as it is, one on its way there is waited for. A start waits for a stop in progress to end, and
/// in AWS Academy's Learner Lab checks its limit of running instances first.
async fn transition(
    aws: &Aws,
    clients: &Clients,
    target: &Target,
    ide: FoundInstance,
    to: Transition,
    wait: &IdeWaitArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let (goal, on_the_way) = to.states();
    let changed = if ide.state == goal {
        false
    } else if ide.state == on_the_way {
        wait_for_state(clients, &ide, goal.clone(), wait.wait, printer).await?;
        false
    } else {
        if to == Transition::Start {
            if ide.state == InstanceStateName::Stopping {
                let stopped = InstanceStateName::Stopped;
                wait_for_state(clients, &ide, stopped, wait.wait, printer).await?;
            }
            if crate::plans::restricted::is_learner_lab(&aws.identity().await?.arn) {
                let running = crate::resources::instance::running_count(clients).await?;
                let instance_type = crate::input::InstanceType::parse(&ide.instance_type)?;
                crate::plans::restricted::within_learner_lab_limits(
                    &target.region,
                    &instance_type,
                    running,
                )?;
            }
        }
        let ec2 = &clients.ec2;
        match to {
            Transition::Stop => ec2
                .stop_instances()
                .instance_ids(&ide.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("ec2:StopInstances", e))?,
            Transition::Start => ec2
                .start_instances()
                .instance_ids(&ide.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("ec2:StartInstances", e))?,
        }
        wait_for_state(clients, &ide, goal.clone(), wait.wait, printer).await?;
        true
    };
    let (name, id, flag) = (&ide.name, &ide.id, name_flag(&ide.name));
    let line = match (to, changed) {
        (Transition::Stop, true) => format!(
            "stopped the IDE {name} ({id}): its volume is kept (and billed), the instance is not \
             billed until `provision ide start{flag}`"
        ),
        (Transition::Start, true) => format!(
            "started the IDE {name} ({id}); {}; connect with `provision ide connect{flag}`",
            crate::course::prices::hourly(&ide.instance_type, &target.region),
        ),
        (_, false) => format!("the IDE {name} ({id}) is {} already", goal.as_str()),
    };
    report(
        printer,
        ActionReport {
            changed,
            ..ActionReport::new(to.command(), target, &ide, goal.as_str())
        },
        line,
    )
}

fn report(printer: &Printer, document: ActionReport<'_>, line: String) -> Result<(), Error> {
    if printer.is_json() {
        return printer.json(&document);
    }
    printer.data(line);
    Ok(())
}

/// Waits, bounded by `timeout`, until the IDE is in `state`.
async fn wait_for_state(
    clients: &Clients,
    ide: &FoundInstance,
    state: InstanceStateName,
    timeout: Duration,
    printer: &Printer,
) -> Result<(), Error> {
    let mut step = printer.step(format!("waiting for {} to be {}", ide.id, state.as_str()));
    let started = Instant::now();
    loop {
        match state_of(clients, &ide.id).await? {
            Some(now) if now == state => {
                step.finish(format!("{} is {}", ide.id, state.as_str()));
                return Ok(());
            }
            Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown) | None => {
                step.fail();
                return Err(Error::failed(format!(
                    "the IDE {} ({}) was terminated",
                    ide.name, ide.id
                ))
                .with_hint("make a new one with `provision ide`"));
            }
            Some(_) => {}
        }
        if started.elapsed() >= timeout {
            step.fail();
            return Err(Error::failed(format!(
                "the IDE {} ({}) is not {} after {}",
                ide.name,
                ide.id,
                state.as_str(),
                seconds(timeout)
            ))
            .with_hint("run the same command again to go on waiting (or pass a longer --wait)"));
        }
        step.set_message(format!(
            "waiting for {} to be {} ({} so far)",
            ide.id,
            state.as_str(),
            seconds(started.elapsed())
        ));
        tokio::time::sleep(STATE_POLL).await;
    }
}

/// A program the user installs, and how, on this machine's system.
struct Needed {
    program: &'static str,
    what: &'static str,
    install: &'static str,
}

const AWS_CLI: Needed = Needed {
    program: "aws",
    what: "the AWS CLI",
    install: "install the AWS CLI v2 (\"Installing or updating to the latest version of the AWS \
              CLI\", AWS CLI User Guide): on Linux `curl -o awscliv2.zip \
              https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip && unzip awscliv2.zip && \
              sudo ./aws/install`; on macOS `brew install awscli`; on Windows `msiexec.exe /i \
              https://awscli.amazonaws.com/AWSCLIV2.msi`",
};

const SESSION_MANAGER_PLUGIN: Needed = Needed {
    program: "session-manager-plugin",
    what: "the AWS CLI's Session Manager plugin",
    install: "install it (\"Install the Session Manager plugin for the AWS CLI\", AWS Systems \
              Manager User Guide): on Debian or Ubuntu `curl -o session-manager-plugin.deb \
              https://s3.amazonaws.com/session-manager-downloads/plugin/latest/ubuntu_64bit/session-manager-plugin.deb \
              && sudo dpkg -i session-manager-plugin.deb`; on Amazon Linux, RHEL or Fedora \
              `sudo dnf install -y \
              https://s3.amazonaws.com/session-manager-downloads/plugin/latest/linux_64bit/session-manager-plugin.rpm`; \
              on macOS `brew install --cask session-manager-plugin`; on Windows the installer \
              https://s3.amazonaws.com/session-manager-downloads/plugin/latest/windows/SessionManagerPluginSetup.exe",
};

const SSH_KEYGEN: Needed = Needed {
    program: "ssh-keygen",
    what: "OpenSSH's ssh-keygen",
    install: "install OpenSSH's client: on Debian or Ubuntu `sudo apt install openssh-client`; \
              on Amazon Linux, RHEL or Fedora `sudo dnf install -y openssh-clients`; on Windows \
              Settings → System → Optional features → OpenSSH Client (macOS has it)",
};

/// The AWS CLI and its Session Manager plugin, which every Session Manager step runs.
fn session_programs() -> Result<(), Error> {
    program("aws")?;
    program("session-manager-plugin")?;
    Ok(())
}

/// `name` on `PATH`, or an error that names it and how to install it.
fn program(name: &str) -> Result<PathBuf, Error> {
    let needed = [AWS_CLI, SESSION_MANAGER_PLUGIN, SSH_KEYGEN]
        .into_iter()
        .find(|n| n.program == name);
    if let Some(path) = on_path(name) {
        return Ok(path);
    }
    let (what, install) = needed.map_or((name, String::new()), |n| (n.what, n.install.into()));
    Err(Error::failed(format!(
        "{what} (`{name}`) is not installed, or not on PATH"
    ))
    .with_cause("this step runs it; provision does not ship it")
    .with_hint(install))
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            [name.to_string(), format!("{name}.exe")]
                .into_iter()
                .map(move |file| dir.join(file))
        })
        .find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|m| {
                #[cfg(unix)]
                {
                    std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
                        && m.is_file()
                }
                #[cfg(not(unix))]
                {
                    m.is_file()
                }
            })
        })
}

/// The AWS CLI's connection flags for this run: its region, and the profile and endpoint when
/// provision was given them (credentials from the environment reach the CLI as they are).
fn cli_connection(global: &GlobalArgs, aws: &Aws) -> Vec<String> {
    let mut flags = vec!["--region".to_string(), aws.region.clone()];
    if let Some(profile) = &global.profile {
        flags.extend(["--profile".to_string(), profile.clone()]);
    }
    if let Some(endpoint) = &global.endpoint_url {
        flags.extend(["--endpoint-url".to_string(), endpoint.clone()]);
    }
    flags
}

/// Runs `aws ssm start-session` to the IDE with `extra` flags, attached to this terminal, and
/// returns when the session ends.
async fn session(
    global: &GlobalArgs,
    aws: &Aws,
    ide: &FoundInstance,
    extra: &[String],
    printer: &Printer,
) -> Result<(), Error> {
    let mut args = vec![
        "ssm".to_string(),
        "start-session".to_string(),
        "--target".to_string(),
        ide.id.clone(),
    ];
    args.extend(extra.iter().cloned());
    args.extend(cli_connection(global, aws));
    printer.debug(format!("running aws {}", crate::shell::quoted(&args)));
    let status = tokio::process::Command::new(program("aws")?)
        .args(&args)
        .status()
        .await
        .map_err(|e| Error::failed("could not run the AWS CLI").with_cause(e.to_string()))?;
    match status.success() {
        true => Ok(()),
        false => Err(Error::failed(format!(
            "the Session Manager session to {} ended with {status}",
            ide.id
        ))
        .with_hint(
            "a just-started IDE's SSM agent needs a minute to be online: `aws ssm \
             describe-instance-information` lists the instances Session Manager reaches; your \
             identity needs ssm:StartSession on the instance",
        )),
    }
}

/// `ide forward PORT`: the IDE's port on this machine, through AWS-StartPortForwardingSession.
async fn forwarding(
    global: &GlobalArgs,
    aws: &Aws,
    ide: &FoundInstance,
    forward: &ForwardArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let local = forward.local_port.unwrap_or(forward.port);
    let parameters = serde_json::json!({
        "portNumber": [forward.port.to_string()],
        "localPortNumber": [local.to_string()],
    });
    printer.warn(format!(
        "forwarding localhost:{local} to port {} of the IDE {} ({}); Ctrl-C ends it",
        forward.port, ide.name, ide.id
    ));
    session(
        global,
        aws,
        ide,
        &[
            "--document-name".to_string(),
            "AWS-StartPortForwardingSession".to_string(),
            "--parameters".to_string(),
            parameters.to_string(),
        ],
        printer,
    )
    .await
}

/// `--config` with `~` expanded.
fn ssh_config_path(given: &str) -> Result<PathBuf, Error> {
    match given.strip_prefix("~/") {
        Some(rest) => home_dir().map(|home| home.join(rest)).ok_or_else(|| {
            Error::usage(format!("--config {given}: HOME is not set"))
                .with_hint("pass --config with a full path")
        }),
        None => Ok(PathBuf::from(given)),
    }
}

/// The lines that begin and end provision's block for `host` in an SSH configuration.
fn markers(host: &str) -> (String, String) {
    (
        format!("# provision ide ssh-config: {host} (begin; rewritten by provision)"),
        format!("# provision ide ssh-config: {host} (end)"),
    )
}

/// The `Host` block for `host`: the IDE by its instance id, as ec2-user, with `key`, through
/// AWS-StartSSHSession.
fn host_block(host: &str, ide: &FoundInstance, key: &Path, connection: &[String]) -> String {
    let (begin, end) = markers(host);
    let proxy = format!(
        "aws ssm start-session --target %h --document-name AWS-StartSSHSession --parameters \
         portNumber=%p {}",
        crate::shell::quoted(connection)
    );
    format!(
        "{begin}\nHost {host}\n    HostName {id}\n    User {REMOTE_USER}\n    IdentityFile \
         \"{key}\"\n    IdentitiesOnly yes\n    ProxyCommand {proxy}\n{end}\n",
        id = ide.id,
        key = key.display(),
    )
}

/// `config` with provision's block for `host` replaced by `block` (or added at the end), the
/// rest kept byte for byte. A begin marker without its end is refused: the file was edited.
fn with_block(config: &str, host: &str, block: &str) -> Result<String, Error> {
    let (begin, end) = markers(host);
    let lines: Vec<&str> = config.split_inclusive('\n').collect();
    let start = lines.iter().position(|l| l.trim_end() == begin);
    let Some(start) = start else {
        let mut text = config.to_string();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(block);
        return Ok(text);
    };
    let Some(stop) = lines[start..].iter().position(|l| l.trim_end() == end) else {
        return Err(Error::failed(format!(
            "the SSH configuration has provision's begin line for {host} but not its end line"
        ))
        .with_hint(format!(
            "restore or remove the line `{begin}` and run again"
        )));
    };
    let mut text: String = lines[..start].concat();
    text.push_str(block);
    text.push_str(&lines[start + stop + 1..].concat());
    Ok(text)
}

/// A public key's type and key, checked before it goes into a command: `ssh-ed25519 AAAA…`.
fn public_key(text: &str) -> Result<String, Error> {
    let mut parts = text.split_whitespace();
    let (Some(kind), Some(key)) = (parts.next(), parts.next()) else {
        return Err(Error::failed("the public key is empty"));
    };
    let base64 = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
    if kind != "ssh-ed25519" || !base64 {
        return Err(
            Error::failed(format!("`{kind}` is not an ed25519 public key"))
                .with_hint("remove the key pair so that provision makes a new one"),
        );
    }
    Ok(format!("{kind} {key}"))
}

/// The command that puts `key` in the IDE user's `authorized_keys`, replacing the one a previous
/// run put there for `host` (marked with `#provision-ide-HOST`, as the AWS Toolkit marks its own).
fn authorize_commands(key: &str, host: &str) -> Vec<String> {
    let marker = format!("#provision-ide-{host}");
    let pattern = marker.replace('.', "\\.");
    let home = format!("/home/{REMOTE_USER}");
    vec![
        format!("install -d -m 700 -o {REMOTE_USER} -g {REMOTE_USER} {home}/.ssh"),
        format!("touch {home}/.ssh/authorized_keys"),
        format!("sed -i '/ {pattern}$/d' {home}/.ssh/authorized_keys"),
        format!("echo '{key} {marker}' >> {home}/.ssh/authorized_keys"),
        format!("chown {REMOTE_USER}:{REMOTE_USER} {home}/.ssh/authorized_keys"),
        format!("chmod 600 {home}/.ssh/authorized_keys"),
    ]
}

/// `ide ssh-config`: a key of this machine's (made once), its public half authorised on the
/// IDE, and the Host block written atomically, the rest of the file kept.
async fn ssh_config(
    global: &GlobalArgs,
    aws: &Aws,
    clients: &Clients,
    target: &Target,
    ide: &FoundInstance,
    args: &SshConfigArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let host = args.host.as_ref().map_or(ide.name.as_str(), |h| h.as_str());
    let config_path = ssh_config_path(&args.config)?;
    let existing =
        crate::local_file::read_if_exists(&config_path, "SSH configuration", SSH_CONFIG_LIMIT)?;
    let existing = match existing {
        Some(bytes) => crate::local_file::text(bytes, "SSH configuration", &config_path)?,
        None => String::new(),
    };
    let keys = home_dir()
        .map(|home| home.join(".ssh/provision"))
        .ok_or_else(|| Error::usage("HOME is not set: there is nowhere to keep the IDE's key"))?;
    let key = keys.join(host);
    let made = ensure_key(&key, host).await?;
    let public = public_key(&crate::local_file::read_text(
        &key.with_extension("pub"),
        "public key",
        16 * 1024,
    )?)?;
    let block = host_block(host, ide, &key, &cli_connection(global, aws));
    let config = with_block(&existing, host, &block)?;

    let step = printer.step(format!("putting the key on {}", ide.id));
    let sent = clients
        .instance_ssm
        .send_command()
        .instance_ids(&ide.id)
        .document_name("AWS-RunShellScript")
        .comment(format!("provision ide ssh-config: the key of {host}"))
        .parameters("commands", authorize_commands(&public, host))
        .send()
        .await
        .map_err(|e| aws_error("ssm:SendCommand", e));
    let sent = match sent {
        Ok(sent) => sent,
        Err(e) => {
            step.fail();
            return Err(e);
        }
    };
    let command_id = sent
        .command()
        .and_then(|c| c.command_id())
        .ok_or_else(|| Error::failed("SSM did not say which command it started"))?
        .to_string();
    let finished = command_finished(clients, &command_id, &ide.id).await;
    match finished {
        Ok(()) => step.finish(format!("put the key on {}", ide.id)),
        Err(e) => {
            step.fail();
            return Err(e);
        }
    }

    if existing != config {
        write_atomically(&config_path, &config).map_err(|e| {
            Error::failed(format!("could not write {}", config_path.display()))
                .with_cause(e.to_string())
        })?;
    }
    let mut document = ActionReport::new("ide ssh-config", target, ide, ide.state.as_str());
    document.changed = made || existing != config;
    document.host = Some(host);
    document.config = Some(config_path.display().to_string());
    document.identity_file = Some(key.display().to_string());
    report(
        printer,
        document,
        format!(
            "wrote Host {host} ({}) in {}: `ssh {host}`, or in VS Code \"Remote-SSH: Connect to \
             Host…\" → {host}",
            ide.id,
            config_path.display()
        ),
    )
}

/// Makes the ed25519 key pair at `key` unless it is there; whether it made one.
async fn ensure_key(key: &Path, host: &str) -> Result<bool, Error> {
    if key.exists() && key.with_extension("pub").exists() {
        return Ok(false);
    }
    if let Some(dir) = key.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| {
            Error::failed(format!("could not make {}", dir.display())).with_cause(e.to_string())
        })?;
    }
    // A half-made pair (one file of two) is replaced.
    let _ = std::fs::remove_file(key);
    let _ = std::fs::remove_file(key.with_extension("pub"));
    let output = tokio::process::Command::new(program("ssh-keygen")?)
        .args(["-q", "-t", "ed25519", "-N", "", "-C"])
        .arg(format!("provision ide {host}"))
        .arg("-f")
        .arg(key)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| Error::failed("could not run ssh-keygen").with_cause(e.to_string()))?;
    if !output.status.success() {
        return Err(
            Error::failed(format!("ssh-keygen could not make {}", key.display()))
                .with_cause(String::from_utf8_lossy(&output.stderr).trim().to_string()),
        );
    }
    Ok(true)
}

/// Waits, bounded, for SSM's command on the instance to end; its failure is an error.
async fn command_finished(
    clients: &Clients,
    command_id: &str,
    instance: &str,
) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        let invocation = clients
            .instance_ssm
            .get_command_invocation()
            .command_id(command_id)
            .instance_id(instance)
            .send()
            .await;
        match invocation {
            Ok(invocation) => {
                use aws_sdk_ssm::types::CommandInvocationStatus as Status;
                match invocation.status() {
                    Some(Status::Success) => return Ok(()),
                    Some(Status::Pending | Status::InProgress | Status::Delayed) | None => {}
                    Some(status) => {
                        return Err(Error::failed(format!(
                            "the command that puts the key on {instance} ended {}",
                            status.as_str()
                        ))
                        .with_cause(
                            invocation
                                .standard_error_content()
                                .unwrap_or_default()
                                .to_string(),
                        )
                        .with_hint(
                            "check that the IDE's SSM agent is online (`aws ssm \
                             describe-instance-information`), then run again",
                        ));
                    }
                }
            }
            // Just sent, the invocation may not be listed yet.
            Err(e) if crate::error::service_code(&e) == Some("InvocationDoesNotExist") => {}
            Err(e) => return Err(aws_error("ssm:GetCommandInvocation", e)),
        }
        if started.elapsed() >= COMMAND_TIMEOUT {
            return Err(Error::failed(format!(
                "the command that puts the key on {instance} has not ended after {}",
                seconds(COMMAND_TIMEOUT)
            ))
            .with_hint("run the same command again"));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ide() -> FoundInstance {
        FoundInstance {
            id: "i-0123456789abcdef0".into(),
            name: "dragons-lab-ide".into(),
            state: InstanceStateName::Running,
            instance_type: "t3.small".into(),
            image_id: "ami-1".into(),
            vpc_id: None,
            group_ids: vec![],
            profile_arn: None,
            http_tokens: None,
            hop_limit: None,
            shutdown_behavior: None,
            region: "us-east-1".into(),
            tags: Default::default(),
        }
    }

    #[test]
    fn the_host_block_proxies_through_start_ssh_session_as_ec2_user() {
        let block = host_block(
            "dragons-lab-ide",
            &ide(),
            Path::new("/home/me/.ssh/provision/dragons-lab-ide"),
            &[
                "--region".into(),
                "us-east-1".into(),
                "--profile".into(),
                "my lab".into(),
            ],
        );
        assert!(block.contains("Host dragons-lab-ide\n"), "{block}");
        assert!(
            block.contains("    HostName i-0123456789abcdef0\n"),
            "{block}"
        );
        assert!(block.contains("    User ec2-user\n"), "{block}");
        assert!(
            block.contains(
                "    ProxyCommand aws ssm start-session --target %h --document-name \
                 AWS-StartSSHSession --parameters portNumber=%p --region us-east-1 --profile \
                 'my lab'\n"
            ),
            "{block}"
        );
        assert!(block.contains("IdentityFile \"/home/me/.ssh/provision/dragons-lab-ide\""));
    }

    #[test]
    fn the_block_replaces_its_own_and_keeps_the_rest_byte_for_byte() {
        let rest = "Host work\n    User me\n# a note\n";
        let first = with_block(rest, "ide", "BLOCK1\n").expect("added");
        assert_eq!(first, format!("{rest}\nBLOCK1\n"));
        let (begin, end) = markers("ide");
        let written = with_block(rest, "ide", &format!("{begin}\nHost ide\n{end}\n")).expect("ok");
        let again = with_block(
            &written,
            "ide",
            &format!("{begin}\nHost ide\n    HostName i-2\n{end}\n"),
        )
        .expect("replaced");
        assert!(again.starts_with(rest), "{again}");
        assert_eq!(again.matches("Host ide").count(), 1, "{again}");
        assert!(again.contains("HostName i-2"));
        // Another host's block is left alone.
        let other = with_block(&again, "other", "OTHER\n").expect("added");
        assert!(other.contains("HostName i-2") && other.ends_with("OTHER\n"));
        let broken = format!("{rest}{begin}\nHost ide\n");
        assert!(with_block(&broken, "ide", "X\n").is_err());
        assert_eq!(with_block("", "ide", "B\n").expect("empty"), "B\n");
        assert_eq!(
            with_block("Host a", "ide", "B\n").expect("no newline"),
            "Host a\n\nB\n"
        );
    }

    #[test]
    fn only_an_ed25519_key_enters_the_command_and_a_re_run_replaces_it() {
        assert_eq!(
            public_key("ssh-ed25519 AAAAC3Nza+/= provision ide x\n").expect("key"),
            "ssh-ed25519 AAAAC3Nza+/="
        );
        for bad in [
            "",
            "ssh-rsa AAAA",
            "ssh-ed25519 AAAA';rm -rf /;'",
            "ssh-ed25519",
        ] {
            assert!(public_key(bad).is_err(), "{bad}");
        }
        let commands = authorize_commands("ssh-ed25519 AAAA", "my.ide");
        assert!(
            commands.contains(
                &"sed -i '/ #provision-ide-my\\.ide$/d' /home/ec2-user/.ssh/authorized_keys"
                    .to_string()
            ),
            "{commands:?}"
        );
        assert!(commands.contains(&"echo 'ssh-ed25519 AAAA #provision-ide-my.ide' >> /home/ec2-user/.ssh/authorized_keys".to_string()));
    }

    #[test]
    fn a_missing_program_is_named_with_how_to_install_it() {
        let error = program("session-manager-plugin-that-is-not-there").expect_err("missing");
        assert!(error.message().contains("is not installed"));
        let hint = SESSION_MANAGER_PLUGIN.install;
        assert!(hint.contains("brew install --cask session-manager-plugin"));
        assert!(AWS_CLI.install.contains("awscli-exe-linux"));
    }
}
