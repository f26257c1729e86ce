//! Entry point: everything — parsing, running, rendering errors, exit codes — is `provision::main`.

fn main() -> std::process::ExitCode {
    provision::main()
}
