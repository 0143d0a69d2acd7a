// Run by responses_clients.py: the Vercel AI SDK's default OpenAI provider (Responses API) against detour.
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';

const openai = createOpenAI({ baseURL: process.argv[2] + '/v1', apiKey: 'unused' });
const want = 'Hello from the Anthropic fallback.';
let failures = 0;
function report(name, text, model) {
  const ok = text.includes(want);
  if (!ok) failures++;
  console.log(`${ok ? 'OK  ' : 'BAD '} ${name}: ${JSON.stringify(text)} (model ${model})`);
}
const r = await generateText({ model: openai('detour'), prompt: 'hi', maxRetries: 0 });
report('vercel ai generateText(openai(model))', r.text, r.response.modelId);
const s = streamText({ model: openai('detour'), prompt: 'hi', maxRetries: 0 });
let text = '';
for await (const delta of s.textStream) text += delta;
report('vercel ai streamText(openai(model))', text, (await s.response).modelId);
process.exit(failures ? 1 : 0);
