/**
 * When try `attempt` (1-based) of something that failed goes again: `base` doubled per try, up to
 * `max`, times a random factor in [0.5, 1.5) so that many failures at once do not retry in step.
 */
export function backoff(attempt: number, base: number, max: number, now = Date.now()): string {
  const delay = Math.min(max, base * 2 ** Math.max(0, attempt - 1)) * (0.5 + Math.random());
  return new Date(now + Math.round(delay)).toISOString();
}
