//! Completions and the manual page, generated from the command-line definition.

use std::process::Command;

use crate::harness::Session;

/// What bash's completion offers for `words` (the last one being completed), with the script
/// `provision completions bash` printed loaded into a bash of its own.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "source {script}\n\
         COMP_WORDS=({words})\n\
         COMP_CWORD={cword}\n\
         COMP_LINE='{line}'\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         _provision provision '{current}' '{previous}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script = script.display(),
        words = words.join(" "),
        cword = words.len() - 1,
        current = words[words.len() - 1],
        previous = words[words.len() - 2],
    );
    let output = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(program)
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_a_subcommand_and_a_flag() {
    let session = Session::new("docs-completions");
    let output = session.provision().run(&["completions", "bash"]);
    output.success();
    let script = session.write_file("provision.bash", &output.stdout);
    assert_eq!(
        bash_completes(&script, &["provision", "instance-p"]),
        ["instance-profile"]
    );
    assert_eq!(
        bash_completes(&script, &["provision", "teardown", "--keep"]),
        ["--keep-data"]
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let script = session.provision().run(&["completions", shell]);
        script.success();
        assert!(script.stdout.contains("dragons-lab"), "{shell}");
    }
    let unknown = session.provision().run(&["completions", "tcsh"]);
    unknown.assert_code(2);
}

