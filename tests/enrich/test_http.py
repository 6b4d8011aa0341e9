"""Tests for gr_jax.enrich.backends.http against an OpenAI-compatible server on 127.0.0.1."""

import base64
import collections
import dataclasses
import http.server
import io
import json
import logging
import os
import threading
import time

import pytest
from PIL import Image

from gr_jax import io_utils
from gr_jax.enrich import backends
from gr_jax.enrich import stage
from gr_jax.enrich.backends import http as http_backend

SECRET = "sk-test-DO-NOT-LEAK-4242"


class FakeServer:
  """Chat-completions server whose behaviour is chosen by markers in the item title.

  SLOW1: first request sleeps past the client timeout. E429: first request 429.
  E500: always 500 (the error body echoes the Authorization header). BADJSON1: first
  body is not JSON. BADANSWER: interest answers never contain JSON. ECHOKEY: the
  answer contains the Authorization header. FENCED: JSON inside a code fence.
  """

  def __init__(self, delay: float = 0.0):
    self.delay = delay
    self.calls = collections.Counter()
    self.auth = []
    self.bodies = []
    self.in_flight = 0
    self.max_in_flight = 0
    self.lock = threading.Lock()
    fake = self

    class Handler(http.server.BaseHTTPRequestHandler):

      def log_message(self, *args):
        pass

      def do_POST(self):
        fake.handle(self)

    self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    self.httpd.daemon_threads = True
    self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
    self.thread.start()
    self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

  def close(self):
    self.httpd.shutdown()
    self.httpd.server_close()

  def _send(self, h, code: int, body: bytes, headers=()):
    h.send_response(code)
    h.send_header("Content-Type", "application/json")
    for k, v in headers:
      h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    try:
      h.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
      pass

  def handle(self, h):
    body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
    auth = h.headers.get("Authorization", "")
    # A request the client abandoned (timeout) keeps sleeping here: not counted.
    counted = "SLOW1" not in json.dumps(body)
    with self.lock:
      self.in_flight += counted
      self.max_in_flight = max(self.max_in_flight, self.in_flight)
      self.auth.append(auth)
      self.bodies.append(body)
    try:
      self._answer(h, body, auth)
    finally:
      with self.lock:
        self.in_flight -= counted

  def _answer(self, h, body, auth):
    assert h.path == "/v1/chat/completions"
    user = body["messages"][-1]["content"]
    parts = user if isinstance(user, list) else [{"type": "text", "text": user}]
    text = " ".join(p.get("text", "") for p in parts)
    image = [p["image_url"]["url"] for p in parts if p.get("type") == "image_url"]
    is_caption = body["messages"][0]["content"].startswith("You write product descriptions")
    marker = next((m for m in ("SLOW1", "E429", "E500", "BADJSON1", "BADANSWER", "ECHOKEY",
                               "FENCED") if m in text), "OK")
    kind = "cap" if is_caption else "int"
    with self.lock:
      self.calls[(kind, marker, text[:80])] += 1
      n = self.calls[(kind, marker, text[:80])]
    time.sleep(self.delay)
    if marker == "SLOW1" and n == 1:
      time.sleep(1.2)
    if marker == "E429" and n == 1:
      return self._send(h, 429, b'{"error": "rate limited"}', [("Retry-After", "0")])
    if marker == "E500":
      return self._send(h, 500, json.dumps({"error": "boom", "saw": auth}).encode())
    if marker == "BADJSON1" and n == 1:
      return self._send(h, 200, b"<html>upstream hiccup</html>")
    if is_caption:
      size = "text-only"
      if image:
        assert image[0].startswith("data:image/png;base64,")
        im = Image.open(io.BytesIO(base64.b64decode(image[0].split(",", 1)[1])))
        size = f"{im.size[0]}x{im.size[1]} image"
      content = f"A described product from a {size}."
      if marker == "ECHOKEY":
        content += f" Header was {auth}."
    elif marker == "BADANSWER":
      content = "I believe the buyer enjoys many things, such as life."
    elif marker == "FENCED":
      content = ('Reasoning: they cook.\n```json\n{"reasoning": "r", "interests": '
                 '["home cooking", "weekend baking"]}\n```\nThanks!')
    else:
      content = json.dumps({"reasoning": "Because.", "interests": ["tag alpha", "tag beta"]})
      if marker == "ECHOKEY":
        content = json.dumps({"interests": ["key tag", auth]})
    payload = {"id": "x", "object": "chat.completion", "model": body["model"],
               "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop"}]}
    return self._send(h, 200, json.dumps(payload).encode())


@pytest.fixture
def server():
  s = FakeServer(delay=0.05)
  yield s
  s.close()


def _client(server, **kw):
  opts = dict(base_url=server.base_url, model="fake-vl", api_key_env="GR_JAX_TEST_KEY",
              timeout_s=0.4, max_retries=3, backoff_s=0.01)
  opts.update(kw)
  return http_backend.HttpChatClient(**opts)


def _msgs(text):
  return [{"role": "system", "content": "sys"}, {"role": "user", "content": text}]


