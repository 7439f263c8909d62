/**
 * A small, dependency-free WebSocket server side (RFC 6455), enough for the
 * exec and attach consoles: the opening handshake, text and binary messages
 * (fragmented or not), ping/pong and the closing handshake. No extensions
 * (permessage-deflate is never negotiated). Client frames must be masked;
 * server frames are not (section 5.1). A message larger than `maxMessage` or
 * a protocol violation closes the connection with 1009 / 1002.
 *
 * Use: on the HTTP server's 'upgrade' event, call `acceptWebSocket`; it
 * writes the 101 answer and returns a WebSocket, or writes an HTTP error and
 * returns null.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const Opcode = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupported: 1003,
  invalidPayload: 1007,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
} as const;

/** Sec-WebSocket-Accept for a key. */
export const acceptKey = (key: string) => createHash('sha1').update(key + GUID).digest('base64');

/** One frame, unmasked (server to client). */
export function encodeFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const len = payload.length;
  let header: Buffer;
  if (len < 126) {
    header = Buffer.alloc(2);
    header[1] = len;
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  header[0] = (fin ? 0x80 : 0) | opcode;
  return Buffer.concat([header, payload]);
}

/** One frame, masked (client to server): for tests and clients. */
export function encodeMaskedFrame(opcode: number, payload: Buffer, mask: Buffer, fin = true): Buffer {
  const plain = encodeFrame(opcode, payload, fin);
  const headerLen = plain.length - payload.length;
  const out = Buffer.alloc(plain.length + 4);
  plain.copy(out, 0, 0, headerLen);
  out[1] = out[1]! | 0x80;
  mask.copy(out, headerLen);
  for (let i = 0; i < payload.length; i++) out[headerLen + 4 + i] = payload[i]! ^ mask[i % 4]!;
  return out;
}

export interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

export class WebSocketProtocolError extends Error {
  constructor(
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'WebSocketProtocolError';
  }
}

/**
 * Incremental frame parser. `requireMask`: the server side refuses unmasked
 * frames. Returns the complete frames in `chunk` (plus what was pending).
 */
export function createFrameParser(o: { requireMask: boolean; maxFrame: number }): (chunk: Buffer) => Frame[] {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    const frames: Frame[] = [];
    for (;;) {
      if (buf.length < 2) break;
      const b0 = buf[0]!;
      const b1 = buf[1]!;
      if (b0 & 0x70) throw new WebSocketProtocolError(CloseCode.protocolError, 'reserved bits set');
      const masked = (b1 & 0x80) !== 0;
      if (o.requireMask && !masked) throw new WebSocketProtocolError(CloseCode.protocolError, 'client frames must be masked');
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) break;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) break;
        const big = buf.readBigUInt64BE(2);
        if (big > BigInt(o.maxFrame)) throw new WebSocketProtocolError(CloseCode.tooBig, 'frame too large');
        len = Number(big);
        off = 10;
      }
      if (len > o.maxFrame) throw new WebSocketProtocolError(CloseCode.tooBig, 'frame too large');
      const maskLen = masked ? 4 : 0;
      if (buf.length < off + maskLen + len) break;
      let payload = Buffer.from(buf.subarray(off + maskLen, off + maskLen + len));
      if (masked) {
        const mask = buf.subarray(off, off + 4);
        for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
      }
      frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload });
      buf = buf.subarray(off + maskLen + len);
      if (buf.length === 0) buf = Buffer.alloc(0);
      payload = Buffer.alloc(0);
    }
    return frames;
  };
}

export interface WebSocketEvents {
  message: [data: Buffer, isBinary: boolean];
  close: [code: number, reason: string];
}

/** The server end of one connection. Emits 'message' and, once, 'close'. */
export class WebSocket extends EventEmitter<WebSocketEvents> {
  /** The subprotocol agreed in the handshake, if any. */
  readonly protocol: string | null;
  private closed = false;
  private closeSent = false;
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;
  private fragmentSize = 0;

