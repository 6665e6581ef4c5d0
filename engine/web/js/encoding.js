// TextEncoder and TextDecoder (WHATWG Encoding, UTF-8 only). The byte work is native
// (engine/internal/web_natives.cc); this file does the WebIDL surface, the BOM and streaming.
(function (natives, load) {
  'use strict';
  const { utf8Length, utf8EncodeInto, utf8Decode } = natives;
  const labels = new Set([
    'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'utf-8', 'utf8', 'x-unicode20utf8',
  ]);
  const toStringTag = Object.prototype.toString;

  function toBytes(input) {
    if (input === undefined) return new Uint8Array(0);
    if (ArrayBuffer.isView(input)) {
      return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    }
    const tag = toStringTag.call(input);
    if (tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]') {
      return new Uint8Array(input);
    }
    throw new TypeError(
      "Failed to execute 'decode' on 'TextDecoder': The provided value is not of type " +
      "'(ArrayBuffer or ArrayBufferView)'");
  }

  // How many bytes at the end of `bytes` start a UTF-8 sequence that more bytes could complete.
  function incompleteTail(bytes) {
    const n = bytes.length;
    let i = n - 1, continuation = 0;
    while (i >= 0 && continuation < 3 && (bytes[i] & 0xC0) === 0x80) { i--; continuation++; }
    if (i < 0) return 0;
    const lead = bytes[i];
    const needed = lead >= 0xF0 && lead <= 0xF4 ? 3 : lead >= 0xE0 && lead <= 0xEF ? 2
      : lead >= 0xC2 && lead <= 0xDF ? 1 : 0;
    if (needed <= continuation) return 0;
    if (continuation >= 1) {
      const second = bytes[i + 1];
      const lower = lead === 0xE0 ? 0xA0 : lead === 0xF0 ? 0x90 : 0x80;
      const upper = lead === 0xED ? 0x9F : lead === 0xF4 ? 0x8F : 0xBF;
      if (second < lower || second > upper) return 0;
    }
    return continuation + 1;
  }

  class TextEncoder {
    #brand = true;
    get encoding() {
      if (!(this !== null && typeof this === 'object' && #brand in this)) throw new TypeError('Illegal invocation');
      return 'utf-8';
    }
    encode(input = '') {
      if (!(this !== null && typeof this === 'object' && #brand in this)) throw new TypeError('Illegal invocation');
      const text = `${input}`;
      const out = new Uint8Array(utf8Length(text));
      if (out.length > 0) utf8EncodeInto(text, out);
      return out;
    }
    encodeInto(source, destination) {
      if (!(this !== null && typeof this === 'object' && #brand in this)) throw new TypeError('Illegal invocation');
      const text = `${source}`;
      if (!(destination instanceof Uint8Array)) {
        throw new TypeError(
          "Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.");
      }
      const [read, written] = utf8EncodeInto(text, destination);
      return { read, written };
    }
    get [Symbol.toStringTag]() { return 'TextEncoder'; }
  }

  class TextDecoder {
    #fatal;
    #ignoreBOM;
    #pending = null;
    #bomSeen = false;
    constructor(label = 'utf-8', options = undefined) {
      const name = `${label}`.replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, '').toLowerCase();
      if (!labels.has(name)) {
        throw new RangeError(`The encoding label provided ('${label}') is not supported: only UTF-8 is.`);
      }
      if (options !== undefined && options !== null && typeof options !== 'object' &&
          typeof options !== 'function') {
        throw new TypeError("Failed to construct 'TextDecoder': The provided value is not of type 'TextDecoderOptions'.");
      }
      this.#fatal = Boolean(options && options.fatal);
      this.#ignoreBOM = Boolean(options && options.ignoreBOM);
    }
    get encoding() { this.#fatal; return 'utf-8'; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input = undefined, options = undefined) {
      this.#fatal;  // brand check
      const stream = Boolean(options && options.stream);
      let bytes = toBytes(input);
      if (this.#pending !== null) {
        const joined = new Uint8Array(this.#pending.length + bytes.length);
        joined.set(this.#pending, 0);
        joined.set(bytes, this.#pending.length);
        bytes = joined;
        this.#pending = null;
      }
      if (stream) {
        const tail = incompleteTail(bytes);
        if (tail > 0) {
          this.#pending = bytes.slice(bytes.length - tail);
          bytes = bytes.subarray(0, bytes.length - tail);
        }
      }
      if (!this.#ignoreBOM && !this.#bomSeen && bytes.length > 0) {
        if (bytes.length >= 3 && bytes[0] === 0xEF && bytes[1] === 0xBB && bytes[2] === 0xBF) {
          bytes = bytes.subarray(3);
        }
        this.#bomSeen = true;
      }
      const text = utf8Decode(bytes, this.#fatal);
      if (!stream) {
        this.#bomSeen = false;
        this.#pending = null;
      }
      if (text === undefined) {
        this.#bomSeen = false;
        this.#pending = null;
        throw new TypeError('The encoded data was not valid for encoding utf-8');
      }
      return text;
    }
    get [Symbol.toStringTag]() { return 'TextDecoder'; }
  }

  return { TextEncoder, TextDecoder };
})
