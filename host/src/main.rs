//! `cube`: the CUBE integration host's server and command-line tool.

fn main() -> std::process::ExitCode {
    cube_host::cli::main()
}
