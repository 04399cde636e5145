/** Width and height of an image when a `data:` URL carries it (PNG, GIF, JPEG, WebP); else undefined. */
export function imageSizeFromDataUrl(url: string): { width: number; height: number } | undefined {
  if (!url.startsWith('data:')) return undefined;
  const comma = url.indexOf(',');
  if (comma < 0 || !url.slice(0, comma).includes(';base64')) return undefined;
  // The header of every format we read sits in the first bytes; JPEG may need a longer scan.
  const bytes = decodeBase64Prefix(url, comma + 1, 65_536);
  return png(bytes) ?? gif(bytes) ?? webp(bytes) ?? jpeg(bytes);
}

function decodeBase64Prefix(url: string, start: number, maxBytes: number): Uint8Array {
  const chars = Math.min(url.length - start, Math.ceil(maxBytes / 3) * 4);
  return new Uint8Array(Buffer.from(url.slice(start, start + (chars - (chars % 4))), 'base64'));
}

const u16be = (b: Uint8Array, i: number) => ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
const u16le = (b: Uint8Array, i: number) => (b[i] ?? 0) | ((b[i + 1] ?? 0) << 8);
const u24le = (b: Uint8Array, i: number) => u16le(b, i) | ((b[i + 2] ?? 0) << 16);
const u32be = (b: Uint8Array, i: number) => u16be(b, i) * 65_536 + u16be(b, i + 2);
const ascii = (b: Uint8Array, i: number, n: number) => String.fromCharCode(...b.subarray(i, i + n));

function sized(width: number, height: number) {
  return width > 0 && height > 0 ? { width, height } : undefined;
}

function png(b: Uint8Array) {
  if (b.length < 24 || b[0] !== 0x89 || ascii(b, 1, 3) !== 'PNG') return undefined;
  return sized(u32be(b, 16), u32be(b, 20));
}

function gif(b: Uint8Array) {
  if (b.length < 10 || ascii(b, 0, 3) !== 'GIF') return undefined;
  return sized(u16le(b, 6), u16le(b, 8));
}

function webp(b: Uint8Array) {
  if (b.length < 30 || ascii(b, 0, 4) !== 'RIFF' || ascii(b, 8, 4) !== 'WEBP') return undefined;
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8X') return sized(u24le(b, 24) + 1, u24le(b, 27) + 1);
  if (chunk === 'VP8 ') return sized(u16le(b, 26) & 0x3fff, u16le(b, 28) & 0x3fff);
  if (chunk === 'VP8L') {
    const bits = (b[21] ?? 0) | ((b[22] ?? 0) << 8) | ((b[23] ?? 0) << 16) | ((b[24] ?? 0) << 24);
    return sized((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
  }
  return undefined;
}

function jpeg(b: Uint8Array) {
  if (b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1] ?? 0;
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return sized(u16be(b, i + 7), u16be(b, i + 5));
    }
    i += 2 + u16be(b, i + 2);
  }
  return undefined;
}
