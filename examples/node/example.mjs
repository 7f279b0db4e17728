// Write vectors straight into Redis with node-redis, then search them through
// redvec's HTTP API with fetch. Run `redvec server start` and `redvec serve` first.
//
//   REDIS_URL=redis://127.0.0.1:6379 REDVEC_API_URL=http://127.0.0.1:8000 node example.mjs
import { createClient } from "redis";

export const INDEX = "node_products";
export const PREFIX = "node_product:";

/** A float32 vector as the bytes RediSearch reads from a HASH field (the seed's recipe). */
export function toBlob(values) {
  return Buffer.from(new Float32Array(values).buffer);
}

export function api(baseUrl, apiKey) {
  const headers = { "Content-Type": "application/json" };
  if (apiKey) headers["Authorization"] = `Bearer ${apiKey}`;
  return async function call(method, path, body) {
    const resp = await fetch(baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await resp.json();
    if (!resp.ok) {
      throw new Error(`${method} ${path}: ${resp.status} ${data.error.code}: ${data.error.message}`);
    }
    return data;
  };
}

export const SCHEMA = {
  name: INDEX,
  prefix: PREFIX,
  storage: "hash",
  fields: [
    { name: "name", type: "text" },
    { name: "category", type: "tag" },
    { name: "embedding", type: "vector", algorithm: "HNSW", datatype: "FLOAT32", dims: 3, distance: "COSINE" },
  ],
};

export const PRODUCTS = [
  { id: "1", name: "running shoes", category: "sport", embedding: [0.9, 0.1, 0.0] },
  { id: "2", name: "tennis racket", category: "sport", embedding: [0.8, 0.3, 0.1] },
  { id: "3", name: "espresso machine", category: "kitchen", embedding: [0.0, 0.2, 0.9] },
  { id: "4", name: "chef's knife", category: "kitchen", embedding: [0.1, 0.1, 0.8] },
];

/** Create the index (through the API), write the products (straight into Redis). */
export async function load(redisUrl, call) {
  try {
    await call("POST", "/v1/indexes", SCHEMA);
  } catch (e) {
    if (!String(e.message).includes("index_exists")) throw e;
  }
  const redis = createClient({ url: redisUrl });
  await redis.connect();
  try {
    for (const p of PRODUCTS) {
      await redis.hSet(PREFIX + p.id, { name: p.name, category: p.category, embedding: toBlob(p.embedding) });
    }
  } finally {
    await redis.quit();
  }
}

export async function search(call, vector, k = 2, filter = undefined) {
  const body = { vector, k };
  if (filter) body.filter = filter;
  return call("POST", `/v1/indexes/${INDEX}/search`, body);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const call = api(process.env.REDVEC_API_URL ?? "http://127.0.0.1:8000", process.env.REDVEC_API_KEY);
  await load(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", call);
  const { results } = await search(call, [0.85, 0.2, 0.05], 3);
  for (const hit of results) {
    console.log(`${hit.id}  ${hit.fields.name.padEnd(18)} score ${hit.score.toFixed(3)}`);
  }
}
