// Stands in for the npm package tr46 inside the URL bundle: UTS #46 ToASCII comes from the
// system ICU that V8 already uses (natives.domainToAscii), instead of tr46's 200 KB of tables.
// whatwg-url calls it with checkBidi and checkJoiners on and the STD3 rules and DNS length off.
/* global natives */
export function toASCII(domain) {
  return natives.domainToAscii(domain);
}
