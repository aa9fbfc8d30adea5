# syntax=docker/dockerfile:1
# edgevision container image: the server, its runtime libraries and the demo
# model on Debian 12 slim. Build (any of linux/amd64, linux/arm64,
# linux/arm/v7; docs/deploy.md):
#   docker buildx build --platform linux/arm64,linux/arm/v7 -t <registry>/edgevision:0.1.0 --push .
# Two images from one file (docs/deploy.md, "Container image"):
#   docker build -t edgevision:0.1.0 .                     full: cameras too (the default)
#   docker build --target slim -t edgevision:0.1.0-slim .   slim: no FFmpeg libraries, a
#     quarter of the size; serves /image, a stream source is in state error naming them
# Run (port 80 inside, like the exported Custom Vision container):
#   docker run -d -p 80:80 -v /var/lib/edgevision:/data <registry>/edgevision:0.1.0
# Your own model: -v /path/to/export:/model:ro -e EDGEVISION_MODEL=/model
#
# tests/packaging/dockerfile_in_chroot.py runs this file's instructions, the
# same commands, in Debian 12 roots made with debootstrap (CI has no Docker
# engine), then starts the result and checks it serves.
ARG DEBIAN_IMAGE=debian:12-slim

# ---- build: compile a stripped Release binary (tests off) ----
FROM ${DEBIAN_IMAGE} AS build
# The build dependencies are listed once, in scripts/setup-debian.sh.
COPY scripts/setup-debian.sh /src/scripts/setup-debian.sh
RUN /src/scripts/setup-debian.sh && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDGEVISION_BUILD_TESTS=OFF \
 && cmake --build /build --target edgevision \
 && DESTDIR=/out cmake --install /build --prefix /usr --component runtime --strip \
 && /src/packaging/runtime-deps.sh /out/usr/bin/edgevision >/runtime-packages.txt \
 && /src/packaging/runtime-deps.sh /out/usr/bin/edgevision /out/usr/lib/edgevision/edgevision-ffmpeg.so >/runtime-packages-ffmpeg.txt \
 && cat /runtime-packages-ffmpeg.txt

# ---- slim: the binary, the FFmpeg module, the libraries dpkg-shlibdeps names ----
# ---- for the binary only, the demo model. The module is there but cannot     ----
# ---- load (as the .deb without its Recommends): a stream source is in state  ----
# ---- error naming the FFmpeg packages; /image serves.                        ----
# (libcurl4 by name: the binary loads it on first use, dpkg-shlibdeps cannot see it)
FROM ${DEBIAN_IMAGE} AS slim
COPY --from=build /runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates libcurl4 $(cat /tmp/runtime-packages.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt
COPY --from=build /out/ /
# A fixed, non-root uid: a host folder mounted on /data must be writable by
# it (sudo install -d -o 10001 -g 10001 /var/lib/edgevision).
RUN groupadd --system --gid 10001 edgevision \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin edgevision \
 && install -d -o 10001 -g 10001 /data \
 && edgevision --version
# Port 80 as a non-root user: no file capability is set on the binary. The
# container's network namespace lets unprivileged processes bind from
# net.ipv4.ip_unprivileged_port_start, which Docker >= 20.10 sets to 0 and
# which our manifests set explicitly (createOptions "Sysctls", Kubernetes
# securityContext.sysctls); docs/deploy.md says why.
# EDGEVISION_CONTAINER_IMAGE: which image this is; in the slim one a stream
# source's error says to use the full image rather than to apt install.
ENV EDGEVISION_HOST=0.0.0.0 \
    EDGEVISION_PORT=80 \
    EDGEVISION_DATA_DIR=/data \
    EDGEVISION_CONTAINER_IMAGE=slim
VOLUME ["/data"]
EXPOSE 80
USER 10001:10001
WORKDIR /data
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["edgevision", "health", "--quiet"]
ENTRYPOINT ["edgevision"]
CMD ["serve"]
LABEL org.opencontainers.image.title="edgevision" \
      org.opencontainers.image.description="Azure Custom Vision exports served on the edge" \
      org.opencontainers.image.base.name="docker.io/library/debian:12-slim"

# ---- full (the default target): slim plus the libraries dpkg-shlibdeps ----
# ---- names for the FFmpeg module: cameras, RTSP/HTTP streams, video files ----
# (FROM slim keeps its user, ENV, HEALTHCHECK, ENTRYPOINT and CMD; the full
# image shares the slim one's layers.)
FROM slim AS full
USER root
COPY --from=build /runtime-packages-ffmpeg.txt /tmp/runtime-packages-ffmpeg.txt
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(cat /tmp/runtime-packages-ffmpeg.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages-ffmpeg.txt
ENV EDGEVISION_CONTAINER_IMAGE=full
USER 10001:10001
