#!/bin/sh
# run.sh -- build one libFuzzer target with clang and fuzz it for a bounded
# time (a ctest entry per target, label "fuzz"; tests/CMakeLists.txt).
#
#   tests/fuzz/run.sh TARGET SECONDS SOURCE_DIR BUILD_DIR
#
# Seeds come from tests/fuzz/corpus/TARGET (crash regressions are kept
# there too: every file in it is run first, so a fixed crash stays fixed);
# the run works on a copy, so the tree is not modified.  A crash fails the
# test and leaves the input in BUILD_DIR/fuzz/TARGET-artifacts/.
# Exit 77 (ctest: skipped) when clang or its libFuzzer runtime is missing
# (Debian: apt-get install clang libclang-rt-14-dev).
set -u
target=$1 secs=$2 src=$3 build=$4
out=$build/fuzz
gen=$build/gen
mkdir -p "$out"

case $target in
fuzz_filter)
	srcs="$src/tests/fuzz/fuzz_filter.c $src/common/filter.c $src/common/status.c $gen/shoal.pb-c.c"
	libs="-lprotobuf-c -lm" maxlen=1024 ;;
fuzz_rpc)
	srcs="$src/tests/fuzz/fuzz_rpc.c $src/common/rpc.c $src/common/rpc_sock.c $src/common/rpc_tls.c $src/common/auth.c $src/common/log.c $src/common/util.c $src/common/status.c $gen/shoal.pb-c.c"
	libs="-lnng -lmbedx509 -lmbedcrypto -lprotobuf-c -lpthread -lm" maxlen=4096 ;;
fuzz_frames)
	srcs="$src/tests/fuzz/fuzz_frames.c $src/common/rpc.c $src/common/rpc_sock.c $src/common/rpc_tls.c $src/common/log.c $src/common/util.c $src/common/status.c $gen/shoal.pb-c.c"
	libs="-lnng -lmbedx509 -lmbedcrypto -lprotobuf-c -lpthread -lm" maxlen=4096 ;;
fuzz_config)
	srcs="$src/tests/fuzz/fuzz_config.c $src/common/config.c $src/common/status.c"
	libs="" maxlen=4096 ;;
fuzz_pgcopy)
	srcs="$src/tests/fuzz/fuzz_pgcopy.c $src/common/pgcopy.c $src/common/status.c"
	libs="-lm" maxlen=4096 ;;
*)
	echo "run.sh: unknown target $target" >&2; exit 2 ;;
esac

if ! command -v clang >/dev/null 2>&1; then
	echo "SKIP: clang not installed (apt-get install clang libclang-rt-14-dev)"
	exit 77
fi
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){(void)d;(void)n;return 0;}' |
	clang -x c -fsanitize=fuzzer - -o "$out/.probe" >/dev/null 2>&1; then
	echo "SKIP: clang has no libFuzzer runtime (apt-get install libclang-rt-14-dev)"
	exit 77
fi
rm -f "$out/.probe"

# shellcheck disable=SC2086
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-D_GNU_SOURCE -I"$src/common" -I"$gen" $srcs $libs -o "$out/$target" || exit 1

work=$out/$target-corpus
art=$out/$target-artifacts
rm -rf "$work" "$art"
mkdir -p "$work" "$art"
[ -d "$src/tests/fuzz/corpus/$target" ] && cp "$src/tests/fuzz/corpus/$target"/* "$work"/ 2>/dev/null
[ "$target" = fuzz_config ] && cp "$src"/deploy/examples/*.conf "$work"/
echo "fuzzing $target for $secs s (seeds: $(ls "$work" | wc -l))"
"$out/$target" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$art/" "$work" >"$out/$target.log" 2>&1
rc=$?
tail -25 "$out/$target.log"
if ls "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-* >/dev/null 2>&1; then
	echo "FAIL: $target found a failing input: $(ls "$art")"
	exit 1
fi
exit $rc
