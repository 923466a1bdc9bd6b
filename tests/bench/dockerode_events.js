// dockerode peer for the events throughput bench (tests/bench/events.sh).
//   node tests/bench/dockerode_events.js SOCKET N [NAME_PREFIX]
// docker.getEvents() hands back the raw response stream: as its users do,
// this splits it into lines, JSON.parses each, and reads Action and
// Actor.Attributes.name; with a prefix, the handler skips the events whose
// name does not start with it. Stops after N events.
// Prints "events N", "handled N" and "read_us" from the request to the last event.
'use strict';
const Docker = require('dockerode');

const [sock, nArg, prefix] = process.argv.slice(2);
const n = Number(nArg);
if (!sock || !n) {
  console.error('usage: dockerode_events.js SOCKET N [NAME_PREFIX]');
  process.exit(2);
}
const docker = new Docker({ socketPath: sock });
let seen = 0, handled = 0, chars = 0, rest = '';
const t0 = process.hrtime.bigint();

function finish(stream) {
  const us = (process.hrtime.bigint() - t0) / 1000n;
  console.log(`events ${seen}`);
  console.log(`handled ${handled}`);
  console.log(`read_us ${us}`);
  stream.destroy();
  process.exit(0);
}

docker.getEvents({}, (err, stream) => {
  if (err) { console.error(err.message); process.exit(1); }
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    for (const line of lines) {
      if (!line) continue;
      const ev = JSON.parse(line);
      seen++;
      const name = (ev.Actor && ev.Actor.Attributes && ev.Actor.Attributes.name) || '';
      if (prefix === undefined || name.startsWith(prefix)) {
        handled++;
        chars += (ev.Action || '').length + name.length;
      }
      if (seen >= n) return finish(stream);
    }
  });
  stream.on('end', () => { console.error(`the stream ended after ${seen} events`); process.exit(1); });
});
