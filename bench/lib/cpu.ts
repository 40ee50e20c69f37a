import { readFileSync } from 'node:fs';

/** µs per clock tick of /proc's utime and stime (USER_HZ is 100 on Linux). */
export const TICK_US = 10_000;

/** Clock ticks (utime + stime) of a thread or a process, from its /proc stat file. */
function ticks(path: string): number {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU ticks of a process's main thread so far. */
export const mainThreadTicks = (pid: number): number => ticks(`/proc/${pid}/task/${pid}/stat`);

/** CPU ticks of a whole process (every thread) so far. */
export const processTicks = (pid: number): number => ticks(`/proc/${pid}/stat`);
