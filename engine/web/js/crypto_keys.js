// crypto.subtle key operations (loaded by the crypto module on first use).
(function (natives, load) {
  'use strict';
  return function keys(shared) {
    const DOMException = load('dom').DOMException;
    function notSupported(what) {
      return new DOMException(`${what} is not supported in isopool yet`, 'NotSupportedError');
    }
    return {
      importKey() { throw notSupported('crypto.subtle.importKey'); },
      exportKey() { throw notSupported('crypto.subtle.exportKey'); },
      generateKey() { throw notSupported('crypto.subtle.generateKey'); },
      sign() { throw notSupported('crypto.subtle.sign'); },
      verify() { throw notSupported('crypto.subtle.verify'); },
    };
  };
})
