"""Talks to a running `starling serve` with the official `openai` client: one chat completion,
one streamed chat completion, one embedding. Prints a JSON summary as its last line."""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["STARLING_URL"], api_key=os.environ["STARLING_TOKEN"])
completion = client.chat.completions.create(
    model="local",
    messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name one colour."},
    ],
    max_tokens=16,
    temperature=0,
)
text = completion.choices[0].message.content
assert completion.choices[0].finish_reason in ("stop", "length"), completion

chunks = 0
streamed = ""
for chunk in client.chat.completions.create(
    model="local",
    messages=[{"role": "user", "content": "Count from one to five."}],
    max_tokens=24,
    stream=True,
):
    delta = chunk.choices[0].delta.content or ""
    if delta:
        chunks += 1
        streamed += delta
assert streamed, "the stream carried text"

embedding = client.embeddings.create(model="local", input="incident review")
print(json.dumps({
    "completion": text,
    "stream_chunks": chunks,
    "streamed": streamed,
    "embedding_dimensions": len(embedding.data[0].embedding),
}))
