import debounce from 'lodash/debounce.js';
import throttle from 'lodash/throttle.js';

export async function run() {
  const calls = [];
  const debounced = debounce((x) => calls.push(`debounce ${x}`), 30);
  const throttled = throttle((x) => calls.push(`throttle ${x}`), 60);
  debounced(1);
  debounced(2);
  debounced(3);
  throttled('a');
  throttled('b');
  throttled('c');
  await new Promise((resolve) => setTimeout(resolve, 150));
  return calls;
}
