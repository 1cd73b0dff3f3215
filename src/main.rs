//! The `cuadra` binary: parse the command line, run it, exit with its code.

/// mimalloc instead of the system allocator: a run over a million invoices makes and drops millions of small
/// strings and a few large buffers; glibc's allocator spent about a tenth of that run in its own bookkeeping and in
/// returning memory to the kernel only to fault it back in (zeroed) moments later.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = cuadra::cli::main();
    std::process::exit(code);
}
