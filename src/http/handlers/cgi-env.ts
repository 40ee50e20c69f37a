import type { IncomingHttpHeaders } from 'node:http';
import type { RouteMatch } from './route-table.js';
import type { HandlerUrl } from './paths.js';

/** What the CGI environment is made of, besides the route match and the URL. */
export interface CgiRequest {
  method: string;
  headers: IncomingHttpHeaders;
  bodyLength: number;
  serverName: string;
  serverPort: number;
  remoteAddr: string;
  requestId: string;
}

/** Request headers never shown to a guest: Wess's own key, and what CONTENT_TYPE and CONTENT_LENGTH already say. */
const HIDDEN = new Set(['x-api-key', 'content-type', 'content-length']);

/** `%2F` and friends decoded, as CGI's PATH_INFO is; a malformed escape leaves the path as sent. */
function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/**
 * The environment of a WAGI handler (WAGI's, after RFC 3875 §4.1): the request line and headers as
 * CGI variables, each request header as HTTP_<NAME> (Authorization only when the route passes it on).
 */
export function cgiEnvironment(match: RouteMatch, url: HandlerUrl, request: CgiRequest): Array<[string, string]> {
  const { route, pathInfo } = match;
  const base = `/h/${route.tenant}`;
  const env: Array<[string, string]> = [
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', 'wess'],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['REQUEST_METHOD', request.method],
    ['SCRIPT_NAME', route.path],
    ['X_MATCHED_ROUTE', route.path],
    ['PATH_INFO', decodePath(pathInfo)],
    ['X_RAW_PATH_INFO', pathInfo],
    ['PATH_TRANSLATED', decodePath(pathInfo)],
    ['QUERY_STRING', url.query],
    ['CONTENT_TYPE', headerText(request.headers['content-type'])],
    ['CONTENT_LENGTH', String(request.bodyLength)],
    ['SERVER_NAME', request.serverName],
    ['SERVER_PORT', String(request.serverPort)],
    ['REMOTE_ADDR', request.remoteAddr],
    ['X_FULL_URL', `${base}${url.path}${url.query === '' ? '' : `?${url.query}`}`],
    ['X_WESS_TENANT', route.tenant],
    ['X_WESS_REQUEST_ID', request.requestId],
  ];
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || HIDDEN.has(name)) continue;
    if (name === 'authorization' && !route.pass_authorization) continue;
    env.push([`HTTP_${name.toUpperCase().replace(/-/g, '_')}`, headerText(value)]);
  }
  return env;
}

function headerText(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}
