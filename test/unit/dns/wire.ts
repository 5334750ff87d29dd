// A strict reader of DNS messages for tests: throws on anything a careful resolver would reject
// (labels over 63 octets, names over 255, bad or forward compression pointers, rdata that does
// not fill its length exactly, counts that do not match the sections, trailing bytes).

export interface WireRecord {
  name: string;
  type: number;
  rdata: Buffer;
}

export interface WireMessage {
  id: number;
  rcode: number;
  question: { name: string; type: number } | undefined;
  answer: WireRecord[];
  authority: WireRecord[];
  additional: WireRecord[];
}

const NAME_RDATA = new Set([2, 5, 12]); // NS, CNAME, PTR

export function checkWire(message: Buffer): WireMessage {
  if (message.length < 12) throw new Error(`message of ${message.length} bytes has no header`);
  const counts = [4, 6, 8, 10].map((at) => message.readUInt16BE(at));
  let pos = 12;

  /** Reads a name at `at`; returns it and where the name ends in the message. */
  const readName = (at: number): { name: string; end: number } => {
    const labels: string[] = [];
    let wire = 1;
    let cursor = at;
    let end = -1;
    let jumps = 0;
    for (;;) {
      if (cursor >= message.length) throw new Error(`name at ${at} runs past the message`);
      const length = message[cursor]!;
      if ((length & 0xc0) === 0xc0) {
        if (cursor + 1 >= message.length) throw new Error(`pointer at ${cursor} cut short`);
        const target = ((length & 0x3f) << 8) | message[cursor + 1]!;
        if (target >= cursor) throw new Error(`pointer at ${cursor} does not point backwards (${target})`);
        if (++jumps > 127) throw new Error(`pointer loop at ${at}`);
        if (end === -1) end = cursor + 2;
        cursor = target;
        continue;
      }
      if ((length & 0xc0) !== 0) throw new Error(`bad label type 0x${length.toString(16)} at ${cursor}`);
      if (length === 0) {
        if (end === -1) end = cursor + 1;
        break;
      }
      wire += length + 1;
      if (wire > 255) throw new Error(`name at ${at} longer than 255 octets`);
      if (cursor + 1 + length > message.length) throw new Error(`label at ${cursor} runs past the message`);
      labels.push(message.toString("latin1", cursor + 1, cursor + 1 + length));
      cursor += 1 + length;
    }
    return { name: labels.join("."), end };
  };

  const need = (bytes: number, what: string): void => {
    if (pos + bytes > message.length) throw new Error(`${what} at ${pos} runs past the message`);
  };

  let question: WireMessage["question"];
  if (counts[0]! > 1) throw new Error(`qdcount ${counts[0]}`);
  if (counts[0] === 1) {
    const { name, end } = readName(pos);
    pos = end;
    need(4, "question");
    question = { name, type: message.readUInt16BE(pos) };
    pos += 4;
  }

  const readRecord = (): WireRecord => {
    const { name, end } = readName(pos);
    pos = end;
    need(10, "record header");
    const type = message.readUInt16BE(pos);
    const rdlength = message.readUInt16BE(pos + 8);
    pos += 10;
    need(rdlength, "rdata");
    const start = pos;
    const stop = pos + rdlength;
    const nameIn = (at: number): number => {
      const read = readName(at);
      if (read.end > stop) throw new Error(`name in rdata at ${at} runs past the rdata`);
      return read.end;
    };
    let cursor = start;
    switch (type) {
      case 1:
        cursor += 4;
        break;
      case 28:
        cursor += 16;
        break;
      case 15:
        cursor = nameIn(start + 2);
        break;
      case 33:
        cursor = nameIn(start + 6);
        break;
      case 6:
        cursor = nameIn(nameIn(start)) + 20;
        break;
      case 16:
      case 13:
        while (cursor < stop) cursor += 1 + message[cursor]!;
        break;
      case 41:
        cursor = stop;
        break;
      default:
        if (NAME_RDATA.has(type)) cursor = nameIn(start);
        else cursor = stop;
    }
    if (cursor !== stop) throw new Error(`type ${type} rdata of ${rdlength} bytes at ${start} holds ${cursor - start}`);
    pos = stop;
    return { name, type, rdata: message.subarray(start, stop) };
  };

  const sections: WireRecord[][] = [[], [], []];
  for (let section = 0; section < 3; section++) {
    for (let i = 0; i < counts[section + 1]!; i++) sections[section]!.push(readRecord());
  }
  if (pos !== message.length) throw new Error(`${message.length - pos} bytes after the last record`);
  return {
    id: message.readUInt16BE(0),
    rcode: message[3]! & 0x0f,
    question,
    answer: sections[0]!,
    authority: sections[1]!,
    additional: sections[2]!,
  };
}
