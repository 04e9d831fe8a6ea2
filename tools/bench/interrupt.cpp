#include "interrupt.h"

#include <signal.h>

namespace divan::bench {
namespace {

volatile sig_atomic_t g_interrupted = 0;  // set from a signal handler: only sig_atomic_t is safe

void on_signal(int) { g_interrupted = 1; }

}  // namespace

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void request_interrupt() { g_interrupted = 1; }

bool interrupted() { return g_interrupted != 0; }

}  // namespace divan::bench
