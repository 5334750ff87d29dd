// DNS server cookies (RFC 7873, with the interoperable server cookie of RFC 9018): version 1,
// three reserved bytes, a 32-bit timestamp and SipHash-2-4 over client cookie | version |
// reserved | timestamp | client address, keyed with a secret that every replica shares (so a
// client answered by one replica is recognised by the others). Pure: the clock is injected.
import { CLIENT_COOKIE_SIZE } from "./constants.ts";
import { siphash24 } from "./siphash.ts";

export const SECRET_SIZE = 16;
const SERVER_COOKIE_SIZE = 16;
const VERSION = 1;
/** RFC 9018 §4.3: a cookie is valid for an hour after its timestamp, and up to 5 minutes ahead. */
const MAX_AGE_SECONDS = 3600;
const MAX_AHEAD_SECONDS = 300;
/** Past half an hour a valid cookie is replaced by a fresh one (RFC 9018 §4.3). */
const REFRESH_AFTER_SECONDS = 1800;

/** What a query's cookie was worth. */
export type CookieStatus =
  /** Client cookie and a server cookie of ours, still valid. */
  | "valid"
  /** A server cookie that is not ours, or stale. */
  | "invalid"
  /** Only a client cookie. */
  | "new";

export interface CookieCheck {
  status: CookieStatus;
  /** The COOKIE option data for the reply: the client cookie and our (fresh or echoed) server cookie. */
  reply: Buffer;
}

export class ServerCookies {
  private readonly secret: Buffer;
  private readonly nowMs: () => number;
  private readonly input = Buffer.alloc(CLIENT_COOKIE_SIZE + 8 + 16);

  constructor(secret: Uint8Array, nowMs: () => number = Date.now) {
    if (secret.length !== SECRET_SIZE) throw new Error(`the cookie secret must be ${SECRET_SIZE} bytes`);
    this.secret = Buffer.from(secret);
    this.nowMs = nowMs;
  }

  /** Checks the server cookie (if any) sent with `client` from `address`, and gives the cookie to reply with. */
  check(client: Buffer, server: Buffer | undefined, address: Uint8Array): CookieCheck {
    const now = Math.floor(this.nowMs() / 1000) >>> 0;
    if (server !== undefined && this.valid(client, server, address, now)) {
      const age = (now - server.readUInt32BE(4)) | 0;
      if (age < REFRESH_AFTER_SECONDS) return { status: "valid", reply: Buffer.concat([client, server]) };
      return { status: "valid", reply: this.make(client, address, now) };
    }
    return { status: server === undefined ? "new" : "invalid", reply: this.make(client, address, now) };
  }

  private valid(client: Buffer, server: Buffer, address: Uint8Array, now: number): boolean {
    if (server.length !== SERVER_COOKIE_SIZE || server[0] !== VERSION) return false;
    const timestamp = server.readUInt32BE(4);
    // Serial-number arithmetic (RFC 1982): the difference as a signed 32-bit number.
    const age = (now - timestamp) | 0;
    if (age > MAX_AGE_SECONDS || age < -MAX_AHEAD_SECONDS) return false;
    const expected = this.hash(client, server.subarray(0, 8), address);
    return expected.equals(server.subarray(8));
  }

  private make(client: Buffer, address: Uint8Array, now: number): Buffer {
    const out = Buffer.alloc(CLIENT_COOKIE_SIZE + SERVER_COOKIE_SIZE);
    client.copy(out, 0);
    out[CLIENT_COOKIE_SIZE] = VERSION;
    out.writeUInt32BE(now, CLIENT_COOKIE_SIZE + 4);
    const head = out.subarray(CLIENT_COOKIE_SIZE, CLIENT_COOKIE_SIZE + 8);
    this.hash(client, head, address).copy(out, CLIENT_COOKIE_SIZE + 8);
    return out;
  }

  /** SipHash-2-4(client cookie | version | reserved | timestamp | client address). */
  private hash(client: Buffer, head: Buffer, address: Uint8Array): Buffer {
    const input = this.input;
    client.copy(input, 0);
    head.copy(input, CLIENT_COOKIE_SIZE);
    input.set(address, CLIENT_COOKIE_SIZE + 8);
    return siphash24(this.secret, input.subarray(0, CLIENT_COOKIE_SIZE + 8 + address.length));
  }
}

/** The secret from config: 32 hex digits (16 bytes); undefined when the text is not that. */
export function parseCookieSecret(text: string): Buffer | undefined {
  const hex = text.trim();
  return /^[0-9a-fA-F]{32}$/.test(hex) ? Buffer.from(hex, "hex") : undefined;
}
