//! `provision completions SHELL` and `provision man`: a completion script and the manual page,
//! generated from the same clap definition as `--help`, so that they never disagree with it.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::commands::Run;
use crate::error::Error;
use crate::printer::Printer;
use crate::settings::{CompletionsArgs, GlobalArgs, ManArgs};

/// The completion script for one shell, on stdout.
/// `provision completions`, as the registry runs it.
pub(crate) struct Completions;

impl Run for Completions {
    type Args = CompletionsArgs;

    async fn run(_: &GlobalArgs, args: &CompletionsArgs, printer: &Printer) -> Result<(), Error> {
        completions(args, printer)
    }
}

/// `provision man`, as the registry runs it.
pub(crate) struct Man;

impl Run for Man {
    type Args = ManArgs;

    async fn run(_: &GlobalArgs, args: &ManArgs, printer: &Printer) -> Result<(), Error> {
        man(args, printer)
    }
}

fn completions(args: &CompletionsArgs, printer: &Printer) -> Result<(), Error> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "provision", &mut script);
    let script = String::from_utf8_lossy(&script);
    let script = match args.shell {
        clap_complete::Shell::Fish => fish_fixed(&script),
        _ => script.into_owned(),
    };
    printer.raw(&script);
    Ok(())
}

/// clap_complete's fish script asks `argparse` whether a subcommand has been typed yet, and
/// takes its failure for "yes" — but before the subcommand, `provision --output ` fails argparse
/// only because the option's value is the word being completed, so fish offered file names there.
/// `argparse -s` stops at the first word that is not an option, so a failure always means no
/// subcommand yet.
fn fish_fixed(script: &str) -> String {
    script.replace(
        "-- $cmd 2>/dev/null\n    or return\n",
        "-- $cmd 2>/dev/null\n    # A global option's value is being typed: no subcommand yet.\n    or return 0\n",
    )
}

/// The manual page (roff) of provision, or of one subcommand, on stdout: `teardown`, or one inside
/// another — `export cloudformation`, or `export-cloudformation` as the pages' SEE ALSO names it.
fn man(args: &ManArgs, printer: &Printer) -> Result<(), Error> {
    let command = without_help(Cli::command());
    let path: Vec<String> = args
        .subcommand
        .iter()
        .flat_map(|word| word.split('-').map(str::to_string).collect::<Vec<_>>())
        .collect();
    let page = match find(&command, &path) {
        Some((page, names)) if !names.is_empty() => page
            .clone()
            .name(format!("provision-{}", names.join("-")))
            .version(command.get_version().unwrap_or_default().to_string()),
        Some((page, _)) => page.clone(),
        None => {
            let names: Vec<String> = pages(&command, &[]);
            return Err(Error::usage(format!(
                "`{}` is not a subcommand",
                args.subcommand.join(" ")
            ))
            .with_hint(format!("one of: {}", names.join(", "))));
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(|e| Error::failed("cannot write the manual page").with_cause(e.to_string()))?;
    printer.raw(&ascii_roff(&String::from_utf8_lossy(&roff)));
    Ok(())
}

/// The subcommand `words` names, one level down for each word — words joined by `-` first, so
/// that `dragons lab` is `dragons-lab` — with the names on the way.
fn find<'a>(
    command: &'a clap::Command,
    words: &[String],
) -> Option<(&'a clap::Command, Vec<String>)> {
    let mut current = command;
    let mut names = Vec::new();
    let mut rest = words;
    while !rest.is_empty() {
        let (sub, used) = (1..=rest.len()).rev().find_map(|n| {
            current
                .find_subcommand(rest[..n].join("-"))
                .map(|sub| (sub, n))
        })?;
        names.push(sub.get_name().to_string());
        current = sub;
        rest = &rest[used..];
    }
    Some((current, names))
}

/// The command without clap's `help` subcommands (at every level): a page for `provision help`
/// would only list the others again, and every page's SEE ALSO names only pages there are.
fn without_help(command: clap::Command) -> clap::Command {
    command
        .disable_help_subcommand(true)
        .mut_subcommands(without_help)
}

/// Every page `provision man` prints, by the name it takes (`export cloudformation` too).
fn pages(command: &clap::Command, above: &[&str]) -> Vec<String> {
    let mut names = Vec::new();
    for sub in command.get_subcommands() {
        let mut path = above.to_vec();
        path.push(sub.get_name());
        names.push(path.join(" "));
        names.extend(pages(sub, &path));
    }
    names
}

/// Roff of ASCII only: every other character as groff's `\[uXXXX]` escape (an em dash is
/// `\[u2014]`, which groff and mandoc both draw), so that no formatter warns of invalid input.
fn ascii_roff(roff: &str) -> String {
    let mut out = String::with_capacity(roff.len());
    for c in roff.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
            clap_complete::Shell::PowerShell,
            clap_complete::Shell::Elvish,
        ] {
            let mut command = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "provision", &mut script);
            let script = String::from_utf8(script).expect("UTF-8");
            for name in ["instance-profile", "dragons-lab", "teardown", "--accounts"] {
                assert!(script.contains(name), "{shell}: {name}");
            }
        }
    }
}
