# The write-ahead log's tests (shards/wal.c, shards/wal_io.c); included from
# tests/shards/CMakeLists.txt. wal_fault_test uses the fault-injecting io and
# needs no io_uring. The log is single-threaded (wal_reader_test's second
# thread shares only files and atomics with it), and Criterion cannot start
# under ThreadSanitizer: skip there.
if(NOT ST_SANITIZE MATCHES "thread")
  st_add_test(NAME wal_test SOURCES ${PROJECT_SOURCE_DIR}/tests/shards/wal_test.c
    ${PROJECT_SOURCE_DIR}/tests/shards/wal_test_util.c
    LIBS st_wal st_proto PkgConfig::XXHASH LABELS unit)
  st_add_test(NAME wal_reader_test SOURCES ${PROJECT_SOURCE_DIR}/tests/shards/wal_reader_test.c
    ${PROJECT_SOURCE_DIR}/tests/shards/wal_test_util.c
    LIBS st_wal Threads::Threads LABELS unit)
  st_add_test(NAME wal_janitor_test SOURCES ${PROJECT_SOURCE_DIR}/tests/shards/wal_janitor_test.c
    ${PROJECT_SOURCE_DIR}/tests/shards/wal_test_util.c
    LIBS st_wal Threads::Threads LABELS unit)
  st_add_test(NAME wal_fault_test SOURCES ${PROJECT_SOURCE_DIR}/tests/shards/wal_fault_test.c
    ${PROJECT_SOURCE_DIR}/tests/shards/wal_test_util.c
    LIBS st_wal LABELS unit fault)
endif()
