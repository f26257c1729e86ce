#!/usr/bin/env python3
"""The benchmark behind bench/run: provision against the course's AWS CLI procedure and a boto3
script, on a local moto server, plus round trips under latency, teardown and start-up. Writes
bench/RESULTS.md. Runs only against loopback."""
import argparse
import base64
import concurrent.futures
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = "bench-ide"
READ_PREFIXES = ("Get", "List", "Describe", "Head", "Decode", "Select")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, seconds=60):
    import socket
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listening on {port}")


class Moto:
    def __init__(self, work):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.recording = os.path.join(work, "recording.jsonl")
        env = dict(os.environ, MOTO_ENABLE_RECORDING="true", MOTO_RECORDER_FILEPATH=self.recording)
        self.process = subprocess.Popen(
            [os.path.join(ROOT, ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.port)

    def post(self, path):
        urllib.request.urlopen(urllib.request.Request(self.endpoint + path, method="POST", data=b"")).read()

    def reset(self):
        self.post("/moto-api/reset")
        self.post("/moto-api/recorder/reset-recording")

    def requests(self):
        self.post("/moto-api/recorder/stop-recording")
        entries = []
        if os.path.exists(self.recording):
            # moto writes an entry and its newline in two calls, so concurrent requests can share a
            # line: read every JSON value on it.
            decoder = json.JSONDecoder()
            with open(self.recording) as f:
                for line in f:
                    position, line = 0, line.strip()
                    while position < len(line):
                        try:
                            entry, position = decoder.raw_decode(line, position)
                        except ValueError:
                            break
                        entries.append(entry)
        self.post("/moto-api/recorder/reset-recording")
        self.post("/moto-api/recorder/start-recording")
        return entries

    def stop(self):
        self.process.terminate()


def operation(entry):
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("latin-1")
    headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
    if "x-amz-target" in headers:
        return headers["x-amz-target"].split(".")[-1]
    for part in body.split("&") + entry["url"].replace("?", "&").split("&"):
        if part.startswith("Action="):
            return part[len("Action="):]
    method = entry["method"]
    return {"GET": "Get", "HEAD": "Head"}.get(method, method) + " " + entry["url"].split("?")[0]


def mutating(entries):
    return [op for op in map(operation, entries) if not op.startswith(READ_PREFIXES)]


def environment(endpoint, work):
    for name in ("config", "credentials"):
        open(os.path.join(work, name), "w").close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="AKIABENCH0000000000", AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint,
        AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.path.join(work, "config"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(work, "credentials"), AWS_PAGER="",
        INSTANCE_TAG=TAG, NO_COLOR="1", PROVISION_STATE_DIR=os.path.join(work, "state"))
    return env


def fixture(endpoint):
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="AKIAFIXTURE", aws_secret_access_key="x")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": TAG}]}])


def timed(command, env):
    start = time.perf_counter()
    result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr.decode()}")
    return elapsed


def timed_rss(command, env):
    """Wall time and peak resident memory (KiB) of one command: its VmHWM, sampled every 5 ms.
    (wait4's ru_maxrss would count the forking Python process's own size, copied at fork.)"""
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while child.poll() is None:
        try:
            with open(f"/proc/{child.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    stderr = child.stderr.read().decode() if child.stderr else ""
    if child.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{stderr}")
    return elapsed, peak


def fill_bucket(endpoint, bucket, count):
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="AKIAFIXTURE", aws_secret_access_key="x")
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"objects/{i:05}", Body=b"x"), range(count)))


def write_site(directory, mib):
    """A site of one file of `mib` MiB (pseudo-random, so nothing compresses it away)."""
    os.makedirs(directory, exist_ok=True)
    chunk = os.urandom(1 << 20)
    with open(os.path.join(directory, "video.bin"), "wb") as f:
        for n in range(mib):
            f.write(chunk[n % 251:] + chunk[:n % 251])
    return directory


