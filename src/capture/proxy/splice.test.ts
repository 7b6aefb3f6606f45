/**
 * The streaming splicer against expectations built independently of it: each body is made with
 * JSON.stringify from an object, the expected client body is that object with the routed-experts
 * fields set to null (by path, in the test), compared after JSON.parse; the cut values must parse
 * back to the originals. Every body is fed whole, one byte at a time, and in seeded random splits,
 * so keys, values and escapes fall across every chunk boundary.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MARK, RoutedSplicer, SGLANG_PLACES, VLLM_PLACES } from './splice.ts';

let seed = 7;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};

/** Chunkings of `b`: whole, 1 byte at a time, and `n` random splits. */
function splits(b: Buffer, n = 30): Buffer[][] {
  const out: Buffer[][] = [[b], Array.from(b, (_, i) => b.subarray(i, i + 1))];
  for (let k = 0; k < n; k++) {
    const parts: Buffer[] = [];
    let i = 0;
    while (i < b.length) {
      const len = 1 + Math.floor(rand() * (rand() < 0.5 ? 8 : 200));
      parts.push(b.subarray(i, i + len));
      i += len;
    }
    out.push(parts);
  }
  return out;
}

function run(parts: Buffer[], places = VLLM_PLACES, keep = false) {
  const sp = new RoutedSplicer({ places, keep });
  const out: Buffer[] = [];
  for (const p of parts) out.push(...sp.push(Buffer.from(p))); // a fresh buffer per chunk, as Node's http streams emit
  out.push(...sp.end());
  return { sp, client: Buffer.concat(out) };
}

const b64 = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37) % 256)).toString('base64');

/** A vLLM chat response with the awkward bits: the key's text in strings, escapes, unicode, n = 2. */
function vllmBody() {
  return {
    id: 'chatcmpl-"routed_experts"',
    object: 'chat.completion',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'say \\"routed_experts\\": [1,2] and "routed_experts": "x" \u00e9\u4e2d\ud83d\ude00 \\' },
        logprobs: null,
        finish_reason: 'length',
        routed_experts: b64(3000),
        token_ids: [1, 2, 3],
      },
      { index: 1, message: { role: 'assistant', content: '{"routed_experts":[[[1]]]}' }, routed_experts: [[[1, 2], [3, 4]], [[5, 6], [7, 8]]] },
    ],
    prompt_routed_experts: { encoding: 'base64', dtype: 'int16', shape: [2, 2, 2], data: b64(16) },
    usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
    nested: { routed_experts: 'not a place the engine uses', deeper: [{ choices: [{ routed_experts: 1 }] }] },
  };
}

function expectStripped(obj: ReturnType<typeof vllmBody>) {
  const e = structuredClone(obj) as Record<string, any>;
  e.choices[0].routed_experts = null;
  e.choices[1].routed_experts = null;
  e.prompt_routed_experts = null;
  return e;
}

test('vLLM body, every chunking: the client gets the JSON with each routed-experts value null, the values are cut out whole', () => {
  const obj = vllmBody();
  for (const pretty of [false, true]) {
    const body = Buffer.from(pretty ? JSON.stringify(obj, null, 2) : JSON.stringify(obj));
    for (const parts of splits(body)) {
      const { sp, client } = run(parts);
      assert.deepEqual(JSON.parse(client.toString('utf8')), expectStripped(obj));
      assert.equal(sp.broken, false);
      assert.equal(sp.complete, true);
      const values = sp.values.map((v) => JSON.parse(Buffer.concat(v).toString('latin1')));
      assert.deepEqual(values, [obj.choices[0].routed_experts, obj.choices[1].routed_experts, obj.prompt_routed_experts]);
      const marked = JSON.parse(Buffer.concat(sp.marked).toString('utf8'));
      assert.equal(marked.choices[0].routed_experts, `${MARK}0`);
      assert.equal(marked.choices[1].routed_experts, `${MARK}1`);
      assert.equal(marked.prompt_routed_experts, `${MARK}2`);
      assert.equal(marked.choices[0].message.content, obj.choices[0].message.content);
      assert.equal(sp.unexpected, 'nested/routed_experts', 'the key elsewhere is seen, left alone');
    }
  }
});

