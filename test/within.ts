/**
 * Settles as `promise` does, or rejects after `ms` naming `what`: a call that should be cut short (a
 * deadline, a timeout) and is not fails the test with a message instead of hanging it. Give `ms` in
 * seconds' worth, far from both the expected time and the broken one: a busy machine is late.
 */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
