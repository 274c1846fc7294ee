// The committed Postman collection: what the generator makes from the OpenAPI document (so it
// cannot go stale), and its "Login flow" passes under newman against the running system.
import { readFileSync } from 'node:fs';
import newman, { type NewmanRunSummary } from 'newman';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLLECTION_FILE, collectionText, openApiDocument } from '../postman/generate.ts';
import { startSystem, type System } from './support/system.ts';

const committed = readFileSync(COLLECTION_FILE, 'utf8');

describe('the Postman collection', () => {
  it('is what e2e/postman/generate.ts makes from the current OpenAPI document (pnpm --filter @repo/e2e postman:generate)', async () => {
    expect(committed).toBe(collectionText(await openApiDocument()));
  });

  describe('its Login flow under newman [embedded]', () => {
    let system: System;
    beforeAll(async () => {
      // The embedded default limits, but for the suite's many logins from one address.
      system = await startSystem('embedded');
    }, 120_000);
    afterAll(async () => {
      await system?.close();
    });

    it('runs with 0 failures', async () => {
      const summary = await new Promise<NewmanRunSummary>((resolve, reject) => {
        newman.run(
          {
            collection: JSON.parse(committed),
            folder: 'Login flow',
            envVar: [
              { key: 'baseUrl', value: system.url },
              { key: 'outboxUrl', value: `${system.twilioUrl}/outbox` },
            ],
            reporters: [],
            timeoutRequest: 15_000,
          },
          (err, result) => (err ? reject(err) : resolve(result)),
        );
      });
      const { stats, failures } = summary.run;
      console.log(`newman Login flow: requests=${stats.requests.total} assertions=${stats.assertions.total} failed=${stats.assertions.failed} failures=${failures.length}`);
      expect(failures.map((f) => `${f.source?.name ?? '?'}: ${f.error.message}`)).toEqual([]);
      expect(stats.requests.total).toBe(16);
      expect(stats.assertions.total).toBeGreaterThanOrEqual(30);
    });
  });
});
