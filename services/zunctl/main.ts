/**
 * Entry point: `npm run zunctl -- <command> [options]` (or
 * `node --import tsx services/zunctl/main.ts ...`). See cli.ts.
 */
import { runCli } from './cli.js';

const interrupted = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  now: () => Date.now(),
  interrupted,
});
// Let stdout drain (a pipe may be slower than we are), then leave.
process.stdout.write('', () => process.exit(code));
