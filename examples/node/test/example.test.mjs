// Runs against a real embedded Redis and a running `redvec serve` (tests/api starts
// both and passes REDIS_URL and REDVEC_API_URL).
import { test } from "node:test";
import assert from "node:assert/strict";
import { api, load, search, toBlob } from "../example.mjs";

const redisUrl = process.env.REDIS_URL;
const apiUrl = process.env.REDVEC_API_URL;

test("toBlob writes little-endian float32", () => {
  const blob = toBlob([1, -2.5]);
  assert.equal(blob.length, 8);
  assert.equal(blob.readFloatLE(0), 1);
  assert.equal(blob.readFloatLE(4), -2.5);
});

test("vectors written by node-redis are found through the HTTP API", { skip: !redisUrl || !apiUrl }, async () => {
  const call = api(apiUrl, process.env.REDVEC_API_KEY);
  await load(redisUrl, call);
  await waitIndexed(call);

  const sporty = await search(call, [0.85, 0.2, 0.05], 2);
  assert.deepEqual(sporty.results.map((h) => h.id), ["1", "2"]);
  assert.ok(sporty.results[0].score > sporty.results[1].score);
  assert.equal(sporty.results[0].fields.name, "running shoes");

  const kitchen = await search(call, [0.85, 0.2, 0.05], 2, { field: "category", tag: ["kitchen"] });
  assert.deepEqual(kitchen.results.map((h) => h.id).sort(), ["3", "4"]);

  // the Buffer holds exactly the Float32Array's values, as RediSearch reads them
  const doc = await call("GET", "/v1/indexes/node_products/documents/1?with_vectors=true");
  const expected = Array.from(new Float32Array([0.9, 0.1, 0.0]));
  assert.deepEqual(doc.fields.embedding, expected);
});

test("a wrong dimension is a 422 naming the expected one", { skip: !redisUrl || !apiUrl }, async () => {
  const call = api(apiUrl, process.env.REDVEC_API_KEY);
  await assert.rejects(search(call, [1, 2], 2), /422 invalid_request: .*expected 3/);
});

async function waitIndexed(call) {
  for (let i = 0; i < 100; i++) {
    const info = await call("GET", "/v1/indexes/node_products");
    if (info.num_docs === 4 && info.percent_indexed === 1) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("index not ready");
}
