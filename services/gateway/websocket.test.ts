import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Opcode, acceptKey, acceptWebSocket, createFrameParser, encodeFrame, encodeMaskedFrame, type Frame, type WebSocket } from './websocket.js';

describe('websocket frames', () => {
  it('the accept key of RFC 6455 section 1.3', () => {
    expect(acceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('parses masked frames of every length encoding, split at any byte', () => {
    const mask = Buffer.from([1, 2, 3, 4]);
    const payloads = [Buffer.from('hi'), randomBytes(300), randomBytes(70_000)];
    const wire = Buffer.concat(payloads.map((p) => encodeMaskedFrame(Opcode.binary, p, mask)));
    const parse = createFrameParser({ requireMask: true, maxFrame: 1 << 20 });
    const got: Frame[] = [];
    for (let i = 0; i < wire.length; i += 777) got.push(...parse(wire.subarray(i, i + 777)));
    expect(got.map((f) => f.payload.equals(payloads[got.indexOf(f)]!))).toEqual([true, true, true]);
    expect(got.every((f) => f.fin && f.opcode === Opcode.binary)).toBe(true);
  });

  it('refuses unmasked client frames and frames over the limit', () => {
    expect(() => createFrameParser({ requireMask: true, maxFrame: 100 })(encodeFrame(Opcode.text, Buffer.from('x')))).toThrow(/masked/);
    expect(() => createFrameParser({ requireMask: true, maxFrame: 10 })(encodeMaskedFrame(Opcode.text, Buffer.alloc(11), Buffer.alloc(4)))).toThrow(
      /too large/,
    );
  });
});

describe('websocket server over a real socket', () => {
  let server: http.Server | null = null;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = null;
  });

  async function echoServer(): Promise<{ port: number; sockets: WebSocket[] }> {
    const sockets: WebSocket[] = [];
    server = http.createServer((_req, res) => res.end('plain'));
    server.on('upgrade', (req, socket, head) => {
      const ws = acceptWebSocket(req, socket, head, { protocols: ['binary'] });
      if (!ws) return;
      sockets.push(ws);
      ws.on('message', (data, binary) => ws.send(binary ? data : `echo:${data.toString()}`));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    return { port: (server.address() as net.AddressInfo).port, sockets };
  }

  /** A raw client: handshake, then frames in and out. */
  async function client(port: number, headers: Record<string, string> = {}) {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const key = randomBytes(16).toString('base64');
    const lines = [
      'GET /x HTTP/1.1',
      'Host: 127.0.0.1',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${key}`,
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Protocol: binary, base64',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    sock.write(`${lines.join('\r\n')}\r\n\r\n`);
    let buf = Buffer.alloc(0);
    const frames: Frame[] = [];
    const parse = createFrameParser({ requireMask: false, maxFrame: 1 << 20 });
    let head: string | null = null;
    const waiters: (() => void)[] = [];
    sock.on('data', (b: Buffer) => {
      if (head === null) {
        buf = Buffer.concat([buf, b]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.subarray(0, end).toString();
        const rest = buf.subarray(end + 4);
        if (rest.length) frames.push(...parse(rest));
      } else frames.push(...parse(b));
      for (const w of waiters.splice(0)) w();
    });
    const until = async (pred: () => boolean) => {
      const deadline = Date.now() + 3000;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error('timeout');
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    };
    await until(() => head !== null);
    const send = (op: number, payload: Buffer, fin = true) => sock.write(encodeMaskedFrame(op, payload, randomBytes(4), fin));
    return { sock, key, head: () => head!, frames, until, send };
  }

  it('handshake with the subprotocol, echo text and binary, fragments, ping, close', async () => {
    const { port } = await echoServer();
    const c = await client(port);
    expect(c.head()).toMatch(/^HTTP\/1\.1 101 /);
    expect(c.head()).toContain(`Sec-WebSocket-Accept: ${acceptKey(c.key)}`);
    expect(c.head()).toContain('Sec-WebSocket-Protocol: binary');

    c.send(Opcode.text, Buffer.from('hello'));
    await c.until(() => c.frames.length >= 1);
    expect([c.frames[0]!.opcode, c.frames[0]!.payload.toString()]).toEqual([Opcode.text, 'echo:hello']);

    const big = randomBytes(100_000);
    c.send(Opcode.binary, big.subarray(0, 40_000), false);
    c.send(Opcode.continuation, big.subarray(40_000), true);
    await c.until(() => c.frames.length >= 2);
    expect(c.frames[1]!.opcode).toBe(Opcode.binary);
    expect(c.frames[1]!.payload.equals(big)).toBe(true);

    c.send(Opcode.ping, Buffer.from('p'));
    await c.until(() => c.frames.length >= 3);
    expect([c.frames[2]!.opcode, c.frames[2]!.payload.toString()]).toEqual([Opcode.pong, 'p']);

    const code = Buffer.alloc(2);
    code.writeUInt16BE(1000);
    c.send(Opcode.close, code);
    await c.until(() => c.frames.length >= 4);
    expect([c.frames[3]!.opcode, c.frames[3]!.payload.readUInt16BE(0)]).toEqual([Opcode.close, 1000]);
    c.sock.destroy();
  });

  it('a request that is not an opening handshake is refused with 400; an unmasked frame closes with 1002', async () => {
    const { port } = await echoServer();
    const bad = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
      let out = '';
      s.on('data', (b) => (out += b.toString()));
      s.on('close', () => resolve(out));
    });
    expect(bad).toMatch(/^HTTP\/1\.1 400 /);

    const c = await client(port);
    c.sock.write(encodeFrame(Opcode.text, Buffer.from('unmasked')));
    await c.until(() => c.frames.length >= 1);
    expect([c.frames[0]!.opcode, c.frames[0]!.payload.readUInt16BE(0)]).toEqual([Opcode.close, 1002]);
    c.sock.destroy();
  });
});
