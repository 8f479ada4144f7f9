"""The chat page served at `/`: static HTML + JavaScript that streams replies from /v1/chat/completions.

No framework and no build step: `fetch` reads the server-sent events as they arrive and appends each
piece of text to the reply, so a learner can read all of it in one screen."""

CHAT_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>llm-journey chat</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
  #log div { white-space: pre-wrap; margin: .5rem 0; padding: .5rem .75rem; border-radius: .5rem; }
  .user { background: #e8f0fe; } .assistant { background: #f1f3f4; } .error { background: #fde8e8; }
  form { display: flex; gap: .5rem; } #prompt { flex: 1; padding: .5rem; }
</style>
</head>
<body>
<h1>Chat with <span id="model">...</span></h1>
<div id="log"></div>
<form id="form"><input id="prompt" autocomplete="off" placeholder="Say something"><button id="send">Send</button></form>
<script>
const log = document.getElementById("log"), form = document.getElementById("form"), input = document.getElementById("prompt");
const messages = [];  // the conversation so far, sent with every request
let model = null;
fetch("/v1/models").then(r => r.json()).then(d => { model = d.data[0].id; document.getElementById("model").textContent = model; });

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = role; div.textContent = text; log.appendChild(div); return div;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || !model) return;
  input.value = "";
  messages.push({role: "user", content: text});
  bubble("user", text);
  const reply = bubble("assistant", "");
  reply.dataset.done = "false";
  const response = await fetch("/v1/chat/completions", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({model, messages, stream: true, temperature: 0})});  // max_tokens: the server's default
  if (!response.ok) {  // a 4xx/5xx arrives as one JSON error
    reply.className = "error"; reply.textContent = (await response.json()).error.message; reply.dataset.done = "true"; return;
  }
  const reader = response.body.getReader(), decoder = new TextDecoder();
  let buffer = "";
  while (true) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    const events = buffer.split("\\n\\n");   // server-sent events end with a blank line
    buffer = events.pop();                   // keep an incomplete event for the next read
    for (const event of events) {
      const data = event.replace(/^data: /, "");
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      if (chunk.error) { reply.className = "error"; reply.textContent += " [" + chunk.error.message + "]"; continue; }
      if (chunk.choices.length && chunk.choices[0].delta.content) reply.textContent += chunk.choices[0].delta.content;
    }
  }
  messages.push({role: "assistant", content: reply.textContent});
  reply.dataset.done = "true";
});
</script>
</body>
</html>
"""
