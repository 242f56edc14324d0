#!/usr/bin/env bash
# Builds the Lambda package for provided.al2023: build-lambda-pkg/bedrock-agent-lambda.zip holding one
# file, `bootstrap` (mode 0755, stripped), a plain executable that needs only glibc <= 2.34:
# libstdc++/libgcc, OpenSSL, SQLite and Boost linked statically, and the two glibc 2.35+ functions the
# static runtime calls defined in the binary (src/lambda/package/glibc_compat.cpp). Then runs
# scripts/check-lambda-zip.sh on the result. See docs/lambda.md.
#
# Env: BA_LAMBDA_BUILD_DIR (default build-lambda-pkg), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=${BA_LAMBDA_BUILD_DIR:-$src/build-lambda-pkg}
zip_path=$build/bedrock-agent-lambda.zip
jobs=${JOBS:-$(nproc)}

triplet=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
libdir=/usr/lib/$triplet
for lib in libssl.a libcrypto.a libsqlite3.a libboost_json.a libboost_url.a; do
  [[ -f "$libdir/$lib" ]] || { echo "package-lambda: $libdir/$lib is missing (libssl-dev, libsqlite3-dev, libboost-*-dev)" >&2; exit 1; }
done
for tool in zip strip; do
  command -v "$tool" >/dev/null || { echo "package-lambda: $tool is required" >&2; exit 1; }
done

# RelWithDebInfo with the CI flags: the objects are the same as any other build's (ccache hits); only
# the final link differs. The binary is stripped below.
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBA_WERROR=ON -DBA_TESTS=OFF \
  -DBA_LAMBDA_PACKAGE=ON -DOPENSSL_USE_STATIC_LIBS=TRUE -DBoost_USE_STATIC_LIBS=ON \
  -DSQLite3_LIBRARY="$libdir/libsqlite3.a" --log-level=WARNING
cmake --build "$build" --target bootstrap -j "$jobs"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$build/bootstrap" "$stage/bootstrap"
strip --strip-all "$stage/bootstrap"
chmod 0755 "$stage/bootstrap"
rm -f "$zip_path"
(cd "$stage" && zip -X -q "$zip_path" bootstrap)
echo "package-lambda: $zip_path ($(du -h "$zip_path" | cut -f1))"
"$src/scripts/check-lambda-zip.sh" "$zip_path"
