# One Dockerfile, one target per deployable:
#   docker build --target gateway -t phone-login/gateway .
#   (or auth-service, token-service, plaid-service; twilio-verify-emulator and plaid-emulator for development)
# build: the workspace from the lockfile, every deployable's src/server.ts bundled into dist/server.js
# (the @repo/* sources inlined), then a `pnpm deploy` of each: its dist/ and its production
# dependencies only. A target copies one of those onto Node: no pnpm, tsx, TypeScript sources, dev
# dependencies or emulator code (the services take the emulators' URLs; deploy/test checks it).
#
# The base image is pinned by version. To pin it by digest too, take the digest from the registry
# (`docker buildx imagetools inspect node:20.20.2-bookworm-slim`) and build with
# --build-arg NODE_IMAGE=node:20.20.2-bookworm-slim@sha256:<digest>.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION=10.34.8
RUN npm install -g pnpm@${PNPM_VERSION} && npm cache clean --force
ENV TURBO_TELEMETRY_DISABLED=1
WORKDIR /app

COPY package.json pnpm-lock.yaml pnpm-workspace.yaml tsconfig.base.json ./
COPY packages ./packages
COPY services ./services
COPY e2e/package.json ./e2e/package.json
COPY deploy/package.json ./deploy/package.json

# {dir}...: the package and the workspace packages it depends on (a bare `./dir...` selects the package alone).
RUN pnpm install --frozen-lockfile \
      --filter "{./services/gateway}..." --filter "{./services/auth-service}..." \
      --filter "{./services/token-service}..." --filter "{./services/plaid-service}..." \
      --filter "{./packages/twilio-verify-emulator}..." --filter "{./packages/plaid-emulator}..."
# --legacy: pnpm 10 deploys without it only from workspaces with inject-workspace-packages; the
# bundles need no workspace package at run time anyway (they are devDependencies).
RUN for dir in services/gateway services/auth-service services/token-service services/plaid-service \
               packages/twilio-verify-emulator packages/plaid-emulator; do \
      pnpm --filter "./${dir}" run build \
      && pnpm --filter "./${dir}" deploy --prod --legacy "/out/${dir##*/}" || exit 1; \
    done

# What every target shares: Node, the health check, an unprivileged user.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY deploy/docker/healthcheck.mjs /usr/local/lib/healthcheck.mjs
USER node
STOPSIGNAL SIGTERM
# GET /ready on $PORT with node's fetch: 503 while NATS or Redis is unreachable, and while draining.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/usr/local/lib/healthcheck.mjs"]
CMD ["node", "--enable-source-maps", "--max-semi-space-size=8", "dist/server.js"]

# Each target: one deployable's `pnpm deploy` output, owned by root (the service cannot change its own code).
FROM runtime AS gateway
ENV PORT=3000
EXPOSE 3000
COPY --from=build /out/gateway ./

FROM runtime AS auth-service
ENV PORT=3001
EXPOSE 3001
COPY --from=build /out/auth-service ./

FROM runtime AS token-service
ENV PORT=3002
EXPOSE 3002
COPY --from=build /out/token-service ./

FROM runtime AS plaid-service
ENV PORT=3003
EXPOSE 3003
COPY --from=build /out/plaid-service ./

# The emulators, for development and tests only (compose profile `emulators`); they answer /health.
FROM runtime AS twilio-verify-emulator
ENV NODE_ENV=development TWILIO_EMULATOR_HOST=0.0.0.0 TWILIO_EMULATOR_PORT=3010
EXPOSE 3010
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/usr/local/lib/healthcheck.mjs", "/health", "TWILIO_EMULATOR_PORT"]
COPY --from=build /out/twilio-verify-emulator ./

FROM runtime AS plaid-emulator
ENV NODE_ENV=development PLAID_EMULATOR_HOST=0.0.0.0 PLAID_EMULATOR_PORT=3011
EXPOSE 3011
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/usr/local/lib/healthcheck.mjs", "/health", "PLAID_EMULATOR_PORT"]
COPY --from=build /out/plaid-emulator ./
