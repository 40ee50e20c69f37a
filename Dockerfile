# syntax=docker/dockerfile:1
# Wess image: build with dev dependencies, run with production ones only.
#
#   docker build -t wess .
#   docker run -p 8080:8080 -v wess-data:/data -e WESS_ADMIN_KEY=wess_<id>_<secret> wess
#
# Base image: Debian bookworm-slim (glibc). classic-level (LevelDB) is a native addon that ships
# prebuilt binaries for linux-x64 and linux-arm64 on glibc, so `npm ci` needs no compiler here.
# Alpine (musl) has a prebuild on x64 only; on arm64 it would need python3, make and g++ to
# compile LevelDB, so stay on -slim.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    WESS_DB_PATH=/data \
    WESS_SERVER_HOST=0.0.0.0 \
    WESS_SERVER_PORT=8080
WORKDIR /app
# The image's own non-root user (uid 1000); the data dir must be its before VOLUME copies it
# into a fresh named volume.
RUN mkdir -p /data && chown node:node /data
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
# dist/src/version.ts reads ../../package.json, so dist keeps its layout.
COPY --from=build /app/dist/src ./dist/src
# The web console's page and scripts, served as they are (no build step): dist/src/http/routes/console.js reads ../../../../web/.
COPY web ./web
COPY wess.toml ./
USER node
VOLUME ["/data"]
EXPOSE 8080
# No curl in -slim: Node's own fetch, against the port Wess listens on (same env as the server).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.WESS_SERVER_PORT||8080)+'/health/live',{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and handles SIGTERM itself (drains, flushes the writer, closes LevelDB).
STOPSIGNAL SIGTERM
# The node flags of `npm start` (package.json): a 32 MiB young generation (see the README's "Benchmarks").
CMD ["node", "--max-semi-space-size=32", "dist/src/main.js"]
