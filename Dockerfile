# One image for the API and the worker (docker-compose.yml picks the command).
# No build step: Node 24 runs the TypeScript sources directly (type stripping).
FROM node:24-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
# Runtime dependencies only; optional ones are the embedded Postgres binaries, unused here
# because DATABASE_URL points at the postgres service.
RUN npm ci --omit=dev --omit=optional --ignore-scripts && npm cache clean --force

COPY graphile.config.ts .gmrc ./
COPY src ./src
COPY plugins ./plugins
COPY migrations ./migrations
COPY policies ./policies

# DATA_DIR (the e-mail outbox when SMTP_URL is unset) must be writable by the service's user
RUN mkdir .data && chown node:node .data
USER node
EXPOSE 3000
CMD ["node", "src/main.ts"]
