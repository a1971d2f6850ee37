"""The chat page of `hyperlm serve` in a real browser (Debian's chromium, headless, driven by
Playwright's sync API); run by tests/cli/serve_page.sh against a server on a random tiny model
whose tokenizer has no end-of-sequence token, so a reply always runs to max_tokens.

usage: serve_page.py BASE_URL API_KEY MODEL_ID [SCREENSHOT_DIR]

Checks, each printed as `ok: ...` or `FAIL: ...`:
  - the page loads with no console errors, CSP violations or script errors (the 401s of the
    model list before the API key is entered are the expected ones);
  - without the key the header says to set one; the key entered in Settings is sent as
    `Authorization: Bearer` and kept in localStorage (still there after a reload);
  - Enter sends, Shift+Enter is a new line; the request is a streamed chat completion with
    usage, the settings (system prompt, temperature, max_tokens) and the whole history;
  - the streamed reply is the text the server gives the same request unstreamed (greedy), and
    the stats show its token count (usage.completion_tokens) and tokens/s;
  - Stop ends a long reply: the text stops growing, the stats say stopped, the server counts a
    cancelled generation (/metrics);
  - model output is text, never markup; an {"error": ...} event and a 400 answer are shown as
    errors (the SSE parsing is also fed CRLF lines and keep-alive comments, through a mocked
    route).
"""
import json
import os
import re
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

base, api_key, model_id = sys.argv[1], sys.argv[2], sys.argv[3]
shots = sys.argv[4] if len(sys.argv) > 4 else None
failures = 0


def check(cond, what, detail=""):
    global failures
    if cond:
        print(f"ok: {what}")
    else:
        failures += 1
        print(f"FAIL: {what}" + (f": {detail}" if detail else ""))


