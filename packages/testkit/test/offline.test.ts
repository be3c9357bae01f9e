import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { offlineArgv } from '../src/offline.js';

/** Exit code of a node process that fetches `url`: 0 when it got an answer, 3 when not. */
const FETCH = `fetch(process.argv[1]).then(() => process.exit(0), () => process.exit(3))`;

function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((done) => {
    execFile(cmd, args, (err) =>
      done(err === null ? 0 : typeof err.code === 'number' ? err.code : -1),
    );
  });
}

describe('offlineArgv', function () {
  let server: Server;
  let url: string;
  before(async function () {
    server = createServer((_req, res) => res.end('here\n'));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(function () {
    server.close();
  });

  it('lets a process reach a server on this machine when not used (the probe works)', async function () {
    expect(await run(process.execPath, ['-e', FETCH, url])).to.equal(0);
  });

  it('runs the process where that same server is unreachable', async function () {
    expect(await run(...offlineArgv(process.execPath, ['-e', FETCH, url]))).to.equal(3);
  });

  it('ignores proxy variables, unlike what they promise (why they prove nothing)', async function () {
    const r = await new Promise<number>((done) =>
      execFile(
        process.execPath,
        ['-e', FETCH, url],
        {
          env: {
            ...process.env,
            http_proxy: 'http://127.0.0.1:9',
            HTTP_PROXY: 'http://127.0.0.1:9',
          },
        },
        (err) => done(err === null ? 0 : 1),
      ),
    );
    expect(r, 'node fetch ignores http_proxy').to.equal(0);
  });
});
