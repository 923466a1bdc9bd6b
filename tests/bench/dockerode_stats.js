// dockerode peer: stats of many containers at once.
//   node tests/bench/dockerode_stats.js SOCKET LABEL [one-shot]
// Lists the running containers carrying LABEL, then awaits Promise.all over
// container.stats({ stream: false }) — with "one-shot", also passes
// one-shot=true, which dockerode forwards as a query parameter (Docker then
// answers without waiting for a second sample). Prints the number of
// samples, "mem_bytes <sum>" and "fetch_us <us>" for the fetch alone.
'use strict';
const Docker = require('dockerode');

async function main() {
  const [sock, label, mode] = process.argv.slice(2);
  if (!sock || !label || process.argv.length > 5 || (mode !== undefined && mode !== 'one-shot')) {
    console.error('usage: dockerode_stats.js SOCKET LABEL [one-shot]');
    process.exit(2);
  }
  const docker = new Docker({ socketPath: sock });
  const listed = await docker.listContainers({ filters: { label: [label] } });
  if (listed.length === 0) throw new Error('no containers to sample');
  const opts = mode === 'one-shot' ? { stream: false, 'one-shot': true } : { stream: false };
  const t0 = process.hrtime.bigint();
  const samples = await Promise.all(listed.map((c) => docker.getContainer(c.Id).stats(opts)));
  const elapsed = process.hrtime.bigint() - t0;
  let mem = 0;
  for (const s of samples) mem += (s.memory_stats && s.memory_stats.usage) || 0;
  console.log(samples.length);
  console.log(`mem_bytes ${mem}`);
  console.log(`fetch_us ${(Number(elapsed) / 1e3).toFixed(1)}`);
}

main().catch((err) => {
  console.error(`dockerode: ${err.message || err}`);
  process.exit(1);
});
