//! The course IDE's set-up, sent as its user data: what the course needs installed, its working
//! folder with the lab's reader (`templates/ide-lab-app.py`) and data (`data/dragons.json`,
//! gzipped, base64) in `~/environment/dragons`, and Cloud9's idle stop
//! (`templates/ide-user-data.sh`, with the idle-stop script of `templates/ide-idle-stop.sh`
//! inside). Rendered from checked values only, and checked before
//! it is sent: EC2 takes at most 16 KB of user data ("Run commands when you launch an EC2
//! instance with user data input", Amazon EC2 User Guide).

use std::io::Write;
use std::time::Duration;

use crate::course::lab_data::DEFAULT_DRAGONS;
use crate::error::Error;

/// The user data script, with its placeholders.
const USER_DATA: &str = include_str!("../../templates/ide-user-data.sh");
/// The idle-stop script it installs.
pub(crate) const IDLE_STOP: &str = include_str!("../../templates/ide-idle-stop.sh");
/// The lab's reader written on the IDE, `~/environment/dragons/app.py`.
pub(crate) const LAB_APP: &str = include_str!("../../templates/ide-lab-app.py");

/// EC2's limit on user data, before base64.
pub(crate) const USER_DATA_LIMIT: usize = 16 * 1024;

/// The set-up script for an IDE that stops itself after `idle_stop` without use (`None`: never).
pub(crate) fn user_data(idle_stop: Option<Duration>) -> Result<String, Error> {
    let minutes = idle_stop.map_or(0, |d| d.as_secs().div_ceil(60));
    // The placeholders are replaced in an order where no inserted text holds a later one.
    let script = USER_DATA
        .replace("__IDLE_MINUTES__", &minutes.to_string())
        .replace("__LAB_DATA__", &packed(DEFAULT_DRAGONS)?)
        .replace("__IDLE_STOP_SCRIPT__", IDLE_STOP.trim_end())
        .replace("__LAB_APP__", LAB_APP.trim_end());
    if script.len() > USER_DATA_LIMIT {
        return Err(Error::failed(format!(
            "internal: the IDE's set-up script is {} bytes, over EC2's {USER_DATA_LIMIT}",
            script.len()
        )));
    }
    Ok(script)
}

