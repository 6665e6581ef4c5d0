import CryptoJS from 'crypto-js';

export function run(text) {
  const sealed = CryptoJS.AES.encrypt(text, 'passphrase').toString();
  const opened = CryptoJS.AES.decrypt(sealed, 'passphrase').toString(CryptoJS.enc.Utf8);
  // A random salt per encryption: the same text seals differently twice.
  return { opened, salted: sealed !== CryptoJS.AES.encrypt(text, 'passphrase').toString() };
}
