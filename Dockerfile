# roomkv relay image.
#   docker build -t roomkv-relay .
#   docker run -d --name roomkv -p 8080:8080 -p 8081:8081 -v roomkv-data:/data roomkv-relay
# Extra relay flags go after the image name; ROOMKV_* variables work too.
# Not built on the machine roomkv is developed on (no Docker engine there):
# checked by reading only. See docs/self-host.md, "Docker".

# --- build: install, apply patches/, build the web app, drop dev dependencies
FROM node:22-bookworm-slim AS build
WORKDIR /app
# The project is developed with npm 11 (it reads package.json "allowScripts").
RUN npm install -g npm@11
# Manifests first so this layer is reused until dependencies change. .npmrc
# sets legacy-peer-deps (needed to resolve the tree); the postinstall script
# (patch-package) applies patches/, so they must be here before `npm ci`.
COPY package.json package-lock.json .npmrc ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
# The `node` dependency is a second Node 22 binary for hosts whose system Node
# is older; this image has Node 22 already, so it is removed (about 120 MB).
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/node node_modules/.bin/node

# --- runtime: Node 22, the relay's sources (run by tsx), dist/, node_modules
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/tsconfig.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/relay ./relay
COPY --from=build /app/shared ./shared
# /data holds peer.key, records/ and libp2p/; a new named volume takes this
# owner (the image's non-root "node" user, uid 1000).
RUN mkdir /data && chown node:node /data
USER node
VOLUME /data
# 8080: web app, /health, /roomkv.json, /metrics. 8081: libp2p WebSockets.
EXPOSE 8080 8081
# Reads ROOMKV_PORT and ROOMKV_TLS_CERT, so set port and TLS by environment
# variable (not by flag) for the check to follow them. With TLS it does not
# verify the certificate: it is issued for a public name, not 127.0.0.1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "if (process.env.ROOMKV_TLS_CERT) process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'; fetch((process.env.ROOMKV_TLS_CERT ? 'https' : 'http') + '://127.0.0.1:' + (process.env.ROOMKV_PORT || 8080) + '/health', { signal: AbortSignal.timeout(4000) }).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) shuts the relay down cleanly; it gives itself 10 s,
# as long as docker stop waits by default: run with --stop-timeout 15 or more.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--import", "tsx", "relay/main.ts", "--host", "0.0.0.0", "--data-dir", "/data"]
CMD []
