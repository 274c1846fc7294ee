export * from './errors.ts';
export * from './phone.ts';
export * from './endpoint.ts';
export * from './tokens.ts';
export * from './auth.ts';
export * from './plaid.ts';
export * from './request-id.ts';
