#!/usr/bin/env bash
# Build the Java side of storlets with the JDK alone (no Maven, no network).
#
#   java/build.sh OUTDIR            build everything into OUTDIR
#   java/build.sh OUTDIR --test     ... then run every Java unit test
#   java/build.sh OUTDIR --runtime  only what the sandbox image needs (the
#                                   API jar, the daemon jar, the JNI shim)
#
# OUTDIR receives:
#   storlets-api.jar        org.openstack.storlet.common (what storlets compile
#                           against) and org.openstack.storlet.testing (fakes)
#   storlets-daemon.jar     the sandbox's Java daemon (sandbox/java/daemon)
#   libstorlets-jni.so      its descriptor-passing shim (sandbox/java/jni)
#   samples/<name>-1.0.jar  every sample under java/samples/<name>/src
#   samples/get42           the samples' executable dependency (exits 42)
# Classes target Java 11 (--release 11), so older JDKs can compile
# storlets against the API jar. Needs javac, jar and gcc (with $JAVA_HOME's
# include/jni.h); JAVA_HOME defaults to javac's JDK.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
RELEASE=11

usage() {
    echo "usage: java/build.sh OUTDIR [--test|--runtime]" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
OUT=$1
RUN_TESTS=false
RUNTIME_ONLY=false
if [[ $# -eq 2 ]]; then
    case $2 in
    --test) RUN_TESTS=true ;;
    --runtime) RUNTIME_ONLY=true ;;
    *) usage ;;
    esac
fi

JAVAC=$(command -v javac) || { echo "build.sh: javac not found (install default-jdk-headless)" >&2; exit 1; }
JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$JAVAC")")")}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"

# compile_jar JAR CLASSPATH SRCDIR...: every .java below SRCDIRs into JAR.
compile_jar() {
    local jar=$1 classpath=$2
    shift 2
    local classes
    classes=$(mktemp -d "$TMP/classes.XXXX")
    find "$@" -name '*.java' | sort >"$classes.list"
    javac -nowarn -Xlint:-options --release "$RELEASE" -encoding UTF-8 \
        -cp "$classpath" -d "$classes" @"$classes.list"
    jar --create --file "$jar" -C "$classes" .
}

API_JAR=$OUT/storlets-api.jar
RUNNER_JAR=$TMP/testrunner.jar
compile_jar "$API_JAR" "" "$HERE/api/src"

DAEMON_SRC=$REPO_ROOT/sandbox/java/daemon/src
# STORLETS_JAVA_SAMPLES_ONLY=1: skip the daemon and its shim (sample work).
SAMPLES_ONLY=${STORLETS_JAVA_SAMPLES_ONLY:-0}
if [[ $SAMPLES_ONLY != 1 && -d $DAEMON_SRC ]]; then
    compile_jar "$OUT/storlets-daemon.jar" "$API_JAR" "$DAEMON_SRC"
fi
JNI_SRC=$REPO_ROOT/sandbox/java/jni/storlets_jni.c
if [[ $SAMPLES_ONLY != 1 && -f $JNI_SRC ]]; then
    gcc -O2 -Wall -Werror -shared -fPIC \
        -I"$JAVA_HOME/include" -I"$JAVA_HOME/include/linux" \
        -o "$OUT/libstorlets-jni.so" "$JNI_SRC"
fi

$RUNTIME_ONLY && exit 0

mkdir -p "$OUT/samples"

compile_jar "$RUNNER_JAR" "" "$HERE/testrunner/src"
gcc -O2 -Wall -o "$OUT/samples/get42" "$HERE/samples/get42.c"
SAMPLE_JARS=()
for dir in "$HERE"/samples/*/; do
    name=$(basename "$dir")
    [[ -d $dir/src ]] || continue
    compile_jar "$OUT/samples/$name-1.0.jar" "$API_JAR" "$dir/src"
    SAMPLE_JARS+=("$OUT/samples/$name-1.0.jar")
done

$RUN_TESTS || exit 0

# Test classes: every *Test.java under java/api/test, sandbox/java/daemon/test
# and java/samples/*/test, compiled against what was built above.
TEST_SRC=()
for d in "$HERE/api/test" "$REPO_ROOT/sandbox/java/daemon/test" "$HERE"/samples/*/test; do
    [[ $SAMPLES_ONLY == 1 && $d == */daemon/test ]] && continue
    [[ -d $d ]] && TEST_SRC+=("$d")
done
CP="$API_JAR:$RUNNER_JAR"
[[ -f $OUT/storlets-daemon.jar ]] && CP="$CP:$OUT/storlets-daemon.jar"
for j in "${SAMPLE_JARS[@]}"; do CP="$CP:$j"; done
compile_jar "$TMP/tests.jar" "$CP" "${TEST_SRC[@]}"
mapfile -t TEST_CLASSES < <(cd "$TMP" && jar --list --file tests.jar |
    sed -n 's#^\(.*Test\)\.class$#\1#p' | tr / .)
exec java -Djava.library.path="$OUT" -Dstorlets.samples="$OUT/samples" \
    -cp "$CP:$TMP/tests.jar" org.openstack.storlet.testrunner.TestRunner \
    "${TEST_CLASSES[@]}"
