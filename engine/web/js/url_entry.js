// The esbuild entry of the URL module: whatwg-url's URL and URLSearchParams.
export { URL, URLSearchParams } from 'whatwg-url';
