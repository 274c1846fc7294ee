// How a service authenticates to NATS and secures the link: user/password, a creds file or an nkey
// seed, TLS files, and a private inbox prefix so nobody else can subscribe to its replies.
import { readFileSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions } from 'nats';

export interface NatsAuth {
  user?: string;
  password?: string;
  /** Path of a `.creds` file (a user JWT and its nkey seed, for decentralised auth). */
  credsFile?: string;
  /** An nkey seed (`SU...`), for servers configured with nkey users. */
  nkeySeed?: string;
}

export interface NatsTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface NatsConnectionSettings {
  url: string;
  name: string;
  auth?: NatsAuth;
  tls?: NatsTls;
  /** Replies to this client's requests arrive under `<inboxPrefix>.>`; NATS permissions can keep it private. */
  inboxPrefix?: string;
}

/** `_INBOX_<name>`, with anything but letters, digits, `_` and `-` replaced. */
export function defaultInboxPrefix(name: string): string {
  return `_INBOX_${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

export function connectionOptions(settings: NatsConnectionSettings): ConnectionOptions {
  const servers = settings.url.split(',').map((s) => s.trim()).filter(Boolean);
  const { auth = {}, tls = {} } = settings;
  const options: ConnectionOptions = {
    servers,
    name: settings.name,
    inboxPrefix: settings.inboxPrefix ?? defaultInboxPrefix(settings.name),
    // Keep trying through NATS restarts; requests fail fast while disconnected.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    timeout: 2_000,
    // A frozen server is noticed in about 10 s rather than the default 4 minutes.
    pingInterval: 5_000,
    maxPingOut: 2,
    // No caller's stack captured for every request (two Errors each, on the hot path, for a
    // timeout's stack trace): the bus's own errors name the subject, and every request starts
    // from the same place (NatsBus.attempt).
    noAsyncTraces: true,
  };
  if (auth.user !== undefined) options.user = auth.user;
  if (auth.password !== undefined) options.pass = auth.password;
  if (auth.credsFile) options.authenticator = credsAuthenticator(readFileSync(auth.credsFile));
  else if (auth.nkeySeed) options.authenticator = nkeyAuthenticator(new TextEncoder().encode(auth.nkeySeed.trim()));
  const wantsTls = tls.caFile || tls.certFile || tls.keyFile || servers.some((s) => s.startsWith('tls://'));
  if (wantsTls) {
    options.tls = {
      ...(tls.caFile ? { caFile: tls.caFile } : {}),
      ...(tls.certFile ? { certFile: tls.certFile } : {}),
      ...(tls.keyFile ? { keyFile: tls.keyFile } : {}),
    };
  }
  return options;
}
