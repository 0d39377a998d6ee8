#!/usr/bin/env bash
# linux/aarch64 (the CPU of Jetson boards) under user-mode emulation: the THIN install (the project's own
# wheel + its runtime dependencies, no torch) in an arm64 Debian 12 Python run by qemu-aarch64-static, checked
# against the x86 host. Recipe and known facts: the "arm64" notes in the project's shared reference.
#
#   tools/arm64_check.sh            # set up (cached) and check; the last line starts with "arm64:"
#
# What it does:
#   1. caches in $EDGE_SDK_ARM64_CACHE (default ~/.cache/edge-sdk/arm64): an arm64 sysroot from
#      `debootstrap --download-only` + `dpkg -x` (no arm64 code runs to build it), aarch64 wheels of the
#      thin dependencies from `pip download --platform`, and the zoo bundles exported on the host
#      (keyed by a hash of the sources that make them);
#   2. writes an ARM-format /proc/cpuinfo into the sysroot (qemu passes the x86 one through, and onnxruntime's
#      CPU detection segfaults on it; qemu -L looks absolute paths up in the sysroot first);
#   3. on the host: exports emlp fp32 + int8-dynamic + int8-cpu and compact-cnn fp16 + int8-cpu, records reference
#      outputs on fixed inputs (tools/arm64/probe.py host);
#   4. under emulation: loads every bundle on each backend that applies, compares with the host (max
#      differences), runs the white-balance and classifier pipelines, `edge-sdk check` on each bundle (where
#      that command exists) and the classifier sample (tools/arm64/probe.py device).
#
# Exit status: 0 on pass, and on "arm64: skipped (reason)" when the tools or downloads are unavailable
# (no network, no apt); 1 when the arm64 results break a tolerance or anything under emulation fails.
# Environment: EDGE_SDK_ARM64_CACHE, PYTHON (host Python with the dev install; default .venv/bin/python),
# QEMU_CPU (default cortex-a76, about Orin's ISA: v8.2 + dot product; cortex-a57 is about a Jetson Nano),
# DEBIAN_MIRROR (default: the machine's apt source, else deb.debian.org), EDGE_SDK_ARM64_KEEP=1 keeps the work
# directory (the project wheel's site, reference.npz) for debugging.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${EDGE_SDK_ARM64_CACHE:-$HOME/.cache/edge-sdk/arm64}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
SUITE=bookworm   # Debian 12: Python 3.11
export QEMU_CPU="${QEMU_CPU:-cortex-a76}"
T0=$SECONDS

skip() { echo "arm64: skipped ($*)"; exit 0; }
fail() { echo "arm64: FAIL ($*)"; exit 1; }
step() { echo "== [$((SECONDS - T0))s] $*"; }

[ "$(uname -s)" = Linux ] || skip "needs Linux"
[ -x "$PY" ] || skip "no host Python at $PY (run make install first)"
mkdir -p "$CACHE" || skip "cannot create $CACHE"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/arm64-check.XXXXXX")" || skip "no temp directory"
if [ -n "${EDGE_SDK_ARM64_KEEP:-}" ]; then echo "keeping $WORK (EDGE_SDK_ARM64_KEEP)"; else trap 'rm -rf "$WORK"' EXIT; fi

# --- 1. tools ------------------------------------------------------------------------------------------
need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        step "installing ${need[*]}"
        { apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need[@]}" >/dev/null 2>&1 \
          || { apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive \
               apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need[@]}" >/dev/null; }; } \
          || skip "could not apt-get install ${need[*]}"
    else
        skip "missing ${need[*]} and cannot apt-get install them (not root or no apt)"
    fi
fi
PATH="$PATH:/usr/sbin:/sbin"

