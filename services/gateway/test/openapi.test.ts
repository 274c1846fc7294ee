// The OpenAPI document (/openapi.json) is what typed clients and Postman are made from: it must
// lint clean under Redocly's recommended rules and say what the routes really take and answer.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenAPIV3 } from 'openapi-types';
import { InProcessBus } from '@repo/bus';
import { parseEnv } from '@repo/runtime';
import { MemorySessionStore } from '@repo/stores';
import { buildGateway, GatewayEnv } from '../src/app.ts';

const gatewayDir = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const redoclyPackage = require.resolve('@redocly/cli/package.json');
const redoclyBin = join(dirname(redoclyPackage), (JSON.parse(readFileSync(redoclyPackage, 'utf8')) as { bin: { redocly: string } }).bin.redocly);

let app: Awaited<ReturnType<typeof buildGateway>>;
let doc: OpenAPIV3.Document;
let dir: string;
beforeAll(async () => {
  app = await buildGateway({ settings: parseEnv(GatewayEnv, {}), bus: new InProcessBus(500), sessions: new MemorySessionStore() });
  await app.ready();
  // Written from the app, as served, without listening.
  doc = JSON.parse(JSON.stringify(app.swagger())) as OpenAPIV3.Document;
  dir = mkdtempSync(join(tmpdir(), 'openapi-lint-'));
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: gatewayDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const operations = () =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    (['get', 'post', 'put', 'delete', 'patch'] as const).flatMap((method) => (item?.[method] ? [{ path, method, op: item[method]! }] : [])),
  );
const byId = (id: string) => operations().find((o) => o.op.operationId === id)!;
const media = (body: OpenAPIV3.RequestBodyObject | OpenAPIV3.ResponseObject | OpenAPIV3.ReferenceObject | undefined) =>
  (body as OpenAPIV3.RequestBodyObject | undefined)?.content?.['application/json'];

describe('the OpenAPI document', () => {
  it('has 0 errors under Redocly recommended (redocly lint)', async () => {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc, null, 2));
    // No npm_/pnpm_ variables of the test runner; no telemetry or update check (loopback only).
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm|pnpm)_/i.test(k)));
    const res = await run(process.execPath, [redoclyBin, 'lint', '--config', join(gatewayDir, 'redocly.yaml'), '--format=json', file], {
      ...env,
      REDOCLY_TELEMETRY: 'off',
      REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
      NO_COLOR: '1',
    });
    const start = res.stdout.indexOf('{');
    expect(start, `redocly printed no JSON report (exit ${res.code}):\n${res.stdout}\n${res.stderr}`).toBeGreaterThanOrEqual(0);
    const report = JSON.parse(res.stdout.slice(start)) as { totals: { errors: number; warnings: number }; problems: Array<{ ruleId: string; severity: string; message: string }> };
    console.log(`redocly lint (recommended): errors=${report.totals.errors} warnings=${report.totals.warnings} (${report.problems.filter((p) => p.severity === 'warn').map((p) => p.ruleId).join(', ')})`);
    expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(report.totals.errors).toBe(0);
    expect(res.code).toBe(0);
  });

  it('names every operation (unique camelCase operationId) and every shared schema', () => {
    const ids = operations().map((o) => o.op.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z0-9]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(['sendVerificationCode', 'verifyCode', 'refreshToken', 'logout', 'logoutAll', 'getProtected', 'listAccounts', 'listTransactions', 'signup']));
    const names = Object.keys(doc.components?.schemas ?? {});
    expect(names).toEqual(expect.arrayContaining(['Error', 'TokenPair', 'Account', 'Transaction', 'Item']));
    expect(names.filter((n) => n.startsWith('def-'))).toEqual([]);
  });

  it('requires only what the server requires', () => {
    const count = (byId('listTransactions').op.parameters as OpenAPIV3.ParameterObject[]).find((p) => p.name === 'count');
    expect(count?.required).toBe(false);
    for (const id of ['refreshToken', 'createSandboxPublicToken', 'createLinkToken']) {
      expect((byId(id).op.requestBody as OpenAPIV3.RequestBodyObject).required, id).toBe(false);
    }
    expect((byId('sendVerificationCode').op.requestBody as OpenAPIV3.RequestBodyObject).required).toBe(true);
  });

  it('gives every request body an example, a real E.164 number where one is asked for', () => {
    for (const { op, path } of operations()) {
      if (!op.requestBody) continue;
      expect(media(op.requestBody)?.example, path).toBeDefined();
    }
    expect(media(byId('sendVerificationCode').op.requestBody)?.example).toMatchObject({ phone_number: '+14155552671' });
    expect(media(byId('verifyCode').op.requestBody)?.example).toEqual({ phone_number: '+14155552671', code: '123456' });
  });

  it('declares x-request-id on every response, Retry-After on 429 and 503, and the error codes per status', () => {
    for (const { op, path } of operations()) {
      for (const [status, response] of Object.entries(op.responses) as Array<[string, OpenAPIV3.ResponseObject]>) {
        expect(response.headers?.['x-request-id'], `${path} ${status}`).toBeDefined();
        if (status === '429' || status === '503') expect(response.headers?.['retry-after'], `${path} ${status}`).toBeDefined();
        if (/^[45]\d\d$/.test(status) && !(path === '/api/auth/verify-code' && status === '401')) {
          const code = (media(response)?.schema as OpenAPIV3.SchemaObject).properties?.code as OpenAPIV3.SchemaObject;
          expect(code.enum?.length, `${path} ${status}`).toBeGreaterThan(0);
        }
      }
    }
    const verify = byId('verifyCode').op.responses as Record<string, OpenAPIV3.ResponseObject>;
    expect((media(verify['401'])?.schema as OpenAPIV3.SchemaObject).properties?.code).toMatchObject({ enum: ['INVALID_VERIFICATION_CODE'] });
    const refresh = byId('refreshToken').op.responses as Record<string, OpenAPIV3.ResponseObject>;
    expect(((media(refresh['401'])?.schema as OpenAPIV3.SchemaObject).properties?.code as OpenAPIV3.SchemaObject).enum).toEqual(expect.arrayContaining(['TOKEN_INVALID', 'REFRESH_TOKEN_REUSED']));
  });

  it('has servers, a refresh-token scheme on /refresh, and the webhook body and Plaid-Verification header', () => {
    expect(doc.servers?.length).toBeGreaterThan(0);
    expect(doc.components?.securitySchemes?.refreshToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(byId('refreshToken').op.security).toContainEqual({ refreshToken: [] });
    expect(byId('getProtected').op.security).toEqual([{ bearerAuth: [] }]);
    const webhook = byId('receivePlaidWebhook').op;
    expect(media(webhook.requestBody)?.schema).toMatchObject({ properties: { webhook_type: expect.any(Object), webhook_code: expect.any(Object), item_id: expect.any(Object) } });
    expect(webhook.parameters).toContainEqual(expect.objectContaining({ in: 'header', name: 'plaid-verification' }));
  });
});
