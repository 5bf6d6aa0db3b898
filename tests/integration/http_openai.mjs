// The official openai SDK against duetd: completions and chat, plain and
// streaming, and an error. usage: node http_openai.mjs BASE_URL MODEL
import { createRequire } from "node:module";

// ES modules ignore NODE_PATH: resolve the SDK from the npm cache by hand
const require = createRequire(process.env.NODE_PATH + "/");
const OpenAI = require("openai");

const [base, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + "/v1", apiKey: "none", maxRetries: 0, timeout: 20000 });
let failed = 0;
const check = (name, cond, info) => {
  console.log(`${cond ? "ok" : "FAIL"}: openai ${name}${cond ? "" : " " + JSON.stringify(info)}`);
  if (!cond) failed++;
};

const c = await client.completions.create({ model, prompt: "hello", max_tokens: 6, temperature: 0 });
check("completion", c.object === "text_completion" && typeof c.choices[0].text === "string" &&
  c.usage.completion_tokens >= 1 && c.usage.completion_tokens <= 6 && c.choices[0].finish_reason, c);

let text = "", chunks = 0, usage = null;
const s = await client.completions.create({ model, prompt: "hello", max_tokens: 8, stream: true,
  stream_options: { include_usage: true } });
for await (const ch of s) {
  chunks++;
  if (ch.choices.length) text += ch.choices[0].text;
  if (ch.usage) usage = ch.usage;
}
check("completion stream", chunks >= 2 && usage && usage.completion_tokens >= 1 && text.length >= 0, { chunks, usage });

const chat = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 6 });
check("chat", chat.object === "chat.completion" && chat.choices[0].message.role === "assistant", chat);

let first = null, last = null, n = 0;
const cs = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 6, stream: true });
for await (const ch of cs) {
  if (!first) first = ch;
  last = ch;
  n++;
}
check("chat stream", first.choices[0].delta.role === "assistant" && first.choices[0].finish_reason === null &&
  last.choices[0].finish_reason !== null && n >= 2, { first, last });

try {
  await client.completions.create({ model: "no-such-model", prompt: "x", max_tokens: 2 });
  check("unknown model raises", false, "no error");
} catch (e) {
  check("unknown model raises NotFoundError", e instanceof OpenAI.NotFoundError && e.param === "model", String(e));
}
try {
  await client.completions.create({ model, prompt: "x", max_tokens: 2, temperature: 7 });
  check("bad temperature raises", false, "no error");
} catch (e) {
  check("bad temperature raises BadRequestError", e instanceof OpenAI.BadRequestError && e.param === "temperature", String(e));
}
process.exit(failed ? 1 : 0);