test('the key only as text inside strings: nothing cut, body byte for byte', () => {
  const obj = { choices: [{ message: { content: '"routed_experts": "AAAA"', tool: '{\\"routed_experts\\":1}' } }], note: 'choices/*/routed_experts' };
  const body = Buffer.from(JSON.stringify(obj));
  for (const parts of splits(body)) {
    const { sp, client } = run(parts);
    assert.ok(client.equals(body));
    assert.equal(sp.values.length, 0);
    assert.equal(sp.unexpected, undefined);
  }
});

test('missing field and null field: body unchanged; nulls counted', () => {
  const a = Buffer.from(JSON.stringify({ choices: [{ index: 0, message: { content: 'hi' } }] }));
  const b = Buffer.from(JSON.stringify({ choices: [{ index: 0, routed_experts: null }, { index: 1, routed_experts: null }] }));
  for (const parts of splits(a)) assert.ok(run(parts).client.equals(a));
  for (const parts of splits(b)) {
    const { sp, client } = run(parts);
    assert.ok(client.equals(b));
    assert.equal(sp.nulls, 2);
    assert.equal(sp.values.length, 0);
  }
});

test('SGLang meta_info.routed_experts, one request and a batch; a client that asked keeps them', () => {
  const one = { text: 'a "meta_info" b', output_ids: [1, 2], meta_info: { id: 'x', prompt_tokens: 3, routed_experts: b64(999), completion_tokens: 2 } };
  const batch = [one, { ...one, meta_info: { ...one.meta_info, routed_experts: b64(12) } }];
  for (const obj of [one, batch] as unknown[]) {
    const body = Buffer.from(JSON.stringify(obj));
    const expected = structuredClone(obj) as any;
    for (const it of Array.isArray(expected) ? expected : [expected]) it.meta_info.routed_experts = null;
    for (const parts of splits(body, 10)) {
      const { sp, client } = run(parts, SGLANG_PLACES);
      assert.deepEqual(JSON.parse(client.toString('utf8')), expected);
      const originals = (Array.isArray(obj) ? obj : [obj]).map((it: any) => it.meta_info.routed_experts);
      assert.deepEqual(sp.values.map((v) => JSON.parse(Buffer.concat(v).toString('latin1'))), originals);
      const kept = run(parts, SGLANG_PLACES, true);
      assert.ok(kept.client.equals(body), 'keep: unchanged');
      assert.equal(kept.sp.values.length, originals.length, 'keep: still cut aside');
    }
    // vLLM places do not match SGLang's field.
    assert.ok(run([body]).client.equals(body));
  }
});

test('malformed bodies go to the client byte for byte (a value cut short included) and are marked broken', () => {
  const good = JSON.stringify({ choices: [{ index: 0, routed_experts: b64(300) }], usage: {} });
  const cut = good.indexOf('"routed_experts"') + 40;
  const bodies = [
    '{"choices": [ not json',
    good.slice(0, cut), // truncated inside the value
    '{"choices": [{"routed_experts": [[1, 2], [3', // truncated inside a list value
    '{"choices": [{"routed_experts": @}]}',
    '{"a": 1 "b": 2}',
    '{"a": tru, "choices": [{"routed_experts": "AAAA"}]}',
    '{"a": [01], "choices": [{"routed_experts": "AAAA"}]}',
    '{"a": -}',
    '12x',
    '<html>502 Bad Gateway</html>',
    '',
  ];
  for (const s of bodies) {
    const body = Buffer.from(s, 'utf8');
    for (const parts of splits(body, 10)) {
      const { sp, client } = run(parts);
      assert.ok(client.equals(body), `${JSON.stringify(s.slice(0, 40))}: passed through`);
      if (s !== '') assert.equal(sp.broken, true, s.slice(0, 40));
      assert.equal(sp.values.length, 0, 'nothing to record');
    }
  }
});

test('over the memory cap: values still cut for the client, nothing kept, marked over', () => {
  const obj = { choices: [{ index: 0, routed_experts: b64(5000) }] };
  const body = Buffer.from(JSON.stringify(obj));
  let held = 0;
  const sp = new RoutedSplicer({ places: VLLM_PLACES, reserve: (n) => (held + n > 1000 ? false : ((held += n), true)) });
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += 512) out.push(...sp.push(body.subarray(i, i + 512)));
  out.push(...sp.end());
  assert.deepEqual(JSON.parse(Buffer.concat(out).toString()), { choices: [{ index: 0, routed_experts: null }] });
  assert.equal(sp.over, true);
  assert.equal(sp.values.length, 0);
  assert.ok(held <= 1000);
});
