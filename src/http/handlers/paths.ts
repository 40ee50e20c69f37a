/** Where HTTP handlers answer: /h/{tenant}{route path}…, one Fastify route for all of them. */
export const HANDLER_PREFIX = '/h/';
export const HANDLER_PATTERN = '/h/*';

/** A handler request's URL split into its tenant, its path under the tenant and its raw query. */
export interface HandlerUrl {
  tenant: string;
  path: string;
  query: string;
}

/** Splits `/h/acme/echo/a?x=1` into acme, /echo/a and x=1; the path stays as sent (not decoded). */
export function splitHandlerUrl(url: string): HandlerUrl {
  const q = url.indexOf('?');
  const rest = (q === -1 ? url : url.slice(0, q)).slice(HANDLER_PREFIX.length);
  const slash = rest.indexOf('/');
  return {
    tenant: slash === -1 ? rest : rest.slice(0, slash),
    path: slash === -1 ? '/' : rest.slice(slash),
    query: q === -1 ? '' : url.slice(q + 1),
  };
}
