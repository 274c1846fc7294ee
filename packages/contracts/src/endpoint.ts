import type { Static, TSchema } from '@sinclair/typebox';

/** A NATS request/reply endpoint: its subject and the schemas both sides validate against. */
export interface Endpoint<Req extends TSchema = TSchema, Res extends TSchema = TSchema> {
  readonly subject: string;
  readonly request: Req;
  readonly response: Res;
}

export type EndpointRequest<E extends Endpoint> = Static<E['request']>;
export type EndpointResponse<E extends Endpoint> = Static<E['response']>;

export function defineEndpoint<Req extends TSchema, Res extends TSchema>(
  subject: string,
  request: Req,
  response: Res,
): Endpoint<Req, Res> {
  return { subject, request, response };
}
