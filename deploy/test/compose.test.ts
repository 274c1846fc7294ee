// docker-compose.yml, as `docker-compose config` resolves it from .env.example (Debian's
// docker-compose v1; `.ci/run` installs it): valid, health-checked, scalable, and passing every
// variable of the README's Configuration table to the services that use it.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SERVICES = ['gateway', 'auth-service', 'token-service', 'plaid-service'] as const;
const EMULATORS = ['twilio-verify-emulator', 'plaid-emulator'] as const;

interface ComposeService {
  image?: string;
  build?: { target?: string };
  container_name?: string;
  profiles?: string[];
  ports?: Array<string | { published?: string | number; host_ip?: string }>;
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  environment?: Record<string, string | null>;
  command?: string[] | string;
}

/** What .env.example leaves for the operator to generate (compose refuses to start without them). */
const GENERATED = {
  NATS_GATEWAY_PASSWORD: 'pw-gateway',
  NATS_AUTH_SERVICE_PASSWORD: 'pw-auth',
  NATS_TOKEN_SERVICE_PASSWORD: 'pw-token',
  NATS_PLAID_SERVICE_PASSWORD: 'pw-plaid',
  JWT_PRIVATE_KEYS: '{"keys":[]}',
  PLAID_TOKEN_ENCRYPTION_KEY: 'a2V5',
};

