// atob and btoa (HTML's forgiving-base64), throwing DOMException InvalidCharacterError.
(function (natives, load) {
  'use strict';
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const values = new Int16Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i;
  const fromCharCode = String.fromCharCode;

  function invalid(message) {
    return new (load('dom').DOMException)(message, 'InvalidCharacterError');
  }

  function chunksToString(codes, length) {
    let out = '';
    for (let i = 0; i < length; i += 8192) {
      out += fromCharCode.apply(null, codes.subarray(i, Math.min(length, i + 8192)));
    }
    return out;
  }

  function atob(data) {
    if (arguments.length === 0) {
      throw new TypeError("Failed to execute 'atob': 1 argument required, but only 0 present.");
    }
    let s = `${data}`.replace(/[\t\n\f\r ]+/g, '');
    if (s.length % 4 === 0) {
      if (s.endsWith('==')) s = s.slice(0, -2);
      else if (s.endsWith('=')) s = s.slice(0, -1);
    }
    if (s.length % 4 === 1) throw invalid('The string to be decoded is not correctly encoded.');
    const out = new Uint8Array((s.length * 3) >> 2);
    let buffer = 0, bits = 0, o = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      const v = c < 128 ? values[c] : -1;
      if (v < 0) throw invalid('The string to be decoded is not correctly encoded.');
      buffer = (buffer << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[o++] = (buffer >> bits) & 0xFF;
      }
    }
    return chunksToString(out, o);
  }

  function btoa(data) {
    if (arguments.length === 0) {
      throw new TypeError("Failed to execute 'btoa': 1 argument required, but only 0 present.");
    }
    const s = `${data}`;
    let out = '';
    const parts = [];
    for (let i = 0; i < s.length; i += 3) {
      const a = s.charCodeAt(i), b = s.charCodeAt(i + 1), c = s.charCodeAt(i + 2);
      if (a > 255 || b > 255 || c > 255) {
        throw invalid("Failed to execute 'btoa': The string to be encoded contains characters outside of the Latin1 range.");
      }
      const n = i + 2 < s.length ? 3 : s.length - i;
      const triple = (a << 16) | ((n > 1 ? b : 0) << 8) | (n > 2 ? c : 0);
      out += alphabet[(triple >> 18) & 63] + alphabet[(triple >> 12) & 63] +
        (n > 1 ? alphabet[(triple >> 6) & 63] : '=') + (n > 2 ? alphabet[triple & 63] : '=');
      if (out.length >= 16384) { parts.push(out); out = ''; }
    }
    parts.push(out);
    return parts.join('');
  }

  return { atob, btoa };
})
