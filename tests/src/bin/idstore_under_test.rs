//! The `idstore` binary, under another name for the integration tests.
fn main() -> std::process::ExitCode {
    idstore_server::cli::main()
}
