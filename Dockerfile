# One image for every role: the single `deno compile` executable, its subcommand picks the role.
# Not built on the development machines (they have no Docker engine and cannot download Deno's
# runtime); scripts/compile.sh builds and CI tests the same executable there.

# --- build: deno compile with the pinned Deno; its runtime (denort) is downloaded here, or
# taken from DENORT_BIN when the build has no internet access. 2.7.11 is the runtime the
# tests compile with and run (scripts/compile.sh): the executable tested is the one shipped.
FROM denoland/deno:debian-2.7.11 AS build
ARG DENORT_BIN=
WORKDIR /src
COPY deno.json deno.lock main.ts ./
COPY commands ./commands
COPY lib ./lib
COPY scripts/compile.sh scripts/install-deno.sh ./scripts/
# scripts/compile.sh, the build the tests run: the same flags, files and npm exclusions.
RUN deno install --frozen \
 && deno check main.ts \
 && DENO_BIN=deno DENORT_BIN="${DENORT_BIN}" bash scripts/compile.sh /out/secrets-store \
 && /out/secrets-store version \
 && /out/secrets-store copy-self /out/injector --mounted-at /run/secrets-store

# --- runtime: glibc and nothing else (no shell, no package manager). copy-self copies the
# executable with this glibc into Pods, so apps need none of their own.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/secrets-store /usr/local/bin/secrets-store
# The injector laid out for image-volume delivery (injector.delivery: imageVolume): Pods mount
# this folder read-only at /run/secrets-store, and its interpreter already points there.
COPY --from=build /out/injector /opt/secrets-store/injector
# The webhook and copy-self run as this user; the CSI DaemonSet runs as root for mounts.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/secrets-store"]
