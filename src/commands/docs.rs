//! `provision completions SHELL` and `provision man`: a completion script and the manual page,
//! generated from the same clap definition as `--help`, so that they never disagree with it.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::Error;
use crate::printer::Printer;

/// The completion script for one shell, on stdout.
pub(crate) fn completions(args: &CompletionsArgs, printer: &Printer) -> Result<(), Error> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "provision", &mut script);
    printer.raw(&String::from_utf8_lossy(&script));
    Ok(())
}

/// The manual page (roff) of provision, or of one subcommand, on stdout.
pub(crate) fn man(args: &ManArgs, printer: &Printer) -> Result<(), Error> {
    let command = Cli::command();
    let page = match &args.subcommand {
        None => command,
        Some(name) => {
            let Some(sub) = command.find_subcommand(name) else {
                let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
                return Err(Error::usage(format!("`{name}` is not a subcommand"))
                    .with_hint(format!("one of: {}", names.join(", "))));
            };
            sub.clone()
                .name(format!("provision-{name}"))
                .version(command.get_version().unwrap_or_default().to_string())
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(|e| Error::failed("cannot write the manual page").with_cause(e.to_string()))?;
    printer.raw(&String::from_utf8_lossy(&roff));
    Ok(())
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
