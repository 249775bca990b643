fn main() -> std::process::ExitCode {
    idstore_server::cli::main()
}
