/** Bundles `<dir>/src/server.ts` into `<dir>/dist/server.js`; see index.mjs. */
export declare function buildDeployable(dir: string): Promise<{ name: string; outputs: string[]; ms: number }>;
