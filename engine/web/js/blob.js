// Blob: immutable bytes with a MIME type; text(), arrayBuffer(), bytes(), slice(). No stream()
// (there is no ReadableStream).
(function (natives, load) {
  'use strict';
  const kBytes = Symbol('bytes');
  const toStringTag = Object.prototype.toString;
  function partBytes(part, endings) {
    if (part instanceof Blob) return part[kBytes];
    if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
    const tag = toStringTag.call(part);
    if (tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]') return new Uint8Array(part);
    let text = `${part}`;
    if (endings === 'native') text = text.replace(/\r\n|\r/g, '\n');
    return new (load('encoding').TextEncoder)().encode(text);
  }
  function normalizeType(type) {
    const text = `${type}`;
    return /^[\x20-\x7E]*$/.test(text) ? text.toLowerCase() : '';
  }
  class Blob {
    #type;
    constructor(parts = [], options = undefined) {
      if (parts === null || typeof parts !== 'object' || typeof parts[Symbol.iterator] !== 'function') {
        throw new TypeError("Failed to construct 'Blob': The provided value cannot be converted to a sequence.");
      }
      const endings = options && options.endings === 'native' ? 'native' : 'transparent';
      const chunks = Array.from(parts, (part) => partBytes(part, endings));
      const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const chunk of chunks) { bytes.set(chunk, at); at += chunk.length; }
      Object.defineProperty(this, kBytes, { value: bytes });
      this.#type = options && options.type !== undefined ? normalizeType(options.type) : '';
    }
    get size() { return this[kBytes].length; }
    get type() { return this.#type; }
    slice(start = 0, end = undefined, contentType = '') {
      const size = this.size;
      const clamp = (n) => { n = Math.trunc(Number(n)) || 0; return n < 0 ? Math.max(size + n, 0) : Math.min(n, size); };
      const from = clamp(start), to = end === undefined ? size : clamp(end);
      return new Blob([this[kBytes].subarray(from, Math.max(from, to))], { type: contentType });
    }
    text() { return Promise.resolve(new (load('encoding').TextDecoder)().decode(this[kBytes])); }
    arrayBuffer() { return Promise.resolve(this[kBytes].slice().buffer); }
    bytes() { return Promise.resolve(this[kBytes].slice()); }
    get [Symbol.toStringTag]() { return 'Blob'; }
  }
  return { Blob };
})