  constructor(
    private readonly socket: Duplex,
    o: { protocol: string | null; maxMessage: number; head?: Buffer },
  ) {
    super();
    this.protocol = o.protocol;
    const parse = createFrameParser({ requireMask: true, maxFrame: o.maxMessage });
    const onData = (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = parse(chunk);
      } catch (err) {
        const e = err as WebSocketProtocolError;
        this.close(e.closeCode ?? CloseCode.protocolError, e.message);
        return;
      }
      for (const f of frames) this.onFrame(f, o.maxMessage);
    };
    socket.on('data', onData);
    socket.on('error', () => this.finish(1006, 'socket error'));
    socket.on('close', () => this.finish(1006, 'connection lost'));
    socket.on('end', () => this.finish(1006, 'connection ended'));
    if (o.head && o.head.length) onData(o.head);
  }

  get isOpen(): boolean {
    return !this.closed && !this.closeSent;
  }

  private onFrame(f: Frame, maxMessage: number): void {
    if (this.closed) return;
    switch (f.opcode) {
      case Opcode.ping:
        this.write(encodeFrame(Opcode.pong, f.payload));
        return;
      case Opcode.pong:
        return;
      case Opcode.close: {
        const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
        const reason = f.payload.length > 2 ? f.payload.subarray(2).toString('utf8') : '';
        if (!this.closeSent) {
          this.closeSent = true;
          this.write(encodeFrame(Opcode.close, f.payload.subarray(0, 2)));
        }
        this.socket.end();
        this.finish(code, reason);
        return;
      }
      case Opcode.text:
      case Opcode.binary:
      case Opcode.continuation: {
        if (f.opcode !== Opcode.continuation) {
          if (this.fragments.length) return this.close(CloseCode.protocolError, 'new message inside a fragmented one');
          this.fragmentOpcode = f.opcode;
          this.fragmentSize = 0;
        } else if (!this.fragments.length && this.fragmentSize === 0) {
          return this.close(CloseCode.protocolError, 'continuation without a message');
        }
        this.fragmentSize += f.payload.length;
        if (this.fragmentSize > maxMessage) return this.close(CloseCode.tooBig, 'message too large');
        this.fragments.push(f.payload);
        if (f.fin) {
          const data = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
          this.fragments = [];
          this.fragmentSize = 0;
          this.emit('message', data, this.fragmentOpcode === Opcode.binary);
        }
        return;
      }
      default:
        this.close(CloseCode.protocolError, `unknown opcode ${f.opcode}`);
    }
  }

  private write(b: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(b);
  }

  private finish(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close', code, reason);
    if (!this.socket.destroyed) {
      // Give the peer a moment to close its side, then let go of the socket.
      setTimeout(() => this.socket.destroy(), 1_000).unref?.();
    }
  }

  /** Sends one message: binary by default, text when `data` is a string. */
  send(data: Buffer | Uint8Array | string): void {
    if (!this.isOpen) return;
    if (typeof data === 'string') this.write(encodeFrame(Opcode.text, Buffer.from(data, 'utf8')));
    else this.write(encodeFrame(Opcode.binary, Buffer.from(data.buffer, data.byteOffset, data.byteLength)));
  }

  ping(): void {
    if (this.isOpen) this.write(encodeFrame(Opcode.ping, Buffer.alloc(0)));
  }

  /** Starts the closing handshake; the socket is dropped when the peer answers (or after a grace period). */
  close(code: number = CloseCode.normal, reason = ''): void {
    if (this.closed) return;
    if (!this.closeSent) {
      this.closeSent = true;
      const r = Buffer.from(reason.slice(0, 100), 'utf8');
      const p = Buffer.alloc(2 + r.length);
      p.writeUInt16BE(code, 0);
      r.copy(p, 2);
      this.write(encodeFrame(Opcode.close, p));
    }
    const t = setTimeout(() => {
      this.socket.destroy();
      this.finish(code, reason);
    }, 2_000);
    t.unref?.();
  }
}

export interface AcceptOptions {
  /** Subprotocols this server speaks, in order of preference. */
  readonly protocols?: readonly string[];
  readonly maxMessage?: number;
}

/** Refuses an upgrade with a plain HTTP answer. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, body = ''): void {
  const text = body || reason;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}

/**
 * The opening handshake (section 4.2). On success writes `101 Switching
 * Protocols` and returns the connection; otherwise answers 400/426 and
 * returns null.
 */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, o: AcceptOptions = {}): WebSocket | null {
  const upgrade = String(req.headers['upgrade'] ?? '').toLowerCase();
  const key = req.headers['sec-websocket-key'];
  const version = req.headers['sec-websocket-version'];
  if (req.method !== 'GET' || upgrade !== 'websocket' || typeof key !== 'string' || Buffer.from(key, 'base64').length !== 16) {
    refuseUpgrade(socket, 400, 'Bad Request', 'not a WebSocket opening handshake');
    return null;
  }
  if (version !== '13') {
    socket.end('HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return null;
  }
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const protocol = (o.protocols ?? []).find((p) => offered.includes(p)) ?? null;
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptKey(key)}`,
    ...(protocol ? [`Sec-WebSocket-Protocol: ${protocol}`] : []),
  ];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  (socket as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
  return new WebSocket(socket, { protocol, maxMessage: o.maxMessage ?? 1024 * 1024, head });
}
