/**
 * Prints the scrypt hash of a password for the users file (AUTH_FILE).
 *
 *   node --import tsx services/gateway/identity/hash-password.ts            # prompts (no echo)
 *   printf '%s' "$PW" | node --import tsx services/gateway/identity/hash-password.ts
 *   ... hash-password.ts --cost 16384                                       # scrypt N (power of two)
 *
 * The password is read from the terminal or from standard input (first line),
 * never from the command line, so it does not land in shell history or `ps`.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SCRYPT, hashPassword } from './password.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new Error('interrupted'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

const { values } = parseArgs({ options: { cost: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  process.stdout.write('usage: hash-password.ts [--cost N]   (password from the terminal or stdin)\n');
  process.exit(0);
}
const N = values.cost === undefined ? DEFAULT_SCRYPT.N : Number(values.cost);
if (!Number.isInteger(N) || N < 1024 || (N & (N - 1)) !== 0 || N > 2 ** 20) {
  process.stderr.write('--cost must be a power of two between 1024 and 1048576\n');
  process.exit(2);
}
let password: string;
if (process.stdin.isTTY) {
  password = await prompt('Password: ');
  const again = await prompt('Again: ');
  if (again !== password) {
    process.stderr.write('the passwords differ\n');
    process.exit(1);
  }
} else {
  password = await readStdin();
}
if (password === '') {
  process.stderr.write('empty password refused\n');
  process.exit(1);
}
process.stdout.write(`${await hashPassword(password, { ...DEFAULT_SCRYPT, N })}\n`);
