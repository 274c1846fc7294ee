// The yardstick: bare Fastify answering the protected route's JSON, nothing else. Its own process,
// like the gateway, so both are measured the same way. With COALESCE_WRITES=1 it also holds its
// writes to the end of each turn as the gateway does (coalesceWrites): the like-for-like yardstick.
import Fastify from 'fastify';
import { coalesceWrites } from '@repo/gateway/coalesce-writes';

const app = Fastify({ logger: false });
if (process.env.COALESCE_WRITES === '1') coalesceWrites(app.server);
const body = { message: 'This is a protected route', phone_number: '+14155552671' };
app.get('/api/auth/protected', async () => body);
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
process.stdout.write(`listening ${JSON.stringify(app.server.address())}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
