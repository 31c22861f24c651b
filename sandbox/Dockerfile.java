# Storlets sandbox image with Java: the Python sandbox image plus Debian's
# headless JRE and the Java engine (API jar, daemon jar, JNI shim).
#
# Built by devstack/build-image.sh --java: the context holds the JRE's .deb
# files (resolved by the host's apt against the base image's package
# database, so nothing is fetched here; the build runs with --network none)
# and java/ (the output of java/build.sh --runtime).
ARG BASE
FROM ${BASE}

USER root
COPY debs/ /tmp/debs/
RUN dpkg -i /tmp/debs/*.deb \
    && rm -rf /tmp/debs /var/cache/debconf/*-old /var/log/* /usr/share/man/* \
    && java -version
COPY java/ /opt/storlets/java/

USER 10001:10001
