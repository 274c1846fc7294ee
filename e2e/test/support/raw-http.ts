// Bytes to the gateway on a bare socket, for what fetch will not send: broken request lines,
// headers and chunking, conflicting lengths, truncated bodies.
import { connect } from 'node:net';
import type { Answer } from './tally.ts';

export interface RawOptions {
  /** Half-close after writing (the client sends nothing more). */
  end?: boolean;
  timeoutMs?: number;
}

function parse(bytes: Buffer): Answer {
  const text = bytes.toString('utf8');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
  const separator = text.indexOf('\r\n\r\n');
  const head = separator === -1 ? text : text.slice(0, separator);
  let bodyText = separator === -1 ? '' : text.slice(separator + 4);
  if (/^transfer-encoding:\s*chunked/im.test(head)) bodyText = dechunk(bodyText);
  let body: unknown;
  try {
    body = bodyText ? JSON.parse(bodyText) : undefined;
  } catch {
    body = bodyText;
  }
  return { status, body, text: text.slice(0, 2000) };
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, eol), 16);
    if (eol === -1 || !Number.isFinite(size) || size === 0) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

/**
 * Writes `bytes` and reads until the server closes or `timeoutMs` passes; the first answer found
 * is returned (status 0 if none). Requests should say `Connection: close`.
 */
export function rawRequest(baseUrl: string, bytes: string | Buffer, options: RawOptions = {}): Promise<Answer> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const chunks: Buffer[] = [];
    const finish = () => {
      socket.destroy();
      resolve(parse(Buffer.concat(chunks)));
    };
    socket.setTimeout(options.timeoutMs ?? 3_000, finish);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', finish);
    socket.on('connect', () => {
      socket.write(bytes, () => {
        if (options.end) socket.end();
      });
    });
  });
}
