import { createHmac, randomBytes } from 'node:crypto';
import { wessError } from '../errors.js';

/*
 * Job callbacks. Wess POSTs the ended job to its callback_url, signed the way Stripe signs webhooks:
 * `Wess-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the tenant's
 * secret, so a receiver can check both who sent it and when (refuse old timestamps to stop replays).
 */

/** The signature header's value for `body` sent at `unixSeconds`. */
export function signature(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** A new webhook secret: 32 random bytes, prefixed so that it is recognisable in a config or a log scan. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/**
 * Refuses a callback URL that is not http(s) or names a host jobs.callback_allow does not list:
 * Wess must not become a way to make requests into the network it runs in (SSRF).
 */
export function checkCallback(url: string, allowed: readonly string[]): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw wessError('CALLBACK_NOT_ALLOWED', 'callback_url is not a URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw wessError('CALLBACK_NOT_ALLOWED', 'callback_url must be an http or https URL');
  if (parsed.username !== '' || parsed.password !== '') throw wessError('CALLBACK_NOT_ALLOWED', 'callback_url must not carry credentials');
  const host = parsed.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (!allowed.some((h) => h.toLowerCase() === host)) {
    const hint = allowed.length === 0 ? 'jobs.callback_allow (WESS_JOBS_CALLBACK_ALLOW) is empty, so no callback is allowed' : `allowed hosts: ${allowed.join(', ')}`;
    throw wessError('CALLBACK_NOT_ALLOWED', `callback host ${host} is not in jobs.callback_allow; ${hint}`, { host });
  }
}

/** What one delivery came to: delivered (a 2xx), or why not. */
export type Delivery = { delivered: true } | { delivered: false; error: string };

/** POSTs `body` to `url`, signed, with the job's trace headers; redirects are not followed (a redirect could lead anywhere). */
export async function deliver(url: string, body: string, secret: string, timeoutMs: number, trace: Record<string, string> = {}): Promise<Delivery> {
  // The trace headers (traceparent, tracestate) first: the signature and content type are Wess's own.
  const headers = { ...trace, 'content-type': 'application/json', 'user-agent': 'wess-webhook', 'wess-signature': signature(secret, Math.floor(Date.now() / 1000), body) };
  try {
    const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status >= 200 && res.status < 300 ? { delivered: true } : { delivered: false, error: `the receiver answered ${res.status}` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { delivered: false, error: `${(err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err as Error).message}${cause ? ` (${cause})` : ''}` };
  }
}
