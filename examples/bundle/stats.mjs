// An ES module bundle for the example clients: every export is an entry point that Execute can
// call by name with JSON arguments.
const round = (x) => Math.round(x * 1000) / 1000;

export function summarize(numbers) {
  if (!Array.isArray(numbers) || numbers.length === 0) {
    throw new TypeError("summarize wants a non-empty array of numbers");
  }
  console.log(`summarizing ${numbers.length} numbers`);
  const sorted = [...numbers].sort((a, b) => a - b);
  const sum = numbers.reduce((a, b) => a + b, 0);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { count: numbers.length, min: sorted[0], max: sorted[sorted.length - 1], sum,
           mean: round(sum / numbers.length), median };
}

export default {
  async hello(name) {
    await Promise.resolve();
    return `hello, ${name}`;
  },
};