def api(path, body=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + api_key, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        data = r.read().decode()
    return json.loads(data) if path != "/metrics" else data


def cancelled_total():
    m = re.search(r"^hyperlm_cancelled_total (\d+)", api("/metrics"), re.M)
    return int(m.group(1)) if m else -1


with sync_playwright() as p:
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=args)
    context = browser.new_context(color_scheme="light", viewport={"width": 1000, "height": 720})
    page = context.new_page()
    page.set_default_timeout(20000)
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(f"page error: {e}"))
    chat_requests = []
    page.on("request", lambda r: chat_requests.append(r) if r.url.endswith("/v1/chat/completions") else None)

    def take_errors(allowed=None):
        """The console errors so far other than those matching allowed; clears the list."""
        bad = [e for e in console_errors if not (allowed and re.search(allowed, e))]
        console_errors.clear()
        return bad

    def assistant_texts():
        return page.eval_on_selector_all("#messages .msg.assistant .content", "els => els.map(e => e.textContent)")

    def wait_reply(count):
        """Waits until the count-th assistant message has ended (its stats line is there)."""
        page.wait_for_function("n => document.querySelectorAll('#messages .msg.assistant .meta').length >= n", arg=count)
        page.wait_for_selector("#send:not([hidden])")

    # ---- the page, and the API key ----
    page.goto(base + "/")
    check(page.title() == "HyperLM chat", "the page is served at /", page.title())
    page.wait_for_function("document.querySelector('#model').classList.contains('bad')")
    check("API key" in page.text_content("#model"), "without the key the header asks for one", page.text_content("#model"))
    check(page.is_visible("#api-key"), "settings open to enter the key")
    take_errors(r"status of 401")
    if shots:
        page.screenshot(path=os.path.join(shots, "chat-key.png"))
    page.fill("#api-key", api_key)
    page.press("#api-key", "Tab")  # change event: the model list is fetched again
    page.wait_for_function("id => document.querySelector('#model').textContent.startsWith(id)", arg=model_id)
    check(not page.eval_on_selector("#model", "e => e.classList.contains('bad')"), "the model id from GET /v1/models",
          page.text_content("#model"))
    page.reload()
    page.wait_for_function("id => document.querySelector('#model').textContent.startsWith(id)", arg=model_id)
    check(page.input_value("#api-key") == api_key, "the API key is kept in localStorage")
    check(page.text_content("#model").startswith(model_id), "after a reload the model loads with the stored key")
    bad = take_errors(r"status of 401")  # the first load's 401s, reported late
    check(not bad, "no console errors loading the page", str(bad))

    # ---- a turn, streamed ----
    if not page.is_visible("#system"):
        page.click("#settings-toggle")
    page.fill("#system", "You are terse.")
    page.fill("#temperature", "0")
    page.fill("#max-tokens", "24")
    page.click("#settings-toggle")
    check(not page.is_visible("#settings"), "the settings toggle closes the panel")
    page.fill("#input", "Hello there")
    page.press("#input", "Enter")
    wait_reply(1)
    text1 = assistant_texts()[0]
    check(len(text1) > 0, "the streamed reply is not empty", repr(text1))
    stats = page.text_content("#stats")
    m = re.search(r"(\d+) tokens · ([\d.]+) tokens/s", stats)
    check(m is not None, "the stats show tokens and tokens/s", stats)
    check(m is not None and int(m.group(1)) == 24, "the token count is usage.completion_tokens (max_tokens 24)", stats)
    check(m is not None and float(m.group(2)) > 0, "tokens/s is positive", stats)
    check(page.input_value("#input") == "", "the input is cleared after sending")
    req = chat_requests[-1]
    body = req.post_data_json
    check(req.headers.get("authorization") == "Bearer " + api_key, "the key is sent as Authorization: Bearer")
    check(body.get("stream") is True and body.get("stream_options") == {"include_usage": True},
          "stream with stream_options.include_usage", json.dumps(body))
    check(body.get("model") == model_id and body.get("temperature") == 0 and body.get("max_tokens") == 24,
          "model, temperature and max_tokens from the settings", json.dumps(body))
    msgs1 = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello there"}]
    check(body.get("messages") == msgs1, "the system prompt, then the user's message", json.dumps(body.get("messages")))
    want = api("/v1/chat/completions", {"model": model_id, "messages": msgs1, "temperature": 0, "max_tokens": 24})
    check(want["choices"][0]["message"]["content"] == text1, "the streamed text is the unstreamed reply",
          f"{text1!r} vs {want['choices'][0]['message']['content']!r}")

    # ---- a second turn: Shift+Enter is a new line; the history goes with it ----
    page.click("#input")
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    check(page.input_value("#input") == "line one\nline two", "Shift+Enter adds a new line instead of sending")
    page.keyboard.press("Enter")
    wait_reply(2)
    users = page.eval_on_selector_all("#messages .msg.user .content", "els => els.map(e => e.textContent)")
    check(users == ["Hello there", "line one\nline two"], "user messages shown as typed", repr(users))
    msgs2 = msgs1 + [{"role": "assistant", "content": text1}, {"role": "user", "content": "line one\nline two"}]
    check(chat_requests[-1].post_data_json.get("messages") == msgs2, "the whole conversation is sent each turn",
          json.dumps(chat_requests[-1].post_data_json.get("messages")))
    check(len(assistant_texts()[1]) > 0, "the second reply is not empty")
    if shots:
        page.screenshot(path=os.path.join(shots, "chat-light.png"))
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=os.path.join(shots, "chat-dark.png"))
        page.emulate_media(color_scheme="light")

    # ---- Stop: a reply that would run to the end of the context ----
    before = cancelled_total()
    page.click("#settings-toggle")
    page.fill("#max-tokens", "")
    page.click("#settings-toggle")
    page.fill("#input", "Tell me a long story")
    page.click("#send")
    page.wait_for_selector("#stop:not([hidden])")
    page.wait_for_function("() => { const m = document.querySelectorAll('#messages .msg.assistant .content');"
                           " return m.length >= 3 && m[2].textContent.length > 0; }")
    page.click("#stop")
    page.wait_for_selector("#send:not([hidden])")
    stopped_text = assistant_texts()[2]
    check("stopped" in page.text_content("#stats"), "the stats say the reply was stopped", page.text_content("#stats"))
    check(page.is_hidden("#stop"), "Stop is hidden again once stopped")
    deadline = time.time() + 10
    while cancelled_total() <= before and time.time() < deadline:
        time.sleep(0.1)
    check(cancelled_total() > before, "the server cancelled the generation (hyperlm_cancelled_total)")
    time.sleep(0.3)
    check(assistant_texts()[2] == stopped_text, "the reply stops growing after Stop")
    check(chat_requests[-1].post_data_json.get("max_tokens") is None, "an empty max tokens is not sent")
    bad = take_errors()
    check(not bad, "no console errors while streaming and stopping", str(bad))

    # ---- errors from the server: a 400 for an out-of-range temperature ----
    page.click("#clear")
    check(page.eval_on_selector_all("#messages .msg", "e => e.length") == 0, "New chat clears the conversation")
    page.click("#settings-toggle")
    page.fill("#temperature", "5")
    page.fill("#max-tokens", "8")
    page.click("#settings-toggle")
    page.fill("#input", "too hot")
    page.press("#input", "Enter")
    page.wait_for_selector("#messages .msg.error")
    page.wait_for_selector("#send:not([hidden])")
    err = page.text_content("#messages .msg.error .content")
    check("temperature" in err, "a 400 answer is shown with the server's message", err)
    check(page.input_value("#input") == "too hot", "a failed message goes back into the input")
    check(page.eval_on_selector_all("#messages .msg.assistant", "e => e.length") == 0, "no empty reply is left behind")
    check(chat_requests[-1].post_data_json.get("messages")[-1] == {"role": "user", "content": "too hot"} and
          len(chat_requests[-1].post_data_json.get("messages")) == 2, "after New chat only the system prompt and the message go")
    take_errors(r"status of 400")
    page.click("#settings-toggle")
    page.fill("#temperature", "0")
    page.click("#settings-toggle")

    # ---- model output is text, never markup; the SSE parser on a mocked stream ----
    evil = '<img src=x onerror="window.pwned=1"><b>bold</b> & "quotes"'
    chunks = [
        ": keep-alive",
        "data: " + json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant", "content": evil[:10]}}]}),
        "data:" + json.dumps({"choices": [{"index": 0, "delta": {"content": evil[10:]}, "finish_reason": None}]}),
        "data: " + json.dumps({"error": {"message": "the model fell over", "type": "server_error"}}),
        "data: [DONE]",
    ]
    page.route("**/v1/chat/completions", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "text/event-stream"}, body="\r\n\r\n".join(chunks) + "\r\n\r\n"))
    page.click("#clear")
    page.fill("#input", "<script>window.pwned=2</script>")
    page.press("#input", "Enter")
    page.wait_for_selector("#messages .msg.error")
    page.wait_for_selector("#send:not([hidden])")
    check(assistant_texts() == [evil], "markup in the reply is shown as text", repr(assistant_texts()))
    check(page.text_content("#messages .msg.user .content") == "<script>window.pwned=2</script>",
          "markup in the user's message is shown as text")
    check(page.evaluate("document.querySelectorAll('#messages img, #messages b, #messages script').length") == 0,
          "no element is made from message text")
    check(page.evaluate("window.pwned === undefined"), "no script from message text ran")
    check("the model fell over" in page.text_content("#messages .msg.error"), "an {\"error\"} event is shown as an error")
    if shots:
        page.screenshot(path=os.path.join(shots, "chat-errors.png"))
    page.unroute("**/v1/chat/completions")
    bad = take_errors()
    check(not bad, "no console errors at the end", str(bad))
    browser.close()

print(f"serve_page.py: {failures} failures")
sys.exit(1 if failures else 0)
