//! The `cuadra` binary: parse the command line, run it, exit with its code.

/// mimalloc instead of the system allocator: a reconcile run at scale makes and drops millions of small strings and
/// a few large buffers, which mimalloc serves with less bookkeeping than glibc's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = cuadra::cli::main();
    std::process::exit(code);
}
