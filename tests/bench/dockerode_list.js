// dockerode peer: list every container N times (default 1) over SOCKET,
// each call awaited before the next.
//   node tests/bench/dockerode_list.js SOCKET [N]
// Prints the count; with N given, also "loop_us <us>" for the N calls alone.
'use strict';
const Docker = require('dockerode');

async function main() {
  const [sock, nArg] = process.argv.slice(2);
  if (!sock || process.argv.length > 4) {
    console.error('usage: dockerode_list.js SOCKET [N]');
    process.exit(2);
  }
  const docker = new Docker({ socketPath: sock });
  if (nArg === undefined) {
    console.log((await docker.listContainers({ all: true })).length);
    return;
  }
  const n = Number.parseInt(nArg, 10);
  if (!(n >= 1)) {
    console.error('N must be a positive integer');
    process.exit(2);
  }
  let listed;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    listed = await docker.listContainers({ all: true });
  }
  const elapsed = process.hrtime.bigint() - t0;
  console.log(listed.length);
  console.log(`loop_us ${(Number(elapsed) / 1e3).toFixed(1)}`);
}

main().catch((err) => {
  console.error(`dockerode: ${err.message || err}`);
  process.exit(1);
});
