//! What every command-line program of ours does at start, before it prints anything.
//!
//! `fordeler list | head` closes our stdout after ten lines. Rust ignores SIGPIPE, so the next
//! `println!` fails with EPIPE and panics ("failed printing to stdout"). Restoring SIGPIPE's
//! default would end the process quietly, but also on a write to a closed *socket*, which
//! would take a server down; so the panic of a print to a closed stdout is turned into a
//! quiet, successful exit instead: the reader has seen all it wanted.

/// Makes a print to a closed stdout end the process quietly with success; any other panic is
/// reported as before.
pub fn exit_quietly_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if is_closed_stdout(info) {
            std::process::exit(0);
        }
        report(info);
    }));
}

/// The panic `print!` raises on EPIPE: "failed printing to stdout: Broken pipe (os error 32)"
/// (EPIPE is 32 on Linux and the BSDs). A full disk or any other error still panics.
fn is_closed_stdout(info: &std::panic::PanicHookInfo<'_>) -> bool {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    message.starts_with("failed printing to stdout") && message.ends_with("(os error 32)")
}