/// What fish offers for `line`, with the script `provision completions fish` printed loaded
/// (Debian's fish, which scripts/test installs where it is missing).
fn fish_completes(script: &std::path::Path, line: &str) -> Vec<String> {
    let output = Command::new("fish")
        .arg("--no-config")
        .arg("-c")
        .arg(format!(
            "source {}; complete -C {}",
            script.display(),
            shell_quote(line)
        ))
        .current_dir(script.parent().expect("a folder"))
        .output()
        .expect("run fish (scripts/test installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Issue 22, finding 10: fish offered file names for a global option's value typed before the
/// subcommand (`provision --output <TAB>`).
#[test]
fn fish_completes_a_global_option_s_values_before_the_subcommand() {
    let session = Session::new("docs-fish");
    let output = session.provision().run(&["completions", "fish"]);
    output.success();
    let dir = session.home.join("fish");
    std::fs::create_dir_all(&dir).expect("dir");
    let script = dir.join("provision.fish");
    std::fs::write(&script, &output.stdout).expect("script");
    for (line, expected) in [
        ("provision --output ", vec!["human", "json"]),
        ("provision --color ", vec!["always", "auto", "never"]),
        (
            "provision --region us-east-1 --output ",
            vec!["human", "json"],
        ),
        ("provision status --output ", vec!["human", "json"]),
        ("provision --output json tear", vec!["teardown"]),
    ] {
        assert_eq!(fish_completes(&script, line), expected, "{line:?}");
    }
}

/// Finding 10: `provision man export` referred to `provision-export-cloudformation(1)`, which
/// `provision man` could not produce, and em dashes made groff warn. Every page names only pages
/// `provision man` prints, and groff reads each without a warning.
#[test]
fn every_manual_page_renders_cleanly_and_its_references_exist() {
    let session = Session::new("docs-man-pages");
    let listing = session.provision().run(&["man", "no-such-page"]);
    listing.assert_code(2);
    let pages: Vec<String> = listing
        .stderr
        .split("one of: ")
        .nth(1)
        .expect("the pages")
        .trim()
        .split(", ")
        .map(str::to_string)
        .collect();
    assert!(
        pages.contains(&"export cloudformation".to_string()),
        "{pages:?}"
    );
    let mut named = std::collections::BTreeSet::new();
    let mut produced = std::collections::BTreeSet::from(["provision".to_string()]);
    for page in std::iter::once(String::new()).chain(pages.iter().cloned()) {
        let mut args = vec!["man"];
        args.extend(page.split_whitespace());
        let roff = session.provision().run(&args);
        roff.success();
        assert!(roff.stdout.is_ascii(), "{page}: non-ASCII roff");
        if !page.is_empty() {
            produced.insert(format!("provision-{}", page.replace(' ', "-")));
        }
        for reference in roff.stdout.split_whitespace() {
            let reference = reference.replace("\\-", "-");
            if let Some(name) = reference.strip_suffix("(1)") {
                named.insert(name.trim_end_matches(',').to_string());
            }
        }
        let mut groff = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("groff (scripts/test installs groff-base)");
        use std::io::Write as _;
        groff
            .stdin
            .take()
            .expect("stdin")
            .write_all(roff.stdout.as_bytes())
            .expect("write");
        let checked = groff.wait_with_output().expect("groff");
        assert!(
            checked.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    let missing: Vec<&String> = named.difference(&produced).collect();
    assert!(missing.is_empty(), "named but not produced: {missing:?}");
    assert!(
        named.contains("provision-export-cloudformation"),
        "{named:?}"
    );
}

#[test]
fn the_manual_page_is_roff_of_the_same_definition() {
    let session = Session::new("docs-man");
    let page = session.provision().run(&["man"]);
    page.success();
    assert!(
        page.stdout.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        &page.stdout[..80]
    );
    assert!(page.stdout.contains(".TH provision"), "{}", page.stdout);
    assert!(
        page.stdout.contains("instance\\-profile"),
        "{}",
        page.stdout
    );
    let teardown = session.provision().run(&["man", "teardown"]);
    teardown.success();
    assert!(
        teardown.stdout.contains(".TH provision-teardown"),
        "{}",
        teardown.stdout
    );
    assert!(
        teardown.stdout.contains("\\-\\-keep\\-data"),
        "{}",
        teardown.stdout
    );
    let unknown = session.provision().run(&["man", "deploy"]);
    unknown.assert_code(2);
    assert!(
        unknown.stderr.contains("one of: ide, ide stop, ide start, ide connect, ide ssh-config, ide forward, instance-profile"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn colour_follows_the_terminal_the_environment_and_the_flag() {
    let session = Session::new("docs-colour");
    let args = ["dragons-lab", "--dry-run", "--bucket", "docs-colour-lab"];
    // The harness runs provision piped, with NO_COLOR: no colour.
    let plain = session.provision().run(&args);
    plain.success();
    assert!(
        plain.stdout.contains("+ create    s3-bucket"),
        "{}",
        plain.stdout
    );
    assert!(!plain.stdout.contains('\u{1b}'), "{:?}", plain.stdout);
    // --color always and CLICOLOR_FORCE force it, even piped.
    let forced = session
        .provision()
        .run(&[&["--color", "always"][..], &args].concat());
    assert!(
        forced
            .stdout
            .contains("\u{1b}[32m+ create   \u{1b}[0m s3-bucket"),
        "{:?}",
        forced.stdout
    );
    let clicolor = session
        .provision()
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .run(&args);
    assert!(
        clicolor.stdout.contains("\u{1b}[32m"),
        "{:?}",
        clicolor.stdout
    );
    // --color never wins over CLICOLOR_FORCE.
    let never = session
        .provision()
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .run(&[&["--color", "never"][..], &args].concat());
    assert!(!never.stdout.contains('\u{1b}'), "{:?}", never.stdout);
    // Errors in red, hints in cyan.
    let refused = session.provision().run(&["--color", "always", "teardown"]);
    refused.assert_code(2);
    assert!(
        refused.stderr.contains("error:\u{1b}[0m"),
        "{:?}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("\u{1b}[36mhint:\u{1b}[0m"),
        "{:?}",
        refused.stderr
    );
    // Documents never carry colour.
    let json = session
        .provision()
        .run(&[&["--color", "always", "--output", "json"][..], &args].concat());
    assert!(!json.stdout.contains('\u{1b}'), "{:?}", json.stdout);
}

/// Every kind of document matches `schema/provision.schema.json` (each test's documents are
/// checked as they are read; these are the kinds a test might not read).
#[test]
fn every_kind_of_document_matches_the_schema() {
    let session = Session::new("docs-schema");
    for args in [
        &["--output", "json", "whoami"][..],
        &["--output", "json", "status"][..],
        &[
            "--output",
            "json",
            "dragons-lab",
            "--dry-run",
            "--bucket",
            "docs-schema-lab",
        ][..],
    ] {
        let document = session.provision().run(args).success().json();
        assert_eq!(document["schema_version"], 1, "{document}");
    }
    let refused = session.provision().run(&["--output", "json", "teardown"]);
    refused.assert_code(2);
    let document = refused.json();
    assert_eq!(document["error"]["exit_code"], 2, "{document}");
}

/// Issue 22, finding 10: `scripts/venv.sh` had no shebang. Every script of the project names its
/// interpreter, sourced or run.
#[test]
fn every_script_names_its_interpreter() {
    let root = crate::harness::project_dir();
    let mut checked = 0;
    for dir in ["scripts", "bench", "bench/baseline", ".ci"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("folder") {
            let path = entry.expect("entry").path();
            let script = path.extension().is_none_or(|e| e == "sh" || e == "py");
            if !path.is_file() || !script {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("text");
            assert!(text.starts_with("#!"), "{} has no shebang", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} scripts");
}

/// Issue 23: the licence is `MIT OR Apache-2.0`, as most of the Rust ecosystem: declared in
/// `Cargo.toml`, both texts in the repository, and a README section that names them.
#[test]
fn the_licence_is_declared_and_both_texts_are_present() {
    let root = crate::harness::project_dir();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest
            .lines()
            .any(|l| l.trim() == r#"license = "MIT OR Apache-2.0""#),
        "Cargo.toml declares the licence"
    );
    let apache = std::fs::read_to_string(root.join("LICENSE-APACHE")).expect("LICENSE-APACHE");
    assert!(apache.contains("Apache License") && apache.contains("Version 2.0, January 2004"));
    let mit = std::fs::read_to_string(root.join("LICENSE-MIT")).expect("LICENSE-MIT");
    assert!(mit.starts_with("MIT License") && mit.contains("Permission is hereby granted"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let section = readme
        .split("\n## License\n")
        .nth(1)
        .expect("a License section in the README");
    assert!(section.contains("(LICENSE-APACHE)") && section.contains("(LICENSE-MIT)"));
}
