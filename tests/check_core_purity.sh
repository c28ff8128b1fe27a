#!/bin/sh
# check_core_purity.sh CORE_DIR - fails if core/ reaches for threads, sockets,
# io_uring, protobuf, nng, clocks, files or randomness (DESIGN.md §2: core is
# pure, so every replica and simulation computes the same state from the log).
dir=${1:?usage: check_core_purity.sh CORE_DIR}
bad=$(grep -nE '#[[:space:]]*include[[:space:]]*[<"](pthread\.h|threads\.h|liburing\.h|nng/|protobuf-c/|[^">]*\.pb-c\.h|sys/socket\.h|netinet/|time\.h|sys/time\.h|unistd\.h|fcntl\.h|ck_[a-z_]*\.h)' "$dir"/*.c "$dir"/*.h |
      cat)
calls=$(grep -nE '\b(clock_gettime|gettimeofday|time|rand|random|fopen|open|read|write|printf|fprintf|puts|pthread_[a-z_]+)[[:space:]]*\(' "$dir"/*.c |
      grep -vE '^\S+:[0-9]+:\s*//' | grep -v 'assert\.c:')
if [ -n "$bad$calls" ]; then
    echo "core/ is not pure:"
    [ -n "$bad" ] && echo "$bad"
    [ -n "$calls" ] && echo "$calls"
    exit 1
fi
echo "core/ is pure: $(ls "$dir"/*.c | wc -l) sources checked"
