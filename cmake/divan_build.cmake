# Build speed (included from the top-level CMakeLists.txt after find_package, before the layers).
# Four pieces; measured figures are in the commits that added them.
#
# 1. ccache, when installed, as the compiler launcher, with the sloppiness that precompiled
#    headers need (set here, not only in a machine's ccache.conf, so a fresh machine gets it).
#
# 2. Asio and Beast compiled once (divan_asio), not in every translation unit that includes them:
#    BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION are defined for every
#    target (a program must not mix the two modes), and every target that links Boost::headers
#    links divan_asio with it. A new library that uses Asio or Beast (http/client, replicator, …)
#    joins by linking Boost::headers, as the existing ones do; nothing else to do.
#
# 3. One precompiled header, cmake/pch.h (the standard library, nlohmann/json, tl::expected, Asio,
#    Beast), compiled once by divan_pch and reused by every target that calls
#      divan_use_pch(<target>)
#    after its add_library/add_executable (a test target gets the -Og twin, divan_test_pch). All
#    of them share the one .gch (REUSE_FROM), which needs the same compiler flags and definitions:
#    don't give such a target its own -O level or a -D that pch.h's headers look at (definitions
#    of libraries outside the PCH, e.g. spdlog's, are fine). CMake adds -Winvalid-pch, so GCC
#    warns instead of silently parsing the headers again when the PCH does not match. -DDIVAN_PCH=OFF builds without it (to check that every source
#    still includes what it uses).
#
# 4. Unity builds: each target's sources compiled as one translation unit. Most of a TU's time is
#    generating code for the templates it instantiates (Asio coroutines, Beast, nlohmann/json), and
#    every TU of a library instantiated the same ones again. Consequence for sources: names local
#    to a .cpp (anonymous namespace, file constants) share one scope with the target's other
#    sources, so a helper two files need lives in a header, not in two copies. -DDIVAN_UNITY=OFF
#    compiles file by file (quicker incremental rebuilds while editing one file).

# --- 1. ccache -----------------------------------------------------------------------------------
# GCC precompiled headers and ccache: ccache cannot see #defines or __TIME__ through a .gch, hence
# pch_defines,time_macros. Not include_file_mtime/ctime: the .gch is always newer than the build's
# start, so ccache falls back from direct to preprocessor mode for the TUs using it (still cached),
# but with those sloppinesses a header edited while a build runs gets cached under its new
# contents with an object compiled from the old ones — a stale object that corrupts memory at run
# time (seen here: a struct grew mid-build). A launcher given on the command line wins.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER env "CCACHE_SLOPPINESS=pch_defines,time_macros" ${CCACHE_PROGRAM})
endif()

# --- 2. Asio and Beast compiled once -------------------------------------------------------------
add_compile_definitions(BOOST_ASIO_SEPARATE_COMPILATION BOOST_BEAST_SEPARATE_COMPILATION)
# Boost's include directory directly, not Boost::headers: that one links divan_asio (below).
add_library(divan_asio STATIC
  ${CMAKE_CURRENT_LIST_DIR}/asio_beast.cpp   # boost/asio/impl/src.hpp, boost/beast/src.hpp
  ${CMAKE_CURRENT_LIST_DIR}/asio_ssl.cpp)    # boost/asio/ssl/impl/src.hpp (pulled in only if used)
target_include_directories(divan_asio SYSTEM PRIVATE ${Boost_INCLUDE_DIRS})
target_link_libraries(divan_asio PRIVATE Threads::Threads OpenSSL::SSL OpenSSL::Crypto)
set_property(TARGET Boost::headers APPEND PROPERTY INTERFACE_LINK_LIBRARIES divan_asio)

# --- 3. The shared precompiled header ------------------------------------------------------------
option(DIVAN_PCH "Precompile cmake/pch.h once and force-include it where divan_use_pch() asks" ON)
if(DIVAN_PCH)
  add_library(divan_pch OBJECT ${CMAKE_CURRENT_LIST_DIR}/pch_anchor.cpp)
  target_link_libraries(divan_pch PRIVATE Boost::headers nlohmann_json::nlohmann_json tl::expected)
  target_precompile_headers(divan_pch PRIVATE ${CMAKE_CURRENT_LIST_DIR}/pch.h)
endif()

# Targets under tests/ are compiled with -Og (tests/CMakeLists.txt), so they reuse that folder's
# -Og build of the same header, divan_test_pch. The PCH's Asio headers define static error-category references that every TU initialises, so a
# target using the PCH links divan_asio even if its own code never touches Asio.
function(divan_use_pch target)
  if(DIVAN_PCH)
    target_link_libraries(${target} PRIVATE divan_asio)
    get_target_property(dir ${target} SOURCE_DIR)
    if(dir MATCHES "^${PROJECT_SOURCE_DIR}/tests(/|$)")
      target_precompile_headers(${target} REUSE_FROM divan_test_pch)
    else()
      target_precompile_headers(${target} REUSE_FROM divan_pch)
    endif()
  endif()
endfunction()

# --- 4. Unity builds -----------------------------------------------------------------------------
# One TU per target (batch size 0): on 2 cores the targets themselves give enough parallelism.
option(DIVAN_UNITY "Compile each target's sources as one translation unit" ON)
if(DIVAN_UNITY)
  set(CMAKE_UNITY_BUILD ON)
  # A static library does not need the libraries it links to be built before its own objects
  # compile; without this, Make builds the layers one after another, one TU each: no parallelism.
  set(CMAKE_OPTIMIZE_DEPENDENCIES ON)
  set(CMAKE_UNITY_BUILD_BATCH_SIZE 0)
  # A .cpp included by the unity file counts as a header to GCC, which then warns whenever one of
  # its classes holds a type from its own anonymous namespace: right in a .cpp, noise here.
  add_compile_options(-Wno-subobject-linkage)
endif()
