// Ctrl-C, SIGTERM and a closed stdout end the bench early but cleanly: every loop checks
// interrupted(), so the normal unwinding stops the node and deletes the temp dir.
//
// Thread-safety: interrupted() may be called from any thread; install once from main.
#pragma once

namespace divan::bench {

// Installs SIGINT/SIGTERM handlers that set the flag, and ignores SIGPIPE (print_* set the flag
// when stdout is gone).
void install_interrupt_handlers();
void request_interrupt();
bool interrupted();

}  // namespace divan::bench
