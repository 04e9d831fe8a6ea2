# divan-bench: drives a real divan (or any CouchDB) over loopback HTTP and prints figures beside
# raw-SQLite baselines. Never a test: it prints, it doesn't pass or fail. Included from
# tools/CMakeLists.txt, so the binary lands next to `divan`, which it starts by default.
add_executable(divan-bench
  ${CMAKE_CURRENT_LIST_DIR}/bench/main.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/baseline.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/scenarios.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/scenario_support.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/changes_scenarios.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/attachment_scenarios.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/replication_scenarios.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/mesh_scenarios.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/history_scenarios.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/live_writes.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/changes_stream.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/load.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/http_call.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/node.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/stats.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench/interrupt.cpp)
divan_use_pch(divan-bench)
target_link_libraries(divan-bench PRIVATE divan_base
  Boost::headers nlohmann_json::nlohmann_json CLI11::CLI11 Threads::Threads SQLite::SQLite3)
