// dockerode peer: read a container's whole log as a stream.
//   node tests/bench/dockerode_logs.js SOCKET CONTAINER
// container.logs() returns the whole body in one buffer unless `follow` is
// set, and Podman 4.3 cuts a followed log of an exited container short
// (after about 1 MB): so it makes the request container.logs() makes, with
// follow=false, through dockerode's modem as a stream, demultiplexes the
// frames with docker.modem.demuxStream into a counting Writable and waits
// for the end.
// Prints "lines <n>", "bytes <n>" and "read_us <us>" for the read alone.
'use strict';
const { Writable } = require('stream');
const Docker = require('dockerode');

async function main() {
  const [sock, id] = process.argv.slice(2);
  if (!sock || !id || process.argv.length > 4) {
    console.error('usage: dockerode_logs.js SOCKET CONTAINER');
    process.exit(2);
  }
  const docker = new Docker({ socketPath: sock });
  let lines = 0, bytes = 0, last = 10;
  const counter = new Writable({
    write(chunk, _enc, done) {
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      if (chunk.length) last = chunk[chunk.length - 1];
      done();
    },
  });
  const t0 = process.hrtime.bigint();
  const stream = await new Promise((resolve, reject) => {
    docker.modem.dial({
      path: `/containers/${encodeURIComponent(id)}/logs?`,
      method: 'GET',
      isStream: true,
      statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
      options: { follow: false, stdout: true, stderr: true },
    }, (err, data) => (err ? reject(err) : resolve(data)));
  });
  await new Promise((resolve, reject) => {
    stream.on('error', reject);
    stream.on('end', resolve);
    docker.modem.demuxStream(stream, counter, counter);
  });
  const elapsed = process.hrtime.bigint() - t0;
  if (bytes && last !== 10) lines++;
  console.log(`lines ${lines}`);
  console.log(`bytes ${bytes}`);
  console.log(`read_us ${(Number(elapsed) / 1e3).toFixed(1)}`);
}

main().catch((err) => {
  console.error(`dockerode: ${err.message || err}`);
  process.exit(1);
});