# --- 2. sysroot: arm64 Debian with python3.11, unpacked without running arm64 code -----------------------
SYSROOT="$CACHE/sysroot"
if [ ! -f "$SYSROOT/.complete" ]; then
    mirror="${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)}"
    mirror="${mirror:-http://deb.debian.org/debian}"
    step "downloading an arm64 Debian $SUITE sysroot from $mirror (once; ~180 MB)"
    rm -rf "$CACHE/debootstrap" "$SYSROOT.tmp"
    debootstrap --arch=arm64 --variant=minbase --download-only --include=python3.11 \
        "$SUITE" "$CACHE/debootstrap" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -3 "$WORK/debootstrap.log"; skip "debootstrap --download-only failed (network or mirror)"; }
    mkdir -p "$SYSROOT.tmp"
    for deb in "$CACHE"/debootstrap/var/cache/apt/archives/*.deb; do
        dpkg -x "$deb" "$SYSROOT.tmp" || skip "dpkg -x $deb failed"
    done
    [ -x "$SYSROOT.tmp/usr/bin/python3.11" ] || skip "the downloaded sysroot has no python3.11"
    rm -rf "$SYSROOT" "$CACHE/debootstrap" && mv "$SYSROOT.tmp" "$SYSROOT" && touch "$SYSROOT/.complete"
fi
# ARM-format cpuinfo (Jetson Orin: 0x41 / 0xd42 Cortex-A78AE); rewritten every run, it is cheap
mkdir -p "$SYSROOT/proc"
for i in 0 1 2 3; do
    printf 'processor\t: %d\nBogoMIPS\t: 62.50\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp uscat ilrcpc flagm paca pacg\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd42\nCPU revision\t: 1\n\n' "$i"
done >"$SYSROOT/proc/cpuinfo"

# --- 3. aarch64 wheels of the thin install's dependencies --------------------------------------------------
PLAT=(--platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64
      --python-version 3.11 --implementation cp --abi cp311 --only-binary=:all:)
mapfile -t DEPS < <("$PY" -c 'import tomllib,sys; print(*tomllib.load(open(sys.argv[1],"rb"))["project"]["dependencies"], sep="\n")' "$ROOT/pyproject.toml")
[ ${#DEPS[@]} -gt 0 ] || fail "could not read the dependencies from pyproject.toml"
DEPKEY="$(printf '%s\n' "${DEPS[@]}" | sha256sum | cut -c1-16)"
DEPSITE="$CACHE/site-$DEPKEY"
if [ ! -f "$DEPSITE/.complete" ]; then
    step "downloading aarch64 wheels: ${DEPS[*]} (once)"
    rm -rf "$CACHE/wheels" "$CACHE"/site-*
    "$PY" -m pip download -q "${PLAT[@]}" -d "$CACHE/wheels" "${DEPS[@]}" >"$WORK/pip.log" 2>&1 \
        || { tail -3 "$WORK/pip.log"; skip "pip download of the aarch64 wheels failed (network or index)"; }
    "$PY" -m pip install -q --no-deps --no-index "${PLAT[@]}" --target "$DEPSITE.tmp" "$CACHE"/wheels/*.whl \
        >"$WORK/pip.log" 2>&1 || { tail -5 "$WORK/pip.log"; fail "pip could not install the aarch64 wheels"; }
    rm -rf "$CACHE/wheels"
    mv "$DEPSITE.tmp" "$DEPSITE" && touch "$DEPSITE/.complete"
fi

# --- 4. the project's own wheel (built every run: it is the code under test) ------------------------------
step "building the project wheel"
SRC="$ROOT"   # from a copy of the files git knows: an in-tree build/ could carry stale modules into the wheel
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    SRC="$WORK/src" && mkdir -p "$SRC"
    (cd "$ROOT" && git ls-files -z -co --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) \
        | tar -xf - -C "$SRC" || fail "could not copy the source tree"
fi
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/wheel" "$SRC" >"$WORK/pip.log" 2>&1 \
    || { tail -5 "$WORK/pip.log"; fail "pip wheel failed"; }
"$PY" -m pip install -q --no-deps --no-index --target "$WORK/site" "$WORK"/wheel/*.whl >"$WORK/pip.log" 2>&1 \
    || { tail -5 "$WORK/pip.log"; fail "pip could not install the project wheel"; }
ARMPY=(qemu-aarch64-static -L "$SYSROOT" "$SYSROOT/usr/bin/python3.11")
export PYTHONPATH="$WORK/site:$DEPSITE" PYTHONDONTWRITEBYTECODE=1
"${ARMPY[@]}" -c 'import platform; assert platform.machine() == "aarch64", platform.machine()' \
    || fail "the emulated Python does not start or is not aarch64"
unset PYTHONPATH

# --- 5. host: bundles (cached by source hash) and reference outputs ----------------------------------------
SRCKEY="$(cd "$ROOT" && find converters edge_sdk runtimes -type f \( -name '*.py' -o -name '*.safetensors' -o -name '*.json' \) \
          -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
BUNDLES="$CACHE/bundles-$SRCKEY"
step "host: bundles and reference outputs"
"$PY" "$ROOT/tools/arm64/probe.py" host --bundles "$BUNDLES" --out "$WORK/reference.npz" \
    || fail "the host could not export the bundles or compute the reference outputs"
find "$CACHE" -maxdepth 1 -name 'bundles-*' ! -name "bundles-$SRCKEY" -exec rm -rf {} + 2>/dev/null

# --- 6. aarch64: the same under emulation -------------------------------------------------------------------
step "aarch64 (qemu-aarch64-static, QEMU_CPU=$QEMU_CPU): thin install checks"
PYTHONPATH="$WORK/site:$DEPSITE" PYTHONDONTWRITEBYTECODE=1 EDGE_SDK_CACHE="$WORK/edge-sdk-cache" \
    "${ARMPY[@]}" "$ROOT/tools/arm64/probe.py" device --bundles "$BUNDLES" --reference "$WORK/reference.npz" \
    --samples "$ROOT/samples" --summary "$WORK/summary.txt"
rc=$?
summary="$(cat "$WORK/summary.txt" 2>/dev/null || echo "no summary (rc $rc)")"
[ $rc -eq 0 ] || fail "$summary"
echo "arm64: pass ($summary, $((SECONDS - T0)) s)"
