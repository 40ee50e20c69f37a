import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const TICK_MAPS = new URL('../src/tick-maps.js', import.meta.url).href;

/**
 * In a fresh node (--expose-gc for gc(), --allow-natives-syntax for %DebugPrint): warms nextTick, pins
 * its maps or not, runs two full GCs while no tick object is alive, makes more ticks, and returns the
 * states V8 holds for the four property definitions of nextTick's object literal (its feedback slots).
 */
function literalStatesAfterGc(pin: boolean): string[] {
  const script = `
    import { pinTickObjectMaps } from ${JSON.stringify(TICK_MAPS)};
    const noop = () => {};
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 2000; i++) process.nextTick(noop);
    await turn();
    ${pin ? 'await pinTickObjectMaps();' : ''}
    await turn();
    gc();
    gc();
    for (let i = 0; i < 10; i++) process.nextTick(noop);
    await turn();
    %DebugPrint(process.nextTick);
  `;
  const child = spawnSync(process.execPath, ['--expose-gc', '--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  return [...child.stdout.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1] as string);
}

test('without the pin, a full GC with no tick object alive sends nextTick\'s literal megamorphic (what the pin is for)', () => {
  const states = literalStatesAfterGc(false);
  assert.equal(states.length, 4, `nextTick's literal defines 4 properties; V8 printed ${states.length} (has node's nextTick changed?)`);
  assert.ok(states.includes('MEGAMORPHIC'), `V8 no longer drops the tick objects' maps (${states.join(', ')}): pinTickObjectMaps may no longer be needed`);
});

test('with the pin, nextTick\'s literal stays monomorphic through full GCs', () => {
  assert.deepEqual(literalStatesAfterGc(true), ['MONOMORPHIC', 'MONOMORPHIC', 'MONOMORPHIC', 'MONOMORPHIC']);
});
