// openai-sdk.js - the official `openai` npm package against a running modelmgr
// server: models.list, chat and completions (whole and streamed, which must
// agree for greedy requests) and errors surfacing as the SDK's APIError
// subclasses. Run by test-openai-npm.c; environment: MM_OPENAI_MODULE (the
// package's directory), MM_BASE_URL, MM_API_KEY, MM_MODEL.
"use strict";
const assert = require("node:assert/strict");

const OpenAI = require(process.env.MM_OPENAI_MODULE);
const baseURL = process.env.MM_BASE_URL + "/v1";
const model = process.env.MM_MODEL;
const client = new OpenAI({ baseURL, apiKey: process.env.MM_API_KEY, maxRetries: 0, timeout: 60000 });

let passed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log("ok - " + name);
  } catch (e) {
    console.log("not ok - " + name + ": " + (e && e.stack ? e.stack : e));
    process.exitCode = 1;
  }
}

const messages = [{ role: "user", content: "Say hello" }];

async function main() {
  let chatText = null, completionText = null;

  await check("models.list includes the model", async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes(model), "ids: " + JSON.stringify(ids));
    const one = await client.models.retrieve(model);
    assert.equal(one.id, model);
    assert.equal(one.object, "model");
  });

  await check("chat.completions.create", async () => {
    const r = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 8 });
    assert.equal(r.object, "chat.completion");
    assert.equal(r.model, model);
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, "assistant");
    assert.equal(typeof r.choices[0].message.content, "string");
    assert.ok(["stop", "length"].includes(r.choices[0].finish_reason));
    assert.ok(r.usage.prompt_tokens > 0);
    assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 8);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    chatText = r.choices[0].message.content;
    console.log("chat answer: " + JSON.stringify(chatText));
  });

  await check("chat.completions.create stream", async () => {
    const stream = await client.chat.completions.create({
      model, messages, temperature: 0, max_tokens: 8, stream: true,
      stream_options: { include_usage: true } });
    let text = "", finish = null, usage = null, chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, "chat.completion.chunk");
      if (chunk.usage) usage = chunk.usage;
      const c = chunk.choices[0];
      if (!c) continue;
      if (c.delta.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
    assert.ok(chunks >= 3, "chunks: " + chunks);
    assert.equal(text, chatText);
    assert.ok(["stop", "length"].includes(finish));
    assert.ok(usage && usage.completion_tokens > 0);
  });

  await check("chat.completions.stream helper (finalChatCompletion)", async () => {
    const runner = client.chat.completions.stream({ model, messages, temperature: 0, max_tokens: 8 });
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].message.content, chatText);
  });

  await check("completions.create", async () => {
    const r = await client.completions.create({ model, prompt: "Once upon a time", temperature: 0, max_tokens: 8 });
    assert.equal(r.object, "text_completion");
    assert.equal(typeof r.choices[0].text, "string");
    assert.ok(r.usage.completion_tokens > 0);
    completionText = r.choices[0].text;
  });

  await check("completions.create stream", async () => {
    const stream = await client.completions.create({
      model, prompt: "Once upon a time", temperature: 0, max_tokens: 8, stream: true });
    let text = "";
    for await (const chunk of stream) if (chunk.choices[0]) text += chunk.choices[0].text;
    assert.equal(text, completionText);
  });

  await check("unknown model is NotFoundError 404", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "no-such-model", messages }),
      (e) => {
        assert.ok(e instanceof OpenAI.APIError, "not an APIError: " + e);
        assert.ok(e instanceof OpenAI.NotFoundError);
        assert.equal(e.status, 404);
        assert.equal(e.code, "model_not_found");
        assert.equal(e.type, "invalid_request_error");
        assert.match(e.message, /no-such-model/);
        assert.ok(e.requestID && e.requestID.startsWith("req-"), "request id: " + e.requestID);
        return true;
      });
  });

  await check("n=2 is BadRequestError 400 naming the param", async () => {
    await assert.rejects(
      client.chat.completions.create({ model, messages, n: 2 }),
      (e) => {
        assert.ok(e instanceof OpenAI.BadRequestError, "not a BadRequestError: " + e);
        assert.equal(e.status, 400);
        assert.equal(e.param, "n");
        return true;
      });
  });

  await check("wrong key is AuthenticationError 401", async () => {
    const bad = new OpenAI({ baseURL, apiKey: "sk-wrong", maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError, "not an AuthenticationError: " + e);
      assert.equal(e.status, 401);
      assert.equal(e.code, "invalid_api_key");
      return true;
    });
  });

  // x-should-retry: false stops the SDK's retries; the C side counts the
  // requests that reached the server in /metrics (exactly one).
  await check("embeddings is APIError 501", async () => {
    const retrying = new OpenAI({ baseURL, apiKey: process.env.MM_API_KEY, maxRetries: 2 });
    await assert.rejects(retrying.embeddings.create({ model, input: "x" }), (e) => {
      assert.ok(e instanceof OpenAI.APIError);
      assert.equal(e.status, 501);
      return true;
    });
  });

  console.log("openai sdk checks: " + passed + " ok" + (process.exitCode ? ", some not ok" : ""));
}

main().catch((e) => {
  console.log("not ok - crashed: " + (e && e.stack ? e.stack : e));
  process.exitCode = 1;
});