def test_retries_on_429_500_timeout_and_malformed_then_gives_up(server, monkeypatch):
  monkeypatch.setenv("GR_JAX_TEST_KEY", SECRET)
  client = _client(server)
  assert client.chat(_msgs("OK")).attempts == 1
  assert client.chat(_msgs("E429")).attempts == 2
  assert client.chat(_msgs("BADJSON1")).attempts == 2
  t0 = time.monotonic()
  res = client.chat(_msgs("SLOW1"))
  assert res.attempts == 2 and time.monotonic() - t0 < 1.2
  with pytest.raises(backends.RequestError) as err:
    client.chat(_msgs("E500"))
  assert err.value.attempts == 4 and "HTTP 500" in str(err.value)
  assert SECRET not in str(err.value) and "***" in str(err.value)
  assert server.calls[("int", "E500", "E500")] == 4
  assert all(a == f"Bearer {SECRET}" for a in server.auth)
  assert SECRET not in repr(client)


def test_auth_errors_abort_and_no_key_means_no_header(server, monkeypatch):
  monkeypatch.delenv("GR_JAX_TEST_KEY", raising=False)
  client = _client(server)
  client.chat(_msgs("OK"))
  assert server.auth[-1] == ""

  class Deny(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
      pass

    def do_POST(self):
      self.send_response(401)
      self.end_headers()

  httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Deny)
  threading.Thread(target=httpd.serve_forever, daemon=True).start()
  try:
    deny = _client(server, base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    with pytest.raises(backends.FatalBackendError, match="401"):
      deny.chat(_msgs("OK"))
  finally:
    httpd.shutdown()
    httpd.server_close()


def _titles(data_dir, titles):
  path = os.path.join(data_dir, "items.jsonl")
  items = [json.loads(line) for line in open(path)]
  for item, title in zip(items, titles):
    item["title"] = title
  with open(path, "w") as f:
    for item in items:
      f.write(json.dumps(item) + "\n")
  return items


def test_stage_over_http_records_retries_failures_and_never_writes_the_key(
    server, dataset, monkeypatch, caplog, capsys):
  monkeypatch.setenv("GR_JAX_TEST_KEY", SECRET)
  caplog.set_level(logging.DEBUG)
  _titles(dataset, ["Mug OK", "Bottle SLOW1", "Mat E429", "Pan E500", "Lamp BADJSON1",
                    "Hat BADANSWER", "Pen ECHOKEY", "Pot FENCED"])
  cfg = stage.EnrichConfig(caption_backend="http", interest_backend="http",
                           caption_model="fake-vl", interest_model="fake-llm",
                           base_url=server.base_url, api_key_env="GR_JAX_TEST_KEY",
                           timeout_s=0.4, max_retries=2, backoff_s=0.01, concurrency=4,
                           progress=True, max_failed=0.5)
  report = stage.run_enrich(dataset, cfg)
  caps = {json.loads(l)["item_id"]: json.loads(l) for l in open(
      os.path.join(dataset, "enrich", "captions.jsonl"))}
  ints = {json.loads(l)["item_id"]: json.loads(l) for l in open(
      os.path.join(dataset, "enrich", "interests.jsonl"))}
  # Captions: local PNGs went out as data URLs; no-image items got text-only prompts.
  assert caps["i000"]["caption"] == "A described product from a 72x72 image."
  assert caps["i000"]["backend"] == "http" and caps["i000"]["model"] == "fake-vl"
  assert caps["i001"]["status"] == "ok" and caps["i001"]["attempts"] == 2  # timeout, retry
  assert caps["i002"]["attempts"] == 2 and caps["i004"]["attempts"] == 2  # 429, bad body
  assert caps["i003"]["status"] == "failed" and caps["i003"]["attempts"] == 3
  assert "HTTP 500" in caps["i003"]["error"]
  assert caps["z_noimg"]["caption"] == "A described product from a text-only."
  assert caps["z_noimg"]["image"] == "no_image" and caps["z_missing"]["image"] == "missing_file"
  # Interests: malformed answers re-asked 3 times, then a failure record with the raw answer.
  assert ints["i005"]["status"] == "failed" and ints["i005"]["attempts"] == 3
  assert ints["i005"]["error"].startswith("malformed") and "buyer enjoys" in ints["i005"]["raw"]
  assert ints["i007"]["interests"] == ["home cooking", "weekend baking"]
  assert ints["i000"]["interests"] == ["tag alpha", "tag beta"]
  assert ints["i000"]["model"] == "fake-llm" and ints["i000"]["prompt_version"] == "mdim-v1"
  assert ints["i006"]["interests"] == ["key tag", "bearer ***"]
  assert caps["i006"]["caption"].endswith("Header was Bearer ***.")
  assert 1 < server.max_in_flight <= 4
  assert report["captions"]["failed_items"] == 1 and report["interests"]["failed_items"] == 2
  assert report["captions"]["retried"] >= 5
  # The key is in no file, log line, stdout or stderr.
  for root, _, files in os.walk(dataset):
    for name in files:
      with open(os.path.join(root, name), "rb") as f:
        assert SECRET.encode() not in f.read(), name
  out = capsys.readouterr()
  assert SECRET not in out.out + out.err
  assert SECRET not in caplog.text
  assert all(a == f"Bearer {SECRET}" for a in server.auth)

  # A rerun retries only the failed items (the rest are cache hits).
  before = sum(server.calls.values())
  report = stage.run_enrich(dataset, cfg)
  assert report["captions"]["cached"] == 9 and report["captions"]["done"] == 0
  assert report["interests"]["cached"] == 8
  assert sum(server.calls.values()) - before == 3 + 2 * 3  # E500 x3; BADANSWER x3, E500 x3


# ---- fault probes (issue 20): errors no retry can fix end the run at once --------------------
class _Status(http.server.BaseHTTPRequestHandler):
  """Answers every POST with the class's status and body."""
  status, body = 404, b'{"error": "not found"}'

  def log_message(self, *args):
    pass

  def do_POST(self):
    self.send_response(self.status)
    self.send_header("Content-Length", str(len(self.body)))
    self.end_headers()
    self.wfile.write(self.body)


def _serve(status, body):
  handler = type("H", (_Status,), {"status": status, "body": body})
  httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
  httpd.daemon_threads = True
  threading.Thread(target=httpd.serve_forever, daemon=True).start()
  return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1"


def _closed_port_url():
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  return f"http://127.0.0.1:{port}/v1"  # Nothing listens there any more.


@pytest.mark.parametrize("status,body", [
    (404, b'{"error": "no route"}'),
    (404, b'{"error": {"message": "The model `nope` does not exist."}}'),
    (400, b'{"error": "model \'nope\' not found, try pulling it first"}'),
    (403, b'{"error": "forbidden"}')])
def test_unfixable_http_errors_are_fatal_at_the_first_attempt(status, body, monkeypatch):
  monkeypatch.setenv("GR_JAX_TEST_KEY", SECRET)
  httpd, url = _serve(status, body)
  try:
    client = http_backend.HttpChatClient(url, "nope", api_key_env="GR_JAX_TEST_KEY",
                                         max_retries=4, backoff_s=5.0)
    t0 = time.monotonic()
    with pytest.raises(backends.FatalBackendError, match=f"HTTP {status} from {url}") as err:
      client.chat(_msgs("OK"))
    assert time.monotonic() - t0 < 2.0 and SECRET not in str(err.value)
  finally:
    httpd.shutdown()
    httpd.server_close()
  # A 400 that is not about the model is an ordinary per-item failure.
  httpd, url = _serve(400, b'{"error": "max_tokens too large"}')
  try:
    with pytest.raises(backends.RequestError):
      http_backend.HttpChatClient(url, "m", max_retries=0).chat(_msgs("OK"))
  finally:
    httpd.shutdown()
    httpd.server_close()


def test_dead_server_ends_enrich_in_seconds_with_one_line_and_no_report(dataset, monkeypatch,
                                                                        capsys):
  # The probe: a closed port took 547 s (1,528 retries) and exited 0 with no captions.
  monkeypatch.setenv("GR_JAX_TEST_KEY", SECRET)
  url = _closed_port_url()
  from gr_jax import cli  # pylint: disable=g-import-not-at-top
  t0 = time.monotonic()
  code = cli.main(["enrich", "--data", dataset, "--backend", "http", "--model", "m",
                   "--base_url", url, "--api_key_env", "GR_JAX_TEST_KEY", "--no_progress"])
  err = capsys.readouterr().err.strip().splitlines()
  assert code == 2 and time.monotonic() - t0 < 10
  assert len(err) == 1 and url in err[0] and "connection refused" in err[0]
  assert SECRET not in err[0]
  assert not os.path.exists(os.path.join(dataset, "enrich", "report.json"))


def test_all_or_too_many_failed_items_fail_the_stage(server, dataset, monkeypatch):
  monkeypatch.setenv("GR_JAX_TEST_KEY", SECRET)
  _titles(dataset, ["Mug E500", "Bottle E500", "Mat OK", "Pan OK"])
  cfg = stage.EnrichConfig(caption_backend="http", interests=False, caption_model="fake-vl",
                           base_url=server.base_url, api_key_env="GR_JAX_TEST_KEY",
                           max_retries=0, backoff_s=0.01, progress=False, max_failed=0.1,
                           max_consecutive_failures=0)
  report_path = os.path.join(dataset, "enrich", "report.json")
  with pytest.raises(io_utils.StageError, match=r"caption: 2 of 10 items failed .* at "
                     + server.base_url):
    stage.run_enrich(dataset, cfg)
  assert not os.path.exists(report_path)
  report = stage.run_enrich(dataset, dataclasses.replace(cfg, max_failed=0.5))
  assert report["captions"]["failed_items"] == 2 and os.path.exists(report_path)
  # Every item failed: no done-marker whatever --max-failed says.
  _titles(dataset, ["E500"] * 10)
  with pytest.raises(io_utils.StageError, match="10 of 10 items failed"):
    stage.run_enrich(dataset, dataclasses.replace(cfg, max_failed=1.0))
  assert not os.path.exists(report_path)
