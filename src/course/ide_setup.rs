//! The course IDE's set-up, sent as its user data: what the course needs installed, its working
//! folder, and Cloud9's idle stop (`templates/ide-user-data.sh`, with the idle-stop script of
//! `templates/ide-idle-stop.sh` inside). Rendered from checked values only, and checked before
//! it is sent: EC2 takes at most 16 KB of user data ("Run commands when you launch an EC2
//! instance with user data input", Amazon EC2 User Guide).

use std::time::Duration;

use crate::error::Error;

/// The user data script, with its placeholders.
const USER_DATA: &str = include_str!("../../templates/ide-user-data.sh");
/// The idle-stop script it installs.
pub(crate) const IDLE_STOP: &str = include_str!("../../templates/ide-idle-stop.sh");

/// EC2's limit on user data, before base64.
pub(crate) const USER_DATA_LIMIT: usize = 16 * 1024;

/// The set-up script for an IDE that stops itself after `idle_stop` without use (`None`: never).
pub(crate) fn user_data(idle_stop: Option<Duration>) -> Result<String, Error> {
    let minutes = idle_stop.map_or(0, |d| d.as_secs().div_ceil(60));
    let script = USER_DATA
        .replace("__IDLE_STOP_SCRIPT__", IDLE_STOP.trim_end())
        .replace("__IDLE_MINUTES__", &minutes.to_string());
    if script.len() > USER_DATA_LIMIT {
        return Err(Error::failed(format!(
            "internal: the IDE's set-up script is {} bytes, over EC2's {USER_DATA_LIMIT}",
            script.len()
        )));
    }
    Ok(script)
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
        assert!(!script.contains("__"), "a placeholder is left: {script}");
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

    /// The idle-stop script run on this machine with the system commands it calls replaced:
    /// a session or login keeps the instance up; idle past the limit, it powers off once.
    #[test]
    fn the_idle_stop_powers_off_only_after_the_idle_minutes_without_a_session() {
        let dir = std::env::temp_dir().join(format!("provision-idle-{}", std::process::id()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("dir");
        let fake = |name: &str, body: &str| {
            let path = bin.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
            let mut permissions = std::fs::metadata(&path).expect("meta").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
            std::fs::set_permissions(&path, permissions).expect("chmod");
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
