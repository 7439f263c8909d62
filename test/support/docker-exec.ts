/** Runs a command in a Docker container (tests only): its exit code and its stdout+stderr. */
import type Docker from 'dockerode';

export async function dockerExec(docker: Docker, dockerId: string, cmd: string[]): Promise<{ code: number; out: string }> {
  const e = await docker.getContainer(dockerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({});
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve) => {
    stream.on('data', (b: Buffer) => chunks.push(b));
    stream.on('end', resolve);
    stream.on('close', resolve);
  });
  for (let i = 0; i < 100; i++) {
    const info = await e.inspect();
    if (!info.Running) return { code: info.ExitCode ?? -1, out: demux(Buffer.concat(chunks)) };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`exec ${cmd.join(' ')} did not finish`);
}

/** Docker's multiplexed stream (8-byte frame headers) to text. */
function demux(buf: Buffer): string {
  let out = '';
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + size).toString('utf8');
    i += 8 + size;
  }
  return out;
}