def site_memory(provision, aws, env, moto, work, mib):
    """Peak memory (KiB) and wall time of `provision dragons-lab --site` for a 1 MiB site and an
    `mib` MiB one (streamed in 8 MiB parts, so the peak should not grow with it), and of
    `aws s3 cp --recursive --acl public-read` of the large one."""
    small = write_site(os.path.join(work, "site-1"), 1)
    large = write_site(os.path.join(work, f"site-{mib}"), mib)
    results = {}
    for key, site in (("small", small), ("large", large)):
        moto.reset()
        results[key] = timed_rss([provision, "-q", "dragons-lab", "--site", site], env)
    moto.reset()
    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1",
                      aws_access_key_id="AKIAFIXTURE", aws_secret_access_key="x")
    s3.create_bucket(Bucket="bench-site")
    results["aws"] = timed_rss([aws, "s3", "cp", "--recursive", "--only-show-errors", "--acl", "public-read",
                                large, "s3://bench-site/"], env)
    moto.reset()
    return results


def summary(samples):
    return statistics.median(samples), min(samples), max(samples)


def fmt(seconds):
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def terraform_waits():
    """The waits between attempts of terraform-plugin-sdk's RetryContext: StateChangeConf starts
    at 100 ms, doubles it after each attempt, and bounds it to [MinTimeout = 500 ms, 10 s]."""
    wait = 0.1
    while True:
        wait = min(max(wait * 2, 0.5), 10.0)
        yield wait


def provision_waits():
    """provision's association schedule (PropagationPolicy): 0.5 s, then every 1 s."""
    yield 0.5
    while True:
        yield 1.0