/** docker-compose with .env.example and only the given variables (not the test runner's NATS_URL etc.). */
function compose(args: string[], env: Record<string, string> = GENERATED) {
  const run = spawnSync('docker-compose', ['--env-file', '.env.example', '-f', 'docker-compose.yml', ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (run.error) throw new Error(`docker-compose could not run (apt-get install docker-compose; .ci/run does): ${run.error.message}`);
  return run;
}

let services: Record<string, ComposeService>;

beforeAll(() => {
  const run = compose(['config']);
  expect(run.status, run.stderr).toBe(0);
  services = (parse(run.stdout) as { services: Record<string, ComposeService> }).services;
});

describe('docker-compose.yml', () => {
  it('passes `docker-compose config -q`, and refuses to start without the generated secrets, naming the missing one', () => {
    const ok = compose(['config', '-q']);
    expect(ok.status, ok.stderr).toBe(0);
    const { JWT_PRIVATE_KEYS: _, ...withoutKeys } = GENERATED;
    const refused = compose(['config', '-q'], withoutKeys);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('set JWT_PRIVATE_KEYS in .env');
  });

  it('runs NATS, Redis, every service and (profile emulators, on in .env.example) the emulators', () => {
    expect(Object.keys(services).sort()).toEqual(['nats', 'redis', ...SERVICES, ...EMULATORS].sort());
    for (const name of EMULATORS) expect(services[name]!.profiles, name).toEqual(['emulators']);
    for (const name of ['nats', 'redis', ...SERVICES]) expect(services[name]!.profiles, name).toBeUndefined();
    expect(readFileSync(join(root, '.env.example'), 'utf8')).toMatch(/^COMPOSE_PROFILES=emulators$/m);
    // docker-compose v1's `config` lists every profile's services; compose v2 refuses a service
    // that depends on one whose profile is off. So nothing depends on an emulator: the services
    // reach it by URL (TWILIO_VERIFY_BASE_URL, PLAID_BASE_URL), and production runs without the profile.
    for (const [name, service] of Object.entries(services)) {
      for (const emulator of EMULATORS) expect(Object.keys(service.depends_on ?? {}), name).not.toContain(emulator);
    }
    expect(services['auth-service']!.environment!.TWILIO_VERIFY_BASE_URL).toBe('http://twilio-verify-emulator:3010');
    expect(services['plaid-service']!.environment!.PLAID_BASE_URL).toBe('http://plaid-emulator:3011');
  });

  it('builds each service from its own Dockerfile target', () => {
    for (const name of [...SERVICES, ...EMULATORS]) {
      expect(services[name]!.build?.target, name).toBe(name);
      expect(services[name]!.image, name).toBe(`phone-login/${name}`);
    }
  });

  it('gives every container a health check: services /ready, emulators /health, NATS /healthz on its monitoring port, Redis PING with the password', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.healthcheck?.test, `${name} has no healthcheck`).toBeDefined();
      expect(service.healthcheck?.disable, name).toBeFalsy();
    }
    for (const name of SERVICES) expect(services[name]!.healthcheck!.test, name).toEqual(['CMD', 'node', '/usr/local/lib/healthcheck.mjs']);
    expect(services['twilio-verify-emulator']!.healthcheck!.test).toEqual(['CMD', 'node', '/usr/local/lib/healthcheck.mjs', '/health', 'TWILIO_EMULATOR_PORT']);
    expect(services['plaid-emulator']!.healthcheck!.test).toEqual(['CMD', 'node', '/usr/local/lib/healthcheck.mjs', '/health', 'PLAID_EMULATOR_PORT']);
    const nats = services.nats!;
    expect(nats.command).toEqual(['-c', '/etc/nats/nats-server.conf', '-m', '8222']);
    expect(nats.healthcheck!.test).toEqual(['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8222/healthz']);
    const redis = services.redis!;
    expect(redis.healthcheck!.test).toEqual(['CMD-SHELL', 'redis-cli ping | grep -q PONG']);
    expect(redis.environment!.REDISCLI_AUTH).toBe(redis.environment!.REDIS_PASSWORD);
  });

  it('starts nothing before what it depends on is healthy', () => {
    for (const [name, service] of Object.entries(services)) {
      const dependsOn = service.depends_on ?? {};
      expect(Array.isArray(dependsOn), `${name}: depends_on without conditions`).toBe(false);
      for (const [dependency, { condition }] of Object.entries(dependsOn as Record<string, { condition?: string }>)) {
        expect(condition, `${name} → ${dependency}`).toBe('service_healthy');
      }
    }
    for (const name of SERVICES) expect(Object.keys(services[name]!.depends_on ?? {}), name).toEqual(expect.arrayContaining(['nats', 'redis']));
    expect(Object.keys(services.gateway!.depends_on ?? {})).toEqual(expect.arrayContaining(['auth-service', 'token-service', 'plaid-service']));
  });

  it('scales (`--scale auth-service=3`): no container names, no host port except the gateway\'s and the emulators\' on loopback', () => {
    const raw = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
    expect(raw).not.toMatch(/container_name/);
    for (const [name, service] of Object.entries(services)) {
      expect(service.container_name, name).toBeUndefined();
      const ports = service.ports ?? [];
      if (name === 'gateway') expect(ports).toHaveLength(1);
      else if ((EMULATORS as readonly string[]).includes(name)) {
        expect(ports, name).toHaveLength(1);
        expect(typeof ports[0] === 'string' ? ports[0] : ports[0]!.host_ip, name).toMatch(/^127\.0\.0\.1/);
      } else expect(ports, `${name} publishes a host port: it could not be scaled`).toEqual([]);
    }
  });

  it('runs NATS with deploy/nats\'s permissions and Redis with a password and AOF', () => {
    const nats = services.nats! as ComposeService & { volumes?: Array<string | { source?: string; target?: string }> };
    const mounts = (nats.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
    expect(mounts.some((m) => /deploy\/nats\/nats-server\.conf:\/etc\/nats\/nats-server\.conf/.test(m)), JSON.stringify(mounts)).toBe(true);
    for (const name of SERVICES) {
      const env = services[name]!.environment!;
      expect(env.NATS_USER, name).toBe(name);
      expect(env.NATS_INBOX_PREFIX, name).toBe(`_INBOX_${name}`);
      expect(env.NATS_PASSWORD, name).toBe(nats.environment![`NATS_${name.toUpperCase().replace('-', '_')}_PASSWORD`]);
      expect(env.REDIS_URL, name).toBe('redis://:dev-redis-password@redis:6379');
    }
    const redisCommand = [services.redis!.command].flat().join(' ');
    expect(redisCommand).toContain('--appendonly yes');
    // $$: compose passes a literal $ to the shell, which expands it from the container's environment.
    expect(redisCommand).toMatch(/--requirepass "\$\$?REDIS_PASSWORD"/);
    expect(readFileSync(join(root, '.env.example'), 'utf8')).toMatch(/^REDIS_PASSWORD=\S+$/m);
  });

  it('passes every variable of the README\'s Configuration table to the containers that use it', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
    const rows = section.split('\n').filter((l) => l.startsWith('| `'));
    expect(rows.length).toBeGreaterThan(40);
    const users: Record<string, string[]> = { all: [...SERVICES], services: [...SERVICES], gateway: ['gateway'], auth: ['auth-service'], token: ['token-service'], plaid: ['plaid-service'] };
    const missing: string[] = [];
    let checked = 0;
    for (const row of rows) {
      const [, names = '', , usedBy = ''] = row.split('|').map((c) => c.trim());
      for (const variable of [...names.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]!)) {
        if (PER_SERVICE_SECRETS[variable]) continue;
        const containers = usedBy.split(',').map((u) => u.trim()).flatMap((u) => {
          if (u === 'embedded') return [];
          if (u === 'emulator') return [variable.startsWith('TWILIO_') ? 'twilio-verify-emulator' : 'plaid-emulator'];
          return users[u] ?? [`(unknown user "${u}")`];
        });
        for (const container of containers) {
          checked++;
          if (!(variable in (services[container]?.environment ?? {}))) missing.push(`${variable} → ${container}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
    expect(missing).toEqual([]);
  });

  it('keeps the signing keys and the Plaid key in the one container that needs each', () => {
    for (const [name, service] of Object.entries(services)) {
      if (name !== 'token-service') expect(service.environment ?? {}, name).not.toHaveProperty('JWT_PRIVATE_KEYS');
      if (name !== 'plaid-service') expect(service.environment ?? {}, name).not.toHaveProperty('PLAID_TOKEN_ENCRYPTION_KEY');
    }
  });
});

/**
 * Not in compose on purpose: each service needs its own (a file or a seed per service), so one
 * .env value for all would be wrong. The README's Docker section says how to add them.
 */
const PER_SERVICE_SECRETS: Record<string, string> = {
  NATS_CREDS: 'a .creds file per service',
  NATS_NKEY_SEED: 'an nkey seed per service',
  NATS_TLS_CERT: 'a client certificate per service',
  NATS_TLS_KEY: 'a client key per service',
};
