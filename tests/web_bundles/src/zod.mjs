import { z } from 'zod';

const url = z.string().url();

export function run(inputs) {
  return inputs.map((input) => url.safeParse(input).success);
}
