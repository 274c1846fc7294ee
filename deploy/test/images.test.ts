// What the Dockerfile ships: one target per deployable, each the `pnpm deploy --prod` output of one
// package on a pinned Node image, non-root, with a health check; and no emulator code in a service.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDeployable } from '@repo/build';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SERVICES = ['gateway', 'auth-service', 'token-service', 'plaid-service'] as const;
const EMULATORS = ['twilio-verify-emulator', 'plaid-emulator'] as const;
const EMULATOR_PACKAGES = ['@repo/twilio-verify-emulator', '@repo/plaid-emulator'];

const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

/** The Dockerfile's stages: name → its lines (continuations joined), in order. */
function stages(): Map<string, { from: string; lines: string[] }> {
  const result = new Map<string, { from: string; lines: string[] }>();
  let current: string[] | undefined;
  for (const line of dockerfile.replace(/\\\n/g, ' ').split('\n')) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      current = [];
      result.set(from[2] ?? `stage${result.size}`, { from: from[1]!, lines: current });
    } else if (current && line.trim() && !line.startsWith('#')) current.push(line.trim());
  }
  return result;
}

describe('Dockerfile', () => {
  it('pins its base image by version', () => {
    const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
    expect(base).toMatch(/^node:\d+\.\d+\.\d+-[a-z]+-slim(@sha256:[0-9a-f]{64})?$/);
    for (const { from } of stages().values()) expect(['${NODE_IMAGE}', 'runtime']).toContain(from);
  });

  it('runs the runtime as a non-root user, NODE_ENV=production, `node dist/server.js`, with a HEALTHCHECK through node (no curl)', () => {
    const runtime = stages().get('runtime')!.lines;
    expect(runtime).toContain('ENV NODE_ENV=production');
    expect(runtime).toContain('USER node');
    expect(runtime).toContain('CMD ["node", "--enable-source-maps", "--max-semi-space-size=8", "dist/server.js"]');
    expect(runtime.find((l) => l.startsWith('HEALTHCHECK'))).toMatch(/CMD \["node", "\/usr\/local\/lib\/healthcheck\.mjs"\]$/);
    expect(runtime).toContain('COPY deploy/docker/healthcheck.mjs /usr/local/lib/healthcheck.mjs');
    expect(dockerfile).not.toMatch(/\bcurl\b|\bwget\b/);
  });

  it('has one target per deployable, each only its own `pnpm deploy --prod` output on the runtime stage, its port set', () => {
    const all = stages();
    expect([...all.keys()].sort()).toEqual(['build', 'runtime', ...SERVICES, ...EMULATORS].sort());
    const build = all.get('build')!.lines.join('\n');
    expect(build).toMatch(/pnpm --filter "\.\/\$\{dir\}" deploy --prod --legacy "\/out\/\$\{dir##\*\/\}"/);
    for (const name of [...SERVICES, ...EMULATORS]) {
      const stage = all.get(name)!;
      expect(stage.from, name).toBe('runtime');
      const copies = stage.lines.filter((l) => l.startsWith('COPY'));
      expect(copies, name).toEqual([`COPY --from=build /out/${name} ./`]);
      expect(build, name).toContain(name);
      expect(stage.lines.some((l) => l.startsWith('USER')), `${name} must not switch back to root`).toBe(false);
    }
    for (const [name, port] of [['gateway', 3000], ['auth-service', 3001], ['token-service', 3002], ['plaid-service', 3003]] as const) {
      expect(all.get(name)!.lines, name).toContain(`ENV PORT=${port}`);
    }
  });

  it('.dockerignore keeps local builds, node_modules, git and secrets out of the context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['**/node_modules', '**/dist', '.git', '.env', 'jwt-keys*.json']) expect(ignored).toContain(entry);
  });
});

describe('the services hold no emulator code', () => {
  beforeAll(async () => {
    await Promise.all(SERVICES.map((name) => buildDeployable(join(root, 'services', name))));
  });

  it.each(SERVICES)('%s: the emulators are not production dependencies', (name) => {
    const manifest = JSON.parse(readFileSync(join(root, 'services', name, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const pkg of EMULATOR_PACKAGES) expect(Object.keys(manifest.dependencies ?? {}), name).not.toContain(pkg);
  });

  it.each(SERVICES)('%s: dist/ (every chunk) has no emulator source and no emulator route', (name) => {
    const dist = join(root, 'services', name, 'dist');
    const files = readdirSync(dist, { recursive: true, encoding: 'utf8' });
    const maps = files.filter((f) => f.endsWith('.js.map'));
    expect(maps.length, `${name}: no source map in dist/`).toBeGreaterThan(0);
    // The sources esbuild inlined: the emulators live in packages/*-emulator.
    const sources = maps.flatMap((f) => (JSON.parse(readFileSync(join(dist, f), 'utf8')) as { sources: string[] }).sources);
    expect(sources.length).toBeGreaterThan(0);
    expect(sources.filter((s) => /emulator/.test(s))).toEqual([]);
    // Both emulators serve their test hooks under /_emulator/; no service code names that path.
    for (const js of files.filter((f) => f.endsWith('.js'))) {
      expect(readFileSync(join(dist, js), 'utf8'), `${name}/dist/${js}`).not.toContain('/_emulator');
    }
  });
});

describe('deploy/docker/healthcheck.mjs (the images\' HEALTHCHECK)', () => {
  const script = join(root, 'deploy/docker/healthcheck.mjs');
  /** Runs the script as the image does, with only the variables given (async: the server under test answers from this process). */
  const check = (args: string[], env: Record<string, string>) =>
    new Promise<{ status: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [script, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stderr }));
    });

  it('is healthy on a 2xx from /ready on $PORT, unhealthy on a 503, on no answer and without the port', async () => {
    let status = 200;
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = String((server.address() as AddressInfo).port);
    try {
      expect(await check([], { PORT: port })).toEqual({ status: 0, stderr: '' });
      expect(await check(['/health', 'TWILIO_EMULATOR_PORT'], { TWILIO_EMULATOR_PORT: port })).toEqual({ status: 0, stderr: '' });
      expect(seen).toEqual(['/ready', '/health']);
      status = 503;
      const draining = await check([], { PORT: port });
      expect(draining.status).toBe(1);
      expect(draining.stderr).toContain(`http://127.0.0.1:${port}/ready answered 503`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const down = await check([], { PORT: port });
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/^healthcheck: http:\/\/127\.0\.0\.1:\d+\/ready: /);
    expect(await check([], {})).toEqual({ status: 1, stderr: 'healthcheck: PORT is not set\n' });
  });
});
