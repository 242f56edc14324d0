#!/usr/bin/env bash
# Checks a Lambda zip for provided.al2023 (glibc 2.34): a `bootstrap` at the root, mode 0755, and for
# every ELF file in the zip
#   - no symbol version newer than GLIBC_2.34 (readelf -V: the version needs of the file),
#   - no NEEDED shared library except glibc's own or a file inside the zip,
#   - the x86-64 / aarch64 glibc program interpreter, if it has one.
# Usage: scripts/check-lambda-zip.sh ZIP   (exit 0: fine; 1: violations, listed on stdout; 2: usage)
set -euo pipefail

MAX_GLIBC=2.34
GLIBC_LIBS=(libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1 libresolv.so.2
            ld-linux-x86-64.so.2 ld-linux-aarch64.so.1)

zip=${1:-}
if [[ -z "$zip" || ! -f "$zip" ]]; then
  echo "usage: $0 ZIP" >&2
  exit 2
fi
for tool in unzip zipinfo readelf sort; do
  command -v "$tool" >/dev/null || { echo "check-lambda-zip: $tool is required" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unzip -q "$zip" -d "$work"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# bootstrap: at the root, a regular file, rwxr-xr-x in the zip's own metadata (Lambda keeps it).
mode=$(zipinfo -l "$zip" bootstrap 2>/dev/null | awk '$NF == "bootstrap" { print $1 }' || true)
if [[ -z "$mode" ]]; then
  fail "no bootstrap at the root of the zip"
elif [[ "$mode" != "-rwxr-xr-x" ]]; then
  fail "bootstrap has mode $mode in the zip (want -rwxr-xr-x)"
fi

newer_than_max() {  # $1 = a version like 2.35; true when it sorts after MAX_GLIBC
  [[ "$1" != "$MAX_GLIBC" && "$(printf '%s\n%s\n' "$MAX_GLIBC" "$1" | sort -V | tail -n1)" == "$1" ]]
}

elf_count=0
while IFS= read -r -d '' f; do
  [[ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" == '177ELF' ]] || continue
  elf_count=$((elf_count + 1))
  rel=${f#"$work"/}

  # Symbol versions this file needs (.gnu.version_r), e.g. "Name: GLIBC_2.34".
  while read -r ver; do
    v=${ver#GLIBC_}
    if newer_than_max "$v"; then
      syms=$(readelf --dyn-syms --wide "$f" | grep -o "[^ ]*@$ver" | sort -u | tr '\n' ' ' || true)
      fail "$rel needs $ver (> GLIBC_$MAX_GLIBC): ${syms:-?}"
    fi
  done < <(readelf -V --wide "$f" | grep -o 'Name: GLIBC_[0-9.]*' | awk '{print $2}' | sort -u)

  # Shared libraries: glibc's own, or shipped in the zip.
  while read -r lib; do
    ok=0
    for g in "${GLIBC_LIBS[@]}"; do [[ "$lib" == "$g" ]] && ok=1; done
    if [[ $ok == 0 && -n "$(find "$work" -name "$lib" -print -quit)" ]]; then ok=1; fi
    [[ $ok == 1 ]] || fail "$rel needs $lib, which is neither glibc's nor in the zip"
  done < <(readelf -d --wide "$f" | awk '/\(NEEDED\)/ { gsub(/[\[\]]/, "", $NF); print $NF }')

  interp=$(readelf -l --wide "$f" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  if [[ -n "$interp" && "$interp" != /lib64/ld-linux-x86-64.so.2 && "$interp" != /lib/ld-linux-aarch64.so.1 ]]; then
    fail "$rel asks for the interpreter $interp"
  fi
  echo "checked $rel: $(readelf -V --wide "$f" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -n1 || echo 'no GLIBC versions') newest"
done < <(find "$work" -type f -print0)

[[ $elf_count -gt 0 ]] || fail "no ELF file in the zip"
if [[ $failures -gt 0 ]]; then
  echo "check-lambda-zip: $failures problem(s) in $zip"
  exit 1
fi
echo "check-lambda-zip: OK ($elf_count ELF file(s); nothing newer than GLIBC_$MAX_GLIBC; only glibc's libraries)"