/// `bytes` gzipped (no name, no time: the same bytes every run) in base64 lines of 76
/// characters, as `base64 -d | gunzip` on the instance reads them.
fn packed(bytes: &[u8]) -> Result<String, Error> {
    let mut gzip = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    gzip.write_all(bytes)
        .and_then(|()| gzip.finish())
        .map(|zipped| {
            let encoded = aws_smithy_types::base64::encode(zipped);
            let lines: Vec<&str> = encoded
                .as_bytes()
                .chunks(76)
                .filter_map(|line| std::str::from_utf8(line).ok())
                .collect();
            lines.join("\n")
        })
        .map_err(|e| {
            Error::failed("internal: could not compress the lab's data").with_cause(e.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn the_script_fits_ec2_s_limit_and_names_its_idle_minutes() {
        let script = user_data(Some(Duration::from_secs(30 * 60))).expect("renders");
        assert!(script.len() <= USER_DATA_LIMIT);
        assert!(script.contains("idle_minutes=30\n"), "{script}");
        for placeholder in ["__IDLE_", "__LAB_"] {
            assert!(
                !script.contains(placeholder),
                "a placeholder is left: {script}"
            );
        }
        let off = user_data(None).expect("renders");
        assert!(off.contains("idle_minutes=0\n"));
    }

    /// Both scripts are valid bash (`bash -n`).
    #[test]
    fn the_scripts_are_valid_shell() {
        for script in [
            user_data(Some(Duration::from_secs(600))).expect("renders"),
            IDLE_STOP.into(),
        ] {
            let checked = Command::new("bash")
                .args(["-n", "-c", &script])
                .output()
                .expect("bash runs");
            assert!(
                checked.status.success(),
                "{}",
                String::from_utf8_lossy(&checked.stderr)
            );
        }
    }

    /// A folder of stand-ins for system commands: each records its arguments in `calls`.
    fn fakes(dir: &std::path::Path, names: &[(&str, &str)]) -> std::path::PathBuf {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("dir");
        for (name, body) in names {
            let path = bin.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
            let mut permissions = std::fs::metadata(&path).expect("meta").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
            std::fs::set_permissions(&path, permissions).expect("chmod");
        }
        bin
    }

    /// The whole set-up run on this machine, its folders moved under a temporary one and the
    /// system commands it calls (dnf, chown, systemctl) replaced: it installs what the course
    /// needs, writes the lab's reader and data byte for byte, and enables the idle stop.
    #[test]
    fn the_set_up_writes_the_lab_s_reader_and_data_and_enables_the_idle_stop() {
        let dir = std::env::temp_dir().join(format!("provision-setup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let calls = dir.join("calls");
        let record = format!("echo \"$(basename \"$0\") $*\" >> {}", calls.display());
        let bin = fakes(
            &dir,
            &[("dnf", &record), ("chown", &record), ("systemctl", &record)],
        );
        let script = user_data(Some(Duration::from_secs(45 * 60))).expect("renders");
        let moved = script
            .replacen(
                "home=/home/ec2-user\n",
                &format!("home={}/home\n", dir.display()),
                1,
            )
            .replacen(
                "sbin=/usr/local/sbin\n",
                &format!("sbin={}/sbin\n", dir.display()),
                1,
            )
            .replacen(
                "units=/etc/systemd/system\n",
                &format!("units={}/units\n", dir.display()),
                1,
            );
        assert!(
            !moved.contains(" /etc/") && !moved.contains(" /usr/local"),
            "{moved}"
        );
        let run = Command::new("bash")
            .arg("-c")
            .arg(&moved)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .expect("bash runs");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let lab = dir.join("home/environment/dragons");
        assert_eq!(
            std::fs::read(lab.join("dragons.json")).expect("data"),
            DEFAULT_DRAGONS
        );
        assert_eq!(
            std::fs::read_to_string(lab.join("app.py"))
                .expect("app")
                .trim_end(),
            LAB_APP.trim_end()
        );
        let calls = std::fs::read_to_string(&calls).expect("calls");
        assert!(
            calls.contains("dnf install -y --quiet python3 python3-boto3 git"),
            "{calls}"
        );
        assert!(
            calls.contains(&format!(
                "chown -R ec2-user:ec2-user {}/home/environment",
                dir.display()
            )),
            "{calls}"
        );
        assert!(
            calls.contains("systemctl enable --now provision-idle-stop.timer"),
            "{calls}"
        );
        let unit =
            std::fs::read_to_string(dir.join("units/provision-idle-stop.service")).expect("unit");
        assert!(unit.contains("Environment=IDLE_MINUTES=45"), "{unit}");
        assert_eq!(
            std::fs::read_to_string(dir.join("sbin/provision-idle-stop"))
                .expect("script")
                .trim_end(),
            IDLE_STOP.trim_end()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The same bytes every time: an unchanged IDE's user data does not differ between runs.
    #[test]
    fn the_packed_data_is_reproducible() {
        assert_eq!(packed(DEFAULT_DRAGONS).ok(), packed(DEFAULT_DRAGONS).ok());
    }

    /// The idle-stop script run on this machine with the system commands it calls replaced:
    /// a session or login keeps the instance up; idle past the limit, it powers off once.
    #[test]
    fn the_idle_stop_powers_off_only_after_the_idle_minutes_without_a_session() {
        let dir = std::env::temp_dir().join(format!("provision-idle-{}", std::process::id()));
        let bin = dir.join("bin");
        let fake = |name: &str, body: &str| {
            fakes(&dir, &[(name, body)]);
        };
        let calls = dir.join("calls");
        // A session while the SESSION file exists; time from the NOW file.
        fake(
            "pgrep",
            &format!(
                "[ -f {0}/SESSION ] && echo 1 && exit 0; exit 1",
                dir.display()
            ),
        );
        fake("who", "true");
        fake("logger", "true");
        fake("date", &format!("cat {}/NOW", dir.display()));
        fake("systemctl", &format!("echo \"$*\" >> {}", calls.display()));
        std::fs::write(dir.join("loadavg"), "0.00 0.01 0.05 1/100 1\n").expect("loadavg");
        let run = |now: u64| {
            std::fs::write(dir.join("NOW"), now.to_string()).expect("now");
            let status = Command::new("bash")
                .arg("-c")
                .arg(IDLE_STOP)
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .env("IDLE_MINUTES", "30")
                .env("IDLE_STATE", dir.join("state/last-active"))
                .env("IDLE_LOADAVG", dir.join("loadavg"))
                .status()
                .expect("runs");
            assert!(status.success());
            std::fs::read_to_string(&calls).unwrap_or_default()
        };
        assert_eq!(run(1_000), "", "the first check records the time");
        std::fs::write(dir.join("SESSION"), "").expect("session");
        assert_eq!(run(1_000 + 40 * 60), "", "a session keeps it up");
        std::fs::remove_file(dir.join("SESSION")).expect("no session");
        assert_eq!(run(1_000 + 60 * 60), "", "20 minutes idle: still up");
        assert_eq!(
            run(1_000 + 70 * 60),
            "poweroff\n",
            "30 minutes idle: stopped"
        );
        std::fs::write(dir.join("loadavg"), "1.50 0.80 0.30 2/100 1\n").expect("busy");
        std::fs::remove_file(&calls).expect("reset");
        assert_eq!(run(1_000 + 200 * 60), "", "a busy CPU keeps it up");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
