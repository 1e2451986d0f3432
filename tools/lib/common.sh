# Shared set-up for the tools/ scripts: Debian packages, configure, build one target.
# Source it, then call ensure_packages / configure_build / build_target.

DYBAT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DYBAT_BUILD="${DYBAT_BUILD:-$DYBAT_ROOT/build}"
DYBAT_PACKAGES=(cmake make g++ libgtest-dev libstb-dev nlohmann-json3-dev libcli11-dev libopenblas-dev
  clang libclang-rt-14-dev python3-matplotlib curl libsleef3 openmpi-bin libopenmpi-dev)

# Installs any missing Debian package when run as root; otherwise prints the command and exits 2.
ensure_packages() {
  local missing=() p
  for p in "${DYBAT_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "dybat: installing missing packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq "${missing[@]}" >&2 || {
      echo "dybat: apt-get failed to install: ${missing[*]}" >&2; exit 2; }
  else
    echo "dybat: missing packages: ${missing[*]}" >&2
    echo "run: sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
}

# Configures $DYBAT_BUILD (Release) once; extra arguments go to cmake.
configure_build() {
  if [ ! -f "$DYBAT_BUILD/CMakeCache.txt" ]; then
    cmake -S "$DYBAT_ROOT" -B "$DYBAT_BUILD" -DCMAKE_BUILD_TYPE=Release "$@" >&2
  fi
}

# Builds one target, quietly unless it fails (the first build takes a few minutes).
build_target() {
  local target="$1" log="$DYBAT_BUILD/build-$1.log"
  configure_build
  if [ ! -x "$DYBAT_BUILD/$target" ]; then
    echo "dybat: building '$target' (first use; this takes a few minutes)..." >&2
  fi
  if ! cmake --build "$DYBAT_BUILD" --target "$target" -j"$(nproc)" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "dybat: building '$target' failed; full log: $log" >&2
    exit 2
  fi
}

# OpenBLAS picks its GEMM kernels from the CPU model it knows; a release older than the CPU (Debian
# 12's 0.3.21 on AMD Zen 4/5) falls back to its AVX2 kernels on a machine with AVX-512. There, ask
# for the AVX-512 kernels (about 1.8x faster GEMMs), unless the user chose a core already.
select_blas_core() {
  [ -n "${OPENBLAS_CORETYPE:-}" ] && return 0
  local flags f
  flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null) "
  for f in avx512f avx512dq avx512bw avx512vl; do
    [[ "$flags" == *" $f "* ]] || return 0
  done
  export OPENBLAS_CORETYPE=SkylakeX
}

# Builds and runs tools program $1 with the remaining arguments. Under mpirun every rank runs this
# script at once: the installing and building take turns under a lock (the first rank builds, the
# others find the program up to date), then each rank runs its program.
run_program() {
  local name="$1"
  shift
  if [ -n "${OMPI_COMM_WORLD_SIZE:-}" ]; then
    mkdir -p "$DYBAT_BUILD"
    exec 9>"$DYBAT_BUILD/.setup.lock"
    flock 9
  fi
  ensure_packages
  build_target "$name"
  if [ -n "${OMPI_COMM_WORLD_SIZE:-}" ]; then exec 9>&-; fi
  select_blas_core
  exec "$DYBAT_BUILD/$name" "$@"
}
