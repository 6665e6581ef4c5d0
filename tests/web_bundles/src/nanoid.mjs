import { nanoid, customAlphabet } from 'nanoid';

export function run() {
  const a = nanoid();
  return { length: a.length, distinct: a !== nanoid(), custom: /^[abc]{8}$/.test(customAlphabet('abc', 8)()) };
}
