import { describe, expect, it } from 'vitest';
import { parseWrk } from '../bench/wrk.ts';

// What `wrk -t1 -c2 -d1s --latency` printed on this machine.
const OUTPUT = `Running 1s test @ http://127.0.0.1:18999/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   164.27us  590.85us   7.51ms   94.33%
    Req/Sec    67.54k    19.97k   82.71k    72.73%
  Latency Distribution
     50%   22.00us
     75%   27.00us
     90%  115.00us
     99%    3.19ms
  73682 requests in 1.10s, 8.71MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  67001.18
Transfer/sec:      7.92MB
`;

describe('the bench reads wrk', () => {
  it('takes requests/s, p50 and p99 in ms, and non-2xx answers', () => {
    expect(parseWrk(OUTPUT)).toEqual({ rps: 67001.18, p50Ms: 0.022, p99Ms: 3.19, requests: 73682, non2xx: 12 });
  });

  it('refuses output without the numbers instead of reporting zeros', () => {
    expect(() => parseWrk(OUTPUT.replace(/^Requests\/sec.*$/m, ''))).toThrow(/Requests\/sec/);
    expect(() => parseWrk(OUTPUT.replace(/^\s*99%.*$/m, ''))).toThrow(/99% latency/);
  });
});
