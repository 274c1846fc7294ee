// Cuts the Verify operations the emulator serves out of Twilio's official OpenAPI document, with
// every schema they reference, so that the conformance test runs offline against a pinned copy.
// Usage: node spec/extract-subset.mjs <twilio-oai>/spec/json/twilio_verify_v2.json <commit>
import { readFileSync, writeFileSync } from 'node:fs';

const [source, commit] = process.argv.slice(2);
if (!source || !commit) throw new Error('usage: extract-subset.mjs <twilio_verify_v2.json> <commit>');
const spec = JSON.parse(readFileSync(source, 'utf8'));

const PATHS = [
  '/v2/Services/{ServiceSid}/Verifications',
  '/v2/Services/{ServiceSid}/Verifications/{Sid}',
  '/v2/Services/{ServiceSid}/VerificationCheck',
];

// Examples are dropped (they are not checked and are most of the size); everything else is kept as is.
const withoutExamples = (value) => {
  if (Array.isArray(value)) return value.map(withoutExamples);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'examples').map(([k, v]) => [k, withoutExamples(v)]));
};

const paths = Object.fromEntries(PATHS.map((p) => [p, withoutExamples(spec.paths[p])]));
const schemas = {};
const collect = (value) => {
  if (Array.isArray(value)) return value.forEach(collect);
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
      const name = v.slice('#/components/schemas/'.length);
      if (!(name in schemas)) {
        schemas[name] = withoutExamples(spec.components.schemas[name]);
        collect(schemas[name]);
      }
    } else collect(v);
  }
};
collect(paths);

const subset = {
  openapi: spec.openapi,
  info: { ...spec.info, 'x-subset-of': { repository: 'https://github.com/twilio/twilio-oai', path: 'spec/json/twilio_verify_v2.json', commit } },
  servers: spec.servers,
  security: spec.security,
  paths,
  components: { securitySchemes: spec.components.securitySchemes, schemas },
};
writeFileSync(new URL('./twilio_verify_v2.subset.json', import.meta.url), `${JSON.stringify(subset, null, 2)}\n`);
