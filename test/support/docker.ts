/** Docker helpers for integration tests. */
import type Docker from 'dockerode';

/** The one Docker container labelled with a Zun container's uuid, inspected; throws unless there is exactly one. */
export async function inspectLabelled(docker: Docker, uuid: string): Promise<Docker.ContainerInspectInfo> {
  const list = await docker.listContainers({ all: true, filters: { label: [`zun.container.uuid=${uuid}`] } });
  if (list.length !== 1) throw new Error(`${list.length} Docker containers are labelled ${uuid}, not one`);
  return docker.getContainer(list[0]!.Id).inspect();
}

/** Runs a command in a Docker container: its exit code and its stdout+stderr. */

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
