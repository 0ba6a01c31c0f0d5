# Multi-stage build on Node 22 LTS: compile with dev dependencies, ship without them.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY apps apps
COPY libs libs
COPY migrations migrations
RUN npm run build

FROM node:22-bookworm-slim
ENV NODE_ENV=production
# A bounded heap: under load V8 otherwise lets the heap grow to ~3x the live data (mostly garbage
# between collections; bench/README.md, "Release path"). Live heap under load is 50-90 MB.
ENV NODE_OPTIONS="--max-old-space-size=160"
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist dist
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
# Below a 2 GB heap limit V8 grows the heap by 1.1-1.3x between full collections, so with the
# bound above the API would run one every few seconds under load, each pausing every request in
# flight: the release p99 was 1.5-1.8x the benchmark floor's with it, 1.0-1.4x with the growth
# factor fixed at 2 (peak RSS ~190 MB, still under the bound's 250 MB target). Not a NODE_OPTIONS flag.
CMD ["node", "--heap-growing-percent=100", "dist/apps/vault/main.js"]
