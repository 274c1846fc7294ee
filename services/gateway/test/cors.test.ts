import { afterAll, describe, expect, it } from 'vitest';
import { InProcessBus } from '@repo/bus';
import { ConfigError } from '@repo/runtime';
import { MemorySessionStore } from '@repo/stores';
import { buildGateway, type GatewaySettings } from '../src/app.ts';
import { testSettings } from './test-settings.ts';
import { loadConfig } from '../src/config.ts';

const ALLOWED = 'https://app.example.com';
// What loadConfig needs besides the variable under test.
const serverEnv = { NATS_URL: 'nats://127.0.0.1:4222', REDIS_URL: 'redis://127.0.0.1:6379' };

const apps: Array<{ close(): Promise<unknown> }> = [];
afterAll(async () => {
  for (const app of apps) await app.close();
});
async function gateway(settings: Partial<GatewaySettings> = {}) {
  const bus = new InProcessBus(2_000);
  const app = await buildGateway({ settings: { ...testSettings, ...settings }, bus, sessions: new MemorySessionStore() });
  apps.push(app, bus);
  return app;
}

describe('CORS_ORIGINS', () => {
  it('gives an allowed origin the CORS headers, with the rate-limit and request-id headers exposed', async () => {
    const app = await gateway({ CORS_ORIGINS: `${ALLOWED}, http://localhost:5173` });
    const res = await app.inject({ method: 'GET', url: '/health', headers: { origin: ALLOWED } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    const exposed = String(res.headers['access-control-expose-headers']).split(',').map((h) => h.trim().toLowerCase());
    expect(exposed).toEqual(expect.arrayContaining(['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']));
    expect(res.headers.vary).toMatch(/origin/i);

    const second = await app.inject({ method: 'GET', url: '/health', headers: { origin: 'http://localhost:5173' } });
    expect(second.headers['access-control-allow-origin']).toBe('http://localhost:5173');
  });

  it('gives any other origin no CORS headers', async () => {
    const app = await gateway({ CORS_ORIGINS: ALLOWED });
    for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.test', 'http://app.example.com']) {
      const res = await app.inject({ method: 'GET', url: '/health', headers: { origin } });
      expect(res.statusCode, origin).toBe(200);
      expect(res.headers['access-control-allow-origin'], origin).toBeUndefined();
      expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-')), origin).toEqual([]);
    }
  });

  it('answers a preflight 204 with the methods and headers a browser app sends, before authentication', async () => {
    const app = await gateway({ CORS_ORIGINS: ALLOWED });
    const res = await app.inject({
      method: 'OPTIONS',
      url: '/api/auth/protected',
      headers: { origin: ALLOWED, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(String(res.headers['access-control-allow-methods'])).toMatch(/DELETE/);
    expect(String(res.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
    expect(res.headers['access-control-max-age']).toBe('600');

    const other = await app.inject({
      method: 'OPTIONS',
      url: '/api/auth/protected',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'GET' },
    });
    expect(Object.keys(other.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });

  it('keeps the CORS headers on errors, so the browser app can read them (a 401 here)', async () => {
    const app = await gateway({ CORS_ORIGINS: ALLOWED });
    const res = await app.inject({ method: 'GET', url: '/api/auth/protected', headers: { origin: ALLOWED } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
  });

  it('sends no CORS headers by default, preflight included', async () => {
    const app = await gateway();
    const res = await app.inject({ method: 'GET', url: '/health', headers: { origin: ALLOWED } });
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/api/auth/protected',
      headers: { origin: ALLOWED, 'access-control-request-method': 'GET' },
    });
    expect(preflight.statusCode).toBe(404);
    expect(Object.keys(preflight.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });

  it('refuses anything but exact origins with one line naming the variable', async () => {
    for (const bad of ['*', 'app.example.com', 'https://app.example.com/', 'https://app.example.com/path', 'ftp://files.example.com', `${ALLOWED},`]) {
      const err = (() => {
        try {
          loadConfig({ ...serverEnv, CORS_ORIGINS: bad });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err, bad).toBeInstanceOf(ConfigError);
      expect((err as Error).message, bad).toMatch(/^CORS_ORIGINS is invalid at "[^"]*": expected origins like https:\/\/app\.example\.com/);
      expect((err as Error).message).not.toContain('\n');
    }
    await expect(gateway({ CORS_ORIGINS: 'https://app.example.com/' })).rejects.toThrow(ConfigError);
    expect(loadConfig({ ...serverEnv, CORS_ORIGINS: `${ALLOWED},http://127.0.0.1:8080` }).CORS_ORIGINS).toBe(`${ALLOWED},http://127.0.0.1:8080`);
  });
});
