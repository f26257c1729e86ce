#!/usr/bin/env python3
"""What a clean release build of provision costs: wall time, CPU time, peak memory, binary size.

    python3 bench/build.py [--rev REV] [--cargo-profile NAME] [--default-profile]
                           [--package-profile PKG:KEY=VALUE ...] [--hint-mostly-unused]
                           [--label TEXT] [--json FILE]

Builds the committed tree of REV (default HEAD) in a fresh temporary directory with a fresh target
directory, the way `cargo install --locked` builds it on a student's machine, and reports:

- wall and CPU (user + system) time of `cargo build --profile NAME --locked` (default `release`,
  what `cargo install` uses; `dist` is what the prebuilt binaries are built with). The crates' sources are
  fetched before the clock starts, so the figures are the build's, not the network's;
- peak memory: the most the whole build (cargo and every rustc, build script and linker it runs)
  held resident at once, sampled from /proc every 0.1 s, and the largest single process
  (getrusage's ru_maxrss of the waited-for children). The first is what decides whether a 2 GiB
  course IDE finishes `cargo install`;
- the binary's size, and the median of 30 runs of `provision --help`.

`--default-profile` removes the `[profile.release]` section first: Cargo's defaults, the "before".
`--package-profile aws-sdk-ec2:opt-level=1` adds a per-package override to the built profile
(`[profile.release.package.aws-sdk-ec2]`), to try one without committing it.
`--hint-mostly-unused` builds as a cargo that honours the SDK crates' `[hints] mostly-unused`
would: the stable cargo here ignores the hint, so this passes `-Zprofile-hint-mostly-unused` with
`RUSTC_BOOTSTRAP=1` — a measurement of what the hint would give, not a way to build for users.
Nothing here reaches AWS; it needs only crates.io (or the cargo cache) and takes 15-25 minutes on
two cores.
"""

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def descendants(root):
    """The pids of root and everything it started, from /proc's parent links."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the parent pid follows it.
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def resident(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def build(tree, target, env, cargo_profile, cargo_flags=()):
    """Run the build, sampling the whole process tree's resident memory; return the figures."""
    start = time.monotonic()
    child = subprocess.Popen(
        ["cargo", *cargo_flags, "build", "--profile", cargo_profile, "--locked", "--quiet"],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    peak_tree = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak_tree = max(peak_tree, sum(resident(p) for p in descendants(child.pid)))
        time.sleep(0.1)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"the build failed (exit {os.waitstatus_to_exitcode(status)})")
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    binary = os.path.join(target, cargo_profile, "provision")
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_build_rss_mib": round(peak_tree / 2**20),
        "largest_process_rss_mib": round(largest / 2**20),
        "binary_bytes": os.path.getsize(binary),
        "help_ms": help_time(binary),
    }


def help_time(binary, runs=30):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([binary, "--help"], stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="the commit to build (default HEAD)")
    parser.add_argument(
        "--cargo-profile",
        default="release",
        help="the Cargo profile to build (default release; dist for the prebuilt binaries)",
    )
    parser.add_argument(
        "--default-profile",
        action="store_true",
        help="remove [profile.release] first: Cargo's default release profile",
    )
    parser.add_argument(
        "--package-profile",
        action="append",
        default=[],
        metavar="PKG:KEY=VALUE",
        help="add a per-package override to the built profile (repeatable)",
    )
    parser.add_argument(
        "--hint-mostly-unused",
        action="store_true",
        help="honour the crates' [hints] mostly-unused (nightly cargo flag, via RUSTC_BOOTSTRAP)",
    )
    parser.add_argument("--label", help="what to call this build in the report")
    parser.add_argument("--json", help="append the figures, as one JSON line, to this file")
    args = parser.parse_args()

    repo = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
    ).stdout.strip()
    rev = subprocess.run(
        ["git", "-C", repo, "rev-parse", "--short", args.rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    work = tempfile.mkdtemp(prefix="provision-build-")
    try:
        tree = os.path.join(work, "src")
        os.mkdir(tree)
        archive = subprocess.run(
            ["git", "-C", repo, "archive", rev], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        manifest = os.path.join(tree, "Cargo.toml")
        with open(manifest) as f:
            text = f.read()
        profile = re.search(r"(?ms)^\[profile\.release\]\n.*?(?=^\[|\Z)", text)
        if args.default_profile and profile:
            text = text[: profile.start()] + text[profile.end() :]
        overrides = {}
        for override in args.package_profile:
            package, _, setting = override.partition(":")
            key, _, value = setting.partition("=")
            if not (package and key and value):
                sys.exit(f"--package-profile {override!r}: expected PKG:KEY=VALUE")
            overrides.setdefault(package, []).append(f"{key} = {value}")
        for package, settings in overrides.items():
            text += f'\n[profile.{args.cargo_profile}.package."{package}"]\n'
            text += "\n".join(settings) + "\n"
        with open(manifest, "w") as f:
            f.write(text)
        target = os.path.join(work, "target")
        env = dict(os.environ, CARGO_TARGET_DIR=target)
        for key in [k for k in env if k.startswith("CARGO_PROFILE_") or k == "RUSTFLAGS"]:
            del env[key]
        subprocess.run(["cargo", "fetch", "--locked", "--quiet"], cwd=tree, env=env, check=True)
        flags = []
        if args.hint_mostly_unused:
            env["RUSTC_BOOTSTRAP"] = "1"
            flags.append("-Zprofile-hint-mostly-unused")
        figures = build(tree, target, env, args.cargo_profile, flags)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if args.default_profile or not profile:
        profile_text = "Cargo's default release profile"
    else:
        profile_text = f"profile {args.cargo_profile} as committed"
    if args.package_profile:
        profile_text += ", with " + ", ".join(args.package_profile)
    if args.hint_mostly_unused:
        profile_text += ", hints.mostly-unused honoured"
    record = {
        "label": args.label or f"{rev} ({profile_text})",
        "rev": rev,
        "profile": profile_text,
        "cpus": os.cpu_count(),
        **figures,
    }
    print(
        f"{record['label']}: {figures['wall_s']:.0f} s wall, {figures['cpu_s']:.0f} s CPU, "
        f"peak {figures['peak_build_rss_mib']} MiB (largest process "
        f"{figures['largest_process_rss_mib']} MiB), binary "
        f"{figures['binary_bytes'] / 2**20:.1f} MiB, --help {figures['help_ms']} ms"
    )
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
