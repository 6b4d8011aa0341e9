"""OpenAI-compatible /v1/embeddings client against a loopback server started by the test."""

import hashlib
import http.server
import json
import threading
import time

import numpy as np
import pytest
from PIL import Image

from gr_jax.embed import http_embeddings

KEY = "sk-test-secret-123"


def _vec(text: str, dim: int = 8) -> list[float]:
  h = hashlib.sha256(text.encode()).digest()
  return [b / 255.0 - 0.5 for b in h[:dim]]


class _Handler(http.server.BaseHTTPRequestHandler):
  script: list = []       # Actions for the next requests: ok, slow, 429, 500, 400, malformed, short.
  log: list = []

  def log_message(self, *args):
    pass

  def _send(self, code, payload: bytes, headers=()):
    self.send_response(code)
    for k, v in headers:
      self.send_header(k, v)
    self.send_header("Content-Length", str(len(payload)))
    self.end_headers()
    self.wfile.write(payload)

  def do_POST(self):
    body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
    _Handler.log.append({"path": self.path, "auth": self.headers.get("Authorization"),
                         "body": body})
    action = _Handler.script.pop(0) if _Handler.script else "ok"
    if action == "slow":
      time.sleep(0.6)
    if action == "429":
      return self._send(429, b'{"error": "rate limited"}', [("Retry-After", "0.05")])
    if action == "500":
      return self._send(500, b"internal error")
    if action == "400":
      return self._send(400, b'{"error": "bad model"}')
    if action == "malformed":
      return self._send(200, b'{"data": [{"embedding": [0.1, ')
    if "messages" in body:
      parts = body["messages"][0]["content"]
      text = "".join(p.get("text", "") for p in parts)
      has_image = any(p["type"] == "image_url" and p["image_url"]["url"].startswith("data:image/")
                      for p in parts)
      inputs = [text + ("|img" if has_image else "")]
    else:
      inputs = body["input"]
    data = [{"object": "embedding", "index": i, "embedding": _vec(t)}
            for i, t in enumerate(inputs)]
    if action == "short":
      data = data[:-1]
    data.reverse()  # Servers may answer out of order; the client sorts by index.
    self._send(200, json.dumps({"object": "list", "data": data, "model": body["model"]}).encode())


@pytest.fixture
def server():
  _Handler.script, _Handler.log = [], []
  srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
  thread = threading.Thread(target=srv.serve_forever, daemon=True)
  thread.start()
  yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
  srv.shutdown()
  srv.server_close()


def _client(url, **kw):
  delays = []
  kw.setdefault("sleep", delays.append)
  c = http_embeddings.HttpEmbeddingClient(url, "test-embed", api_key_env="GRJAX_TEST_KEY", **kw)
  return c, delays


def test_batches_order_auth_and_norm(server, monkeypatch):
  monkeypatch.setenv("GRJAX_TEST_KEY", KEY)
  client, _ = _client(server, batch_size=32, concurrency=3)
  texts = [f"item {i}" for i in range(70)] + [""]
  out = client.encode(texts)
  assert out.shape == (71, 8) and out.dtype == np.float32
  ref = np.asarray([_vec(t or " ") for t in texts], np.float32)
  ref /= np.linalg.norm(ref, axis=1, keepdims=True)
  np.testing.assert_allclose(out, ref, atol=1e-6)
  assert len(_Handler.log) == 3 and {e["path"] for e in _Handler.log} == {"/v1/embeddings"}
  assert all(e["auth"] == f"Bearer {KEY}" for e in _Handler.log)
  assert all(e["body"]["model"] == "test-embed" for e in _Handler.log)
  assert KEY not in json.dumps(client.identity())


def test_retries_429_500_malformed_short(server):
  _Handler.script = ["429", "500", "malformed", "short"]
  client, delays = _client(server, max_retries=5, backoff_s=0.01)
  out = client.encode(["a", "b"])
  assert out.shape == (2, 8)
  assert client.stats == {"requests": 5, "retries": 4}
  assert delays[0] >= 0.05  # Retry-After honoured.
  assert delays[2] > delays[1] > 0  # Exponential backoff.


def test_slow_response_times_out_then_retries(server):
  _Handler.script = ["slow"]
  client, _ = _client(server, timeout_s=0.2, backoff_s=0.0)
  out = client.encode(["x"])
  assert out.shape == (1, 8) and client.stats["retries"] == 1


def test_gives_up_without_leaking_key(server, monkeypatch):
  monkeypatch.setenv("GRJAX_TEST_KEY", KEY)
  _Handler.script = ["500"] * 10
  client, _ = _client(server, max_retries=2, backoff_s=0.0)
  with pytest.raises(http_embeddings.EmbeddingServiceError, match="after 3 attempts") as e:
    client.encode(["x"])
  assert KEY not in str(e.value)
  _Handler.script = ["400"]
  client, delays = _client(server, max_retries=5)
  with pytest.raises(http_embeddings.EmbeddingServiceError, match="HTTP 400"):
    client.encode(["x"])
  assert not delays  # Client errors are not retried.


def test_multimodal_items(server, tmp_path):
  Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "a.png")
  client, _ = _client(server)
  out = client.encode_multimodal(["red mug", "red mug"], [str(tmp_path / "a.png"), None])
  assert out.shape == (2, 8)
  assert abs(float(out[0] @ out[1])) < 0.999  # The image changed the embedding.
  content = _Handler.log[0]["body"]["messages"][0]["content"]
  assert [p["type"] for p in content] in (["image_url", "text"], ["text"])


def test_stage_uses_http_backend(server, catalog):
  from gr_jax.embed import stage
  data_dir, _ = catalog
  cfg = stage.EmbedConfig(text_backend="http", image_backend="none", fused_backend="http",
                          http_url=server, http_model="test-embed")
  report = stage.run(data_dir, cfg)
  ids, text = stage.load_embeddings(data_dir, "text")
  _, fused = stage.load_embeddings(data_dir, "fused")
  assert text.shape == (64, 8) and fused.shape == (64, 8) and len(ids) == 64
  assert report["text"]["backend"] == "http" and report["image"]["status"] == "disabled"
  assert not np.allclose(text, fused)  # Fused items were sent with their images.
