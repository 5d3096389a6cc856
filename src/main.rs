//! The `khulasa` binary: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match khulasa::cli::run() {
        Ok(code) => code,
        Err(e) => {
            let code = khulasa::cli::exit_code(&e);
            match e.downcast_ref::<khulasa::Error>() {
                Some(k) => eprintln!("khulasa: error: {k}"),
                None => eprintln!("khulasa: error: {e:#}"),
            }
            ExitCode::from(code)
        }
    }
}
