import { v4, validate, version } from 'uuid';

export function run() {
  const id = v4();
  return { valid: validate(id), version: version(id), distinct: v4() !== id };
}
