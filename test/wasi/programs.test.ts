import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { processFor, runProgram, wasiModule } from './helpers.js';

// Real C programs (test/fixtures/wasi/*.c, built with wasi-libc) run through WasiProcess directly.

describe('WASI programs: argv, env and stdout', () => {
  it('hello prints its greeting, argv (argv[0] first) and exactly the env it was given', () => {
    const r = runProgram('hello', { args: ['--flag', 'two words', 'ünïcödé'], env: [['GREETING', 'hi'], ['EMPTY', '']] });
    assert.equal(r.exitCode, 0);
    assert.equal(r.out, [
      'hello, world',
      'argv[0]=hello', 'argv[1]=--flag', 'argv[2]=two words', 'argv[3]=ünïcödé',
      'env GREETING=hi', 'env EMPTY=',
      '',
    ].join('\n'));
    assert.equal(r.err, '');
    assert.equal(r.stdoutTruncated, false);
    assert.equal(r.stderrTruncated, false);
  });

  it('sees nothing of the host environment', () => {
    const name = `WESS_WASI_LEAK_${randomUUID().replaceAll('-', '_')}`;
    process.env[name] = 'host-secret';
    try {
      const r = runProgram('hello');
      assert.ok(!r.out.includes(name) && !r.out.includes('host-secret'), r.out);
      assert.ok(!r.out.includes('PATH='), 'host PATH leaked');
      assert.equal(r.out, 'hello, world\nargv[0]=hello\n');
    } finally {
      delete process.env[name];
    }
  });

  it('refuses argv or env that a C program could not receive intact', () => {
    const problems: [string[], [string, string][]][] = [[['a\0b'], []], [[], [['A=B', 'v']]], [[], [['', 'v']]], [[], [['K', 'v\0']]]];
    for (const [args, env] of problems) {
      assert.throws(() => processFor('hello', { args, env }), (e: unknown) => (e as { code?: unknown }).code === 'VALIDATION');
    }
  });
});

describe('WASI programs: stdin', () => {
  it('echo copies stdin to stdout upper-cased', () => {
    const r = runProgram('echo', { stdin: 'hello stdin\nline two, no newline' });
    assert.equal(r.out, 'HELLO STDIN\nLINE TWO, NO NEWLINE');
    assert.equal(r.exitCode, 0);
  });

  it('echo reads a stdin larger than its 4 KiB buffer, and an empty one', () => {
    const input = 'abc\n'.repeat(10_000);
    assert.equal(runProgram('echo', { stdin: input }).out, input.toUpperCase());
    assert.equal(runProgram('echo').out, '');
  });

  it('passes bytes that are not UTF-8 through stdin unchanged', () => {
    const bytes = Uint8Array.from([0xff, 0x00, 0xc3, 0x28, 0x61]);
    assert.deepEqual(runProgram('echo', { stdin: bytes }).stdout, Uint8Array.from([0xff, 0x00, 0xc3, 0x28, 0x41]));
  });
});

describe('WASI programs: exit codes', () => {
  it('exit() ends the run normally with its code, after writing stderr and stdout', () => {
    for (const code of [0, 1, 42, 255]) {
      const r = runProgram('exit', { args: [String(code)] });
      assert.equal(r.exitCode, code);
      assert.equal(r.err, `exiting with ${code}\n`);
      assert.equal(r.out, 'this line is on stdout\n'); // flushed by exit() before proc_exit
    }
  });

  it('proc_exit takes the code as the u32 preview 1 defines', () => {
    assert.equal(runProgram('exit', { args: ['-1'] }).exitCode, 0xffff_ffff);
  });

  it('returns the value of the body and exit code 0 when _start returns', () => {
    const proc = processFor('binary-out');
    const instance = new WebAssembly.Instance(wasiModule('binary-out'), proc.imports());
    proc.bind(instance.exports.memory as WebAssembly.Memory);
    const { value, output } = proc.run(() => {
      (instance.exports._start as () => void)();
      return 'returned';
    });
    assert.equal(value, 'returned');
    assert.equal(output.exitCode, 0);
  });
});

describe('WASI programs: output', () => {
  it('keeps output that is not valid UTF-8 byte for byte', () => {
    const r = runProgram('binary-out');
    assert.deepEqual(r.stdout, Uint8Array.from({ length: 256 }, (_, i) => i));
    assert.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(r.stdout));
  });

  it('caps stdout at maxOutputBytes and flags it; stderr is capped on its own', () => {
    const cap = 1024 * 1024;
    const r = runProgram('noisy', { maxOutputBytes: cap });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.length, cap);
    assert.equal(r.stdoutTruncated, true);
    assert.ok(r.out.startsWith('line 000000\nline 000001\n'));
    assert.equal(r.out.slice(12 * 87380), 'line 087380\nline'); // the first 1 MiB, cut mid-line
    assert.equal(r.err, 'noisy done\n');
    assert.equal(r.stderrTruncated, false);
  });

  it('keeps all 1,200,000 bytes under a larger cap, and nothing under a cap of 0', () => {
    const full = runProgram('noisy', { maxOutputBytes: 2 * 1024 * 1024 });
    assert.equal(full.stdout.length, 1_200_000);
    assert.equal(full.stdoutTruncated, false);
    assert.ok(full.out.endsWith('line 099999\n'));
    const none = runProgram('noisy', { maxOutputBytes: 0 });
    assert.deepEqual([none.stdout.length, none.stdoutTruncated, none.stderr.length, none.stderrTruncated], [0, true, 0, true]);
  });

  it('is truncated exactly at the cap on both streams', () => {
    const r = runProgram('exit', { args: ['3'], maxOutputBytes: 8 });
    assert.deepEqual([r.out, r.err, r.stdoutTruncated, r.stderrTruncated], ['this lin', 'exiting ', true, true]);
  });
});

describe('WASI programs: clocks, randomness, filesystem', () => {
  it('clock-random sees the real time, a monotonic clock, a sleep and fresh randomness', () => {
    const parse = (out: string): Record<string, string> => Object.fromEntries(out.trim().split('\n').map((l) => l.split('=') as [string, string]));
    const a = parse(runProgram('clock-random').out);
    const b = parse(runProgram('clock-random').out);
    assert.ok(Math.abs(Number(a.realtime) - Date.now() / 1000) < 60, `realtime ${a.realtime}`);
    assert.equal(a.monotonic_ok, '1');
    assert.equal(a.slept, '1');
    assert.match(a.entropy ?? '', /^[0-9a-f]{32}$/);
    assert.match(a.arc4random ?? '', /^[0-9a-f]{8}$/);
    assert.notEqual(a.entropy, b.entropy);
  });

  it('fs-denied cannot open any file, by libc or by raw syscall', () => {
    const r = runProgram('fs-denied');
    assert.equal(r.exitCode, 0);
    // wasi-libc finds no preopened directory for the path and fails with ENOTCAPABLE (76) before any syscall.
    assert.match(r.out, /^fopen \/etc\/passwd: failed errno=76 \(Capabilities insufficient\)$/m);
    assert.match(r.out, /^fopen data\.txt: failed errno=76 /m);
    assert.match(r.out, /^fd_prestat_get\(3\)=8$/m); // EBADF: no preopens
    assert.match(r.out, /^path_open\(3\)=8$/m); // EBADF: no such directory fd
    assert.match(r.out, /^path_open\(0\)=54$/m); // ENOTDIR: stdin is a character device
    assert.ok(!r.out.includes('OPENED') && !r.out.includes('root:'));
  });
});
