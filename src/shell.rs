//! The command line as a POSIX shell reads it: this run's, quoted, to resume it or to suggest a
//! variant in a hint.

/// This run's command line, quoted for a POSIX shell (to resume it, or to suggest a variant).
pub(crate) fn command_line() -> String {
    quoted_command(&std::env::args().skip(1).collect::<Vec<_>>())
}

/// `provision` with these arguments, quoted for a POSIX shell.
pub(crate) fn quoted_command(args: &[String]) -> String {
    std::iter::once("provision".to_string())
        .chain(std::iter::once(quoted(args)).filter(|a| !a.is_empty()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Arguments quoted for a POSIX shell, each as it is when it needs no quotes.
pub(crate) fn quoted(args: &[String]) -> String {
    let quote = |arg: &String| {
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c));
        if plain {
            arg.clone()
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        }
    };
    args.iter().map(quote).collect::<Vec<_>>().join(" ")
}
