/** A small Dockerfile reader for the deploy tests: instructions grouped into build stages. */

export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, COPY, HEALTHCHECK, ... */
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  args: string;
}

export interface Stage {
  /** The image it starts from, as written (ARGs not expanded). */
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

/** Splits a Dockerfile into stages; comments and blank lines dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Dockerfile {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && current === '')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push((current + line).trim());
    current = '';
  }
  if (current.trim()) logical.push(current.trim());

  const result: Dockerfile = { globalArgs: {}, stages: [] };
  for (const line of logical.filter(Boolean)) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/s.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args };
    if (instruction.keyword === 'FROM') {
      const [from = '', as, name] = args.split(/\s+/);
      result.stages.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (result.stages.length === 0) {
      if (instruction.keyword === 'ARG') {
        const [name = '', value = ''] = args.split('=');
        result.globalArgs[name] = value;
      }
    } else {
      result.stages.at(-1)?.instructions.push(instruction);
    }
  }
  return result;
}

/** The instructions of a stage with this keyword. */
export function instructions(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** HEALTHCHECK's options and its exec-form command. */
export function healthcheck(stage: Stage): { options: Record<string, string>; command: string[] } {
  const [check] = instructions(stage, 'HEALTHCHECK');
  if (!check) throw new Error('no HEALTHCHECK');
  const at = check.args.indexOf('CMD ');
  if (at === -1) throw new Error(`HEALTHCHECK without CMD: ${check.args}`);
  const options = Object.fromEntries(
    check.args
      .slice(0, at)
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((opt) => opt.replace(/^--/, '').split('=') as [string, string]),
  );
  return { options, command: JSON.parse(check.args.slice(at + 4)) as string[] };
}

/** ENV of a stage (both `ENV a=b c=d` and `ENV a b`). */
export function env(stage: Stage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { args } of instructions(stage, 'ENV')) {
    if (!args.includes('=')) {
      const [name = '', ...value] = args.split(/\s+/);
      out[name] = value.join(' ');
      continue;
    }
    for (const pair of args.split(/\s+/).filter(Boolean)) {
      const [name = '', value = ''] = pair.split('=');
      out[name] = value.replace(/^"(.*)"$/, '$1');
    }
  }
  return out;
}

/** COPY instructions as {from (stage or undefined for the context), sources, dest}. */
export function copies(stage: Stage): { from: string | undefined; sources: string[]; dest: string }[] {
  return instructions(stage, 'COPY').map(({ args }) => {
    const words = args.split(/\s+/);
    const flags = words.filter((w) => w.startsWith('--'));
    const paths = words.filter((w) => !w.startsWith('--'));
    const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
    return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
  });
}
