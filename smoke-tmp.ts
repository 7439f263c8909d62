import { startCluster, waitFor } from './test/support/cluster.js';
const cluster = await startCluster({ hosts: ['smoke-host'], env: { AUTH_MODE: 'local', GATEWAY_SECRET: 'smoke-secret-0123456789abcdef0123456789' }, hostEnv: { RESYNC_SECONDS: '3', HOST_CPUS: '4', HOST_MEMORY_MIB: '4096' } });
await waitFor('gateway', async () => (await fetch(`${cluster.gatewayUrl}/`).catch(() => null))?.ok, 60_000);
console.log('URL', cluster.gatewayUrl, cluster.natsUrl, cluster.etcdEndpoint);
process.on('SIGTERM', async () => { for (const s of cluster.services.values()) console.log('---', s.name, s.output().slice(-3000)); await cluster.stop(); process.exit(0); });
setInterval(() => {}, 1000);
