# Sourced by ./lowbit and ./test: finds a JDK >= 22 and the build tools, installing what a
# fresh Debian/Ubuntu machine lacks when run as root (otherwise it says what to install).
# Sets JAVA_HOME, JAVA, MVN and MAVEN_OPTS.

lowbit_die() { echo "lowbit: $*" >&2; exit 2; }

lowbit_java_major() { # prints the feature version of the java binary $1, or nothing
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -1
}

lowbit_find_jdk() {
  local candidates=() c v
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  command -v java >/dev/null 2>&1 && candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  for c in /usr/lib/jvm/* /opt/java/* /opt/jdk* "$HOME"/.sdkman/candidates/java/*; do [ -d "$c" ] && candidates+=("$c"); done
  local best="" best_v=0
  for c in "${candidates[@]}"; do
    [ -x "$c/bin/java" ] && [ -x "$c/bin/javac" ] || continue
    v=$(lowbit_java_major "$c/bin/java")
    if [ -n "$v" ] && [ "$v" -ge 22 ] && [ "$v" -gt "$best_v" ]; then best=$c; best_v=$v; fi
    # a JAVA_HOME the user set wins when it is new enough
    if [ -n "$best" ] && [ "$c" = "${JAVA_HOME:-}" ]; then break; fi
  done
  [ -n "$best" ] || lowbit_die "no JDK >= 22 found (JAVA_HOME, java on PATH, /usr/lib/jvm). lowbit uses the
  Foreign Function & Memory API, final in Java 22. Install a JDK 22 or newer (e.g. Eclipse Temurin 25 from
  adoptium.net, or your distribution's openjdk-25-jdk) and set JAVA_HOME to it."
  export JAVA_HOME=$best
  JAVA="$best/bin/java"
  LOWBIT_JAVA_MAJOR=$best_v
}

lowbit_need_packages() { # installs Debian packages for missing commands/files, or explains
  local missing=("$@")
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "lowbit: installing ${missing[*]} (apt-get)" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || lowbit_die "apt-get install ${missing[*]} failed"
    fi
  else
    lowbit_die "missing ${missing[*]}: install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run again"
  fi
}

lowbit_setup() {
  lowbit_find_jdk
  local pkgs=()
  command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
  command -v cmake >/dev/null 2>&1 || pkgs+=(cmake)
  command -v cc >/dev/null 2>&1 || pkgs+=(gcc)
  local blas_found="${LOWBIT_BLAS:-}" f
  for f in /usr/lib/*-linux-gnu/libopenblas.so.0 /usr/lib64/libopenblas.so.0 /usr/lib/libopenblas.so.0; do
    [ -e "$f" ] && blas_found=$f
  done
  # OpenBLAS built for OpenMP shares liblowbit's libgomp threads (one pool; bench/thread-pool.sh): install it
  # beside another OpenBLAS where we may, require it only where there is none
  if [ -z "${LOWBIT_BLAS:-}" ] && ! ls /usr/lib/*-linux-gnu/openblas-openmp/libopenblas.so.0 >/dev/null 2>&1; then
    if [ -z "$blas_found" ] || { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }; then pkgs+=(libopenblas0-openmp); fi
  fi
  lowbit_need_packages "${pkgs[@]}"
  MVN=mvn
  # Maven's bundled Guice touches sun.misc.Unsafe; JDK 24+ warns about it unless allowed
  if [ "$LOWBIT_JAVA_MAJOR" -ge 24 ]; then
    export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
  fi
}
