// Streams one chat completion with the openai npm package and prints {"text", "usage", "chunks"} as JSON.
// usage: node openai-stream.mjs BASE_URL API_KEY QUESTION MAX_TOKENS   (run where node_modules/openai is)
import OpenAI from 'openai';

const [baseURL, apiKey, question, maxTokens] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const stream = await client.chat.completions.create({
  model: 'default',
  messages: [{ role: 'user', content: question }],
  temperature: 0,
  max_tokens: Number(maxTokens),
  stream: true,
  stream_options: { include_usage: true },
});
let text = '';
let usage = null;
let chunks = 0;
let finish = null;
for await (const chunk of stream) {
  chunks++;
  const choice = chunk.choices[0];
  if (choice?.delta?.content) text += choice.delta.content;
  if (choice?.finish_reason) finish = choice.finish_reason;
  if (chunk.usage) usage = chunk.usage;
}
console.log(JSON.stringify({ text, usage, chunks, finish }));
