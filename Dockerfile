# One image recipe for every deployable: `--build-arg APP_DIR=services/gateway` (or any service,
# or packages/twilio-verify-emulator, packages/plaid-emulator).
# build: the workspace from the lockfile, APP_DIR's src/server.ts bundled into dist/server.js (the
# @repo/* sources inlined), then `pnpm deploy` of dist/ with APP_DIR's production dependencies only.
# runtime: Node and that, run as the unprivileged `node` user. No tsx, no TypeScript sources.
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

ARG APP_DIR
RUN test -n "${APP_DIR}" || (echo "build with --build-arg APP_DIR=services/<name>" && exit 1)
# {dir}...: the package and the workspace packages it depends on (a bare `./dir...` selects the package alone).
RUN pnpm install --frozen-lockfile --filter "{./${APP_DIR}}..."
# --legacy: pnpm 10 deploys without it only from workspaces with inject-workspace-packages; the
# bundle needs no workspace package at run time anyway (they are devDependencies).
RUN pnpm --filter "./${APP_DIR}" run build \
 && pnpm --filter "./${APP_DIR}" deploy --prod --legacy /out

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Owned by root: the service cannot change its own code.
COPY --from=build /out ./
USER node
STOPSIGNAL SIGTERM
CMD ["node", "--enable-source-maps", "--max-semi-space-size=8", "dist/server.js"]
