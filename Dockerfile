# One image recipe for every deployable: `--build-arg APP_DIR=services/gateway` (or any service,
# or packages/twilio-verify-emulator, packages/plaid-emulator).
FROM node:20-bookworm-slim
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
RUN pnpm install --frozen-lockfile --filter "./${APP_DIR}..." && chown -R node:node /app

WORKDIR /app/${APP_DIR}
USER node
STOPSIGNAL SIGTERM
CMD ["node", "--import", "tsx", "src/server.ts"]
