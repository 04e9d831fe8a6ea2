// doctest's main, shared by the unit-test binaries that link divan_doctest_main (tests/CMakeLists.txt).
// Replay a property- or model-test failure with DIVAN_SEED=<seed>.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