def schedule_overshoot(delay, waits):
    """How long after the profile became visible (at `delay` s after the first attempt) a retry
    schedule's next attempt comes."""
    at = 0.0
    for wait in waits:
        if at >= delay:
            return at - delay
        at += wait
    return float("inf")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--provision", required=True)
    parser.add_argument("--aws", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--objects", type=int, default=10000)
    parser.add_argument("--invisible-s", type=float, default=8.0)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--site-mib", type=int, default=1024)
    parser.add_argument("--output", default=os.path.join(ROOT, "bench/RESULTS.md"))
    parser.add_argument("--command", default="bench/run")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="provision-bench-")
    moto = Moto(work)
    env = environment(moto.endpoint, work)
    policy = os.path.join(work, "policy.json")
    template = open(os.path.join(ROOT, "templates/dragons-lab-policy.json")).read()
    with open(policy, "w") as f:
        f.write(template.replace("{{partition}}", "aws").replace("{{region}}", "us-east-1")
                .replace("{{app_region}}", "us-east-1")
                .replace("{{account_id}}", "123456789012").replace("{{bucket}}", "dragons-lab-123456789012-us-east-1"))
    env["POLICY"] = policy
    env["AWS"] = args.aws
    provision = args.provision
    commands = {
        "a": [[provision, "-q", "instance-profile", "--instance-tag", f"Name={TAG}"], [provision, "-q", "dragons-lab"]],
        "b": [["bash", os.path.join(ROOT, "bench/baseline/awscli.sh")]],
        "c": [[os.path.join(ROOT, ".venv/bin/python"), os.path.join(ROOT, "bench/baseline/boto3.py")]],
    }
    times = {k: [] for k in commands}
    requests = {}
    converged_mutating = []
    print(f"== {args.runs} runs of a) provision, b) aws CLI, c) boto3, each on fresh state", file=sys.stderr)
    for run in range(args.runs):
        for key, steps in commands.items():
            moto.reset()
            fixture(moto.endpoint)
            moto.requests()
            times[key].append(sum(timed(step, env) for step in steps))
            requests[key] = len(moto.requests())
            if key == "a":
                for step in steps:
                    timed(step, env)
                converged_mutating.append(len(mutating(moto.requests())))
        print(f"   run {run + 1}: " + ", ".join(f"{k} {fmt(v[-1])}" for k, v in times.items()), file=sys.stderr)

    print(f"== latency mode: {args.delay_ms:.0f} ms per request", file=sys.stderr)
    port_file = os.path.join(work, "proxy.port")
    proxy = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench/proxy.py"), "--upstream", moto.endpoint,
                              "--delay-ms", str(args.delay_ms), "--port-file", port_file], stdout=subprocess.DEVNULL)
    while not os.path.exists(port_file) or not open(port_file).read():
        time.sleep(0.05)
    proxy_url = f"http://127.0.0.1:{open(port_file).read()}"
    proxied = dict(env, AWS_ENDPOINT_URL=proxy_url)
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from proxy import sequential_round_trips

    def proxy_call(path, method="GET"):
        request = urllib.request.Request(proxy_url + path, method=method, data=b"" if method == "POST" else None)
        return json.loads(urllib.request.urlopen(request).read() or b"null")

    latency, chains = {}, {}
    for key, step in (("instance-profile", commands["a"][0]), ("dragons-lab", commands["a"][1])):
        samples, counted = [], []
        for _ in range(max(1, args.runs // 2)):
            moto.reset()
            fixture(moto.endpoint)
            proxy_call("/__proxy/reset", "POST")
            samples.append(timed(step, proxied))
            counted.append(sequential_round_trips(proxy_call("/__proxy/intervals")))
        latency[key] = statistics.median(samples)
        chains[key] = max(counted)

    print(f"== fan-out: dragons-lab in {args.accounts} accounts at {args.delay_ms:.0f} ms per request", file=sys.stderr)
    # The instructor's two ways: one fan-out, or the same command once per account in a shell loop
    # (each account through a role_arn profile, as the SDK assumes it).
    accounts = [f"6{n:011d}" for n in range(1, args.accounts + 1)]
    accounts_file = os.path.join(work, "accounts.txt")
    with open(accounts_file, "w") as f:
        f.write("".join(f"{a}\n" for a in accounts))
    config = os.path.join(work, "fanout-config")
    with open(config, "w") as f:
        for account in accounts:
            f.write(f"[profile a{account}]\nrole_arn = arn:aws:iam::{account}:role/OrganizationAccountAccessRole\n"
                    "credential_source = Environment\nregion = us-east-1\n")
    loop = os.path.join(work, "loop.sh")
    with open(loop, "w") as f:
        f.write(f"set -e\nfor account in $(cat {accounts_file}); do\n"
                f"  {provision} -q --profile a$account dragons-lab\ndone\n")
    fanout_env = dict(proxied, AWS_CONFIG_FILE=config)
    # Medians of 3 fan-outs and 2 loops: moto's first requests in a new account are slower.
    fans, loops = [], []
    for run in range(3):
        moto.reset()
        proxy_call("/__proxy/reset", "POST")
        fans.append(timed_rss([provision, "-q", "dragons-lab", "--accounts", accounts_file], fanout_env))
        if run < 2:
            moto.reset()
            proxy_call("/__proxy/reset", "POST")
            loops.append(timed(["bash", loop], fanout_env))
    fan_wall = statistics.median(f[0] for f in fans)
    fan_rss = max(f[1] for f in fans)
    loop_wall = statistics.median(loops)
    moto.reset()
    proxy_call("/__proxy/reset", "POST")
    one_wall, one_rss = timed_rss([provision, "-q", "dragons-lab"], proxied)
    fanout = {"fan": fan_wall, "loop": loop_wall, "rss_mib": fan_rss / 1024, "one_rss_mib": one_rss / 1024,
              "one": one_wall}
    proxy.terminate()

    print(f"== IAM propagation: instance profile invisible to EC2 for {args.invisible_s:.0f} s", file=sys.stderr)
    port_file = os.path.join(work, "proxy-invisible.port")
    proxy = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench/proxy.py"), "--upstream", moto.endpoint,
                              "--delay-ms", "0", "--profile-invisible-ms", str(args.invisible_s * 1000),
                              "--port-file", port_file], stdout=subprocess.DEVNULL)
    while not os.path.exists(port_file) or not open(port_file).read():
        time.sleep(0.05)
    invisible_url = f"http://127.0.0.1:{open(port_file).read()}"
    overshoots, walls = [], []
    for _ in range(max(1, args.runs // 2)):
        moto.reset()
        fixture(moto.endpoint)
        urllib.request.urlopen(urllib.request.Request(invisible_url + "/__proxy/reset", method="POST",
                                                      data=b"")).read()
        walls.append(timed(commands["a"][0], dict(env, AWS_ENDPOINT_URL=invisible_url)))
        events = json.loads(urllib.request.urlopen(invisible_url + "/__proxy/events").read())
        visible = next(e["at"] for e in events if e["event"] == "profile-visible")
        associated = next(e["at"] for e in events if e["event"] == "associated")
        overshoots.append(associated - visible)
    proxy.terminate()
    propagation = {
        "overshoot": statistics.median(overshoots),
        "overshoot_max": max(overshoots),
        "wall_minus": statistics.median(walls) - args.invisible_s,
        # Terraform's retry helper (terraform-plugin-sdk helper/retry RetryContext: StateChangeConf
        # with MinTimeout 500 ms, the wait doubling up to 10 s), computed for the same delay.
        "terraform": schedule_overshoot(args.invisible_s, terraform_waits()),
        "ours_computed": schedule_overshoot(args.invisible_s, provision_waits()),
    }

    print(f"== teardown of {args.objects} objects", file=sys.stderr)
    bucket = "dragons-lab-123456789012-us-east-1"
    teardown = {}
    for key, command in (("provision", [provision, "-q", "teardown", "--only", "dragons-lab", "--yes"]),
                         ("aws s3 rb --force", [args.aws, "s3", "rb", f"s3://{bucket}", "--force"])):
        moto.reset()
        timed(commands["a"][1], env)
        fill_bucket(moto.endpoint, bucket, args.objects)
        teardown[key] = timed(command, env)
        s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1",
                          aws_access_key_id="AKIAFIXTURE", aws_secret_access_key="x")
        if any(b["Name"] == bucket for b in s3.list_buckets()["Buckets"]):
            sys.exit(f"{key} left the bucket behind")

    print(f"== dragons-lab --site: peak memory for 1 MiB and {args.site_mib} MiB", file=sys.stderr)
    site = site_memory(provision, args.aws, env, moto, work, args.site_mib)

    print("== start-up", file=sys.stderr)
    help_times = [timed([provision, "--help"], env) for _ in range(30)]
    whoami_times = [timed([provision, "whoami"], env) for _ in range(10)]
    moto.stop()

    a, b, c = (summary(times[k]) for k in "abc")
    ratio_b, ratio_c = b[0] / a[0], c[0] / a[0]
    wall_over_delay = {k: v / (args.delay_ms / 1000) for k, v in latency.items()}
    teardown_ratio = teardown["aws s3 rb --force"] / teardown["provision"]
    help_median = statistics.median(help_times)
    fan_ratio = fanout["loop"] / fanout["fan"]
    targets = [
        ("a ≥ 30× faster than b", f"{ratio_b:.1f}×", ratio_b >= 30),
        ("a ≥ 4× faster than c", f"{ratio_c:.1f}×", ratio_c >= 4),
        ("re-run on converged state: 0 mutating requests", str(max(converged_mutating)), max(converged_mutating) == 0),
        (f"instance-profile within 6 round trips at {args.delay_ms:.0f} ms",
         f"{chains['instance-profile']} sequential (wall / D {wall_over_delay['instance-profile']:.1f})",
         chains["instance-profile"] <= 6),
        (f"dragons-lab within 4 round trips at {args.delay_ms:.0f} ms",
         f"{chains['dragons-lab']} sequential (wall / D {wall_over_delay['dragons-lab']:.1f})",
         chains["dragons-lab"] <= 4),
        (f"teardown of {args.objects} objects ≥ 5× faster than aws s3 rb --force", f"{teardown_ratio:.1f}×",
         teardown_ratio >= 5),
        ("provision --help ≤ 10 ms", fmt(help_median), help_median <= 0.010),
        (f"--site of {args.site_mib} MiB: peak memory within 100 MiB of a 1 MiB site's",
         f"{site['large'][1] / 1024:.0f} MiB vs {site['small'][1] / 1024:.0f} MiB",
         site["large"][1] - site["small"][1] <= 100 * 1024),
        (f"fan-out over {args.accounts} accounts ≥ 5× faster than a shell loop", f"{fan_ratio:.1f}×",
         fan_ratio >= 5),
        (f"IAM propagation ({args.invisible_s:.0f} s): overshoot ≤ 1 s",
         f"{propagation['overshoot_max']:.2f} s (worst run)", propagation["overshoot_max"] <= 1.0),
    ]
    versions = {
        "provision": subprocess.run([provision, "--version"], capture_output=True, text=True).stdout.strip(),
        "aws": subprocess.run([args.aws, "--version"], capture_output=True, text=True, env=env).stdout.strip()
        or subprocess.run([args.aws, "--version"], capture_output=True, text=True, env=env).stderr.strip(),
        "boto3": boto3.__version__,
        "moto": subprocess.run([os.path.join(ROOT, ".venv/bin/python"), "-c", "import moto; print(moto.__version__)"],
                               capture_output=True, text=True).stdout.strip(),
        "python": platform.python_version(),
    }
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    lines = [
        "# Benchmark results",
        "",
        f"- Date: {datetime.date.today().isoformat()}",
        f"- Machine: {cpu}, {os.cpu_count()} cores",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- Command: `{args.command}` ({args.runs} runs, {args.delay_ms:.0f} ms latency, {args.objects} objects)",
        "- Emulator: moto in server mode on loopback, fresh state (`POST /moto-api/reset`) and a tagged",
        "  instance before every measured run; requests counted with moto's recorder.",
        "",
        "## The course's set-up: instance profile + Dragons lab",
        "",
        "| | median | min–max | requests sent |",
        "| --- | --- | --- | --- |",
        f"| a) provision instance-profile + dragons-lab | {fmt(a[0])} | {fmt(a[1])}–{fmt(a[2])} | {requests['a']} |",
        f"| b) AWS CLI procedure (13 `aws` processes) | {fmt(b[0])} | {fmt(b[1])}–{fmt(b[2])} | {requests['b']} |",
        f"| c) boto3, one process | {fmt(c[0])} | {fmt(c[1])}–{fmt(c[2])} | {requests['c']} |",
        "",
        f"Ratios: b / a = **{ratio_b:.1f}×**, c / a = **{ratio_c:.1f}×**. Re-run of a) on converged state: "
        f"{max(converged_mutating)} mutating requests (every run).",
        "",
        f"## Round trips at {args.delay_ms:.0f} ms per request (bench/proxy.py)",
        "",
        "| command | wall | wall / D | sequential round trips (proxy) | dependency-chain minimum |",
        "| --- | --- | --- | --- | --- |",
        f"| instance-profile | {fmt(latency['instance-profile'])} | {wall_over_delay['instance-profile']:.1f} "
        f"| {chains['instance-profile']} | ≈ 5 |",
        f"| dragons-lab | {fmt(latency['dragons-lab'])} | {wall_over_delay['dragons-lab']:.1f} "
        f"| {chains['dragons-lab']} | ≈ 4 |",
        "",
        "wall / D also counts moto's own processing (one Python process: concurrent requests are served",
        "largely one after another) and process start-up; the proxy's count is the longest chain of",
        "requests each sent after the previous one was answered — the round trips really waited for.",
        "dragons-lab's chain: observe → CreateBucket → PutBucketOwnershipControls → PutObject (the data",
        "waits for the ownership setting, as a new bucket has ACLs disabled until it is in force).",
        "",
        f"## IAM propagation: a new instance profile invisible to EC2 for {args.invisible_s:.0f} s",
        "",
        "bench/proxy.py answers AssociateIamInstanceProfile with InvalidParameterValue (\"Invalid IAM",
        f"Instance Profile name\") for {args.invisible_s:.0f} s after CreateInstanceProfile, as EC2 does while IAM's",
        "change propagates. Overshoot: from the moment EC2 could see the profile to the successful",
        "association (measured at the proxy, no added latency).",
        "",
        "| | overshoot |",
        "| --- | --- |",
        f"| provision instance-profile (measured, median / worst) | {propagation['overshoot']:.2f} s / "
        f"{propagation['overshoot_max']:.2f} s |",
        f"| provision's schedule, computed (0.5 s, then every 1 s) | {propagation['ours_computed']:.2f} s |",
        f"| Terraform's retry helper, computed (0.5 s, doubling to 10 s) | {propagation['terraform']:.2f} s |",
        "",
        f"Wall time of the whole command minus {args.invisible_s:.0f} s: {propagation['wall_minus']:.2f} s (median; it",
        "includes start-up and the requests before the association).",
        "",
        f"## Fan-out: dragons-lab in {args.accounts} accounts at {args.delay_ms:.0f} ms per request",
        "",
        "moto serves every account (an assumed role's credentials act in the role's account); every",
        "request, AssumeRole included, is delayed by the proxy. Each account's run sends about 14",
        "requests; with 8 accounts at once, moto (one Python process) serves them largely one after",
        "another, which bounds the fan-out's wall time here, not the 50 ms waits.",
        "",
        "| | wall | peak memory |",
        "| --- | --- | --- |",
        f"| provision dragons-lab --accounts FILE (concurrency 8; median of 3, worst peak) | {fmt(fanout['fan'])} "
        f"| {fanout['rss_mib']:.1f} MiB |",
        f"| shell loop: provision --profile ACCOUNT dragons-lab, {args.accounts} times (median of 2) "
        f"| {fmt(fanout['loop'])} | — |",
        f"| one account, for reference | {fmt(fanout['one'])} | {fanout['one_rss_mib']:.1f} MiB |",
        "",
        f"Ratio: **{fan_ratio:.1f}×**.",
        "",
        f"## Teardown of a bucket holding {args.objects} objects",
        "",
        "| | wall |",
        "| --- | --- |",
        f"| provision teardown --only dragons-lab --yes | {fmt(teardown['provision'])} |",
        f"| aws s3 rb --force | {fmt(teardown['aws s3 rb --force'])} |",
        "",
        f"Ratio: **{teardown_ratio:.1f}×**.",
        "",
        f"## dragons-lab --site: peak memory for a {args.site_mib} MiB site",
        "",
        "One file of that size, streamed from disk in 8 MiB multipart parts (one part of each file in",
        "flight in memory, eight files at a time), against a site of 1 MiB; the AWS CLI's `s3 cp` of",
        "the same file as the baseline. Peak resident memory from the process's VmHWM.",
        "",
        "| | wall | peak memory |",
        "| --- | --- | --- |",
        f"| provision dragons-lab --site (1 MiB) | {fmt(site['small'][0])} | {site['small'][1] / 1024:.1f} MiB |",
        f"| provision dragons-lab --site ({args.site_mib} MiB) | {fmt(site['large'][0])} "
        f"| {site['large'][1] / 1024:.1f} MiB |",
        f"| aws s3 cp --recursive --acl public-read ({args.site_mib} MiB) | {fmt(site['aws'][0])} "
        f"| {site['aws'][1] / 1024:.1f} MiB |",
        "",
        f"Ratio of peaks, aws / provision: **{site['aws'][1] / site['large'][1]:.1f}×**.",
        "",
        "## Start-up",
        "",
        f"- `provision --help`: median {fmt(help_median)} (30 runs)",
        f"- `provision whoami`: median {fmt(statistics.median(whoami_times))} (10 runs, one STS request)",
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "| --- | --- | --- |",
    ] + [f"| {name} | {value} | {'met' if ok else 'MISSED'} |" for name, value, ok in targets]
    with open(args.output, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
