/**
 * Writes spec/plaid-2020-09-14.subset.json: the parts of Plaid's official OpenAPI file that the
 * emulator serves (its endpoints, the webhooks it sends, the error object), with every schema they
 * reference. Run after updating the pinned copy:
 *   git -C <plaid-openapi checkout> show <commit>:2020-09-14.yml > /tmp/plaid.yml
 *   tsx scripts/extract-spec-subset.ts /tmp/plaid.yml <commit>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { SPEC_ENDPOINTS, SPEC_WEBHOOKS } from '../src/spec-endpoints.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Spec = { info: { version: string }; paths: Record<string, Json>; components: { schemas: Record<string, Json> } };

const [file, commit] = process.argv.slice(2);
if (!file || !commit || !/^[0-9a-f]{40}$/.test(commit)) throw new Error('usage: extract-spec-subset.ts <2020-09-14.yml> <commit sha>');
const spec = parse(readFileSync(file, 'utf8'), { maxAliasCount: -1 }) as Spec;

const schemas: Record<string, Json> = {};
const visit = (node: Json): void => {
  if (Array.isArray(node)) return node.forEach(visit);
  if (node === null || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string') {
      const name = value.replace('#/components/schemas/', '');
      if (!(name in schemas)) {
        const schema = spec.components.schemas[name];
        if (schema === undefined) throw new Error(`unresolved ${value}`);
        schemas[name] = schema;
        visit(schema);
      }
    } else visit(value);
  }
};

const paths: Record<string, Json> = {};
for (const path of SPEC_ENDPOINTS) {
  const item = spec.paths[path];
  if (!item) throw new Error(`${path} is not in the spec`);
  paths[path] = item;
  visit(item);
}
for (const name of ['PlaidError', ...Object.values(SPEC_WEBHOOKS)]) visit({ $ref: `#/components/schemas/${name}` });

const subset = {
  'x-source': {
    repository: 'https://github.com/plaid/plaid-openapi',
    path: '2020-09-14.yml',
    commit,
    version: spec.info.version,
    note: 'a subset: the paths below and every schema they reference, unchanged; regenerate with scripts/extract-spec-subset.ts',
  },
  openapi: '3.0.0',
  paths,
  components: { schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))) },
};
writeFileSync(new URL('../spec/plaid-2020-09-14.subset.json', import.meta.url), `${JSON.stringify(subset, null, 1)}\n`);
console.log(`${Object.keys(paths).length} paths, ${Object.keys(schemas).length} schemas`);
