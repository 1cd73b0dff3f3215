//! The `cuadra` binary: parse the command line, run it, exit with its code.

fn main() {
    let code = cuadra::cli::main();
    std::process::exit(code);
}
