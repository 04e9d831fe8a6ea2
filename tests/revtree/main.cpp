// doctest's main for revtree_test. Replay a property-test failure with DIVAN_SEED=<seed>.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
