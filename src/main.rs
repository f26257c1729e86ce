//! Entry point: parse the command line, run, exit with the documented code (0 success, 1 a failed
//! operation, 2 usage or invalid input).

use clap::Parser;

fn main() -> std::process::ExitCode {
    // clap exits with 2 on usage errors and 0 for --help/--version, as documented.
    let cli = provision::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let status = runtime.block_on(provision::run(cli));
    std::process::ExitCode::from(status as u8)
}
