// The images' HEALTHCHECK (no curl in them): `node healthcheck.mjs [path] [port variable]`, default
// `/ready` on $PORT. Healthy (exit 0) on a 2xx from 127.0.0.1 within 2 s; otherwise exit 1 with why.
const [path = '/ready', portVariable = 'PORT'] = process.argv.slice(2);
const port = process.env[portVariable];
if (!port) {
  console.error(`healthcheck: ${portVariable} is not set`);
  process.exit(1);
}
const url = `http://127.0.0.1:${port}${path}`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  if (!res.ok) {
    console.error(`healthcheck: ${url} answered ${res.status}`);
    process.exit(1);
  }
} catch (err) {
  console.error(`healthcheck: ${url}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
